"""``cxlens backup`` and ``cxlens restore``: both stores of a workspace in one folder, taken while
the server runs, restored (checked first, then swapped in) into an empty data directory or in
place of the current store.

A backup folder holds ``backup.json`` (the manifest: what was copied, with row counts,
checksums and SHA-256 of every file), ``warehouse/`` (the tables' data files, see
:mod:`cxlens.storage.backup`), the operational store (``operational.sqlite``, whether
it was SQLite or PostgreSQL, see :mod:`cxlens.ops.backup`) and ``files/`` (the session secret). It is
written as ``<folder>.partial`` and renamed when complete, so a folder without that suffix is a
whole backup.

The operational store is copied first and the table store second: a survey answer marked as
exported in the copy is then in the copied tables too; one exported after the first copy is sent
again by the restored exporter, and loads skip keys already stored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from cxlens import __version__
from cxlens.ops import OpsStore, default_url
from cxlens.ops.backup import (
    SQLITE_FILE,
    OpsBackupError,
    apply_ops_to_server,
    backup_ops,
    is_empty,
    prepare_ops,
    replace_sqlite,
    settle_sqlite,
    sqlite_path,
)
from cxlens.storage.backup import (
    BackupError,
    Progress,
    TableCheck,
    backup_tables,
    check_tables,
    copy_file,
    restore_tables,
    sha256,
    verify_files,
)
from cxlens.storage.store import TableStore, local_path
from cxlens.storage.workspace import CATALOG_FILE, Workspace

MANIFEST, FORMAT, FORMAT_VERSION = "backup.json", "cxlens-backup", 1
#: Files of the data directory kept with a backup (the key that signs sessions).
EXTRA_FILES = ("cxlens-secret.key",)

__all__ = ["BackupError", "Restored", "backup", "restore"]


def backup(ws: Workspace, ops: OpsStore, dest: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Back up both stores into the new folder ``dest``; return the manifest."""
    dest = dest.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty folder: choose a new one")
    if ws.data_dir == dest or ws.data_dir in dest.parents:
        raise BackupError(f"{dest} is inside the data directory {ws.data_dir}: choose a folder outside it")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        operational = backup_ops(ops, partial)
        operational["sha256"] = sha256(partial / operational["file"])
        tables = backup_tables(ws, partial, progress)
        extras = {}
        for name in EXTRA_FILES:
            if (ws.data_dir / name).is_file():
                extras[name] = copy_file(ws.data_dir / name, partial / "files" / name)
                (partial / "files" / name).chmod(0o600)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "cxlens_version": __version__,
            "duckdb_version": duckdb.__version__,
            "source": {"data_dir": str(ws.data_dir), "location": ws.location},
            **tables,
            "operational": operational,
            "files": extras,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if dest.exists():
            dest.rmdir()
        os.replace(partial, dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup folder ``src`` (a clear error for anything else)."""
    path = src / MANIFEST
    if not path.is_file():
        hint = " (an unfinished backup)" if src.name.endswith(".partial") else ""
        raise BackupError(f"{src} is not a cxlens backup{hint}: {MANIFEST} is missing")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path}: not readable ({exc})") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("tables"), dict):
        raise BackupError(f"{path}: not a cxlens backup manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise BackupError(f"{path}: made by a newer cxlens ({manifest.get('cxlens_version')}); upgrade first")
    return manifest


@dataclass
class Restored:
    """What a restore checked: every table's rows and checksum, the operational store's rows."""

    tables: list[TableCheck] = field(default_factory=list)
    #: table -> (rows in the backup, rows restored)
    operational: dict[str, tuple[int, int]] = field(default_factory=dict)
    data_version: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.tables) and all(a == b for a, b in self.operational.values())

    def mismatches(self) -> list[str]:
        """What differs from the backup, for people."""
        bad = [
            f"{c.table}: {c.rows:,} rows backed up, {c.rows_restored:,} restored"
            for c in self.tables
            if not c.ok
        ]
        bad += [
            f"{n}: {a:,} rows backed up, {b:,} restored" for n, (a, b) in self.operational.items() if a != b
        ]
        return bad


def verify(src: Path) -> dict[str, Any]:
    """Check the backup folder ``src`` is whole (manifest, every file with its SHA-256) before
    anything is restored; return its manifest."""
    manifest = read_manifest(src)
    verify_files(src, manifest)
    part = manifest.get("operational", {})
    for name, digest in [(part.get("file", ""), part.get("sha256", "")), *manifest.get("files", {}).items()]:
        path = src / name if name in (part.get("file"),) else src / "files" / name
        if not name or not path.is_file():
            raise BackupError(f"{path}: missing from the backup")
        if sha256(path) != digest:
            raise BackupError(f"{path}: damaged (its SHA-256 differs from the backup's record)")
    return manifest


def _occupied(data_dir: Path, ops_url: str) -> list[str]:
    """What already holds data at the target (empty list: nothing)."""
    found = []
    if data_dir.exists() and any(data_dir.iterdir()):
        found.append(f"the data directory {data_dir} is not empty")
    if not ops_url.startswith("sqlite") and not is_empty(ops_url):
        found.append("the operational store holds tables")
    return found


def _check_layout(ws: Workspace) -> None:
    """Restore replaces the catalogue file in one rename: it needs the default layout."""
    if (
        ws.catalog_url != f"sqlite:///{ws.data_dir / CATALOG_FILE}"
        or ws.warehouse != ws.data_dir / "warehouse"
    ):
        raise BackupError(
            "restore needs the catalogue and warehouse inside the data directory (the default); "
            f"this one uses {ws.location}: unset CXLENS_CATALOG_URL and CXLENS_WAREHOUSE"
        )


def restore(src: Path, data_dir: Path, *, force: bool = False, progress: Progress | None = None) -> Restored:
    """Restore the backup folder ``src`` into ``data_dir`` (empty, or replaced with ``force``).

    Everything is first restored beside the current store (a new catalogue file, new table
    folders, a new operational store file) and checked against the backup: rows and checksum of
    every table, rows of every operational table. Only then does it replace the current store,
    by renaming files; any failure before that removes what was made and leaves the current store
    as it was."""
    src = src.resolve()
    manifest = verify(src)
    target = Workspace(data_dir)
    _check_layout(target)
    ops_url = default_url(target.data_dir)
    occupied = _occupied(target.data_dir, ops_url)
    if occupied and not force:
        raise BackupError("; ".join(occupied) + ": restore into an empty one, or add --force to replace it")
    made_dir, made_warehouse = not target.data_dir.exists(), not target.warehouse.exists()
    stamp = f"restore-{uuid.uuid4().hex[:8]}"
    catalog = target.data_dir / f".{stamp}.{CATALOG_FILE}"
    ops_work = target.data_dir / f".{stamp}.{SQLITE_FILE}"
    created: list[Path] = []
    swapped = False
    try:
        target.warehouse.mkdir(parents=True, exist_ok=True)
        store = TableStore(f"sqlite:///{catalog}", f"file://{target.warehouse}")
        try:
            restore_tables(store, src, manifest, created, stamp, progress)
        finally:
            store.catalog.engine.dispose()
        counts = prepare_ops(src / manifest["operational"]["file"], ops_work)
        staged = Workspace(target.data_dir, catalog_url=f"sqlite:///{catalog}", warehouse=target.warehouse)
        try:
            result = Restored(data_version=staged.data_version(), tables=check_tables(staged, manifest))
            roots = {
                Path(local_path(staged.store.fresh(v).table.location())) for v in staged.store.pointers()[1]
            }
        finally:
            staged.close()
        result.operational = {
            n: (rows, counts.get(n, 0)) for n, rows in manifest["operational"]["rows"].items()
        }
        if not result.ok:
            raise BackupError("the restore does not match the backup: " + "; ".join(result.mismatches()))
        settle_sqlite(catalog)
        settle_sqlite(target.data_dir / CATALOG_FILE)
        if ops_url.startswith("sqlite"):
            settle_sqlite(sqlite_path(ops_url))
        else:
            apply_ops_to_server(ops_work, ops_url, counts)
        # from here on only renames: the restored store replaces the current one
        swapped = True
        os.replace(catalog, target.data_dir / CATALOG_FILE)
        if ops_url.startswith("sqlite"):
            replace_sqlite(ops_work, sqlite_path(ops_url))
    except OpsBackupError as exc:
        raise BackupError(str(exc)) from None
    finally:
        if not swapped:
            for path in created:
                shutil.rmtree(path, ignore_errors=True)
            if made_dir:
                shutil.rmtree(target.data_dir, ignore_errors=True)
            elif made_warehouse:
                shutil.rmtree(target.warehouse, ignore_errors=True)
        for leftover in target.data_dir.glob(f".{stamp}.*"):
            leftover.unlink(missing_ok=True)
    _remove_replaced(target, roots)
    for name, digest in manifest.get("files", {}).items():
        if not (target.data_dir / name).exists():
            if copy_file(src / "files" / name, target.data_dir / name) != digest:
                raise BackupError(f"{target.data_dir / name}: the copy differs from the backup's record")
            (target.data_dir / name).chmod(0o600)
    return result


def _remove_replaced(ws: Workspace, roots: set[Path]) -> None:
    """Delete what the replaced store left: table folders the restored catalogue does not use, and
    caches derived from the replaced data."""
    for namespace in ws.warehouse.iterdir() if ws.warehouse.exists() else []:
        for folder in namespace.iterdir() if namespace.is_dir() else []:
            if folder not in roots:
                shutil.rmtree(folder, ignore_errors=True)
    for name in ("cache", "tmp"):
        shutil.rmtree(ws.data_dir / name, ignore_errors=True)
