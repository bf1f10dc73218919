"""The table store: every table of a workspace as an Iceberg table, written by DuckDB, read by anyone.

Layout (under the warehouse path, ``<data_dir>/warehouse`` by default)::

    model/<table>/      the data-model tables (every table in ``cxlens.model.schema``)
    derived/<table>/    derived tables (text analytics, ...), declared by their writers
    meta/loads|rejects/ the load log and the quarantined records (``_loads``, ``_rejects``)

Each table directory holds ``data/`` (Parquet files) and ``metadata/`` (Iceberg metadata); the
catalogue (:mod:`cxlens.storage.catalog`) points at each table's current metadata file.

Data files are written by DuckDB (``COPY ... TO`` with Iceberg field ids, streamed and out of
core) and registered in Iceberg metadata by pyiceberg; nothing ever writes delete files, so a
plain Parquet reader given a snapshot's file list sees exactly the table: deletes and updates
rewrite the affected files (copy-on-write). Files that a commit replaces stay on disk until
:meth:`TableStore.expire` removes them past a retention period, so readers in other processes
that planned a query on an older snapshot can finish it.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq
from pyiceberg.expressions import And, GreaterThanOrEqual, In, LessThanOrEqual
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import Table
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
)

from cxlens.storage.catalog import Change, CommitConflictError, StoreCatalog

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table as IcebergTable

    from cxlens.model.schema import Table as TableSpec

#: Namespaces of the store; tables in ``meta`` are seen as ``_<name>`` (bookkeeping, not data).
MODEL, DERIVED, META = "model", "derived", "meta"
NAMESPACES = (MODEL, DERIVED, META)
#: Target size of a data file; smaller files are merged by compaction.
TARGET_FILE_BYTES = 256 * 1024 * 1024
#: A table with more small files than this is compacted after a commit.
SMALL_FILES_TO_COMPACT = 24
#: How long replaced files and old snapshots are kept for readers still using them.
RETENTION = dt.timedelta(hours=1)
COMMIT_ATTEMPTS = 200

_DUCKDB_TYPES = {
    StringType: "VARCHAR",
    LongType: "BIGINT",
    IntegerType: "INTEGER",
    DoubleType: "DOUBLE",
    BooleanType: "BOOLEAN",
    TimestampType: "TIMESTAMP",
    DateType: "DATE",
}


def view_name(identifier: str) -> str:
    """The name a table is queried by: ``model.events`` -> ``events``, ``meta.loads`` -> ``_loads``."""
    namespace, name = identifier.split(".", 1)
    return f"_{name}" if namespace == META else name


def identifier_of(view: str, namespace: str | None = None) -> str:
    """Inverse of :func:`view_name` (data-model namespace unless told or underscored)."""
    if view.startswith("_"):
        return f"{META}.{view[1:]}"
    return f"{namespace or MODEL}.{view}"


def local_path(uri: str) -> str:
    """A local file system path for a ``file://`` URI (or a plain path)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path) if parsed.scheme else uri
    raise ValueError(
        f"{uri}: only file-system warehouses are written by DuckDB here; mount the object store "
        "(s3fs/gcsfuse/blobfuse) and point CXLENS_WAREHOUSE at the mount (docs/deploy.md)"
    )


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def qident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def files_sql(paths: list[str]) -> str:
    """A DuckDB list literal of file paths, for ``read_parquet``."""
    return "[" + ", ".join(sql_str(p) for p in paths) + "]"


def duckdb_type(field_type: Any) -> str:
    """The DuckDB type of an Iceberg primitive type."""
    for cls, name in _DUCKDB_TYPES.items():
        if isinstance(field_type, cls):
            return name
    raise TypeError(f"no DuckDB type for Iceberg type {field_type}")


