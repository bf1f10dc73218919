"""``cxlens store``: the table store itself: what it holds, compaction, clean-up, migration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxlens.cli.common import FormatOpt, err, fail, open_workspace, out, print_frame, print_record, state

store_app = typer.Typer(
    help="The table store: files, snapshots, compaction, migration of an earlier store.",
    no_args_is_help=True,
)


@store_app.command()
def info(output: FormatOpt = "table") -> None:
    """Per table: rows, data files, bytes and snapshots; the store's data version."""
    import pandas as pd

    rows = []
    with open_workspace(read_only=True) as ws:
        title = f"cxlens store {ws.location}, data version {ws.data_version()}"
        _, pointers = ws.store.pointers()
        for name, location in sorted(pointers.items()):
            st = ws.store.state(name, location)
            size = sum(f.file_size_in_bytes for f in st.files) / 2**20
            rows.append((name, st.rows, len(st.files), round(size, 1), len(st.table.metadata.snapshots)))
    print_frame(pd.DataFrame(rows, columns=["table", "rows", "files", "MB", "snapshots"]), output, title)


@store_app.command()
def compact(
    table: Annotated[str | None, typer.Option(help="One table (default: every table).")] = None,
    force: Annotated[
        bool, typer.Option(help="Merge any two or more small files, not only past the threshold.")
    ] = False,
    output: FormatOpt = "table",
) -> None:
    """Merge small data files into large ones (sorted by key); readers keep working meanwhile."""
    import pandas as pd

    with open_workspace() as ws:
        if table and not ws.has_table(table):
            raise fail(f"no table {table!r} in the store")
        done = ws.compact(table, force=force)
    if output != "table":
        rows = [(name, before, after) for name, (before, after) in done.items()]
        print_frame(pd.DataFrame(rows, columns=["table", "files_before", "files_after"]), output)
        return
    for name, (before, after) in done.items():
        if before != after:
            out.print(f"{name}: {before:,} files -> {after:,}", highlight=False)
    out.print("compaction done")


@store_app.command()
def expire(
    hours: Annotated[
        float, typer.Option(min=0.0, help="Keep snapshots (and their files) younger than this.")
    ] = 1.0,
    output: FormatOpt = "table",
) -> None:
    """Forget old snapshots and delete data files no kept snapshot uses (also files of killed loads)."""
    with open_workspace() as ws:
        deleted = ws.expire(hours)
    message = f"deleted {sum(deleted.values()):,} unreferenced files"
    print_record({"deleted_files": sum(deleted.values()), "by_table": deleted}, output, message=message)


@store_app.command()
def migrate(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="The earlier store's DuckDB file (default: <data-dir>/cxlens.duckdb)."),
    ] = None,
    output: FormatOpt = "table",
) -> None:
    """Convert an earlier cxlens store (one DuckDB file) into the table store; row counts and
    checksums of every table are compared, and the old file is kept as cxlens.duckdb.migrated."""
    import pandas as pd

    from cxlens.storage.migrate import MigrationError
    from cxlens.storage.migrate import migrate as run_migration
    from cxlens.storage.workspace import Workspace

    ws = Workspace(state.data_dir, state.journey_map)
    try:
        with err.status("migrating") as status:
            checks = run_migration(ws, source, progress=lambda m: status.update(f"migrating: {m}"))
    except MigrationError as exc:
        raise fail(str(exc)) from None
    finally:
        ws.close()
    rows = [(c.table, c.rows_after, f"{c.checksum_after & 0xFFFFFFFF:08x}") for c in checks]
    frame = pd.DataFrame(rows, columns=["table", "rows", "checksum"])
    print_frame(frame, output, "migrated: row counts and checksums match")


@store_app.command()
def files(
    table: Annotated[str, typer.Argument(help="Table, e.g. events or _loads.")], output: FormatOpt = "table"
) -> None:
    """Print the Parquet files of the table's current snapshot, one per line: reading exactly these
    (with any Parquet reader: pandas, Polars, Spark, Databricks) gives the table."""
    with open_workspace(read_only=True) as ws:
        if not ws.has_table(table):
            raise fail(f"no table {table!r} in the store")
        paths = [str(p) for p in ws.store.fresh(table).paths]
    if output == "table":
        for path in paths:
            out.print(path, highlight=False, markup=False, soft_wrap=True)
        return
    import pandas as pd

    print_frame(pd.DataFrame({"path": paths}), output)
