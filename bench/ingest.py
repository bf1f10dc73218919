"""Benchmark: cxlens ingest of event rows from Parquet and CSV against plain DuckDB in the same run.

Generates a deterministic synthetic ``events`` file (default 10 million rows) as CSV and Parquet,
then measures, each in a fresh subprocess and a fresh data directory:

* ``duckdb read_csv+INSERT``     plain DuckDB: ``INSERT INTO events SELECT ... FROM read_csv(...)``
* ``cxlens ingest CSV``          ``Workspace(d).ingest("events", csv_path)``
* ``duckdb read_parquet+INSERT`` plain DuckDB: ``INSERT INTO events SELECT ... FROM read_parquet(...)``
* ``cxlens ingest Parquet``      ``Workspace(d).ingest("events", parquet_path)``

It prints rows/s, seconds and the peak resident memory of each process (``ru_maxrss``), and the
ratio of each cxlens case to its plain-DuckDB baseline; the results also go to
``bench/results/ingest-<timestamp>.json``. The baselines create the table with cxlens's own DDL
and use the same DuckDB memory limit and threads as cxlens (``CXLENS_DUCKDB_*``), so the ratio
is the cost of what cxlens adds: staging, validation, idempotency and the load log.

The input files omit ``touchpoint`` (cxlens derives it from ``event_type``; the baseline leaves it
NULL). Timings cover opening the store, loading and closing it (the close checkpoints).

Checks (exit code 1 if any fails): every case stores every row, and the cxlens stores hold the
same rows as DuckDB's (count, distinct event ids and sum of values per channel and event type).

    python bench/ingest.py                     # 10,000,000 rows
    python bench/ingest.py --rows 1000000 --repeat 3 --keep-data
    python bench/ingest.py --smoke             # 200,000 rows (make bench-smoke)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc

#: What must be the same in every store: rows, distinct ids and value per channel and event type.
CONTENT_SQL = (
    "SELECT channel, event_type, count(*), count(DISTINCT event_id), coalesce(round(sum(value), 2), 0) "
    "FROM events GROUP BY ALL ORDER BY ALL"
)
#: Bump when the generator changes, so cached inputs are regenerated.
GENERATOR_VERSION = 1
SEED = 20240601
CHUNK_ROWS = 1_000_000

CASES: dict[str, str] = {
    "duckdb-csv": "duckdb read_csv+INSERT",
    "cxlens-csv": "cxlens ingest CSV",
    "duckdb-parquet": "duckdb read_parquet+INSERT",
    "cxlens-parquet": "cxlens ingest Parquet",
}
#: cxlens case -> its plain-DuckDB baseline.
PAIRS = {"cxlens-csv": "duckdb-csv", "cxlens-parquet": "duckdb-parquet"}

#: Channels and event types from the default journey map (web/app online, store offline).
ONLINE_TYPES = (
    "page_view",
    "product_view",
    "site_search",
    "add_to_cart",
    "checkout_start",
    "checkout",
    "payment",
)
ONLINE_P = (0.40, 0.25, 0.10, 0.12, 0.05, 0.04, 0.04)
STORE_TYPES = ("store_visit", "shelf_browse", "product_scan", "pos_purchase")
STORE_P = (0.35, 0.30, 0.15, 0.20)
WITH_PRODUCT = {"product_view", "add_to_cart", "shelf_browse", "product_scan"}
WITH_VALUE = {"add_to_cart", "checkout", "payment", "pos_purchase"}
COLUMNS = (
    "event_id",
    "occurred_at",
    "customer_id",
    "anonymous_id",
    "session_id",
    "channel",
    "event_type",
    "store_id",
    "product_id",
    "value",
)


# -- input generation ----------------------------------------------------------------------------
def _ids(prefix: str, numbers: Any, width: int = 0) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(numbers), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def _where(mask: Any, values: Any) -> Any:
    """``values`` where ``mask`` holds, NULL elsewhere."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pa.array(mask), values, pa.scalar(None, values.type))


