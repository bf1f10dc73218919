"""``cxlens backup`` and ``cxlens restore``: both stores in one folder, over :mod:`cxlens.backup`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cxlens.cli.common import (
    FormatOpt,
    err,
    fail,
    open_workspace,
    out,
    print_frame,
    print_record,
    progress_bars,
    state,
)


def _ticker(bars: Any, what: str) -> Any:
    """A progress callback (bytes copied, bytes in all) for a bar, or one that does nothing."""
    task = bars.add_task(what, total=None) if bars is not None else None

    def tick(done: int, total: int) -> None:
        if bars is not None and task is not None:
            bars.update(task, completed=done, total=total)

    return tick


def backup(
    dest: Annotated[
        Path, typer.Argument(help="New folder to write the backup to (outside the data directory).")
    ],
    output: FormatOpt = "table",
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
        progress_bars(output == "table" and sys.stderr.isatty()) as bars,
    ):
        try:
            manifest = take(ws, ops, dest, _ticker(bars, "copying files"))
        except (BackupError, OpsBackupError) as exc:
            raise fail(str(exc)) from None
    tables = manifest["tables"].values()
    summary = {
        "backup": str(dest.resolve()),
        "tables": len(manifest["tables"]),
        "rows": sum(t["rows"] for t in tables),
        "files": sum(len(t["files"]) for t in tables),
        "bytes": sum(f["bytes"] for t in tables for f in t["files"]),
        "data_version": manifest["data_version"],
        "operational_store": manifest["operational"]["dialect"],
        "operational_rows": sum(manifest["operational"]["rows"].values()),
    }
    message = (
        f"backup {summary['backup']}: {summary['tables']} tables, {summary['rows']:,} rows in "
        f"{summary['files']:,} files ({summary['bytes'] / 2**20:,.1f} MB) at data version "
        f"{summary['data_version']}; operational store ({summary['operational_store']}) "
        f"{summary['operational_rows']:,} rows"
    )
    print_record(summary, output, message=message)


def restore(
    src: Annotated[Path, typer.Argument(help="Backup folder (written by `cxlens backup`).")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the store of a data directory that is not empty.")
    ] = False,
    output: FormatOpt = "table",
) -> None:
    """Restore a backup into the data directory (empty unless --force): checked first (SHA-256 of
    every file, every table's rows and checksum, the operational store's rows), then swapped in;
    a failure leaves the current store as it was. Stop the server first."""
    import pandas as pd

    from cxlens.backup import BackupError
    from cxlens.backup import restore as put_back
    from cxlens.config import get_settings

    data_dir = state.data_dir or get_settings().data_dir
    with progress_bars(output == "table" and sys.stderr.isatty()) as bars:
        try:
            result = put_back(src, data_dir, force=force, progress=_ticker(bars, "restoring files"))
        except BackupError as exc:
            raise fail(str(exc)) from None
    rows = [{"store": "analytics", "table": c.table, "rows": c.rows_restored} for c in result.tables]
    rows += [
        {"store": "operational", "table": name, "rows": restored}
        for name, (_, restored) in result.operational.items()
    ]
    if output == "table":
        out.print(
            f"restored {src} into {data_dir}: every table matches the backup", highlight=False, soft_wrap=True
        )
    print_frame(pd.DataFrame(rows), output)
    if output == "table":
        err.print("[dim]run `cxlens status` to see the restored store[/]")
