"""Benchmark: survey responses and events per second through the public HTTP endpoints on loopback
under concurrent load, then every acknowledged one looked up in both stores: zero lost.

For each operational store (SQLite, the embedded default, and PostgreSQL) a cxlens server runs as
users run it (``cxlens collect serve``, one process) on a free loopback port with a fresh data
directory. The bench fires ``--responses`` kiosk-form submissions (``POST /k/<survey>``, one
page, so each request stores a complete response) from ``--concurrency`` keep-alive connections,
then ``--events`` events in batches of ``--event-batch`` to ``POST /api/v1/events``. It waits for
the exporter to copy everything to the analytics store, stops the server (which flushes once
more), and checks that the ids the server acknowledged (the response ids in the redirects, the
event ids it answered ``accepted``) are exactly the ids in the operational store and in the
analytics store's ``feedback`` and ``events`` tables.

Peers measured in the same run, per store:

* **direct**: ``Collector.start`` called without HTTP from ``--concurrency`` threads of one
  process (the validation and store path alone), so the ratio shows what HTTP adds;
* **HTTP floor**: the same app with one extra route that reads the form and answers 303 without
  storing anything: what uvicorn, the middleware (door checks, security headers), FastAPI and
  form parsing cost per request, the ceiling of any form endpoint on this machine.

Besides wall-clock rates the bench reports **CPU milliseconds per request** of the server process
(user + system, all threads, from ``/proc``), which a shared machine disturbs much less, and what
they imply: requests per second per core. The load generator is a minimal keep-alive HTTP/1.1
client on asyncio streams (below), because a general client (httpx) costs more CPU per request
than the server under test and would share the same two cores.

    python bench/intake.py                       # 5,000 responses, 50,000 events, 32 connections
    python bench/intake.py --stores sqlite       # SQLite only
    python bench/intake.py --postgres-url postgresql+psycopg://...   # else a throwaway server
    python bench/intake.py --smoke               # 300 responses, 2,000 events, SQLite

PostgreSQL: ``--postgres-url`` or ``CXLENS_TEST_POSTGRES_URL``, else a throwaway server started
with ``scripts/postgres.sh`` (``fsync=off``: the figure is the client side's cost, not a disk's).
Checks (exit code 1 if any fails): no request failed, nothing acknowledged missing from either
store, nothing stored that was not acknowledged, every requested store measured.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlalchemy import select

import _common as bc
from cxlens.collect.responses import Collector, Context
from cxlens.collect.sources import create_source
from cxlens.collect.surveys import template
from cxlens.journey.map import load_journey_map
from cxlens.ops import InboxEvent, OpsStore, Response
from cxlens.storage.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
#: The HTTP floor: the app as served, plus a route that parses the form and stores nothing.
FLOOR_SERVER = """
import gc, sys, uvicorn
from fastapi import Request
from starlette.responses import Response
from cxlens.web.app import create_app

app = create_app()

@app.post("/bench/empty")
async def empty(request: Request) -> Response:
    await request.form()
    return Response(status_code=303, headers={"location": "/r/x/done?lang=en"})

gc.freeze()  # as `cxlens collect serve` does
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


# -- a minimal load generator ----------------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection: sends a request, reads the status, headers and a
    ``Content-Length`` body (all the endpoints measured answer so)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        """Send one request (``head`` ends with the blank line) and return its answer."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
        if b"transfer-encoding" in headers:
            raise RuntimeError("chunked answers are not expected from the endpoints measured")
        length = int(headers.get(b"content-length", b"0"))
        data = await self.reader.readexactly(length) if length else b""
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return status, headers, data

    async def close(self) -> None:
        """Close the connection (opened again by the next request)."""
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _head(port: int, path: str, ctype: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode()


def _run(coro_fn: Callable[[], Any]) -> Any:
    """Run a coroutine on uvloop when installed (the cheapest client), else asyncio's loop."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro_fn())