def _chunk(start: int, n: int) -> Any:
    """Rows ``start .. start+n`` of the synthetic events table (deterministic per chunk)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng([SEED, start])
    idx = np.arange(start, start + n, dtype=np.int64)
    epoch = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
    occurred = np.sort(rng.integers(0, 366 * 86400, n)) + epoch
    known = rng.random(n) < 0.6
    channel_ix = rng.choice(3, size=n, p=(0.5, 0.3, 0.2))  # web, app, store
    in_store = channel_ix == 2
    online_ix = rng.choice(len(ONLINE_TYPES), size=n, p=ONLINE_P)
    store_ix = rng.choice(len(STORE_TYPES), size=n, p=STORE_P) + len(ONLINE_TYPES)
    types = pa.array(ONLINE_TYPES + STORE_TYPES).take(pa.array(np.where(in_store, store_ix, online_ix)))
    type_names = np.array(ONLINE_TYPES + STORE_TYPES)[np.where(in_store, store_ix, online_ix)]
    has_product = np.isin(type_names, list(WITH_PRODUCT))
    has_value = np.isin(type_names, list(WITH_VALUE))
    value = np.round(rng.gamma(2.0, 20.0, n), 2)
    return pa.table(
        {
            "event_id": _ids("ev", idx, 10),
            "occurred_at": pa.array(occurred, type=pa.timestamp("s")),
            "customer_id": _where(known, _ids("cu", rng.integers(0, 2_000_000, n), 7)),
            "anonymous_id": _where(~known, _ids("an", rng.integers(0, 5_000_000, n), 7)),
            "session_id": _ids("se", idx // 8, 9),
            "channel": pa.array(("web", "app", "store")).take(pa.array(channel_ix)),
            "event_type": types,
            "store_id": _where(in_store, _ids("st", rng.integers(0, 500, n), 4)),
            "product_id": _where(has_product, _ids("p", rng.integers(0, 50_000, n), 6)),
            "value": pa.array(value, mask=~has_value),
        }
    )


def ensure_inputs(rows: int, cache_dir: Path) -> tuple[Path, Path, float | None]:
    """The CSV and Parquet inputs for ``rows`` rows (generated unless cached); generation seconds."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    stem = f"events-{rows}-v{GENERATOR_VERSION}"
    csv_path, pq_path = cache_dir / f"{stem}.csv", cache_dir / f"{stem}.parquet"
    if csv_path.exists() and pq_path.exists():
        return csv_path, pq_path, None
    cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    csv_tmp, pq_tmp = csv_path.with_suffix(".csv.part"), pq_path.with_suffix(".parquet.part")
    schema = _chunk(0, 1).schema
    parquet_schema = schema.set(1, pa.field("occurred_at", pa.timestamp("us")))
    with (
        pacsv.CSVWriter(str(csv_tmp), schema) as csv_writer,
        pq.ParquetWriter(str(pq_tmp), parquet_schema, compression="snappy") as pq_writer,
    ):
        for start in range(0, rows, CHUNK_ROWS):
            table = _chunk(start, min(CHUNK_ROWS, rows - start))
            csv_writer.write_table(table)
            pq_writer.write_table(table.cast(parquet_schema), row_group_size=CHUNK_ROWS)
            print(f"  generated {start + table.num_rows:,} of {rows:,} rows", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    csv_tmp.rename(csv_path)
    pq_tmp.rename(pq_path)
    return csv_path, pq_path, time.perf_counter() - started


# -- one measurement (runs in a child process) ---------------------------------------------------
def _child(case: str, source: str, store_dir: str) -> dict[str, Any]:
    import duckdb

    from cxlens.config import get_settings
    from cxlens.model.schema import DUCKDB_TYPES, TABLES
    from cxlens.storage.workspace import Workspace

    settings = get_settings()
    rss_start = bc.rss_mb()
    marks: list[tuple[str, float, float]] = []
    cpu_start = bc.cpu_seconds()
    started = time.perf_counter()

    def mark(what: str) -> None:
        marks.append((what, time.perf_counter() - started, bc.peak_rss_mb()))

    if case.startswith("cxlens"):
        ws = Workspace(store_dir)
        results = ws.ingest("events", source, log=mark)
        loaded = sum(r.rows_loaded for r in results)
        mark("closing")
        ws.close()
    else:
        config: dict[str, Any] = {
            "memory_limit": settings.duckdb_memory_limit,
            "temp_directory": str(Path(store_dir) / "tmp"),
        }
        if settings.duckdb_threads:
            config["threads"] = settings.duckdb_threads
        Path(store_dir).mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(Path(store_dir) / "plain.duckdb"), config=config)
        typed = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in TABLES["events"].columns)
        con.execute(f"CREATE TABLE events ({typed})")
        cols = ", ".join(COLUMNS)
        reader = "read_csv" if case.endswith("csv") else "read_parquet"
        con.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM {reader}(?)", [source])
        row = con.execute("SELECT count(*) FROM events").fetchone()
        loaded = int(row[0]) if row else 0
        mark("closing")
        con.close()
    seconds = time.perf_counter() - started
    cpu_seconds = bc.cpu_seconds() - cpu_start
    mark("closed")
    # After the clock stops: what was stored, read back through each side's own front door.
    if case.startswith("cxlens"):
        with Workspace(store_dir, read_only=True) as check:
            ev = check.table("events")
            by = ev.group_by(["channel", "event_type"]).aggregate(
                n=ev.count(), ids=ev.event_id.nunique(), value=ev.value.sum().round(2).fill_null(0)
            )
            content = [
                list(r) for r in by.order_by(["channel", "event_type"]).to_pandas().itertuples(index=False)
            ]
    else:
        with duckdb.connect(str(Path(store_dir) / "plain.duckdb"), read_only=True) as con:
            content = [list(r) for r in con.execute(CONTENT_SQL).fetchall()]
    return {
        "case": case,
        "rows": loaded,
        "content": content,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_mb": bc.peak_rss_mb(),
        "rss_at_start_mb": rss_start,
        "marks": [{"what": w, "at_s": round(t, 3), "peak_rss_mb": round(m, 1)} for w, t, m in marks],
        "store_mb": sum(p.stat().st_size for p in Path(store_dir).rglob("*") if p.is_file()) / (1 << 20),
    }


