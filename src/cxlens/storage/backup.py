"""Backup and restore of the table store: a consistent snapshot of the catalogue and the files it
references, taken while other processes load and read.

*Backup.* One reading of the catalogue gives every table's current metadata file at one commit
(the multi-table commit swaps pointers in one transaction, so the reading is a consistent state
of the whole store). Each table's data files at that state are copied (files are never changed
once written, and replaced ones stay at least an hour), with their SHA-256, the table's Iceberg
schema (field ids included) and properties, its row count and an order-independent checksum of
its rows. A file removed meanwhile (``cxlens store expire`` after a compaction) makes the backup
read the catalogue again and copy what is new.

*Restore.* Iceberg metadata holds absolute paths, so a store is not restored by copying it:
every table is created afresh in the target's catalogue with the backed-up schema and
properties, its files are copied under the new table location (SHA-256 checked), registered,
and all tables are published in one commit; row counts and checksums are then compared with the
backup's. The restored tables start with one snapshot each.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.schema import Schema

from cxlens.storage.migrate import checksum
from cxlens.storage.store import TableStore, duckdb_type, local_path, qident

if TYPE_CHECKING:
    from cxlens.storage.store import TableState
    from cxlens.storage.workspace import Workspace

#: Called with (bytes copied so far, bytes in all) while files are copied.
Progress = Callable[[int, int], None]
ATTEMPTS = 5
CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup could not be taken or restored as it is (says what and where)."""


@dataclass(frozen=True)
class TableCheck:
    """One table compared between a backup and its restore."""

    table: str
    rows: int
    checksum: int
    rows_restored: int
    checksum_restored: int

    @property
    def ok(self) -> bool:
        return self.rows == self.rows_restored and self.checksum == self.checksum_restored


def copy_file(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` (folders made), returning the SHA-256 of what was copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    shutil.copystat(source, target)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    """The SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def table_checksum(con: Any, state: TableState, schema: Schema | None = None) -> tuple[int, int]:
    """(rows, order-independent checksum) of a table at a state, over the columns of ``schema``
    (default: the table's; a restored table may have gained columns since its backup)."""
    columns = [(f.name, duckdb_type(f.field_type)) for f in (schema or state.table.schema()).fields]
    return checksum(
        con, f"(SELECT {', '.join(qident(c) for c, _ in columns)} FROM ({state.select_sql()}))", columns
    )


def backup_tables(ws: Workspace, dest: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Copy a consistent state of every table into ``dest/warehouse``; return the manifest part
    (data version and, per table, identifier, schema, properties, rows, checksum and files)."""
    copied: dict[str, str] = {}  # source path -> sha256, kept across attempts
    for _attempt in range(ATTEMPTS):
        try:
            return _backup_once(ws, dest, copied, progress)
        except FileNotFoundError:
            continue  # a file of that state was removed meanwhile: read the catalogue again
    raise BackupError(f"the store kept changing under the backup ({ATTEMPTS} attempts); try again")


def _backup_once(
    ws: Workspace, dest: Path, copied: dict[str, str], progress: Progress | None
) -> dict[str, Any]:
    version, pointers = ws.store.pointers()
    states = {
        name: ws.store.state(name, location, strict=True) for name, location in sorted(pointers.items())
    }
    total = sum(f.file_size_in_bytes for st in states.values() for f in st.files)
    done = 0
    tables: dict[str, Any] = {}
    with ws.staging() as con:
        for name, state in states.items():
            table = state.table
            root = Path(local_path(table.location()))
            files = []
            for f, path in zip(state.files, state.paths, strict=True):
                relative = Path(path).relative_to(root)
                target = dest / "warehouse" / _namespace(table) / name / relative
                if path not in copied or not target.exists():
                    copied[path] = copy_file(Path(path), target)
                done += f.file_size_in_bytes
                if progress is not None:
                    progress(done, total)
                files.append(
                    {
                        "path": str(relative),
                        "bytes": f.file_size_in_bytes,
                        "rows": f.record_count,
                        "sha256": copied[path],
                    }
                )
            rows, check = table_checksum(con, state)
            tables[name] = {
                "identifier": ".".join(table.name()[-2:]),
                "schema": table.schema().model_dump(mode="json"),
                "properties": dict(table.properties),
                "rows": rows,
                "checksum": str(check),
                "files": files,
            }
    return {"data_version": version, "tables": tables}


def _namespace(table: Any) -> str:
    return str(table.name()[-2])


def verify_files(src: Path, part: dict[str, Any]) -> None:
    """Check every backed-up data file is there with its SHA-256 (before anything is restored)."""
    for name, spec in part["tables"].items():
        namespace = spec["identifier"].split(".")[0]
        for f in spec["files"]:
            path = src / "warehouse" / namespace / name / f["path"]
            if not path.is_file():
                raise BackupError(f"{path}: missing from the backup")
            if sha256(path) != f["sha256"]:
                raise BackupError(f"{path}: damaged (its SHA-256 differs from the backup's record)")


def restore_tables(
    store: TableStore,
    src: Path,
    part: dict[str, Any],
    created: list[Path],
    suffix: str,
    progress: Progress | None = None,
) -> None:
    """Create every backed-up table in ``store`` (an empty catalogue), copy its files under a new
    table folder (``<name>-<suffix>`` where ``<name>`` is taken) and publish all tables in one
    commit. Each folder made is appended to ``created``, for the caller to remove on failure."""
    total = sum(f["bytes"] for spec in part["tables"].values() for f in spec["files"])
    done = 0
    changes = []
    for name, spec in part["tables"].items():
        namespace, table_name = spec["identifier"].split(".", 1)
        store.catalog.create_namespace_if_not_exists(namespace)
        root = Path(local_path(store.catalog.properties["warehouse"])) / namespace / table_name
        if root.exists():
            root = root.with_name(f"{table_name}-{suffix}")
        created.append(root)
        table = store.catalog.create_table(
            spec["identifier"],
            schema=Schema.model_validate(spec["schema"]),
            location=f"file://{root}",
            properties=spec["properties"],
        )
        data_files = []
        for f in spec["files"]:
            target = root / f["path"]
            if copy_file(src / "warehouse" / namespace / name / f["path"], target) != f["sha256"]:
                raise BackupError(f"{target}: the copy differs from the backup's record")
            data_files.append(parquet_file_to_data_file(table.io, table.metadata, f"file://{target}"))
            done += f["bytes"]
            if progress is not None:
                progress(done, total)
        changes.append(TableStore.append_change(store.fresh(identifier_view(spec["identifier"])), data_files))
    store.catalog.commit(changes, "restore")


def identifier_view(identifier: str) -> str:
    """The view name of a store identifier (``meta.loads`` -> ``_loads``)."""
    namespace, name = identifier.split(".", 1)
    return f"_{name}" if namespace == "meta" else name


def check_tables(ws: Workspace, part: dict[str, Any]) -> list[TableCheck]:
    """Row counts and checksums of the restored tables against the backup's."""
    checks = []
    with ws.staging() as con:
        for name, spec in part["tables"].items():
            rows, check = table_checksum(con, ws.store.fresh(name), Schema.model_validate(spec["schema"]))
            checks.append(TableCheck(name, spec["rows"], int(spec["checksum"]), rows, check))
    return checks