async def fire_forms(port: int, path: str, n: int, concurrency: int) -> dict[str, Any]:
    """POST ``n`` kiosk answers from ``concurrency`` connections: the response ids acknowledged
    (303 to ``/r/<id>/done``), failures, seconds and client CPU seconds."""
    ids: list[str] = []
    failures: dict[int, int] = {}
    todo = iter(range(n))

    async def worker() -> None:
        conn = Connection(port)
        for i in todo:
            form = {"q_nps": str(i % 11), "q_rating": str(1 + i % 5), "q_comment": f"bench {i}", "lang": "en"}
            body = urlencode(form).encode()
            head = _head(port, f"{path}?store=S{i % 50:03d}", "application/x-www-form-urlencoded", body)
            try:
                status, headers, _ = await conn.request(head, body)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status, headers = -1, {}
                await conn.close()
            location = headers.get(b"location", b"").decode()
            if status == 303 and location.startswith("/r/") and "/done" in location:
                ids.append(location[3:].split("/", 1)[0])
            else:
                failures[status] = failures.get(status, 0) + 1
        await conn.close()

    return await _drive(worker, concurrency, ids, failures)


async def fire_events(port: int, run: str, n: int, batch: int, concurrency: int, key: str) -> dict[str, Any]:
    """Send ``n`` events in batches from ``concurrency`` connections: the event ids the server
    answered ``accepted``, failed batches, seconds and client CPU seconds."""
    bodies = []
    for start in range(0, n, batch):
        events = [
            {
                "event_id": f"{run}-{i}",
                "occurred_at": "2026-11-24T10:00:00Z",
                "anonymous_id": f"dev-{i % 997}",
                "channel": "web",
                "event_type": "page_view",
            }
            for i in range(start, min(start + batch, n))
        ]
        bodies.append(json.dumps({"events": events}).encode())
    accepted: list[str] = []
    failures: dict[int, int] = {}
    todo = iter(bodies)

    async def worker() -> None:
        conn = Connection(port)
        for body in todo:
            head = _head(port, "/api/v1/events", "application/json", body, f"X-Write-Key: {key}\r\n")
            try:
                status, _, answer = await conn.request(head, body)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status, answer = -1, b""
                await conn.close()
            if status in (202, 207):
                results = json.loads(answer)["results"]
                accepted.extend(r["event_id"] for r in results if r["status"] == "accepted")
            else:
                failures[status] = failures.get(status, 0) + 1
        await conn.close()

    return await _drive(worker, concurrency, accepted, failures)


async def _drive(
    worker: Callable[[], Awaitable[None]], concurrency: int, ids: list[str], failures: dict[int, int]
) -> dict[str, Any]:
    """Run ``concurrency`` copies of ``worker``; what they acknowledged, seconds and client CPU."""
    cpu, start = bc.cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "ids": ids,
        "failures": failures,
        "seconds": time.perf_counter() - start,
        "client_cpu": bc.cpu_seconds() - cpu,
    }


