"""Benchmark: the table store against the single DuckDB file it replaced, under load, out of core,
and Spark standalone against local mode. Every figure is a ratio against a peer run alongside.

Four cases (``--cases``, default all):

* ``interactive``: the dashboards' analytics (headline, trend, store league, NPS by store and
  month, journey transitions, a funnel) on the demo retailer, through the table store (DuckDB
  views over the tables' Parquet files) and through a DuckDB file holding the same rows as
  native tables (the store of cxlens before the table store). Target: new/old <= 1.5.
* ``dashboard``: the dashboard API (headline, trend, stores, filters; figure cache emptied before
  each request) before and while a second process ingests ``--ingest-events`` events.
  Target: p95 < 250 ms during the ingest; the ratio during/before is printed.
* ``outofcore``: one process ingests ``--big-events`` events with the default 4 GB DuckDB
  memory limit; its peak RSS (target < 8 GB) and rows per second.
* ``spark``: the journey job (transitions and top paths by stage) on Spark local[2] and on a
  standalone master + worker (2 cores) started from the pyspark wheel, each in its own process.

    nice python bench/storage.py --customers 1000000 --ingest-events 10000000 --big-events 100000000
    python bench/storage.py --customers 20000 --ingest-events 1000000 --big-events 5000000   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from web import _p  # noqa: E402 - bench/web.py's percentile, one definition for both benches

RESULTS_DIR = BENCH_DIR / "results"
ENDPOINTS = ("headline", "trend", "stores", "filters")


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _child(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run this script with ``args`` in a new process; return the JSON it prints last."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} process failed (exit {proc.returncode})")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


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


# -- interactive: table store vs the single DuckDB file ----------------------------------------


def legacy_copy(data_dir: Path, target: Path) -> Path:
    """A DuckDB file with every data-model table of the store as a native table."""
    import duckdb

    from cxlens.model.schema import TABLE_ORDER
    from cxlens.storage.workspace import Workspace

    if target.exists():
        return target
    tmp = target.with_suffix(".tmp")
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
    out: dict[str, dict[str, float]] = {}
    for name in new_q:
        new_q[name](), old_q[name]()  # warm both: file caches, Parquet footers, query plans
        new_t, old_t = [], []
        for _ in range(repeat):  # alternate, so machine load hits both alike
            new_t.append(_timed(new_q[name]))
            old_t.append(_timed(old_q[name]))
        out[name] = {"new_s": statistics.median(new_t), "old_s": statistics.median(old_t)}
    ratios = [v["new_s"] / v["old_s"] for v in out.values()]
    files = {n: len(ws.store.fresh(n).files) for n in ("feedback", "events", "orders")}
    ws.close()
    return {"queries": out, "geomean_ratio": statistics.geometric_mean(ratios), "files": files}


# -- dashboard API while another process ingests ------------------------------------------------


def case_dashboard(data_dir: Path, events: Path, rounds: int) -> dict[str, Any]:
    os.environ.setdefault("CXLENS_SECRET_KEY", "bench-only-secret")
    from fastapi.testclient import TestClient

    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace
    from cxlens.web import auth, figures
    from cxlens.web.app import create_app
    from cxlens.web.settings import WebSettings

    ws = Workspace(data_dir)
    ops_dir = Path(tempfile.mkdtemp(prefix="cxlens-bench-storage-"))
    ops = OpsStore(f"sqlite:///{ops_dir / 'ops.sqlite'}")
    auth.create_user(ops, "analyst", "bench-password", "analyst")
    key = {"X-API-Key": auth.create_api_key(ops, "analyst")}
    app = create_app(WebSettings(warm_cache=False, warm_pages=False), ws, ops=ops, export=False)
    regions = sorted(ws.table("stores").select("region").distinct().to_pandas()["region"].dropna())
    combos = [{}, *({"region": r} for r in regions[:4]), {"channel": "web"}, {"channel": "store"}]
    before: list[float] = []
    during: list[float] = []
    with TestClient(app) as client:

        def sweep(into: list[float]) -> None:
            for params in combos:
                for endpoint in ENDPOINTS:
                    figures.CACHE.clear()  # every request runs its queries (the worst case)
                    t = _timed(lambda e=endpoint, p=params: client.get(f"/api/v1/{e}", headers=key, params=p))
                    into.append(1000 * t)

        for _ in range(rounds):
            sweep(before)
        env = {**os.environ, "CXLENS_DATA_DIR": str(data_dir)}
        loader = subprocess.Popen(
            [sys.executable, "-m", "cxlens", "ingest", "events", str(events), "--no-progress"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = time.perf_counter()
        while loader.poll() is None:
            sweep(during)
        ingest_s = time.perf_counter() - started
        out, errors = loader.communicate()
        if loader.returncode != 0:
            raise SystemExit(f"the ingest failed: {errors[-2000:]}")
    ops.close()
    ws.close()
    return {
        "requests_before": len(before),
        "requests_during": len(during),
        "p50_before_ms": _p(before, 0.5),
        "p95_before_ms": _p(before, 0.95),
        "p50_during_ms": _p(during, 0.5),
        "p95_during_ms": _p(during, 0.95),
        "ingest_s": ingest_s,
        "ingest": out.strip().splitlines()[-1] if out.strip() else "",
    }


# -- out of core --------------------------------------------------------------------------------


def outofcore_child(events: str, store: str) -> dict[str, Any]:
    from cxlens.storage.workspace import Workspace

    started = time.perf_counter()
    with Workspace(store) as ws:
        [result] = ws.ingest("events", events)
    return {
        "rows": result.rows_loaded,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- Spark standalone vs local ------------------------------------------------------------------


def spark_child(data_dir: str, master: str) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    from cxlens.analyse import journeys as jr
    from cxlens.storage.engines import spark_session
    from cxlens.storage.workspace import Workspace

    t0 = time.perf_counter()
    session = spark_session(SparkSession.builder, master=master, app_name="cxlens-bench")
    session.sparkContext.setLogLevel("ERROR")
    start_s = time.perf_counter() - t0
    ws = Workspace(data_dir, read_only=True)
    tables = lambda name: ws.table(name, "spark")  # noqa: E731
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        jr.transitions(tables, "stage", journey_map=ws.journey_map)
        jr.top_paths(tables, "stage", k=10, journey_map=ws.journey_map)
        runs.append(time.perf_counter() - t0)
    duck = _timed(lambda: jr.transitions(ws, "stage") is not None and jr.top_paths(ws, "stage", k=10))
    ws.close()
    session.stop()
    return {"master": master, "session_start_s": start_s, "journey_s": min(runs), "duckdb_s": duck}


def case_spark(data_dir: Path, work: Path) -> dict[str, Any]:
    from cxlens.testing.spark_cluster import standalone_cluster

    local = _child("--spark-child", str(data_dir), "local[2]")
    with standalone_cluster(work / "spark-cluster", cores=2, memory="3g") as cluster:
        standalone = _child("--spark-child", str(data_dir), cluster.url)
    return {"local": local, "standalone": standalone}


# -- main -----------------------------------------------------------------------------------------


def ensure_demo(data_dir: Path, customers: int) -> dict[str, Any]:
    """The demo store of ``bench/metrics.py`` (built in a child process when missing)."""
    import metrics  # bench/metrics.py

    return dict(metrics.ensure_demo(data_dir, customers, 42))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--ingest-events", type=int, default=2_000_000)
    parser.add_argument("--big-events", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default="interactive,dashboard,outofcore,spark")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cxlens-bench-storage")
    parser.add_argument("--spark-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--outofcore-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.spark_child:
        print(json.dumps(spark_child(*args.spark_child)))
        return 0
    if args.outofcore_child:
        print(json.dumps(outofcore_child(*args.outofcore_child)))
        return 0
    cases = args.cases.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    lines = _Lines()
    lines += [
        f"bench/storage.py at {dt.datetime.now().astimezone():%Y-%m-%d %H:%M}, load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} (1/5/15 min), {os.cpu_count()} cores"
    ]
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "load_average": load}
    data_dir = args.work / f"demo-{args.customers}"
    if {"interactive", "dashboard", "spark"} & set(cases):
        demo = ensure_demo(data_dir, args.customers)
        lines.append(f"demo retailer: {args.customers:,} customers, {demo['counts']['events']:,} events")
    if "interactive" in cases:
        r = result["interactive"] = case_interactive(data_dir, args.repeat)
        lines.append(f"interactive queries, median of {args.repeat} (table store vs single DuckDB file):")
        for name, q in r["queries"].items():
            lines.append(
                f"  {name:<16} new {q['new_s']:7.3f} s  old {q['old_s']:7.3f} s  "
                f"ratio {q['new_s'] / q['old_s']:.2f}"
            )
        lines.append(
            f"  geometric mean ratio {r['geomean_ratio']:.2f} (target <= 1.5); data files {r['files']}"
        )
    if "dashboard" in cases:
        events = events_file(args.work / f"events-{args.ingest_events}.parquet", args.ingest_events)
        before = snapshots(data_dir, ("events", "_loads", "_rejects"))
        try:
            r = result["dashboard"] = case_dashboard(data_dir, events, rounds=3)
        finally:
            roll_back(data_dir, before)
        lines.append(
            f"dashboard API (uncached) while another process ingests {args.ingest_events:,} events "
            f"({r['ingest_s']:.0f} s): p95 {r['p95_during_ms']:.0f} ms during vs {r['p95_before_ms']:.0f} ms "
            f"before (ratio {r['p95_during_ms'] / r['p95_before_ms']:.2f}; target p95 < 250 ms); "
            f"p50 {r['p50_during_ms']:.0f} vs {r['p50_before_ms']:.0f} ms; "
            f"{r['requests_during']} requests during"
        )
    if "outofcore" in cases:
        big = events_file(args.work / f"events-{args.big_events}.parquet", args.big_events)
        store = args.work / "outofcore"
        shutil.rmtree(store, ignore_errors=True)
        r = result["outofcore"] = _child("--outofcore-child", str(big), str(store))
        lines.append(
            f"out of core: {r['rows']:,} events in one load, {r['seconds']:.0f} s "
            f"({r['rows'] / r['seconds']:,.0f} rows/s), peak RSS {r['peak_rss_mb']:,.0f} MB (target < 8 GB)"
        )
        shutil.rmtree(store, ignore_errors=True)
    if "spark" in cases:
        r = result["spark"] = case_spark(data_dir, args.work)
        lo, st = r["local"], r["standalone"]
        lines.append(
            f"journey job (transitions + top paths by stage): Spark standalone {st['journey_s']:.1f} s vs "
            f"local[2] {lo['journey_s']:.1f} s (ratio {st['journey_s'] / lo['journey_s']:.2f}); DuckDB "
            f"{lo['duckdb_s']:.1f} s; session start {st['session_start_s']:.0f} s "
            f"vs {lo['session_start_s']:.0f} s"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"storage-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps({**result, "lines": lines}, indent=2, default=str) + "\n")
    return 0


class _Lines(list[str]):
    """Result lines, printed as they come (a later case failing loses none)."""

    def append(self, line: str) -> None:
        print(line, flush=True)
        super().append(line)

    def __iadd__(self, lines: Any) -> _Lines:  # type: ignore[override]
        for line in lines:
            self.append(line)
        return self


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


if __name__ == "__main__":
    raise SystemExit(main())
