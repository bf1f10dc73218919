"""Benchmark: the report's metric queries on the demo retailer on DuckDB, with peak memory.

Builds the seeded demo retailer of ``--customers`` customers in a cached data directory, once
and in its own process (``cxlens.demo.generate`` writes the Parquet part files, then
``Workspace.ingest`` loads each table in ``TABLE_ORDER``), then, in a fresh process so that the
peak resident memory is the query process's own, times every query the HTML report runs on the
DuckDB engine:

* ``headline(ws, [nps, csat, ces], "month")``
* ``trend(ws, [nps, csat, ces], "month")``
* ``breakdown(ws, "nps", [channel, stage])`` and ``breakdown(ws, "csat", [stage, touchpoint])``
* ``best_worst(ws, "nps", [store_id, store_name])``
* ``biggest_movers(ws, "nps", "store_id", "month")``
* ``metric_table(ws, "nps", [region], "month")``
* ``compare_segments(ws, "nps", "loyalty_tier")``
* ``build_report(ws, path)``: the whole report (every section, rendered and written to HTML),
  with the time of each section

Each query runs ``--repeat`` times; min and median are reported. As a peer measured in the same
run, the headline NPS by month (``headline(ws, ["nps"], "month")``) is set against a hand-written
DuckDB query on the same connection: one ``GROUP BY`` month over ``feedback`` with conditional
counts. A third row runs the SQL that cxlens's Ibis expression compiles to, directly, so the ratio
splits into "the SQL" and "the Python around it". The three run interleaved.

Peak memory is the high-water mark of the process's resident set (``VmHWM``); ``ru_maxrss`` is
recorded too, but on Linux a child started from a large parent inherits the parent's peak in it.
Results also go to ``bench/results/metrics-<timestamp>.json``.

    python bench/metrics.py --customers 1000000            # the issue's size (build once: minutes)
    python bench/metrics.py --customers 50000 --repeat 5   # quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc

#: Written into the data directory once the demo is fully loaded; its presence means "reuse".
MARKER = "bench-metrics-demo.json"
REPORT_METRICS: list[Literal["nps", "csat", "ces"]] = ["nps", "csat", "ces"]
PEERS = ("peer_cxlens", "peer_cxlens_sql", "peer_handwritten")

#: The hand-written peer of ``headline(ws, ["nps"], "month")``: the same counts in one GROUP BY.
HANDWRITTEN_NPS_BY_MONTH = """
SELECT date_trunc('month', submitted_at) AS period,
       count(*) AS n,
       count(*) FILTER (WHERE nps >= 9) AS promoters,
       count(*) FILTER (WHERE nps <= 6) AS detractors,
       100.0 * (count(*) FILTER (WHERE nps >= 9) - count(*) FILTER (WHERE nps <= 6)) / count(*) AS nps