@dataclass(frozen=True)
class TableState:
    """One table as of one metadata file: the table object and its data files."""

    table: IcebergTable
    files: tuple[DataFile, ...]

    @property
    def paths(self) -> list[str]:
        return [local_path(f.file_path) for f in self.files]

    @property
    def snapshot_id(self) -> int | None:
        snap = self.table.current_snapshot()
        return None if snap is None else snap.snapshot_id

    @property
    def rows(self) -> int:
        return sum(f.record_count for f in self.files)

    def _pruned(self, row_filter: Any) -> TableState:
        if not self.files:
            return self
        wanted = {t.file.file_path for t in self.table.scan(row_filter=row_filter).plan_files()}
        return TableState(self.table, tuple(f for f in self.files if f.file_path in wanted))

    def in_range(self, column: str, low: Any, high: Any) -> TableState:
        """Only the files whose statistics on ``column`` overlap [low, high] (none if low is None)."""
        if low is None:
            return TableState(self.table, ())
        # pyiceberg's expressions are pydantic models whose positional constructors mypy cannot see
        lo = GreaterThanOrEqual(column, low)  # type: ignore[call-arg, arg-type]
        hi = LessThanOrEqual(column, high)  # type: ignore[call-arg, arg-type]
        return self._pruned(And(lo, hi))

    def holding(self, column: str, values: Iterable[Any]) -> TableState:
        """Only the files whose statistics on ``column`` admit one of ``values``."""
        return self._pruned(In(column, set(values)))  # type: ignore[call-arg, arg-type]

    def select_sql(self, paths: list[str] | None = None) -> str:
        """DuckDB SELECT of the table's columns (typed, in schema order) over its data files.

        Files written before a column was added lack it: they are read by name and the missing
        column is NULL. With no files the SELECT is an empty relation of the right types.
        """
        paths = self.paths if paths is None else paths
        fields = self.table.schema().fields
        typed = ", ".join(f"CAST(NULL AS {duckdb_type(f.field_type)}) AS {qident(f.name)}" for f in fields)
        if not paths:
            return f"SELECT {typed} WHERE false"
        cols = ", ".join(qident(f.name) for f in fields)
        if len(self.table.metadata.schemas) == 1:
            return f"SELECT {cols} FROM read_parquet({files_sql(paths)})"
        return (
            f"SELECT {cols} FROM (SELECT {typed} WHERE false UNION ALL BY NAME "
            f"SELECT * FROM read_parquet({files_sql(paths)}, union_by_name = true))"
        )


