"""The workspace: one object that owns the data directory, the embedded store and the engines.

The CLI, the web app and library users all go through a :class:`Workspace` (datasette's "one
core object, thin entry points"). The DuckDB file under the data directory is the source of
truth; the Spark engine reads a Parquet snapshot of it (see :mod:`cxlens.storage.engines`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from cxlens.config import Engine, get_settings
from cxlens.journey.map import JourneyMap, load_journey_map
from cxlens.model.schema import DUCKDB_TYPES, TABLE_ORDER, TABLES, Table

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from cxlens.collect.ingest import LoadResult, Source

DB_FILE = "cxlens.duckdb"


class StoreLockedError(RuntimeError):
    """Another process holds the embedded store open for writing."""


#: Bookkeeping tables (prefixed with an underscore; not part of the data model).
META_DDL = (
    """CREATE TABLE IF NOT EXISTS _loads (
        load_id BIGINT, table_name VARCHAR, source VARCHAR, source_bytes BIGINT,
        rows_read BIGINT, rows_loaded BIGINT, rows_duplicate BIGINT, rows_rejected BIGINT,
        policy VARCHAR, loaded_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS _rejects (
        load_id BIGINT, table_name VARCHAR, source VARCHAR, row_number BIGINT,
        column_name VARCHAR, reason VARCHAR, raw_record VARCHAR)""",
)


def table_ddl(table: Table) -> str:
    """CREATE TABLE statement for a canonical table in the embedded store."""
    cols = ",\n  ".join(f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in table.columns)
    return f'CREATE TABLE IF NOT EXISTS "{table.name}" (\n  {cols}\n)'


class Workspace:
    """A cxlens data directory: the embedded DuckDB store plus access to the analytics engines."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        journey_map: JourneyMap | str | Path | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        settings = get_settings()
        self.data_dir = Path(data_dir if data_dir is not None else settings.data_dir).resolve()
        if isinstance(journey_map, JourneyMap):
            self.journey_map = journey_map
        else:
            self.journey_map = load_journey_map(journey_map or settings.journey_map)
        self.read_only = read_only
        self._con: duckdb.DuckDBPyConnection | None = None
        self._engines: dict[str, Any] = {}
        self._lock = threading.RLock()

    @property
    def db_path(self) -> Path:
        """Path of the embedded DuckDB file."""
        return self.data_dir / DB_FILE

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection to the embedded store (opened and initialised on first use)."""
        if self._con is None:
            with self._lock:
                if self._con is None:
                    self._con = self._open()
        return self._con

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Open (and create the tables of) the store file."""
        settings = get_settings()
        if self.read_only and not self.db_path.exists():
            raise FileNotFoundError(f"no cxlens store at {self.db_path}; run `cxlens ingest` first")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        spill = self.data_dir / "tmp"
        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": settings.duckdb_memory_limit,
            "temp_directory": str(spill),
        }
        if settings.duckdb_threads:
            config["threads"] = settings.duckdb_threads
        try:
            con = duckdb.connect(str(self.db_path), read_only=self.read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(
                    f"the cxlens store {self.db_path} is in use by another process; "
                    "wait for it to finish or use another --data-dir"
                ) from None
            raise
        if not self.read_only:
            self._init_schema(con)
        return con

    def _init_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        for ddl in META_DDL:
            con.execute(ddl)
        for name in TABLE_ORDER:
            con.execute(table_ddl(TABLES[name]))

    def close(self) -> None:
        """Close the store and stop any engine this workspace started."""
        with self._lock:  # not while a load or a bookkeeping query runs on the connection
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- collection -----------------------------------------------------------------------
    def ingest(self, table: str, sources: Source | list[Source], **options: Any) -> list[LoadResult]:
        """Validate and load files or data frames into ``table``; see :func:`cxlens.collect.ingest.ingest`."""
        from cxlens.collect.ingest import ingest

        return ingest(self, table, sources, **options)

    def counts(self) -> dict[str, int]:
        """Row count of every canonical table."""
        with self._lock:
            return {
                name: int(self.con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0])
                for name in TABLE_ORDER
            }

    def data_version(self) -> int:
        """A number that changes whenever a load commits (used to refresh engine snapshots)."""
        with self._lock:
            rows = self.con.execute("SELECT coalesce(max(load_id), 0) FROM _loads").fetchall()
        return int(rows[0][0])

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
        """An Ibis table of the data model on the given engine."""
        return self.engine(engine).table(name)