FROM feedback
WHERE nps IS NOT NULL AND brand IS NULL
GROUP BY ALL
ORDER BY period
"""


# -- memory --------------------------------------------------------------------------------------
def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """``ru_maxrss`` (KiB on Linux) of this process or of its finished children, in MB."""
    return resource.getrusage(who).ru_maxrss / 1024


# -- child processes -----------------------------------------------------------------------------
def _run_child(*args: str) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh Python process; return the JSON it prints last."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} process failed (exit {proc.returncode})")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- building the demo store (its own process) ---------------------------------------------------
def _read_marker(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / MARKER
    return dict(json.loads(path.read_text())) if path.exists() else None


def build(data_dir: Path, customers: int, seed: int) -> dict[str, Any]:
    """Generate the demo files (unless present) and load every table; write and return the marker."""
    from cxlens.cli.main import demo_dir
    from cxlens.demo import generate
    from cxlens.model.schema import TABLE_ORDER
    from cxlens.storage.workspace import Workspace

    ws = Workspace(data_dir)
    target = demo_dir(ws, customers, seed)
    generate_s: float | None = None
    if not (target / "_SUCCESS").exists():
        tmp = target.with_name(target.name + ".tmp")
        step = max(customers // 10, 1)
        shown = [0]

        def tick(_label: str, done: int) -> None:
            if done >= shown[0] + step or done == customers:
                shown[0] = done
                print(f"  generated {done:,} of {customers:,} customers", file=sys.stderr)

        print(f"generating {customers:,} customers (seed {seed}) into {target}", file=sys.stderr)
        started = time.perf_counter()
        generate(tmp, customers=customers, seed=seed, progress=tick)
        (tmp / "_SUCCESS").touch()
        if target.exists():
            raise SystemExit(f"{target} exists without _SUCCESS; remove it and run again")
        tmp.rename(target)
        generate_s = time.perf_counter() - started

    load: dict[str, dict[str, Any]] = {}
    started_all = time.perf_counter()
    try:
        for table in TABLE_ORDER:
            folder = target / table
            if not folder.exists():
                continue
            started = time.perf_counter()
            results = ws.ingest(table, [folder])
            seconds = time.perf_counter() - started
            load[table] = {
                "files": len(results),
                "rows_read": sum(r.rows_read for r in results),
                "rows_loaded": sum(r.rows_loaded for r in results),
                "seconds": seconds,
                "file_seconds": [round(r.seconds, 3) for r in results],
                "peak_rss_so_far_mb": bc.peak_rss_mb(),
            }
            print(
                f"  loaded {table}: {load[table]['rows_loaded']:,} new of {load[table]['rows_read']:,} rows "
                f"from {len(results)} files in {seconds:.1f} s (peak RSS so far {bc.peak_rss_mb():,.0f} MB)",
                file=sys.stderr,
            )
        counts = ws.counts()
    finally:
        ws.close()
    info = {
        "customers": customers,
        "seed": seed,
        "demo_files": str(target),
        "demo_files_mb": sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / (1 << 20),
        "store_mb": sum(p.stat().st_size for p in (data_dir / "warehouse").rglob("*") if p.is_file())
        / (1 << 20),
        "generate_s": generate_s,
        "load_s": time.perf_counter() - started_all,
        "load": load,
        "counts": counts,
        "build_peak_rss_mb": bc.peak_rss_mb(),
        "built_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    (data_dir / MARKER).write_text(json.dumps(info, indent=2) + "\n")
    return info


def ensure_demo(data_dir: Path, customers: int, seed: int) -> dict[str, Any]:
    """The marker of the demo store in ``data_dir``, building it in a child process if needed."""
    marker = _read_marker(data_dir)
    if marker and marker.get("customers") == customers and marker.get("seed") == seed:
        return {**marker, "reused": True}
    if marker:
        raise SystemExit(
            f"{data_dir} holds a demo of {marker.get('customers'):,} customers (seed {marker.get('seed')}); "
            "pass another --data-dir"
        )
    info = _run_child("--build", str(data_dir), str(customers), str(seed))
    return {**info, "reused": False}


# -- the measurements (query process) ------------------------------------------------------------
def _queries(ws: Any, report_path: Path, sections: list[dict[str, float]]) -> dict[str, tuple[str, Any]]:
    """The report's queries, name -> (call as shown to people, thunk); report sections go to ``sections``."""
    from cxlens.analyse import metrics as m
    from cxlens.report.builder import build_report

    def report() -> Path:
        times: dict[str, float] = {}
        step, since = "", time.perf_counter()

        def progress(next_step: str) -> None:
            nonlocal step, since
            now = time.perf_counter()
            if step:
                times[step] = now - since
            step, since = next_step, now

        path = build_report(ws, report_path, progress=progress)
        times[step] = time.perf_counter() - since  # the last section, rendering and writing
        sections.append(times)
        return path

    return {
        "headline": ("headline(nps, csat, ces; month)", lambda: m.headline(ws, REPORT_METRICS, "month")),
        "trend": ("trend(nps, csat, ces; month)", lambda: m.trend(ws, REPORT_METRICS, "month")),
        "breakdown_nps": (
            "breakdown(nps; channel, stage)",
            lambda: m.breakdown(ws, "nps", ("channel", "stage")),
        ),
        "breakdown_csat": (
            "breakdown(csat; stage, touchpoint)",
            lambda: m.breakdown(ws, "csat", ("stage", "touchpoint")),
        ),
        "best_worst": (
            "best_worst(nps; store_id, store_name)",
            lambda: m.best_worst(ws, "nps", ("store_id", "store_name"), k=5),
        ),
        "movers": (
            "biggest_movers(nps; store_id, month)",
            lambda: m.biggest_movers(ws, "nps", "store_id", "month", k=8),
        ),
        "region_month": (
            "metric_table(nps; region x month)",
            lambda: m.metric_table(ws, "nps", ["region"], "month"),
        ),
        "segments": (
            "compare_segments(nps; loyalty_tier)",
            lambda: m.compare_segments(ws, "nps", "loyalty_tier"),
        ),
        "report": ("build_report (whole report)", report),
    }