def measure(case: str, source: Path, work_dir: Path) -> dict[str, Any]:
    """Run one case in a fresh process with a fresh data directory; return its measurements."""
    store_dir = Path(tempfile.mkdtemp(prefix=f"{case}-", dir=work_dir))
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", case, str(source), str(store_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"{case} failed (exit {proc.returncode})")
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(store_dir, ignore_errors=True)


# -- reporting -----------------------------------------------------------------------------------
def _phases(marks: list[dict[str, Any]]) -> str:
    """Human phases from the cxlens log messages: stage, validate, write, close."""
    names = {"staged": "stage", "validated": "validate", "committed": "write", "closed": "close"}
    out, last = [], 0.0
    for m in marks:
        word = m["what"].split()[0]
        if word in names:
            out.append(f"{names[word]} {m['at_s'] - last:.1f} s (peak {m['peak_rss_mb']:,.0f} MB)")
            last = m["at_s"]
    return ", ".join(out)


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per case: median seconds over the repeats, max peak RSS, and the runs themselves."""
    out: dict[str, dict[str, Any]] = {}
    for case in CASES:
        mine = [r for r in runs if r["case"] == case]
        seconds = statistics.median(r["seconds"] for r in mine)
        rows = mine[0]["rows"]
        out[case] = {
            "label": CASES[case],
            "rows": rows,
            "seconds": seconds,
            "rows_per_s": rows / seconds if seconds else None,
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in mine),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
            "rss_at_start_mb": max(r["rss_at_start_mb"] for r in mine),
            "store_mb": mine[0]["store_mb"],
            "runs": mine,
        }
    return out


def print_report(summary: dict[str, dict[str, Any]], header: list[str]) -> list[str]:
    lines = [*header, ""]
    lines.append(
        f"{'case':<28}{'rows':>13}{'seconds':>10}{'rows/s':>13}{'CPU s':>8}{'peak RSS MB':>13}"
        f"{'RSS at start':>14}{'store MB':>10}"
    )
    for s in summary.values():
        lines.append(
            f"{s['label']:<28}{s['rows']:>13,}{s['seconds']:>10.2f}{s['rows_per_s']:>13,.0f}"
            f"{s['cpu_seconds']:>8.1f}"
            f"{s['peak_rss_mb']:>13,.0f}{s['rss_at_start_mb']:>14,.0f}{s['store_mb']:>10,.0f}"
        )
    lines.append("")
    for mine, base in PAIRS.items():
        a, b = summary[mine], summary[base]
        lines.append(
            f"{a['label']} vs {b['label']}: cxlens/duckdb time ratio {a['seconds'] / b['seconds']:.1f}x, "
            f"CPU ratio {a['cpu_seconds'] / b['cpu_seconds']:.1f}x, "
            f"peak RSS ratio {a['peak_rss_mb'] / b['peak_rss_mb']:.1f}x"
        )
    lines.append("")
    for case in PAIRS:
        lines.append(f"{CASES[case]} phases: {_phases(summary[case]['runs'][0]['marks'])}")
    for line in lines:
        print(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000, help="event rows (default 10,000,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the median is shown")
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the generated input files in the cache directory for later runs (default: delete)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cxlens-bench",
        help="where inputs and the temporary stores go (default: %(default)s)",
    )
    parser.add_argument("--child", nargs=3, metavar=("CASE", "SOURCE", "STORE"), help=argparse.SUPPRESS)
    bc.add_arguments(parser)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    bc.apply_smoke(args, rows=200_000, repeat=1)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be positive")
    run = bc.Run("ingest", args, argv)

    import duckdb
    import pyarrow as pa

    from cxlens.config import get_settings

    settings = get_settings()
    cache_dir: Path = args.cache_dir.resolve()
    csv_path, pq_path, gen_seconds = ensure_inputs(args.rows, cache_dir)
    sources = {"csv": csv_path, "parquet": pq_path}
    load_before = os.getloadavg()[0]
    size_mb = {k: p.stat().st_size / (1 << 20) for k, p in sources.items()}
    runs: list[dict[str, Any]] = []
    try:
        for i in range(args.repeat):
            for case in CASES:
                print(f"  run {i + 1}/{args.repeat}: {CASES[case]} ...", file=sys.stderr)
                runs.append(measure(case, sources[case.split("-")[1]], cache_dir))
    finally:
        if not args.keep_data:
            csv_path.unlink(missing_ok=True)
            pq_path.unlink(missing_ok=True)

    for r in runs:
        run.equal(f"{CASES[r['case']]} stored every row", r["rows"], args.rows)
    for mine, base in PAIRS.items():
        ours = [r for r in runs if r["case"] == mine]
        theirs = [r for r in runs if r["case"] == base]
        run.equal(f"{CASES[mine]} stored what DuckDB stored", ours[0]["content"], theirs[0]["content"])
    for r in runs:
        r.pop("content")
    summary = summarise(runs)
    gen = "cached" if gen_seconds is None else f"generated in {gen_seconds:.1f} s"
    header = [
        f"cxlens ingest benchmark: {args.rows:,} event rows, repeat {args.repeat} (median time, max RSS)",
        f"python {platform.python_version()}, duckdb {duckdb.__version__}, pyarrow {pa.__version__}, "
        f"{os.cpu_count()} CPUs, duckdb memory_limit {settings.duckdb_memory_limit}, "
        f"threads {settings.duckdb_threads or 'all'}; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after",
        f"inputs ({gen}): {csv_path.name} {size_mb['csv']:,.0f} MB, "
        f"{pq_path.name} {size_mb['parquet']:,.0f} MB",
    ]
    lines = print_report(summary, header)

    ratios = {
        mine: {
            "baseline": base,
            "time": summary[mine]["seconds"] / summary[base]["seconds"],
            "cpu": summary[mine]["cpu_seconds"] / summary[base]["cpu_seconds"],
            "peak_rss": summary[mine]["peak_rss_mb"] / summary[base]["peak_rss_mb"],
        }
        for mine, base in PAIRS.items()
    }
    run.table(
        f"Ingest of {args.rows:,} event rows (median of {args.repeat}; load average {load_before:.1f})",
        ["case", "seconds", "rows/s", "CPU s", "peak RSS MB", "cxlens / DuckDB time", "CPU ratio"],
        [
            [
                s["label"],
                s["seconds"],
                s["rows_per_s"],
                s["cpu_seconds"],
                s["peak_rss_mb"],
                ratios[case]["time"] if case in ratios else None,
                ratios[case]["cpu"] if case in ratios else None,
            ]
            for case, s in summary.items()
        ],
    )
    return run.finish(
        {
            "rows": args.rows,
            "repeat": args.repeat,
            "duckdb_memory_limit": settings.duckdb_memory_limit,
            "duckdb_threads": settings.duckdb_threads,
            "inputs": {k: {"path": str(p), "mb": size_mb[k]} for k, p in sources.items()},
            "generation_seconds": gen_seconds,
            "cases": summary,
            "ratios": ratios,
            "printed": lines,
        }
    )


if __name__ == "__main__":
    sys.exit(main())
