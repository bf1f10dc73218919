"""The workspace: one object that owns the data directory, the table store and the engines.

The CLI, the web app and library users all go through a :class:`Workspace` (datasette's "one
core object, thin entry points"). The system of record is a set of Apache Iceberg tables
(:mod:`cxlens.storage.store`): any number of processes, on one machine or many, load and read at
once. Each process queries through its own in-memory DuckDB database, whose views read the
tables' current Parquet files and follow commits made by any process; Spark reads the same files
(see :mod:`cxlens.storage.engines`).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from cxlens.config import Engine, get_settings
from cxlens.errors import ReadOnlyStoreError, sqlite_read_only_url, writable
from cxlens.journey.map import JourneyMap, load_journey_map
from cxlens.model.schema import TABLE_ORDER, TABLES, Column, ColumnType, Table, get_table
from cxlens.storage.store import DERIVED, META, MODEL, TableStore, local_path, qident

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from cxlens.collect.ingest import LoadResult, Source
    from cxlens.storage.writes import RowChange

#: The single-file store of cxlens before the table store (converted by ``cxlens store migrate``).
LEGACY_DB_FILE = "cxlens.duckdb"
CATALOG_FILE = "catalog.db"


class StoreLockedError(RuntimeError):
    """Another process holds a legacy single-file store open (kept for callers that catch it)."""


class LegacyStoreError(RuntimeError):
    """The data directory holds a store of an earlier cxlens that must be migrated first."""


_S, _I = ColumnType.STRING, ColumnType.INT
#: Bookkeeping tables (queried as ``_loads`` and ``_rejects``; not part of the data model).
META_TABLES = (
    Table(
        "loads",
        "One line per committed load.",
        (
            Column("load_id", _I, "Load id (unique across processes)."),
            Column("table_name", _S, "Table loaded."),
            Column("source", _S, "File or frame loaded."),
            Column("source_bytes", _I, "Size of the source file."),
            Column("rows_read", _I, "Records read."),
            Column("rows_loaded", _I, "Records stored."),
            Column("rows_duplicate", _I, "Records whose key was already stored."),
            Column("rows_rejected", _I, "Records with problems."),
            Column("policy", _S, "reject or quarantine."),
            Column("loaded_at", ColumnType.TIMESTAMP, "Commit time (UTC)."),
        ),
        ("load_id",),
    ),
    Table(
        "rejects",
        "One line per problem of a quarantined record.",
        (
            Column("load_id", _I, "Load that quarantined the record."),
            Column("table_name", _S, "Table loaded."),
            Column("source", _S, "File or frame loaded."),
            Column("row_number", _I, "Record number in the source."),
            Column("column_name", _S, "Column with the problem."),
            Column("reason", _S, "What is wrong."),
            Column("raw_record", _S, "The record as read (JSON)."),
        ),
        ("load_id", "row_number", "column_name"),
    ),
)


def _default_catalog_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / CATALOG_FILE}"


class Workspace:
    """A cxlens data directory: the table store plus access to the analytics engines."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        journey_map: JourneyMap | str | Path | None = None,
        *,
        read_only: bool = False,
        catalog_url: str | None = None,
        warehouse: str | Path | None = None,
    ) -> None:
        settings = get_settings()
        self.data_dir = Path(data_dir if data_dir is not None else settings.data_dir).resolve()
        if isinstance(journey_map, JourneyMap):
            self.journey_map = journey_map
        else:
            self.journey_map = load_journey_map(journey_map or settings.journey_map)
        #: Why the workspace is read-only ("" when it is not): asked for, set, or not writable.
        self.read_only_reason = (
            "opened read-only"
            if read_only
            else "CXLENS_READ_ONLY is set"
            if settings.read_only
            else f"{self.data_dir} is not writable"
            if not writable(self.data_dir)
            else ""
        )
        self.read_only = bool(self.read_only_reason)
        self.catalog_url = catalog_url or settings.catalog_url or _default_catalog_url(self.data_dir)
        where = str(warehouse or settings.warehouse or self.data_dir / "warehouse")
        self.warehouse = Path(local_path(where)).resolve()
        self._store: TableStore | None = None
        self._duck: duckdb.DuckDBPyConnection | None = None
        self._views: dict[str, str] = {}
        self._seen_version = -1
        self._engines: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._view_lock = threading.Lock()
        #: Set by ``cxlens store migrate``: open the new store next to an earlier one.
        self.legacy_ok = False

    # -- the store ---------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """Where the store lives, for people: the warehouse path and the catalogue."""
        url = self.catalog_url.split("@")[-1] if "@" in self.catalog_url else self.catalog_url
        return f"{self.warehouse} (catalogue {url})"

    @property
    def store(self) -> TableStore:
        """The table store (opened, and its tables created, on first use)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._open_store()
        return self._store

    def _open_store(self) -> TableStore:
        default_catalog = self.catalog_url == _default_catalog_url(self.data_dir)
        if default_catalog and not (self.data_dir / CATALOG_FILE).exists():
            if (self.data_dir / LEGACY_DB_FILE).exists() and not self.legacy_ok:
                raise LegacyStoreError(
                    f"{self.data_dir / LEGACY_DB_FILE} is a store of an earlier cxlens: convert it "
                    f"with `cxlens store migrate --data-dir {self.data_dir}`"
                )
            if self.read_only:
                raise FileNotFoundError(f"no cxlens store in {self.data_dir}; run `cxlens ingest` first")
        if self.read_only:
            url = sqlite_read_only_url(self.data_dir / CATALOG_FILE) if default_catalog else self.catalog_url
            return TableStore(url, f"file://{self.warehouse}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.warehouse.mkdir(parents=True, exist_ok=True)
        store = TableStore(self.catalog_url, f"file://{self.warehouse}")
        if not self.read_only:
            store.ensure((TABLES[name] for name in TABLE_ORDER), MODEL)
            store.ensure(META_TABLES, META)
        return store

    def ensure_tables(self, specs: Sequence[Table]) -> None:
        """Create derived tables (written by cxlens itself, e.g. text analytics) if missing (on a
        read-only workspace: nothing, when they all exist)."""
        specs = list(specs)
        if self.read_only:
            missing = [s.name for s in specs if not self.has_table(s.name)]
            if missing:
                self.check_writable(f"creating table {missing[0]}")
            return
        self.store.ensure(specs, DERIVED)

    def check_writable(self, what: str) -> None:
        """Raise :class:`ReadOnlyStoreError` naming ``what`` if the workspace is read-only."""
        if self.read_only:
            raise ReadOnlyStoreError(
                f"{what} needs to write to the store, but it is read-only here ({self.read_only_reason}); "
                "commands that only read (status, analyse, report --out elsewhere, journey, text summary) "
                "work"
            )

    @property
    def tmp_dir(self) -> Path:
        """This process's spill directory (DuckDB temp files), removed when the workspace closes
        (in the system's temporary directory when the data directory is read-only)."""
        base = Path(tempfile.gettempdir()) / "cxlens-tmp" if self.read_only else self.data_dir / "tmp"
        return base / f"{socket.gethostname()}-{os.getpid()}"

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This process's DuckDB database: one view per stored table, current as of this call.

        For reading only: every write goes through a Workspace method (a commit to the store).
        """
        self.refresh()
        return self._local()

    def _local(self) -> duckdb.DuckDBPyConnection:
        if self._duck is None:
            with self._lock:
                if self._duck is None:
                    settings = get_settings()
                    config: dict[str, str | bool | int | float | list[str]] = {
                        "memory_limit": settings.duckdb_memory_limit,
                        "temp_directory": str(self.tmp_dir),
                    }
                    if settings.duckdb_threads:
                        config["threads"] = settings.duckdb_threads
                    self.tmp_dir.mkdir(parents=True, exist_ok=True)  # DuckDB makes one level only
                    con = duckdb.connect(":memory:", config=config)
                    # Parquet footers are read once per file, not once per query.
                    con.execute("SET parquet_metadata_cache = true")
                    self._duck = con
        return self._duck

    def refresh(self) -> int:
        """Point this process's views at the tables' current files if any process committed since
        the last call; return the data version seen."""
        store = self.store
        version = store.catalog.version()
        if version == self._seen_version:
            return version
        with self._view_lock:
            if version == self._seen_version:
                return version
            version, pointers = store.pointers()
            cur = self._local().cursor()
            try:
                for view, location in sorted(pointers.items()):
                    if self._views.get(view) == location:
                        continue
                    state = store.state(view, location)
                    cur.execute(f"CREATE OR REPLACE VIEW {qident(view)} AS {state.select_sql()}")
                    self._views[view] = state.table.metadata_location
            finally:
                cur.close()
            self._seen_version = version
        return version

    @contextmanager
    def staging(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A private DuckDB connection (views current) for a writer's temporary tables."""
        self.refresh()
        cur = self._local().cursor()
        try:
            yield cur
        finally:
            cur.close()

    def close(self) -> None:
        """Close the local database and stop any engine this workspace started."""
        with self._lock:  # not while a load runs
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()
            if self._duck is not None:
                self._duck.close()
                self._duck = None
                shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self._views.clear()
            self._seen_version = -1
            if self._store is not None:
                self._store.catalog.engine.dispose()
                self._store = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- collection -----------------------------------------------------------------------
    def ingest(self, table: str, sources: Source | list[Source], **options: Any) -> list[LoadResult]:
        """Validate and load files or data frames into ``table``; see :func:`cxlens.collect.ingest.ingest`."""
        from cxlens.collect.ingest import ingest

        self.check_writable(f"loading {table}")
        results = ingest(self, table, sources, **options)
        if any(r.rows_loaded for r in results):
            self._compact_if_fragmented(table)
        return results

    def _compact_if_fragmented(self, table: str) -> None:
        """Merge the table's small files once there are many (frequent small loads, such as the
        web app's exports, would otherwise slow every read)."""
        with self._lock, self.staging() as con:
            self.store.compact(con, table, list(get_table(table).primary_key))

    def counts(self) -> dict[str, int]:
        """Row count of every data-model table (from the tables' metadata: no scan)."""
        _, pointers = self.store.pointers()
        return {name: self.store.state(name, pointers.get(name)).rows for name in TABLE_ORDER}

    def data_version(self) -> int:
        """A number that changes whenever any process commits to the store (caches key on it)."""
        return self.store.catalog.version()

    def has_table(self, name: str) -> bool:
        """Whether the store holds a table called ``name`` (data model, derived or ``_meta``)."""
        _, pointers = self.store.pointers()
        return name in pointers

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read-only SQL query over the current tables (bookkeeping and storage code only;
        analytics use Ibis)."""
        self.refresh()
        cur = self._local().cursor()
        try:
            return [tuple(r) for r in cur.execute(sql, list(params or [])).fetchall()]
        finally:
            cur.close()

    def arrow_batches(self, sql: str, batch_size: int = 100_000) -> Iterator[Any]:
        """Stream the result of a read-only SQL query as Arrow record batches."""
        self.refresh()
        cur = self._local().cursor()
        try:
            yield from cur.sql(sql).to_arrow_reader(batch_size)
        finally:
            cur.close()

    # -- writing derived data ----------------------------------------------------------------
    def replace_rows(self, frames: Mapping[str, Any], key: str, keys: Sequence[Any]) -> int:
        """In one commit, for each table: delete the rows whose ``key`` is in ``keys`` and add the
        rows of its frame (pandas or Arrow). Returns the commit id."""
        from cxlens.storage.writes import replace_rows

        self.check_writable(f"writing {', '.join(frames)}")
        with self._lock:
            return replace_rows(self, frames, key, keys)

    def delete_where(self, table: str, column: str, values: Sequence[Any]) -> int:
        """Delete the rows of ``table`` whose ``column`` is one of ``values`` (copy-on-write: the
        affected files are rewritten and swapped in one commit). Returns the rows deleted."""
        from cxlens.storage.writes import delete_where

        self.check_writable(f"deleting rows of {table}")
        with self._lock:
            return delete_where(self, table, column, values)

    def change_rows(
        self,
        changes: Mapping[str, RowChange],
        operation: str = "delete",
        relations: Mapping[str, Any] | None = None,
    ) -> tuple[int, dict[str, int], list[Any]]:
        """Delete or update rows of several tables in one commit (copy-on-write); see
        :func:`cxlens.storage.writes.change_rows`. Returns (commit id, rows per table, files replaced)."""
        from cxlens.storage.writes import change_rows

        self.check_writable(f"changing rows of {', '.join(changes)}")
        with self._lock:
            return change_rows(self, changes, operation, relations)

    def purge(self, table: str) -> int:
        """Forget the table's earlier snapshots and delete the files only they used, now (after an
        erasure; see :meth:`TableStore.purge`). Returns the files deleted."""
        self.check_writable(f"purging old files of {table}")
        with self._lock:
            return self.store.purge(table)

    def compact(self, table: str | None = None, force: bool = False) -> dict[str, tuple[int, int]]:
        """Merge small data files (of one table or all); returns table -> (files before, after)."""
        self.check_writable("compaction")
        _, pointers = self.store.pointers()
        names = [table] if table else sorted(pointers)
        out = {}
        with self._lock, self.staging() as con:
            for name in names:
                spec = TABLES.get(name)
                sort_by = list(spec.primary_key) if spec else []
                out[name] = self.store.compact(con, name, sort_by, force=force)
        return out

    def expire(self, older_than_hours: float = 1.0) -> dict[str, int]:
        """Forget snapshots older than the retention and delete unreferenced files; table -> files deleted."""
        import datetime as dt

        self.check_writable("expiring snapshots")
        _, pointers = self.store.pointers()
        keep = dt.timedelta(hours=older_than_hours)
        return {name: self.store.expire(name, keep) for name in sorted(pointers)}

    # -- analytics engines ----------------------------------------------------------------
    def engine(self, name: Engine | str | None = None) -> Any:
        """Return the analytics engine ``name`` (default from settings), created on first use."""
        from cxlens.storage.engines import make_engine

        name = name or get_settings().engine
        if name not in self._engines:
            with self._lock:  # one engine per name, also when threads ask at once
                if name not in self._engines:
                    self._engines[name] = make_engine(name, self)
        return self._engines[name]

    def backend(self, engine: Engine | str | None = None) -> BaseBackend:
        """The Ibis backend of an engine, for ad-hoc expressions."""
        return self.engine(engine).backend

    def table(self, name: str, engine: Engine | str | None = None) -> ir.Table:
        """An Ibis table of the data model on the given engine (derived tables: ``engine().table``)."""
        get_table(name)
        return self.engine(engine).table(name)
