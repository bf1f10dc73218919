"""``cxlens backup`` and ``cxlens restore``: both stores in one folder, over :mod:`cxlens.backup`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from cxlens.cli.common import err, fail, open_workspace, out, progress_bars, state


def backup(
    dest: Annotated[
        Path, typer.Argument(help="New folder to write the backup to (outside the data directory).")
    ],
) -> None:
    """Back up the table store (a consistent snapshot of the catalogue and its files) and the
    operational store, while the server keeps running."""
    from cxlens.backup import BackupError
    from cxlens.backup import backup as take
    from cxlens.ops import OpsStore
    from cxlens.ops.backup import OpsBackupError

    with (
        open_workspace(read_only=True) as ws,
        OpsStore(data_dir=state.data_dir) as ops,
        progress_bars(sys.stderr.isatty()) as bars,
    ):
        task = bars.add_task("copying files", total=None) if bars else None

        def tick(done: int, total: int) -> None:
            if bars is not None and task is not None:
                bars.update(task, completed=done, total=total)

        try:
            manifest = take(ws, ops, dest, tick)
        except (BackupError, OpsBackupError) as exc:
            raise fail(str(exc)) from None
    files = sum(len(t["files"]) for t in manifest["tables"].values())
    size = sum(f["bytes"] for t in manifest["tables"].values() for f in t["files"])
    rows = sum(t["rows"] for t in manifest["tables"].values())
    ops_rows = sum(manifest["operational"]["rows"].values())
    out.print(
        f"backup {dest}: {len(manifest['tables'])} tables, {rows:,} rows in {files:,} files "
        f"({size / 2**20:,.1f} MB) at data version {manifest['data_version']}; operational store "
        f"({manifest['operational']['dialect']}) {ops_rows:,} rows",
        highlight=False,
        soft_wrap=True,
    )


def restore(
    src: Annotated[Path, typer.Argument(help="Backup folder (written by `cxlens backup`).")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the store of a data directory that is not empty.")
    ] = False,
) -> None:
    """Restore a backup into the data directory (empty unless --force) and check every table's
    rows and checksum, and the operational store's rows, against the backup."""
    from cxlens.backup import BackupError
    from cxlens.backup import restore as put_back
    from cxlens.config import get_settings

    data_dir = state.data_dir or get_settings().data_dir
    with progress_bars(sys.stderr.isatty()) as bars:
        task = bars.add_task("restoring files", total=None) if bars else None

        def tick(done: int, total: int) -> None:
            if bars is not None and task is not None:
                bars.update(task, completed=done, total=total)

        try:
            result = put_back(src, data_dir, force=force, progress=tick)
        except BackupError as exc:
            raise fail(str(exc)) from None
    out.print(
        f"restored {src} into {data_dir}: rows and checksums of {len(result.tables)} tables match",
        highlight=False,
        soft_wrap=True,
    )
    table = RichTable()
    for col in ("table", "rows", "checksum"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for check in result.tables:
        table.add_row(check.table, f"{check.rows_restored:,}", f"{check.checksum_restored & 0xFFFFFFFF:08x}")
    out.print(table)
    ops_rows = sum(b for _, b in result.operational.values())
    out.print(
        f"operational store: {ops_rows:,} rows in {len(result.operational)} tables match", highlight=False
    )
    err.print("[dim]run `cxlens status` to see the restored store[/]")
