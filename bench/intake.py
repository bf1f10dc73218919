"""Benchmark: survey responses per second through the public form on loopback under concurrent
load, then every response counted in both stores: zero lost.

A cxlens server (uvicorn, one process, the app from ``cxlens.web.app.create_app``) runs in a
subprocess on a free loopback port with a fresh data directory. The bench process fires
``--responses`` kiosk-form submissions (``POST /k/in_store``, one page, so each request stores a
complete response) from ``--concurrency`` concurrent clients, and ``--events`` events in batches
of 100 to ``POST /api/v1/events``. It then waits for the exporter to copy everything to the
analytics store, stops the server (which flushes once more), and counts:

* responses the server acknowledged (HTTP 303) vs rows in the operational store vs rows in the
  ``feedback`` table of the DuckDB store (the difference is reported as *lost*);
* the same for events.

Peer measured in the same run: ``Collector.start`` called directly in one process with no HTTP
(the store path alone), so the ratio shows what HTTP, form parsing, rendering and the rate
limiter add. Results go to ``bench/results/intake-<timestamp>.json``.

    python bench/intake.py                       # 5,000 responses, 32 clients
    python bench/intake.py --responses 20000 --concurrency 64 --ops-url postgresql+psycopg://...
    python bench/intake.py --smoke               # 300 responses, 2,000 events, 8 clients

Checks (exit code 1 if any fails): no request failed, and nothing acknowledged was lost on the way
to the operational store or the analytics store.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc
from cxlens.collect.responses import Collector, Context
from cxlens.collect.sources import create_source
from cxlens.collect.surveys import template
from cxlens.journey.map import load_journey_map
from cxlens.ops import InboxEvent, OpsStore, Response
from cxlens.storage.workspace import Workspace

SERVER = """
import sys, uvicorn
from cxlens.web.app import create_app
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fire_responses(base: str, survey_id: str, n: int, concurrency: int) -> tuple[int, int, float]:
    """Submit ``n`` kiosk responses with ``concurrency`` clients; return (acknowledged, failed, seconds)."""
    ok = failed = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx2.AsyncClient) -> None:
        nonlocal ok, failed
        while not queue.empty():
            i = queue.get_nowait()
            form = {"q_nps": str(i % 11), "q_rating": str(1 + i % 5), "q_comment": f"bench {i}", "lang": "en"}
            try:
                r = await client.post(f"/k/{survey_id}?store=S{i % 50:03d}", data=form)
                if r.status_code == 303:
                    ok += 1
                else:
                    failed += 1
            except httpx2.HTTPError:
                failed += 1

    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return ok, failed, time.perf_counter() - start