class TableStore:
    """The Iceberg tables of one workspace, with the commit protocol every writer follows."""

    def __init__(self, catalog_url: str, warehouse: str, name: str = "cxlens") -> None:
        self.catalog = StoreCatalog(name, catalog_url, warehouse)
        self._states: dict[str, TableState] = {}
        self._identifiers: dict[str, str] = {}
        self._guard = threading.Lock()

    # -- reading ----------------------------------------------------------------------------
    def pointers(self) -> tuple[int, dict[str, str]]:
        """(commit counter, view name -> metadata file) for every table of the store."""
        version, pointers = self.catalog.pointers()
        out = {}
        for ident, loc in pointers.items():
            if ident.split(".")[0] in NAMESPACES:
                out[view_name(ident)] = loc
                self._identifiers[view_name(ident)] = ident
        return version, out

    def state(self, view: str, metadata_location: str | None = None, strict: bool = False) -> TableState:
        """The table's state at ``metadata_location`` (cached per location), the current one if
        not given. A table that has moved on since is read at that older metadata file, so the
        tables of one :meth:`pointers` reading stay one consistent state of the store (a backup
        or a query joining two tables never sees one load in one table and not in the other). If
        that file is gone (metadata kept for 50 commits), the current state, or with ``strict``
        FileNotFoundError (the caller reads the pointers again)."""
        cached = self._states.get(view)
        if cached is not None and cached.table.metadata_location == metadata_location:
            return cached
        current = self.fresh(view)
        if metadata_location is None or current.table.metadata_location == metadata_location:
            return current
        try:
            metadata = FromInputFile.table_metadata(current.table.io.new_input(metadata_location))
        except FileNotFoundError:
            if strict:
                raise
            return current
        table = Table(current.table.name(), metadata, metadata_location, current.table.io, self.catalog)
        files = tuple(task.file for task in table.scan().plan_files()) if table.current_snapshot() else ()
        return TableState(table, files)

    def fresh(self, view: str) -> TableState:
        """The table's current state, read from the catalogue now (what writers build on)."""
        if view not in self._identifiers:
            self.pointers()
        if view not in self._identifiers:
            raise KeyError(f"no table {view!r} in the store")
        table = self.catalog.load_table(self._identifiers[view])
        cached = self._states.get(view)
        if cached is not None and cached.table.metadata_location == table.metadata_location:
            return cached
        files = tuple(task.file for task in table.scan().plan_files()) if table.current_snapshot() else ()
        state = TableState(table, files)
        with self._guard:
            self._states[view] = state
        return state

    def ensure(self, specs: Iterable[TableSpec], namespace: str = MODEL) -> None:
        """Create missing tables (and add columns a spec gained) in ``namespace``."""
        for spec in specs:
            ident = f"{namespace}.{spec.name.lstrip('_')}"
            self.catalog.ensure(ident, spec)
            self._identifiers[view_name(ident)] = ident

    # -- writing ----------------------------------------------------------------------------
    def write_files(
        self, con: Any, state: TableState, select_sql: str, params: list[Any] | None = None
    ) -> list[DataFile]:
        """Write the rows of ``select_sql`` (the table's columns, in order) as new data files of the
        table (DuckDB, streamed); return them as Iceberg data files (not yet committed)."""
        fields = state.table.schema().fields
        ids = ", ".join(f"{sql_str(f.name)}: {f.field_id}" for f in fields)
        target = Path(local_path(state.table.location())) / "data" / f"w-{uuid.uuid4().hex}"
        target.parent.mkdir(parents=True, exist_ok=True)
        cols = ", ".join(
            f"CAST({qident(f.name)} AS {duckdb_type(f.field_type)}) AS {qident(f.name)}" for f in fields
        )
        con.execute(
            f"COPY (SELECT {cols} FROM ({select_sql})) TO {sql_str(str(target))} (FORMAT parquet, "
            f"FIELD_IDS {{{ids}}}, COMPRESSION zstd, ROW_GROUP_SIZE 122880, "
            f"FILE_SIZE_BYTES '{TARGET_FILE_BYTES // 2**20}MiB', FILENAME_PATTERN 'part-{{uuid}}')",
            params or [],
        )
        out = []
        for path in sorted(target.glob("*.parquet")):
            if pq.read_metadata(path).num_rows == 0:
                path.unlink()
                continue
            out.append(parquet_file_to_data_file(state.table.io, state.table.metadata, f"file://{path}"))
        if not out:
            shutil.rmtree(target, ignore_errors=True)
        return out

    @staticmethod
    def discard(files: Iterable[DataFile]) -> None:
        """Delete written files that were never committed."""
        for f in files:
            Path(local_path(f.file_path)).unlink(missing_ok=True)

    def commit(
        self,
        build: Callable[[], list[Change]],
        operation: str,
        load_id: int | None = None,
    ) -> int:
        """Optimistic commit: ``build`` loads fresh table states, (re-)checks its work against them
        and returns the changes; on a conflict with another process it runs again. Returns the
        commit id."""
        for attempt in range(COMMIT_ATTEMPTS):
            changes = build()
            try:
                return self.catalog.commit(changes, operation, load_id)
            except CommitConflictError:
                time.sleep(random.uniform(0.002, 0.02) * min(attempt + 1, 20))
        raise CommitConflictError(f"{operation}: gave up after {COMMIT_ATTEMPTS} conflicting commits")

    @staticmethod
    def append_change(
        state: TableState, files: list[DataFile], properties: dict[str, str] | None = None
    ) -> Change:
        """A change adding ``files`` to the table at ``state``."""
        tx = state.table.transaction()
        if files:
            with tx.update_snapshot(snapshot_properties=properties or {}).merge_append() as append:
                for f in files:
                    append.append_data_file(f)
        return Change(state.table, tx)

    @staticmethod
    def replace_change(
        state: TableState,
        removed: Iterable[DataFile],
        added: Iterable[DataFile],
        properties: dict[str, str] | None = None,
    ) -> Change:
        """A change replacing ``removed`` files by ``added`` ones (copy-on-write delete/rewrite)."""
        tx = state.table.transaction()
        removed, added = list(removed), list(added)
        if removed or added:
            with tx.update_snapshot(snapshot_properties=properties or {}).overwrite() as overwrite:
                for f in removed:
                    overwrite.delete_data_file(f)
                for f in added:
                    overwrite.append_data_file(f)
        return Change(state.table, tx)

    def rewrite_without(
        self,
        con: Any,
        state: TableState,
        where_sql: str,
        params: list[Any],
        cache: dict[str, list[DataFile]],
        updates: Mapping[str, str] | None = None,
    ) -> tuple[list[DataFile], list[DataFile], int]:
        """Copy-on-write: for each file with rows matching ``where_sql``, a copy without them (or,
        with ``updates`` (column -> SQL expression), with those columns of them changed).

        Returns (files replaced, their rewrites, rows matched). ``cache`` keeps rewrites made on
        an earlier attempt (keyed by source file) so a retry only rewrites files that are new.
        """
        removed: list[DataFile] = []
        added: list[DataFile] = []
        matched = 0
        if updates:
            unknown = set(updates) - {f.name for f in state.table.schema().fields}
            if unknown:
                raise KeyError(f"table {state.table.name()[-1]!r} has no column {sorted(unknown)[0]!r}")
            cols = ", ".join(
                f"CASE WHEN {where_sql} THEN {updates[f.name]} ELSE {qident(f.name)} END AS {qident(f.name)}"
                if f.name in updates
                else qident(f.name)
                for f in state.table.schema().fields
            )
        for f, path in zip(state.files, state.paths, strict=True):
            if f.file_path in cache:
                removed.append(f)
                added.extend(cache[f.file_path])
                continue
            one = state.select_sql([path])
            hits = int(
                con.execute(f"SELECT count(*) FROM ({one}) WHERE {where_sql}", params).fetchall()[0][0]
            )
            if not hits:
                continue
            if updates:
                rewrite = f"SELECT {cols} FROM ({one})"
                args = params * len(updates)
            else:
                # NOT of a NULL condition (a NULL key) is NULL: such rows are kept, not dropped
                rewrite, args = f"SELECT * FROM ({one}) WHERE NOT coalesce(({where_sql}), false)", params
            kept = self.write_files(con, state, rewrite, args)
            cache[f.file_path] = kept
            removed.append(f)
            added.extend(kept)
            matched += hits
        return removed, added, matched

    # -- upkeep -----------------------------------------------------------------------------
    def compact(self, con: Any, view: str, sort_by: list[str], force: bool = False) -> tuple[int, int]:
        """Merge the table's small files into files of the target size, sorted by ``sort_by``.

        Returns (files before, files after); only runs when there are enough small files unless
        ``force``.
        """
        written: dict[str, list[DataFile]] = {}

        def build() -> list[Change]:
            state = self.fresh(view)
            small = [f for f in state.files if f.file_size_in_bytes < TARGET_FILE_BYTES // 2]
            if len(small) < (2 if force else SMALL_FILES_TO_COMPACT):
                return []
            key = ",".join(sorted(f.file_path for f in small))
            if key not in written:
                self.discard(f for files in written.values() for f in files)
                written.clear()
                paths = [local_path(f.file_path) for f in small]
                order = ", ".join(qident(c) for c in sort_by) or "ALL"
                written[key] = self.write_files(con, state, f"{state.select_sql(paths)} ORDER BY {order}")
            return [self.replace_change(state, small, written[key], {"cxlens.operation": "compact"})]

        before = len(self.fresh(view).files)
        if before < 2:
            return before, before
        self.commit(build, "compact")
        return before, len(self.fresh(view).files)

    def expire(self, view: str, older_than: dt.timedelta = RETENTION) -> int:
        """Drop snapshots older than ``older_than`` (but the current one) and delete the files no
        kept snapshot references (also files of loads killed before their commit). Returns the
        number of files deleted."""
        cutoff = dt.datetime.now(dt.UTC) - older_than
        state = self.fresh(view)
        table = state.table
        old = [
            s.snapshot_id
            for s in table.metadata.snapshots
            if s.timestamp_ms < cutoff.timestamp() * 1000 and s.snapshot_id != state.snapshot_id
        ]
        if old:
            table.maintenance.expire_snapshots().by_ids(old).commit()
            self.catalog._log("expire", [".".join(table.name()[-2:])])
            table = self.catalog.load_table(table.name())
        kept: set[str] = set()
        for snap in table.metadata.snapshots:
            kept.add(local_path(snap.manifest_list))
            for manifest in snap.manifests(table.io):
                kept.add(local_path(manifest.manifest_path))
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                    kept.add(local_path(entry.data_file.file_path))
        for log in table.metadata.metadata_log:
            kept.add(local_path(log.metadata_file))
        kept.add(local_path(table.metadata_location))
        root = Path(local_path(table.location()))
        deleted = 0
        for path in [*root.glob("data/**/*"), *root.glob("metadata/*")]:
            if not path.is_file() or str(path) in kept:
                continue
            if dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) < cutoff:
                path.unlink(missing_ok=True)
                deleted += 1
        for folder in root.glob("data/*"):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return deleted

    def purge(self, view: str) -> int:
        """Forget every snapshot of the table but the current one and delete at once the files
        only those snapshots used (data files, manifests, manifest lists): after an erasure, no
        earlier snapshot's file may keep the erased rows readable, nor a manifest entry of a
        removed file its column bounds. Files never committed (a load
        still running in another process) are left alone. Returns the files deleted.

        A reader in another process still scanning an older snapshot fails on a missing file and
        must run its query again (the retention of :meth:`expire` is skipped on purpose).
        """
        self.commit(lambda: self._drop_deleted_entries(view), "tidy")
        table = self.fresh(view).table
        current = table.current_snapshot()
        used_before = self._snapshot_files(table, table.metadata.snapshots)
        old = [
            s.snapshot_id
            for s in table.metadata.snapshots
            if current is None or s.snapshot_id != current.snapshot_id
        ]
        if old:
            table.maintenance.expire_snapshots().by_ids(old).commit()
            self.catalog._log("expire", [".".join(table.name()[-2:])])
            table = self.catalog.load_table(table.name())
        kept = self._snapshot_files(table, table.metadata.snapshots)
        deleted = 0
        for path in sorted(used_before - kept):
            file = Path(path)
            if file.exists():
                file.unlink()
                deleted += 1
        return deleted

    def _drop_deleted_entries(self, view: str) -> list[Change]:
        """A change (an append of nothing) whose snapshot leaves out the manifests that only list
        removed files: those entries keep the removed files' column bounds, which may be the very
        values just erased."""
        state = self.fresh(view)
        snap = state.table.current_snapshot()
        if snap is None or not any(m.deleted_files_count for m in snap.manifests(state.table.io)):
            return []
        tx = state.table.transaction()
        with tx.update_snapshot(snapshot_properties={"cxlens.operation": "tidy"}).fast_append():
            pass
        return [Change(state.table, tx)]

    @staticmethod
    def _snapshot_files(table: IcebergTable, snapshots: Iterable[Any]) -> set[str]:
        """Local paths of every file the snapshots use: manifest lists, manifests, data files."""
        used: set[str] = set()
        for snap in snapshots:
            used.add(local_path(snap.manifest_list))
            for manifest in snap.manifests(table.io):
                used.add(local_path(manifest.manifest_path))
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                    used.add(local_path(entry.data_file.file_path))
        return used
