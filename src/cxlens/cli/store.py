"""``cxlens store``: the table store itself: what it holds, compaction, clean-up, migration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from cxlens.cli.common import err, fail, open_workspace, out, state
from cxlens.storage.workspace import Workspace

store_app = typer.Typer(
    help="The table store: files, snapshots, compaction, migration of an earlier store.",
    no_args_is_help=True,
)


@store_app.command()
def info() -> None:
    """Per table: rows, data files, bytes and snapshots; the store's data version."""
    with open_workspace(read_only=True) as ws:
        table = RichTable(title=f"cxlens store {ws.location}, data version {ws.data_version()}")
        for col in ("table", "rows", "files", "MB", "snapshots"):
            table.add_column(col, justify="left" if col == "table" else "right")
        _, pointers = ws.store.pointers()
        for name, location in sorted(pointers.items()):
            st = ws.store.state(name, location)
            size = sum(f.file_size_in_bytes for f in st.files) / 2**20
            snaps = len(st.table.metadata.snapshots)
            table.add_row(name, f"{st.rows:,}", f"{len(st.files):,}", f"{size:,.1f}", f"{snaps:,}")
        out.print(table)


@store_app.command()
def compact(
    table: Annotated[str | None, typer.Option(help="One table (default: every table).")] = None,
    force: Annotated[
        bool, typer.Option(help="Merge any two or more small files, not only past the threshold.")
    ] = False,
) -> None:
    """Merge small data files into large ones (sorted by key); readers keep working meanwhile."""
    with open_workspace() as ws:
        if table and not ws.has_table(table):
            raise fail(f"no table {table!r} in the store")
        for name, (before, after) in ws.compact(table, force=force).items():
            if before != after:
                out.print(f"{name}: {before:,} files -> {after:,}", highlight=False)
        out.print("compaction done")


@store_app.command()
def expire(
    hours: Annotated[
        float, typer.Option(min=0.0, help="Keep snapshots (and their files) younger than this.")
    ] = 1.0,
) -> None:
    """Forget old snapshots and delete data files no kept snapshot uses (also files of killed loads)."""
    with open_workspace() as ws:
        deleted = ws.expire(hours)
    out.print(f"deleted {sum(deleted.values()):,} unreferenced files", highlight=False)


@store_app.command()
def migrate(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="The earlier store's DuckDB file (default: <data-dir>/cxlens.duckdb)."),
    ] = None,
) -> None:
    """Convert an earlier cxlens store (one DuckDB file) into the table store; row counts and
    checksums of every table are compared, and the old file is kept as cxlens.duckdb.migrated."""
    from cxlens.storage.migrate import MigrationError
    from cxlens.storage.migrate import migrate as run_migration

    ws = Workspace(state.data_dir, state.journey_map)
    try:
        with err.status("migrating") as status:
            checks = run_migration(ws, source, progress=lambda m: status.update(f"migrating: {m}"))
    except MigrationError as exc:
        raise fail(str(exc)) from None
    finally:
        ws.close()
    table = RichTable(title="migrated: row counts and checksums match")
    for col in ("table", "rows", "checksum"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for c in checks:
        table.add_row(c.table, f"{c.rows_after:,}", f"{c.checksum_after & 0xFFFFFFFF:08x}")
    out.print(table)


@store_app.command()
def files(table: Annotated[str, typer.Argument(help="Table, e.g. events or _loads.")]) -> None:
    """Print the Parquet files of the table's current snapshot, one per line: reading exactly these
    (with any Parquet reader: pandas, Polars, Spark, Databricks) gives the table."""
    with open_workspace(read_only=True) as ws:
        if not ws.has_table(table):
            raise fail(f"no table {table!r} in the store")
        for path in ws.store.fresh(table).paths:
            out.print(path, highlight=False, soft_wrap=True)