async def fire_events(base: str, run: str, n: int, concurrency: int, key: str) -> tuple[int, float]:
    """Send ``n`` events in batches of 100; return (accepted, seconds)."""
    batches = [
        [
            {
                "event_id": f"{run}-{i}",
                "occurred_at": "2026-11-24T10:00:00Z",
                "anonymous_id": f"dev-{i % 997}",
                "channel": "web",
                "event_type": "page_view",
            }
            for i in range(start, min(start + 100, n))
        ]
        for start in range(0, n, 100)
    ]
    accepted = 0
    sem = asyncio.Semaphore(max(1, concurrency // 4))
    async with httpx2.AsyncClient(base_url=base, timeout=60, headers={"X-Write-Key": key}) as client:

        async def send(batch: list[dict[str, Any]]) -> None:
            nonlocal accepted
            async with sem:
                r = await client.post("/api/v1/events", json={"events": batch})
                accepted += r.json().get("accepted", 0) if r.status_code in (202, 207) else 0

        start = time.perf_counter()
        await asyncio.gather(*(send(b) for b in batches))
        return accepted, time.perf_counter() - start


def direct_peer(ops_url: str | None, data_dir: Path, n: int) -> float:
    """Responses/s through ``Collector.start`` in one process, without HTTP."""
    ops = OpsStore(ops_url, data_dir=data_dir)
    col = Collector(ops, load_journey_map())
    survey = col.save_survey(template("in_store", f"peer-{time.time_ns()}"))
    start = time.perf_counter()
    for i in range(n):
        col.start(survey, Context(store_id="S001", kiosk=True), {"q_nps": [str(i % 11)]}, language="en")
    seconds = time.perf_counter() - start
    ops.close()
    return n / seconds


def wait_http(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx2.get(f"{base}/api/v1/surveys", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ops-url", default=None, help="operational store URL (default: SQLite)")
    bc.add_arguments(parser)
    args = parser.parse_args()
    bc.apply_smoke(args, responses=300, events=2000, concurrency=8)
    bench = bc.Run("intake", args)

    data_dir = Path(tempfile.mkdtemp(prefix="cxlens-intake-"))
    ops = OpsStore(args.ops_url, data_dir=data_dir)
    # A survey id of its own, so that a shared PostgreSQL store does not mix runs.
    survey_id = run = f"bench-{time.time_ns()}"
    Collector(ops, load_journey_map()).save_survey(template("in_store", survey_id))
    write_key = create_source(ops, run)  # events are stored as "<run>:<run>-<i>"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CXLENS_DATA_DIR": str(data_dir),
        "CXLENS_RATE_LIMIT": "100000000",
        "CXLENS_EVENTS_RATE_LIMIT": "100000000",
        "CXLENS_EXPORT_INTERVAL": "1.0",
    }
    if args.ops_url:
        env["CXLENS_OPS_URL"] = args.ops_url
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env)
    try:
        wait_http(base, proc)
        ok, failed, seconds = asyncio.run(fire_responses(base, survey_id, args.responses, args.concurrency))
        accepted, ev_seconds = asyncio.run(
            fire_events(base, survey_id, args.events, args.concurrency, write_key)
        )
        sent_done = time.perf_counter()
        while ops.count(
            Response,
            Response.survey_id == survey_id,
            Response.exported_at.is_(None),
            Response.status == "complete",
        ) or ops.count(InboxEvent, InboxEvent.event_id.like(f"{run}:%"), InboxEvent.exported_at.is_(None)):
            if time.perf_counter() - sent_done > 120:
                break
            time.sleep(0.05)
        export_lag = time.perf_counter() - sent_done
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)

    in_ops = ops.count(Response, Response.survey_id == survey_id, Response.status == "complete")
    events_in_ops = ops.count(InboxEvent, InboxEvent.event_id.like(f"{run}:%"))
    ops.close()
    with Workspace(data_dir, read_only=True) as ws:
        feedback = ws.con.execute("SELECT count(*) FROM feedback WHERE survey_id = ?", [run])
        in_feedback = feedback.fetchall()[0][0]
        events = ws.con.execute("SELECT count(*) FROM events WHERE event_id LIKE ?", [f"{run}:%"])
        in_events = events.fetchall()[0][0]
    peer_rate = direct_peer(args.ops_url, data_dir, min(args.responses, 2000))

    rate = ok / seconds
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "ops_store": "postgresql" if args.ops_url else "sqlite",
        "concurrency": args.concurrency,
        "responses_sent": args.responses,
        "responses_acknowledged": ok,
        "responses_failed": failed,
        "responses_per_s": round(rate, 1),
        "responses_in_ops_store": in_ops,
        "responses_in_feedback_table": int(in_feedback),
        "responses_lost": ok - int(in_feedback),
        "events_sent": args.events,
        "events_accepted": accepted,
        "events_per_s": round(accepted / ev_seconds, 1),
        "events_in_events_table": int(in_events),
        "events_in_ops_store": events_in_ops,
        "events_lost": accepted - int(in_events),
        "export_lag_s_after_last_request": round(export_lag, 2),
        "peer_direct_collector_per_s": round(peer_rate, 1),
        "ratio_http_vs_direct": round(rate / peer_rate, 3),
    }
    print(
        f"responses: {ok:,} acknowledged, {failed:,} failed, {rate:,.0f} responses/s "
        f"({args.concurrency} concurrent clients on loopback, ops store {result['ops_store']})"
    )
    print(
        f"  peer (Collector.start, no HTTP, one thread): {peer_rate:,.0f} responses/s; "
        f"HTTP/direct ratio {rate / peer_rate:.2f}"
    )
    print(
        f"  counted: {in_ops:,} in the operational store, {in_feedback:,} in the feedback table; "
        f"lost: {ok - int(in_feedback)}"
    )
    print(
        f"events: {accepted:,} accepted at {accepted / ev_seconds:,.0f} events/s (batches of 100); "
        f"{in_events:,} in the events table; lost: {accepted - int(in_events)}"
    )
    print(f"export to the analytics store finished {export_lag:.2f} s after the last request")
    bench.table(
        f"Intake over HTTP on loopback ({args.concurrency} clients, ops store {result['ops_store']}; "
        f"load average {bench.load_before})",
        ["path", "per second", "lost"],
        [
            ["survey responses, HTTP", rate, ok - int(in_feedback)],
            ["survey responses, direct (peer, no HTTP)", peer_rate, None],
            ["events in batches of 100, HTTP", accepted / ev_seconds, accepted - int(in_events)],
        ],
    )
    bench.equal("responses: none failed", failed, 0)
    bench.equal("responses acknowledged = responses in the operational store", in_ops, ok)
    bench.equal("responses acknowledged = responses in the feedback table", int(in_feedback), ok)
    bench.equal("events sent = events accepted", accepted, args.events)
    bench.equal("events accepted = events in the events table", int(in_events), accepted)
    return bench.finish(result)


if __name__ == "__main__":
    sys.exit(main())