def _peer_queries(ws: Any) -> dict[str, tuple[str, Any]]:
    """cxlens headline NPS by month, the SQL it compiles to run directly, and the hand-written peer."""
    import ibis

    from cxlens.analyse import metrics as m

    cxlens_sql = str(ibis.to_sql(m.metric_expr(ws, ["nps"], (), "month"), dialect="duckdb"))
    con = ws.con
    return {
        "peer_cxlens": ("cxlens headline(nps; month)", lambda: m.headline(ws, ["nps"], "month")),
        "peer_cxlens_sql": ("cxlens's compiled SQL, run directly", lambda: con.sql(cxlens_sql).df()),
        "peer_handwritten": ("hand-written DuckDB SQL", lambda: con.sql(HANDWRITTEN_NPS_BY_MONTH).df()),
    }


def m_trend_by_month(ws: Any) -> list[list[Any]]:
    """cxlens's monthly NPS trend as [month, n, NPS] rows."""
    from cxlens.analyse import metrics as m

    t = m.trend(ws, ["nps"], "month")
    return [[str(p)[:7], int(n), float(v)] for p, n, v in zip(t["period"], t["n"], t["value"], strict=True)]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _duckdb_memory_mb(con: Any) -> float:
    """Memory DuckDB's buffer manager holds now, in MB."""
    try:
        rows = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
        return float(rows[0][0] or 0) / (1 << 20)
    except Exception:
        return float("nan")


def _stats(label: str, runs: list[float], ws: Any) -> dict[str, Any]:
    return {
        "label": label,
        "runs_s": runs,
        "min_s": min(runs),
        "median_s": statistics.median(runs),
        "peak_rss_so_far_mb": bc.peak_rss_mb(),
        "rss_after_mb": bc.rss_mb(),
        "duckdb_memory_after_mb": _duckdb_memory_mb(ws.con),
    }


def query_process(data_dir: str, repeat: int) -> dict[str, Any]:
    """Open the store read-only, time each query ``repeat`` times, and report memory (fresh process)."""
    rss_at_start = bc.rss_mb()
    started = time.perf_counter()
    from cxlens.storage.workspace import Workspace

    import_s = time.perf_counter() - started
    started = time.perf_counter()
    ws = Workspace(data_dir, read_only=True)
    ws.table("feedback")  # opens the store and the Ibis backend
    open_s = time.perf_counter() - started
    rss_after_open = bc.rss_mb()
    report_path = Path(tempfile.mkdtemp(prefix="cxlens-bench-report-")) / "report.html"
    sections: list[dict[str, float]] = []

    results: dict[str, Any] = {}
    for name, (label, fn) in _queries(ws, report_path, sections).items():
        print(f"  {label} x{repeat} ...", file=sys.stderr)
        results[name] = _stats(label, [_timed(fn)[0] for _ in range(repeat)], ws)
    results["report"]["sections_median_s"] = {
        k: statistics.median(s[k] for s in sections) for k in sections[0]
    }

    print(f"  headline NPS by month: cxlens vs SQL, interleaved x{repeat} ...", file=sys.stderr)
    peers = _peer_queries(ws)
    runs: dict[str, list[float]] = {name: [] for name in peers}
    last: dict[str, Any] = {}
    for _ in range(repeat):
        for name, (_label, fn) in peers.items():
            seconds, last[name] = _timed(fn)
            runs[name].append(seconds)
    for name, (label, _fn) in peers.items():
        results[name] = _stats(label, runs[name], ws)
    # Every month, not just the latest: n and NPS of cxlens's trend against the hand-written query.
    months = m_trend_by_month(ws)
    hand_all = last["peer_handwritten"]
    agreement = {
        "cxlens": months,
        "handwritten": [
            [str(p)[:7], int(n), float(v)]
            for p, n, v in zip(hand_all["period"], hand_all["n"], hand_all["nps"], strict=True)
        ],
    }

    report_mb = report_path.stat().st_size / (1 << 20)
    report_path.unlink()
    report_path.parent.rmdir()
    counts = ws.counts()
    ws.close()
    return {
        "import_s": import_s,
        "open_s": open_s,
        "rss_at_start_mb": rss_at_start,
        "rss_after_open_mb": rss_after_open,
        "queries": results,
        "agreement": agreement,
        "report_mb": report_mb,
        "counts": counts,
        "peak_rss_mb": bc.peak_rss_mb(),
        "ru_maxrss_mb": _maxrss_mb(),
        "ru_maxrss_children_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
    }


