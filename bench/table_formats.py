"""Iceberg (pyiceberg, SQL catalogue on SQLite) vs Delta Lake (deltalake): the measurements behind
the choice of the store's table format (docs/ARCHITECTURE.md, "The store").

For each format: the latency of a small append commit (1,000 rows) as commits accumulate, the
throughput of several processes appending at once (with every commit accounted for), the time to
list a table's data files, and a DuckDB scan of those files. Run: ``python bench/table_formats.py``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

ROWS = 1_000


def batch(writer: int, i: int) -> pa.Table:
    base = (writer * 1_000_000 + i) * ROWS
    return pa.table(
        {
            "event_id": pa.array([f"e{base + k:012d}" for k in range(ROWS)]),
            "customer_id": pa.array([f"c{(base + k) % 5000}" for k in range(ROWS)]),
            "value": pa.array([float(k) for k in range(ROWS)]),
        }
    )


# -- Iceberg -------------------------------------------------------------------------------


def iceberg_table(root: Path, create: bool = False) -> Any:
    from pyiceberg.catalog.sql import SqlCatalog

    cat = SqlCatalog("bench", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/warehouse")
    if create:
        cat.create_namespace("cx")
        props = {"commit.retry.num-retries": "100", "commit.retry.min-wait-ms": "5"}
        return cat.create_table("cx.events", schema=batch(0, 0).schema, properties=props)
    return cat.load_table("cx.events")


def iceberg_files(root: Path) -> list[str]:
    return [t.file.file_path.removeprefix("file://") for t in iceberg_table(root).scan().plan_files()]


def iceberg_append(root: Path, writer: int, n: int) -> None:
    table = iceberg_table(root)
    for i in range(n):
        table.append(batch(writer, i))


# -- Delta ---------------------------------------------------------------------------------


def delta_append(root: Path, writer: int, n: int) -> None:
    from deltalake import write_deltalake

    for i in range(n):
        write_deltalake(str(root / "events"), batch(writer, i), mode="append")


def delta_files(root: Path) -> list[str]:
    from deltalake import DeltaTable

    return [u.removeprefix("file://") for u in DeltaTable(str(root / "events")).file_uris()]


FORMATS = {
    "iceberg": (iceberg_append, iceberg_files),
    "delta": (delta_append, delta_files),
}


def measure(fmt: str, commits: int, writers: int, per_writer: int) -> dict[str, float]:
    append, files = FORMATS[fmt]
    root = Path(tempfile.mkdtemp(prefix=f"cxlens-bench-{fmt}-"))
    try:
        if fmt == "iceberg":
            iceberg_table(root, create=True)
        lat = []
        for i in range(commits):
            t0 = time.perf_counter()
            append(root, 0, 1) if i == 0 else _append_one(fmt, root, i)
            lat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=append, args=(root, w + 1, per_writer)) for w in range(writers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        concurrent_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        listed = files(root)
        list_s = time.perf_counter() - t0
        con = duckdb.connect()
        t0 = time.perf_counter()
        n, distinct = con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM read_parquet(?)", [listed]
        ).fetchone()  # type: ignore[misc]
        scan_s = time.perf_counter() - t0
        expected = (commits + writers * per_writer) * ROWS
        assert n == distinct == expected, (fmt, n, distinct, expected)
        return {
            "first10_ms": 1000 * statistics.median(lat[:10]),
            "last10_ms": 1000 * statistics.median(lat[-10:]),
            "concurrent_commits_per_s": writers * per_writer / concurrent_s,
            "list_files_ms": 1000 * list_s,
            "files": len(listed),
            "duckdb_scan_ms": 1000 * scan_s,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


_TABLES: dict[Path, Any] = {}


def _append_one(fmt: str, root: Path, i: int) -> None:
    """One append in this process (the Iceberg table object is reused, as a long-lived writer would)."""
    if fmt == "iceberg":
        table = _TABLES.setdefault(root, iceberg_table(root))
        table.append(batch(0, i))
    else:
        delta_append_batch(root, i)


def delta_append_batch(root: Path, i: int) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(root / "events"), batch(0, i), mode="append")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--per-writer", type=int, default=25)
    args = parser.parse_args()
    print(
        f"load average {os.getloadavg()[0]:.2f}; {args.commits} sequential commits of {ROWS:,} rows, "
        f"then {args.writers} processes x {args.per_writer} commits"
    )
    for fmt in FORMATS:
        r = measure(fmt, args.commits, args.writers, args.per_writer)
        print(fmt, " ".join(f"{k}={v:,.1f}" for k, v in r.items()))


if __name__ == "__main__":
    main()
