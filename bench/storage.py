"""Benchmark: the table store against the single DuckDB file it replaced, under load, out of core,
and Spark standalone against local mode and DuckDB. Every figure is a ratio against a peer run
alongside, and every peer must give the same answers (exit code 1 otherwise).

Four cases (``--cases``, default all; ``--smoke`` skips ``spark``):

* ``interactive``: the dashboards' analytics (headline, trend, store league, NPS by store and
  month, journey transitions, a funnel) on the demo retailer, through the table store (DuckDB
  views over the tables' Parquet files) and through a DuckDB file holding the same rows as
  native tables (the store of cxlens before the table store), alternated, median of
  ``--repeat``. Check: every query's rows are the same on both. Target: new/old <= 1.5.
* ``dashboard``: the dashboard API (headline, trend, stores, filters over 7 filter combinations:
  everything, the store and web channels, four regions; ``--combinations``;
  figure cache emptied before each request) before and while a second process ingests
  ``--ingest-events`` events (``cxlens ingest events``, as users run it). Checks: every request
  answers 200, every answer during the ingest has the rows it had before (the endpoints read
  feedback, stores and customers, which an events load does not change), and the store holds
  exactly the ingested events afterwards (then the demo is rolled back to its snapshots).
  Target: p95 < 250 ms during the ingest; the ratio during/before is printed.
* ``outofcore``: one process ingests ``--big-events`` events with the default 4 GB DuckDB
  memory limit. Check: the load reports and the store holds exactly that many events. Target:
  peak RSS < 8 GB.
* ``spark``: the journey job (transitions and top paths by stage) on Spark local[2] and on a
  standalone master + worker (2 cores) started from the pyspark wheel, each in its own process,
  and on DuckDB in the same processes. Check: all three give the same rows. Printed: the ratios
  standalone/local and Spark/DuckDB.

    nice python bench/storage.py --customers 50000 --ingest-events 5000000 --big-events 30000000 --repeat 3
    python bench/storage.py --smoke      # 500 customers, 3 filter combinations, no Spark: 16 s of CPU

A missed speed target is reported in the targets table, not as a failure; a disagreement is a
failure. Inputs (the demo store, the events files) are kept under ``--work`` for the next run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc
from web import _p  # bench/web.py's percentile, one definition for both benches

ENDPOINTS = ("headline", "trend", "stores", "filters")
CASES = ("interactive", "dashboard", "outofcore", "spark")
#: Targets of issue #15.
INTERACTIVE_RATIO = 1.5
P95_MS = 250.0
RSS_MB = 8 * 1024


# -- comparing answers -----------------------------------------------------------------------------
def _value(v: Any) -> Any:
    """One cell in a form both sides give identically: missing values as None, whole numbers as
    int, other floats to 9 significant digits (summation order may differ in the last bits)."""
    import pandas as pd

    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, str | bytes):  # numpy scalars
        v = v.item()
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isfinite(v) and v.is_integer():
            return int(v)
        return float(f"{v:.9g}")
    if isinstance(v, int):
        return v
    text = str(v)
    return None if text in ("NaT", "<NA>") else text


def canonical(value: Any) -> list[Any]:
    """An analytic's answer as comparable rows: column names, then the rows sorted (row order is
    not part of the answer where a rank column says it); a ``TopPaths`` adds its totals."""
    import pandas as pd

    if hasattr(value, "paths") and hasattr(value, "total_journeys"):
        totals = [value.total_journeys, value.distinct_paths, value.truncated_journeys]
        return [totals, *canonical(value.paths)]
    frame = value if isinstance(value, pd.DataFrame) else pd.DataFrame(value)
    rows = [[_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return [[str(c) for c in frame.columns], *sorted(rows, key=lambda r: json.dumps(r, default=str))]


def difference(ours: list[Any], peer: list[Any]) -> str:
    """Where two canonical answers differ ('' when they are the same)."""
    if ours == peer:
        return ""
    if len(ours) != len(peer):
        return f"{len(ours) - 1} rows vs {len(peer) - 1}"
    for a, b in zip(ours, peer, strict=True):
        if a != b:
            return f"first difference: {bc._short(a)} vs {bc._short(b)}"
    return "differ"  # pragma: no cover - equal lengths and rows imply equality


# -- inputs ----------------------------------------------------------------------------------------
def events_file(path: Path, n: int) -> Path:
    """``n`` valid events as Parquet (written by DuckDB, streamed; reused when present)."""
    import duckdb

    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    duckdb.connect().execute(
        f"""COPY (SELECT 'bench-' || lpad(i::VARCHAR, 10, '0') AS event_id,
                    TIMESTAMP '2025-01-01' + to_seconds(i % 31536000) AS occurred_at,
                    'anon-' || (i % 2000000) AS anonymous_id,
                    ['web', 'app', 'store'][1 + i % 3] AS channel,
                    ['page_view', 'add_to_cart', 'store_visit'][1 + i % 3] AS event_type
                 FROM range({n}) t(i)) TO '{tmp}' (FORMAT parquet)"""
    )
    tmp.rename(path)
    return path


def _child(*args: str) -> dict[str, Any]:
    """Run this script with ``args`` in a new process; the JSON it prints last, or why it failed."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:  # Spark's and the load's own logging is shown only when they fail
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
        return {"unavailable": f"{args[0]} {args[-1]} process failed (exit {proc.returncode}): {last}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- interactive: table store vs the single DuckDB file --------------------------------------------
def legacy_copy(data_dir: Path, target: Path) -> Path:
    """A DuckDB file with every data-model table of the store as a native table."""
    import duckdb

    from cxlens.model.schema import TABLE_ORDER
    from cxlens.storage.workspace import Workspace

    if target.exists():
        return target
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with Workspace(data_dir, read_only=True) as ws:
        con = duckdb.connect(str(tmp))
        for name in TABLE_ORDER:
            con.execute(f'CREATE TABLE "{name}" AS {ws.store.fresh(name).select_sql()}')
        con.close()
    tmp.rename(target)
    return target


def interactive_queries(tables: Callable[[str], Any], jm: Any) -> dict[str, Callable[[], Any]]:
    """The dashboards' analytics over a table getter."""
    from cxlens.analyse import journey_funnels as jf
    from cxlens.analyse import journeys as jr
    from cxlens.analyse import metrics as m

    return {
        "headline": lambda: m.headline(tables, ["nps", "csat", "ces"], "month", journey_map=jm),
        "trend": lambda: m.trend(tables, ["nps", "csat"], "month", journey_map=jm),
        "stores": lambda: m.best_worst(tables, "nps", by="store_id", journey_map=jm).ranked,
        "nps_store_month": lambda: m.metric_table(
            tables, "nps", by=["store_id"], grain="month", journey_map=jm
        ),
        "transitions": lambda: jr.transitions(tables, "stage", journey_map=jm),
        "funnel": lambda: jf.funnel(tables, ["consideration", "purchase", "delivery"], journey_map=jm),
    }


def case_interactive(data_dir: Path, repeat: int) -> dict[str, Any]:
    import ibis

    from cxlens.storage.workspace import Workspace

    old_file = legacy_copy(data_dir, data_dir.parent / f"{data_dir.name}-legacy.duckdb")
    ws = Workspace(data_dir, read_only=True)
    old = ibis.duckdb.connect(str(old_file), read_only=True)
    new_q = interactive_queries(lambda n: ws.table(n), ws.journey_map)
    old_q = interactive_queries(lambda n: old.table(n), ws.journey_map)
    out: dict[str, dict[str, Any]] = {}
    for name in new_q:
        # the first call of each warms both (file cache, Parquet footers, plans) and is compared
        ours, peer = canonical(new_q[name]()), canonical(old_q[name]())
        new_t, old_t = [], []
        for _ in range(repeat):  # alternate, so machine load hits both alike
            new_t.append(bc.timed(new_q[name])[0])
            old_t.append(bc.timed(old_q[name])[0])
        new_s, old_s = statistics.median(new_t), statistics.median(old_t)
        out[name] = {
            "new_s": new_s,
            "old_s": old_s,
            "ratio": new_s / old_s,
            "rows": len(ours) - 1,
            "difference": difference(ours, peer),
        }
    files = {n: len(ws.store.fresh(n).files) for n in ("feedback", "events", "orders")}
    ws.close()
    old.disconnect()
    return {
        "queries": out,
        "geomean_ratio": statistics.geometric_mean(q["ratio"] for q in out.values()),
        "files": files,
    }


# -- dashboard API while another process ingests ---------------------------------------------------
def case_dashboard(
    data_dir: Path, events: Path, n_events: int, rounds: int, n_combinations: int
) -> dict[str, Any]:
    os.environ.setdefault("CXLENS_SECRET_KEY", "bench-only-secret")
    from fastapi.testclient import TestClient

    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace
    from cxlens.web import auth, figures
    from cxlens.web.app import create_app
    from cxlens.web.settings import WebSettings

    ws = Workspace(data_dir)
    events_before = ws.counts().get("events", 0)
    ops_dir = Path(tempfile.mkdtemp(prefix="cxlens-bench-storage-"))
    ops = OpsStore(f"sqlite:///{ops_dir / 'ops.sqlite'}")
    auth.create_user(ops, "analyst", "bench-password", "analyst")
    key = {"X-API-Key": auth.create_api_key(ops, "analyst")}
    app = create_app(WebSettings(warm_cache=False, warm_pages=False), ws, ops=ops, export=False)
    regions = sorted(ws.table("stores").select("region").distinct().to_pandas()["region"].dropna())
    combos: list[dict[str, str]] = [{}, {"channel": "store"}, {"region": regions[0]}, {"channel": "web"}]
    combos = [*combos, *({"region": r} for r in regions[1:4])][: max(n_combinations, 1)]
    times: dict[str, list[float]] = {"before": [], "during": []}
    answers: dict[tuple[str, int], str] = {}  # the first answer per (endpoint, combination)
    bad: dict[str, list[str]] = {"status": [], "rows": []}

    def request(client: Any, endpoint: str, i: int, phase: str) -> None:
        figures.CACHE.clear()  # every request runs its queries (the worst case)
        started = time.perf_counter()
        reply = client.get(f"/api/v1/{endpoint}", headers=key, params=combos[i])
        times[phase].append(1000 * (time.perf_counter() - started))
        if reply.status_code != 200:
            bad["status"].append(f"{phase} {endpoint} {combos[i]}: {reply.status_code} {reply.text[:200]}")
            return
        body = reply.json()
        text = json.dumps(body["rows"] if endpoint != "filters" else body, sort_keys=True, default=str)
        if answers.setdefault((endpoint, i), text) != text:
            bad["rows"].append(f"{phase} {endpoint} {combos[i]}")

    loader: subprocess.Popen[str] | None = None
    with TestClient(app) as client:
        for _ in range(rounds):
            for i in range(len(combos)):
                for endpoint in ENDPOINTS:
                    request(client, endpoint, i, "before")
        loader = subprocess.Popen(
            [sys.executable, "-m", "cxlens", "ingest", "events", str(events), "--no-progress"],
            env={**os.environ, "CXLENS_DATA_DIR": str(data_dir)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = time.perf_counter()
        while loader.poll() is None:  # only requests sent while the load runs count as during
            for i in range(len(combos)):
                for endpoint in ENDPOINTS:
                    if loader.poll() is None:
                        request(client, endpoint, i, "during")
        out, errors = loader.communicate()
        ingest_s = time.perf_counter() - started
    ops.close()
    ws.close()
    shutil.rmtree(ops_dir, ignore_errors=True)
    with Workspace(data_dir, read_only=True) as after:
        events_after = after.counts().get("events", 0)
    before, during = times["before"], times["during"]
    return {
        "combinations": len(combos),
        "requests_before": len(before),
        "requests_during": len(during),
        "p50_before_ms": _p(before, 0.5),
        "p95_before_ms": _p(before, 0.95),
        "p50_during_ms": _p(during, 0.5) if during else None,
        "p95_during_ms": _p(during, 0.95) if during else None,
        "not_200": bad["status"],
        "rows_changed": bad["rows"],
        "ingest_exit": loader.returncode,
        "ingest_error": errors.strip()[-500:] if loader.returncode else "",
        "ingest_s": ingest_s,
        "ingest": out.strip().splitlines()[-1] if out.strip() else "",
        "events_ingested": n_events,
        "events_stored": events_after - events_before,
    }


def snapshots(data_dir: Path, tables: tuple[str, ...]) -> dict[str, int | None]:
    """The current snapshot id of each table."""
    from cxlens.storage.workspace import Workspace

    with Workspace(data_dir) as ws:
        return {t: ws.store.fresh(t).snapshot_id for t in tables}


def roll_back(data_dir: Path, to: dict[str, int | None]) -> None:
    """Set each table back to the given snapshot (Iceberg time travel), in one commit: the bench's
    own loads leave the demo as it was for the next case and the next run."""
    from pyiceberg.table.update.snapshot import ManageSnapshots

    from cxlens.storage.catalog import Change
    from cxlens.storage.workspace import Workspace

    with Workspace(data_dir) as ws:

        def build() -> list[Change]:
            changes = []
            for name, snapshot_id in to.items():
                state = ws.store.fresh(name)
                if snapshot_id is None or state.snapshot_id == snapshot_id:
                    continue
                tx = state.table.transaction()
                ManageSnapshots(transaction=tx).set_current_snapshot(snapshot_id).commit()
                changes.append(Change(state.table, tx))
            return changes

        ws.store.commit(build, "rollback")


# -- out of core (its own process) ----------------------------------------------------------------
def outofcore_child(events: str, store: str) -> dict[str, Any]:
    from cxlens.storage.workspace import Workspace

    started, cpu = time.perf_counter(), bc.cpu_seconds()
    with Workspace(store) as ws:
        [result] = ws.ingest("events", events)
        seconds, cpu_s = time.perf_counter() - started, bc.cpu_seconds() - cpu
        stored = ws.counts().get("events", 0)
    return {
        "rows_loaded": result.rows_loaded,
        "rows_stored": stored,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "peak_rss_mb": bc.peak_rss_mb(),
    }


# -- Spark standalone vs local vs DuckDB (each master in its own process) ------------------------
def spark_child(data_dir: str, master: str) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    from cxlens.analyse import journeys as jr
    from cxlens.storage.engines import spark_session
    from cxlens.storage.workspace import Workspace

    started = time.perf_counter()
    builder = SparkSession.builder.config("spark.ui.showConsoleProgress", "false")
    session = spark_session(builder, master=master, app_name="cxlens-bench")
    session.sparkContext.setLogLevel("ERROR")
    start_s = time.perf_counter() - started
    ws = Workspace(data_dir, read_only=True)
    jm = ws.journey_map

    def job(tables: Callable[[str], Any]) -> tuple[Any, Any]:
        return (
            jr.transitions(tables, "stage", journey_map=jm),
            jr.top_paths(tables, "stage", k=10, journey_map=jm),
        )

    def spark_tables(name: str) -> Any:
        return ws.table(name, "spark")

    def duck_tables(name: str) -> Any:
        return ws.table(name)

    spark_runs, duck_runs = [], []
    for _ in range(2):  # the faster of two: the first pays for JIT and planning caches
        spark_s, spark = bc.timed(lambda: job(spark_tables))
        duck_s, duck = bc.timed(lambda: job(duck_tables))
        spark_runs.append(spark_s)
        duck_runs.append(duck_s)
    ws.close()
    session.stop()
    return {
        "master": master,
        "session_start_s": start_s,
        "spark_s": min(spark_runs),
        "duckdb_s": min(duck_runs),
        "spark": [canonical(part) for part in spark],
        "duckdb": [canonical(part) for part in duck],
    }


def case_spark(data_dir: Path, work: Path) -> dict[str, Any]:
    from cxlens.testing.spark_cluster import ClusterError, standalone_cluster

    local = _child("--spark-child", str(data_dir), "local[2]")
    try:
        with standalone_cluster(work / "spark-cluster", cores=2, memory="3g") as cluster:
            standalone = _child("--spark-child", str(data_dir), cluster.url)
    except ClusterError as exc:
        standalone = {"unavailable": f"standalone cluster did not start: {exc}"}
    return {"local": local, "standalone": standalone}


# -- driver ----------------------------------------------------------------------------------------
def ensure_demo(data_dir: Path, customers: int) -> dict[str, Any]:
    """The demo store of ``bench/metrics.py`` (built in a child process when missing)."""
    import metrics  # bench/metrics.py

    return dict(metrics.ensure_demo(data_dir, customers, 42))


def report_interactive(run: bc.Run, r: dict[str, Any], repeat: int) -> dict[str, Any]:
    rows = [[name, q["rows"], q["new_s"], q["old_s"], q["ratio"]] for name, q in r["queries"].items()]
    rows.append(["geometric mean", None, None, None, r["geomean_ratio"]])
    run.table(
        f"Interactive analytics: table store (new) vs one DuckDB file (old), median of {repeat}",
        ["query", "rows", "new s", "old s", "new/old"],
        rows,
        note=f"Data files read by the new store: {r['files']}. Target: new/old <= {INTERACTIVE_RATIO}.",
    )
    for name, q in r["queries"].items():
        what = f"interactive {name}: the same rows on the table store and the DuckDB file"
        run.check(what, not q["difference"], q["difference"])
    worst = max(r["queries"].items(), key=lambda kv: kv[1]["ratio"])
    return {
        "target": f"interactive queries new/old <= {INTERACTIVE_RATIO} (each query)",
        "measured": f"worst {worst[1]['ratio']:.2f} ({worst[0]}), geometric mean {r['geomean_ratio']:.2f}",
        "met": worst[1]["ratio"] <= INTERACTIVE_RATIO,
    }


def report_dashboard(run: bc.Run, r: dict[str, Any], n_events: int) -> dict[str, Any]:
    during = r["requests_during"] > 0
    run.table(
        f"Dashboard API (uncached) before and while another process ingests {n_events:,} events "
        f"({r['ingest_s']:.1f} s)",
        ["phase", "requests", "p50 ms", "p95 ms"],
        [
            ["before", r["requests_before"], r["p50_before_ms"], r["p95_before_ms"]],
            ["during the ingest", r["requests_during"], r["p50_during_ms"], r["p95_during_ms"]],
            [
                "during/before",
                None,
                r["p50_during_ms"] / r["p50_before_ms"] if during else None,
                r["p95_during_ms"] / r["p95_before_ms"] if during else None,
            ],
        ],
        note=f"{len(ENDPOINTS)} endpoints x {r['combinations']} filter combinations, figure cache emptied "
        f"before each request. Target: p95 < {P95_MS:.0f} ms during the ingest.",
    )
    run.check("the events ingest succeeded", r["ingest_exit"] == 0, r["ingest_error"])
    run.check("requests were answered while the ingest ran", during, f"{r['requests_during']} requests")
    run.check("every dashboard request answered 200", not r["not_200"], "; ".join(r["not_200"][:3]))
    run.check(
        "every dashboard answer during the ingest has the rows it had before",
        not r["rows_changed"],
        "; ".join(r["rows_changed"][:3]),
    )
    run.equal("events stored by the concurrent ingest = events ingested", r["events_stored"], n_events)
    p95 = r["p95_during_ms"]
    return {
        "target": f"dashboard API p95 < {P95_MS:.0f} ms while another process ingests",
        "measured": f"p95 {p95:.0f} ms during, {r['p95_before_ms']:.0f} ms before"
        if during
        else "not measured",
        "met": p95 < P95_MS if during else None,
    }


def report_outofcore(run: bc.Run, r: dict[str, Any], n_events: int) -> dict[str, Any]:
    if not run.ran("out-of-core load", r):
        return {"target": f"one load out of core: peak RSS < {RSS_MB:,} MB", "measured": "–", "met": None}
    run.table(
        f"Out of core: one load of {n_events:,} events (DuckDB memory limit "
        f"{os.environ.get('CXLENS_DUCKDB_MEMORY_LIMIT', '4GB')})",
        ["events", "seconds", "CPU s", "rows/s", "peak RSS MB"],
        [[r["rows_stored"], r["seconds"], r["cpu_s"], r["rows_loaded"] / r["seconds"], r["peak_rss_mb"]]],
        note=f"Target: peak RSS < {RSS_MB:,} MB (8 GB).",
    )
    run.equal("out-of-core load: events loaded = events in the file", r["rows_loaded"], n_events)
    run.equal("out-of-core load: events stored = events in the file", r["rows_stored"], n_events)
    return {
        "target": f"one load out of core: peak RSS < {RSS_MB:,} MB",
        "measured": f"{r['peak_rss_mb']:,.0f} MB for {n_events:,} events",
        "met": r["peak_rss_mb"] < RSS_MB,
    }


def report_spark(run: bc.Run, r: dict[str, Any]) -> dict[str, Any]:
    lo, st = r["local"], r["standalone"]
    ok = run.ran("Spark local[2]", lo) & run.ran("Spark standalone", st)
    target = "journey job: Spark standalone vs local (no numeric target)"
    if not ok:
        return {"target": target, "measured": "–", "met": None}
    run.table(
        "Journey job (transitions + top 10 paths by stage): Spark standalone vs local[2] vs DuckDB",
        ["engine", "session start s", "job s", "/ Spark local", "/ DuckDB"],
        [
            [
                "Spark standalone (master + worker, 2 cores)",
                st["session_start_s"],
                st["spark_s"],
                st["spark_s"] / lo["spark_s"],
                st["spark_s"] / st["duckdb_s"],
            ],
            ["Spark local[2]", lo["session_start_s"], lo["spark_s"], 1.0, lo["spark_s"] / lo["duckdb_s"]],
            ["DuckDB (in the local process)", None, lo["duckdb_s"], lo["duckdb_s"] / lo["spark_s"], 1.0],
        ],
        note="Each Spark master in its own process; the job is timed twice and the faster run kept.",
    )
    for part, what in enumerate(("transitions", "top paths")):
        for name, side in (("local[2]", lo), ("standalone", st)):
            ours, peer = side["spark"][part], side["duckdb"][part]
            run.check(f"journey {what}: Spark {name} = DuckDB", ours == peer, difference(ours, peer))
    ratio = st["spark_s"] / lo["spark_s"]
    return {
        "target": target,
        "measured": f"standalone/local {ratio:.2f}, Spark local/DuckDB {lo['spark_s'] / lo['duckdb_s']:.2f}",
        "met": None,
    }


_STARTED = time.perf_counter()


def _progress(what: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:.0f} s] {what} ...", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--ingest-events", type=int, default=2_000_000)
    parser.add_argument("--big-events", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="dashboard sweeps before the ingest")
    parser.add_argument("--combinations", type=int, default=7, help="dashboard filter combinations (<= 7)")
    parser.add_argument("--cases", default=None, help=f"comma-separated, of {','.join(CASES)} (default all)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cxlens-bench-storage")
    parser.add_argument("--spark-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--outofcore-child", nargs=2, help=argparse.SUPPRESS)
    bc.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.spark_child:
        print(json.dumps(spark_child(*args.spark_child)))
        return 0
    if args.outofcore_child:
        print(json.dumps(outofcore_child(*args.outofcore_child)))
        return 0
    bc.apply_smoke(
        args, customers=500, ingest_events=20_000, big_events=100_000, repeat=1, rounds=1, combinations=3
    )
    args.rounds = max(args.rounds, 1)
    cases = args.cases.split(",") if args.cases else [c for c in CASES if not (args.smoke and c == "spark")]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    run = bc.Run("storage", args, argv)
    args.work = bc.data_dir(args, args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    data_dir = args.work / f"demo-{args.customers}"
    results: dict[str, Any] = {"customers": args.customers, "cases": cases}
    targets: list[dict[str, Any]] = []
    if {"interactive", "dashboard", "spark"} & set(cases):
        demo = ensure_demo(data_dir, args.customers)
        results["events"] = demo["counts"]["events"]
        print(
            f"demo retailer: {args.customers:,} customers, {demo['counts']['events']:,} events",
            file=sys.stderr,
        )
    if "interactive" in cases:
        _progress("interactive")
        r = results["interactive"] = case_interactive(data_dir, args.repeat)
        targets.append(report_interactive(run, r, args.repeat))
    if "dashboard" in cases:
        _progress("dashboard")
        events = events_file(args.work / f"events-{args.ingest_events}.parquet", args.ingest_events)
        before = snapshots(data_dir, ("events", "_loads", "_rejects"))
        try:
            r = results["dashboard"] = case_dashboard(
                data_dir, events, args.ingest_events, args.rounds, args.combinations
            )
        finally:
            roll_back(data_dir, before)
        targets.append(report_dashboard(run, r, args.ingest_events))
    if "outofcore" in cases:
        _progress("out of core")
        big = events_file(args.work / f"events-{args.big_events}.parquet", args.big_events)
        store = args.work / "outofcore"
        shutil.rmtree(store, ignore_errors=True)
        r = results["outofcore"] = _child("--outofcore-child", str(big), str(store))
        shutil.rmtree(store, ignore_errors=True)
        targets.append(report_outofcore(run, r, args.big_events))
    if "spark" in cases:
        _progress("spark")
        r = case_spark(data_dir, args.work)
        targets.append(report_spark(run, r))
        for side in r.values():  # the answers were for the checks; the JSON keeps the timings
            side.pop("spark", None)
            side.pop("duckdb", None)
        results["spark"] = r
    run.table(
        f"Targets of issue #15 in this run (load average {run.load_before} before)",
        ["target", "measured", "met"],
        [[t["target"], t["measured"], t["met"]] for t in targets],
        note="A missed speed target is reported here, not as a failure; a disagreement between "
        "peers fails the run.",
    )
    results["targets"] = targets
    return run.finish(results)


if __name__ == "__main__":
    raise SystemExit(main())