# -- reporting -----------------------------------------------------------------------------------
def _build_lines(build: dict[str, Any], counts: dict[str, int]) -> list[str]:
    gen = build.get("generate_s")
    when = f"reused, built {build.get('built_at', '?')}" if build["reused"] else "built now"
    lines = [
        f"demo store ({when}): generated in {'(files cached)' if gen is None else f'{gen:.1f} s'}, "
        f"loaded in {build['load_s']:.1f} s; peak RSS of the build {build['build_peak_rss_mb']:,.0f} MB"
        + (f"; store {build['store_mb']:,.0f} MB" if "store_mb" in build else "")
    ]
    for table, n in counts.items():
        load = build.get("load", {}).get(table)
        extra = ""
        if load:
            extra = f"  loaded in {load['seconds']:6.1f} s"
            per_file = load.get("file_seconds") or []
            if len(per_file) > 1:
                extra += f" ({len(per_file)} files: first {per_file[0]:.1f} s, last {per_file[-1]:.1f} s)"
        lines.append(f"  {table:<12}{n:>14,} rows{extra}")
    if counts != build.get("counts"):
        lines.append("  WARNING: row counts differ from those recorded when the store was built")
    return lines


def report_lines(build: dict[str, Any], res: dict[str, Any], header: list[str]) -> list[str]:
    """The human summary of one run."""
    lines = [*header, "", *_build_lines(build, res["counts"]), ""]
    lines.append(
        f"query process: imports {res['import_s']:.2f} s, open store {res['open_s']:.2f} s, "
        f"RSS after open {res['rss_after_open_mb']:,.0f} MB"
    )
    lines.append(
        f"{'query':<40}{'min s':>9}{'median s':>10}{'first s':>9}{'peak RSS MB':>13}{'duckdb MB':>11}"
    )
    queries = res["queries"]

    def row(q: dict[str, Any], indent: str = "") -> str:
        return (
            f"{indent}{q['label']:<{40 - len(indent)}}{q['min_s']:>9.3f}{q['median_s']:>10.3f}"
            f"{q['runs_s'][0]:>9.3f}{q['peak_rss_so_far_mb']:>13,.0f}{q['duckdb_memory_after_mb']:>11,.0f}"
        )

    names = [k for k in queries if k not in PEERS and k != "report"]
    lines.extend(row(queries[k]) for k in names)
    total_min = sum(queries[k]["min_s"] for k in names)
    total_median = sum(queries[k]["median_s"] for k in names)
    lines.append(f"{f'total of the {len(names)} queries':<40}{total_min:>9.3f}{total_median:>10.3f}")
    lines.append(row(queries["report"]))
    sections = queries["report"]["sections_median_s"]
    lines.append(
        "  report sections (median s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in sections.items())
        + " (data includes rendering and writing the HTML)"
    )
    lines.append("")
    lines.append("peer, same connection, interleaved: headline NPS by month")
    lines.extend(row(queries[k], "  ") for k in PEERS)
    mine, sql, hand = (queries[k] for k in PEERS)
    lines.append(
        f"  ratio cxlens/handwritten {mine['median_s'] / hand['median_s']:.2f}x median, "
        f"{mine['min_s'] / hand['min_s']:.2f}x min; "
        f"cxlens SQL alone/handwritten {sql['median_s'] / hand['median_s']:.2f}x median"
    )
    lines.append("")
    lines.append(
        f"peak RSS of the query process {res['peak_rss_mb']:,.0f} MB (VmHWM; RSS before imports "
        f"{res['rss_at_start_mb']:,.0f} MB, after opening the store {res['rss_after_open_mb']:,.0f} MB; "
        f"ru_maxrss {res['ru_maxrss_mb']:,.0f} MB, of its children {res['ru_maxrss_children_mb']:,.0f} MB); "
        f"report HTML {res['report_mb']:.1f} MB"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the demo store if needed, measure in a child process, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=1_000_000, help="demo size (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=42, help="demo seed (default 42)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="store to build or reuse (default: $TMPDIR/cxlens-bench-metrics-<customers>)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per query (default 3)")
    parser.add_argument(
        "--memory-limit",
        default=None,
        help="DuckDB memory limit (sets CXLENS_DUCKDB_MEMORY_LIMIT; default: the setting, 4GB)",
    )
    parser.add_argument("--build", nargs=3, metavar=("DIR", "CUSTOMERS", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--query", nargs=2, metavar=("DIR", "REPEAT"), help=argparse.SUPPRESS)
    bc.add_arguments(parser)
    args = parser.parse_args(argv)
    bc.apply_smoke(args, customers=2_000, repeat=1)

    if args.build:
        print(json.dumps(build(Path(args.build[0]), int(args.build[1]), int(args.build[2]))))
        return 0
    if args.query:
        print(json.dumps(query_process(args.query[0], int(args.query[1]))))
        return 0
    if args.customers < 100 or args.repeat < 1:
        parser.error("--customers must be at least 100 and --repeat positive")
    if args.memory_limit:
        os.environ["CXLENS_DUCKDB_MEMORY_LIMIT"] = args.memory_limit  # children inherit it

    run = bc.Run("metrics", args, argv)
    import duckdb
    import ibis

    from cxlens.config import get_settings

    settings = get_settings()
    data_dir: Path = (
        args.data_dir
        or bc.data_dir(args, Path(tempfile.gettempdir()) / f"cxlens-bench-metrics-{args.customers}")
    ).resolve()
    print(f"data directory: {data_dir}", file=sys.stderr)
    build_info = ensure_demo(data_dir, args.customers, args.seed)
    print(f"measuring {args.repeat} run(s) per query in a fresh process ...", file=sys.stderr)
    res = _run_child("--query", str(data_dir), str(args.repeat))

    header = [
        f"cxlens metrics benchmark: demo retailer, {args.customers:,} customers (seed {args.seed}), "
        f"DuckDB engine, repeat {args.repeat}",
        f"python {platform.python_version()}, duckdb {duckdb.__version__}, ibis {ibis.__version__}, "
        f"{os.cpu_count()} CPUs, duckdb memory_limit {settings.duckdb_memory_limit}, "
        f"threads {settings.duckdb_threads or 'all'}, load average {os.getloadavg()[0]:.1f}",
        f"data directory: {data_dir}",
    ]
    lines = report_lines(build_info, res, header)
    for line in lines:
        print(line)

    queries = res["queries"]
    run.table(
        f"Report queries, {args.customers:,} demo customers, {res['counts'].get('feedback', 0):,} feedback "
        f"rows (median of {args.repeat}; load average {run.load_before})",
        ["query", "median s", "min s", "peak RSS MB"],
        [[q["label"], q["median_s"], q["min_s"], q["peak_rss_so_far_mb"]] for q in queries.values()],
    )
    mine, sql, hand = (queries[k] for k in PEERS)
    ratios = {
        "headline_nps_month_cxlens_over_handwritten_median": mine["median_s"] / hand["median_s"],
        "headline_nps_month_cxlens_sql_over_handwritten_median": sql["median_s"] / hand["median_s"],
    }
    run.table(
        "Headline NPS by month against hand-written SQL (same connection, interleaved)",
        ["side", "median s", "cxlens / hand-written"],
        [
            [mine["label"], mine["median_s"], ratios["headline_nps_month_cxlens_over_handwritten_median"]],
            [sql["label"], sql["median_s"], ratios["headline_nps_month_cxlens_sql_over_handwritten_median"]],
            [hand["label"], hand["median_s"], 1.0],
        ],
    )
    agreement = res["agreement"]
    ours = {m: (n, v) for m, n, v in agreement["cxlens"]}
    theirs = {m: (n, v) for m, n, v in agreement["handwritten"]}
    run.equal("months = hand-written SQL's", sorted(ours), sorted(theirs))
    run.equal(
        "responses per month = hand-written SQL's",
        {k: v[0] for k, v in ours.items()},
        {k: v[0] for k, v in theirs.items()},
    )
    gaps = {k: abs(ours[k][1] - theirs[k][1]) for k in ours.keys() & theirs.keys()}
    worst = max(gaps, key=gaps.__getitem__) if gaps else None
    run.check(
        "NPS per month = hand-written SQL's (within 1e-9 points)",
        bool(gaps) and max(gaps.values()) <= 1e-9,
        f"largest gap {gaps[worst]:.1e} in {worst}" if worst else "no months",
    )
    return run.finish(
        {
            "customers": args.customers,
            "seed": args.seed,
            "repeat": args.repeat,
            "data_dir": str(data_dir),
            "duckdb_memory_limit": settings.duckdb_memory_limit,
            "duckdb_threads": settings.duckdb_threads,
            "build": build_info,
            "query_process": res,
            "ru_maxrss_children_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
            "ratios": ratios,
            "printed": lines,
        }
    )


if __name__ == "__main__":
    sys.exit(main())