# -- the server ------------------------------------------------------------------------------------
def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (0 where there is no
    ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, parents = 0.0, {pid}
    try:
        stats = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with suppress(OSError), open(f"/proc/{entry}/stat") as fh:
                    stats.append((int(entry), fh.read().rsplit(")", 1)[1].split()))
    except OSError:
        return 0.0
    changed = True
    while changed:  # descendants whose parent is in the tree
        changed = False
        for p, fields in stats:
            if p not in parents and int(fields[1]) in parents:
                parents.add(p)
                changed = True
    for p, fields in stats:
        if p in parents:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Server:
    """A server subprocess on a free port, stopped with SIGINT (a graceful stop: final export)."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}")
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return
            time.sleep(0.1)
        self.stop()
        raise SystemExit("the server did not start")

    def cpu(self) -> float:
        """CPU seconds the server has used so far."""
        return tree_cpu(self.proc.pid)

    def stop(self) -> None:
        """Stop gracefully (SIGINT), and wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def server_env(data_dir: Path, ops_url: str | None) -> dict[str, str]:
    """The server's environment: its data directory, no limits in the way, exports every second."""
    env = {
        **os.environ,
        "CXLENS_DATA_DIR": str(data_dir),
        "CXLENS_RATE_LIMIT": "100000000",
        "CXLENS_EVENTS_RATE_LIMIT": "100000000",
        "CXLENS_EXPORT_INTERVAL": "1.0",
        # The dashboards' cache warming is not intake work (it follows data changes, whatever
        # their size): off, so that it does not land in the middle of a burst.
        "CXLENS_WARM_CACHE": "false",
        "CXLENS_WARM_PAGES": "false",
    }
    env.pop("CXLENS_OPS_URL", None)
    if ops_url:
        env["CXLENS_OPS_URL"] = ops_url
    return env


# -- peers -----------------------------------------------------------------------------------------
def direct_peer(ops_url: str | None, data_dir: Path, n: int, concurrency: int) -> dict[str, float]:
    """``Collector.start`` without HTTP from ``concurrency`` threads: responses/s and CPU ms each."""
    ops = OpsStore(ops_url, data_dir=data_dir)
    col = Collector(ops, load_journey_map())
    survey = col.save_survey(template("in_store", f"peer-{time.time_ns()}"))
    todo = iter(range(n))

    def worker() -> None:
        for i in todo:
            form = {"q_nps": [str(i % 11)], "q_rating": [str(1 + i % 5)], "q_comment": [f"bench {i}"]}
            ctx = Context(store_id=f"S{i % 50:03d}", channel="kiosk", kiosk=True)
            col.start(survey, ctx, form, language="en")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    cpu, start = bc.cpu_seconds(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds, cpu = time.perf_counter() - start, bc.cpu_seconds() - cpu
    stored = ops.count(Response, Response.survey_id == survey.id)
    ops.close()
    return {"per_s": n / seconds, "cpu_ms": 1000 * cpu / n, "stored": stored}


def http_floor(ops_url: str | None, n: int, concurrency: int) -> dict[str, float]:
    """The HTTP stack alone: the app's middleware, FastAPI and form parsing, nothing stored."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="cxlens-intake-floor-"))
    atexit.register(shutil.rmtree, data_dir, True)
    server = Server([sys.executable, "-c", FLOOR_SERVER, str(port)], server_env(data_dir, ops_url), port)
    try:
        _run(lambda: fire_forms(port, "/bench/empty", min(n, 500), concurrency))  # warm up
        cpu = server.cpu()
        got = _run(lambda: fire_forms(port, "/bench/empty", n, concurrency))
        server_cpu = server.cpu() - cpu
    finally:
        server.stop()
    return {
        "per_s": len(got["ids"]) / got["seconds"],
        "server_cpu_ms": 1000 * server_cpu / n,
        "client_cpu_ms": 1000 * got["client_cpu"] / n,
        "failed": sum(got["failures"].values()),
    }


# -- one store -------------------------------------------------------------------------------------
def measure(store: str, ops_url: str | None, args: argparse.Namespace, bench: bc.Run) -> dict[str, Any]:
    """Everything measured and checked for one operational store: the server with each number of
    worker processes asked for, then the peers."""
    result: dict[str, Any] = {"store": store, "servers": []}
    for workers in args.workers:
        data_dir = Path(tempfile.mkdtemp(prefix=f"cxlens-intake-{store}-"))
        try:
            result["servers"].append(measure_server(store, ops_url, workers, data_dir, args, bench))
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"[{store}] direct peer and HTTP floor ...", file=sys.stderr)
    data_dir = Path(tempfile.mkdtemp(prefix=f"cxlens-intake-{store}-peer-"))
    try:
        n = min(args.responses, 3000)
        peer = direct_peer(ops_url, data_dir, n, args.concurrency)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    floor = http_floor(ops_url, n, args.concurrency)
    bench.equal(f"[{store}] direct peer stored every response", peer["stored"], n)
    bench.equal(f"[{store}] HTTP floor: no request failed", floor["failed"], 0)
    result.update(
        direct_per_s=peer["per_s"],
        direct_cpu_ms=peer["cpu_ms"],
        floor_per_s=floor["per_s"],
        floor_server_cpu_ms=floor["server_cpu_ms"],
        floor_client_cpu_ms=floor["client_cpu_ms"],
    )
    return result


def measure_server(
    store: str, ops_url: str | None, workers: int, data_dir: Path, args: argparse.Namespace, bench: bc.Run
) -> dict[str, Any]:
    """Answers, then events in each batch size, through one server; every acknowledged id looked
    up in both stores after the export."""
    ops = OpsStore(ops_url, data_dir=data_dir)
    # A survey and a source of the run's own, so that a shared PostgreSQL store does not mix runs.
    run = f"bench-{time.time_ns()}"
    Collector(ops, load_journey_map()).save_survey(template("in_store", run))
    write_key = create_source(ops, run)  # events are stored as "<run>:<run>-b<batch>-<i>"
    ops.close()
    port = free_port()
    argv = [sys.executable, "-m", "cxlens", "--data-dir", str(data_dir), "collect", "serve"]
    argv += ["--port", str(port), "--workers", str(workers)]
    server = Server(argv, server_env(data_dir, ops_url), port)
    events: dict[int, dict[str, Any]] = {}
    try:
        _run(lambda: fire_forms(port, f"/k/{run}-warm", 50, 4))  # unknown survey: warms the stack
        cpu = server.cpu()
        forms = _run(lambda: fire_forms(port, f"/k/{run}", args.responses, args.concurrency))
        forms["server_cpu"] = server.cpu() - cpu
        ops = OpsStore(ops_url, data_dir=data_dir)
        # The answers' export done before the events start, so that the events' CPU is theirs.
        _wait_exported(ops, run, responses=True, events=False)
        events_cpu = server.cpu()
        for batch in args.event_batch:
            cpu = server.cpu()
            events[batch] = _run(
                lambda b=batch: fire_events(
                    port, f"{run}-b{b}", args.events, b, args.event_connections, write_key
                )
            )
            events[batch]["server_cpu"] = server.cpu() - cpu
        sent_done = time.perf_counter()
        _wait_exported(ops, run, responses=True, events=True)
        export_seconds = time.perf_counter() - sent_done
        events_cpu = server.cpu() - events_cpu
    finally:
        server.stop()
    with ops.sessions() as s:
        ops_responses = set(s.scalars(select(Response.response_id).where(Response.survey_id == run)))
        ops_events = set(s.scalars(select(InboxEvent.event_id).where(InboxEvent.event_id.like(f"{run}:%"))))
    ops.close()
    with Workspace(data_dir, read_only=True) as ws:
        feedback = ws.con.execute("SELECT feedback_id FROM feedback WHERE survey_id = ?", [run]).fetchall()
        like = [f"{run}:%"]
        stored_events = ws.con.execute("SELECT event_id FROM events WHERE event_id LIKE ?", like).fetchall()
    acked = set(forms["ids"])
    accepted = {f"{run}:{e}" for got in events.values() for e in got["ids"]}
    in_feedback = {r[0].removeprefix("survey-") for r in feedback}
    in_events = {r[0] for r in stored_events}

    label = f"[{store}, {_processes(workers)}]"
    bench.equal(f"{label} responses: no request failed", forms["failures"], {})
    for batch, got in events.items():
        bench.equal(f"{label} events in batches of {batch}: no batch failed", got["failures"], {})
        bench.equal(
            f"{label} events in batches of {batch}: every event accepted", len(got["ids"]), args.events
        )
    for what, acknowledged, stored in (
        ("acknowledged responses = responses in the operational store", acked, ops_responses),
        ("acknowledged responses = rows of the feedback table", acked, in_feedback),
        ("accepted events = events in the operational store", accepted, ops_events),
        ("accepted events = rows of the events table", accepted, in_events),
    ):
        bench.equal(f"{label} {what}", sorted(acknowledged ^ stored), [])
    n_forms = len(forms["ids"])
    return {
        "workers": workers,
        "responses_acknowledged": n_forms,
        "responses_per_s": n_forms / forms["seconds"],
        "responses_server_cpu_ms": 1000 * forms["server_cpu"] / max(n_forms, 1),
        "responses_client_cpu_ms": 1000 * forms["client_cpu"] / max(n_forms, 1),
        "responses_lost": len(acked - in_feedback),
        "events": {
            batch: {
                "accepted": len(got["ids"]),
                "per_s": len(got["ids"]) / got["seconds"],
                "server_cpu_us": 1e6 * got["server_cpu"] / max(len(got["ids"]), 1),
            }
            for batch, got in events.items()
        },
        "events_lost": len(accepted - in_events),
        # Server CPU from the first event batch until every event is in the analytics store.
        "events_server_cpu_us_with_export": 1e6 * events_cpu / max(len(accepted), 1),
        "export_seconds_after_last_request": round(export_seconds, 2),
    }


def _wait_exported(ops: OpsStore, run: str, *, responses: bool, events: bool) -> None:
    """Wait (at most 300 s) until the run's answers and/or events are all exported."""
    deadline = time.perf_counter() + 300
    while time.perf_counter() < deadline and (
        (responses and ops.count(Response, Response.survey_id == run, Response.exported_at.is_(None)))
        or (
            events
            and ops.count(InboxEvent, InboxEvent.event_id.like(f"{run}:%"), InboxEvent.exported_at.is_(None))
        )
    ):
        time.sleep(0.05)


def postgres_url(args: argparse.Namespace) -> tuple[str | None, Callable[[], None]]:
    """The PostgreSQL URL to measure, starting a throwaway server when none is given."""
    url = args.postgres_url or os.environ.get("CXLENS_TEST_POSTGRES_URL")
    if url:
        return url, _nothing
    folder = tempfile.mkdtemp(prefix="cxlens-intake-pg-")
    script = str(ROOT / "scripts" / "postgres.sh")
    started = subprocess.run(["bash", script, "start", folder], capture_output=True, text=True)
    if started.returncode != 0:
        print(f"PostgreSQL could not be started: {started.stderr.strip()}", file=sys.stderr)
        return None, _nothing
    return started.stdout.strip().splitlines()[-1], lambda: subprocess.run(
        ["bash", script, "stop", folder], capture_output=True, check=False
    )


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _processes(workers: int) -> str:
    return "1 process" if workers == 1 else f"{workers} worker processes"


def _nothing() -> None:
    return None


def _row(path: str, per_s: float | None, cpu_ms: float, lost: int | None = None) -> list[Any]:
    return [path, per_s, cpu_ms, 1000 / cpu_ms if cpu_ms else None, lost]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=5000)
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument(
        "--event-batch",
        type=_ints,
        default=[100, 1000],
        help="events per request, comma-separated (at most 1,000)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="connections sending survey answers")
    parser.add_argument("--event-connections", type=int, default=8, help="connections sending event batches")
    parser.add_argument("--stores", default="sqlite,postgresql", help="operational stores to measure")
    parser.add_argument(
        "--workers", type=_ints, default=[1, 2], help="server worker processes to measure, comma-separated"
    )
    parser.add_argument("--postgres-url", help="PostgreSQL to use (default: a throwaway server)")
    bc.add_arguments(parser)
    args = parser.parse_args()
    bc.apply_smoke(
        args, responses=300, events=2000, concurrency=8, event_connections=2, stores="sqlite", workers=[1]
    )
    bench = bc.Run("intake", args)
    results: list[dict[str, Any]] = []
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        url, stop_pg = postgres_url(args) if store == "postgresql" else (None, _nothing)
        if store == "postgresql" and not bench.check("[postgresql] a server to measure", url is not None):
            continue
        try:
            results.append(measure(store, url, args, bench))
        finally:
            stop_pg()
    rows = []
    for r in results:
        store = r["store"]
        for srv in r["servers"]:
            where = f"{store}, {_processes(srv['workers'])}"
            rows.append(
                _row(
                    f"survey answers, HTTP ({where})",
                    srv["responses_per_s"],
                    srv["responses_server_cpu_ms"],
                    srv["responses_lost"],
                )
            )
        rows.append(_row(f"survey answers, direct, no HTTP ({store})", r["direct_per_s"], r["direct_cpu_ms"]))
        rows.append(
            _row(f"HTTP floor: empty form POST ({store} app)", r["floor_per_s"], r["floor_server_cpu_ms"])
        )
        for srv in r["servers"]:
            where = f"{store}, {_processes(srv['workers'])}"
            for batch, ev in srv["events"].items():
                lost = srv["events_lost"] if batch == args.event_batch[-1] else None
                rows.append(
                    _row(
                        f"events in batches of {batch}, HTTP ({where})",
                        ev["per_s"],
                        ev["server_cpu_us"] / 1000,
                        lost,
                    )
                )
            rows.append(
                _row(
                    f"events, all batch sizes, accepted and exported ({where})",
                    None,
                    srv["events_server_cpu_us_with_export"] / 1000,
                )
            )
    client = max((srv["responses_client_cpu_ms"] for r in results for srv in r["servers"]), default=0.0)
    bench.table(
        f"Intake over HTTP on loopback: {args.concurrency} connections for answers, "
        f"{args.event_connections} for events (load average {bench.load_before} on {os.cpu_count()} cores)",
        ["path", "per second", "server CPU ms each", "per server CPU-second", "lost"],
        rows,
        note=(
            "Per second: wall clock, shared with the load generator and the machine's other work. "
            "Server CPU: user + system of the server process, all threads, exporter included (the "
            "export of events mostly runs after the last batch: the 'accepted and exported' row counts "
            "it, from the first batch until every event is in the analytics store); "
            '"per server CPU-second" is what one core would serve. The direct row is the '
            f"bench process's CPU. Load generator CPU per answer: at most {client:.2f} ms. Events lost: "
            "counted once per server, on its last row."
        ),
    )
    return bench.finish({"runs": results, "args": vars(args)})


if __name__ == "__main__":
    sys.exit(main())
