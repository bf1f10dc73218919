"""The Iceberg catalogue of a workspace: table metadata in a SQL database, atomic multi-table commits.

The catalogue is pyiceberg's SQL catalogue (SQLite file in the data directory by default,
PostgreSQL in production) with two additions that pyiceberg lacks for it:

- :meth:`StoreCatalog.commit` publishes changes to several tables in **one SQL transaction**: each
  table's new metadata file is written first, then one transaction swaps every table's metadata
  pointer (compare-and-swap on the previous pointer) and appends a line to ``cxlens_commits``.
  Either every table moves or none does; a process killed at any point leaves no partial commit.
- ``cxlens_commits`` numbers the commits of every process: its largest id is the store's data
  version (what caches key on), read with one indexed query.

Writers are optimistic: a commit whose base is no longer current raises
:class:`CommitConflictError`, and the caller re-checks its work against the new state and tries again.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.table.update import AssertTableUUID
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IcebergType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cxlens.model.schema import ColumnType

if TYPE_CHECKING:
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table import Transaction

    from cxlens.model.schema import Table as TableSpec

#: Iceberg type of each logical column type (timestamps are UTC wall times without a zone).
ICEBERG_TYPES: dict[ColumnType, IcebergType] = {
    ColumnType.STRING: StringType(),
    ColumnType.INT: LongType(),
    ColumnType.FLOAT: DoubleType(),
    ColumnType.BOOL: BooleanType(),
    ColumnType.TIMESTAMP: TimestampType(),
    ColumnType.DATE: DateType(),
    ColumnType.JSON: StringType(),
}

#: Table properties of every cxlens table: merge small manifests on append (so listing a table's
#: files reads few manifests), keep the last 50 metadata files, never write delete files (plain
#: Parquet readers such as DuckDB and Spark without Iceberg jars would not apply them).
TABLE_PROPERTIES = {
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "16",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
    "write.delete.mode": "copy-on-write",
    "write.update.mode": "copy-on-write",
    "write.merge.mode": "copy-on-write",
    "write.parquet.compression-codec": "zstd",
}

_CREATE_ATTEMPTS = 10
_meta = MetaData()
COMMITS = Table(
    "cxlens_commits",
    _meta,
    Column("commit_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("catalog_name", String(255), nullable=False, index=True),
    Column("operation", String(32), nullable=False),
    Column("tables", String(2000), nullable=False),
    Column("load_id", BigInteger, nullable=True),
    Column("committed_by", String(255), nullable=False),
    Column("committed_at", DateTime, nullable=False),
)
LOAD_IDS = Table(
    "cxlens_load_ids",
    _meta,
    Column("load_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("catalog_name", String(255), nullable=False),
    Column("allocated_at", DateTime, nullable=False),
)


class CommitConflictError(RuntimeError):
    """Another process committed to one of the tables since this change was prepared."""


def iceberg_schema(spec: TableSpec) -> Schema:
    """The Iceberg schema of a table spec (field ids in column order, every field optional)."""
    return Schema(
        *(
            NestedField(i, col.name, ICEBERG_TYPES[col.type], required=False)
            for i, col in enumerate(spec.columns, start=1)
        )
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
    """WAL journal (readers never wait for a writer) and a generous lock wait between processes."""
    cur = dbapi_con.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


@dataclass(frozen=True)
class Change:
    """One table's part of a commit: a pyiceberg transaction built on ``base`` (freshly loaded)."""

    base: IcebergTable
    transaction: Transaction


class StoreCatalog(SqlCatalog):
    """pyiceberg's SQL catalogue plus atomic multi-table commits and a store-wide commit counter."""

    def __init__(self, name: str, uri: str, warehouse: str) -> None:
        # Several processes may open a new catalogue at once: whoever loses a CREATE race retries
        # and finds the tables made.
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                super().__init__(name, uri=uri, warehouse=warehouse, pool_pre_ping="true")
                if self.engine.dialect.name == "sqlite":
                    # Replace pyiceberg's engine: every connection gets the pragmas above (a
                    # catalogue opened read-only, ``mode=ro``, keeps its journal mode).
                    self.engine.dispose()
                    self.engine = create_engine(uri, pool_pre_ping=True)
                    if "mode=ro" not in uri:
                        event.listen(self.engine, "connect", _sqlite_pragmas)
                _meta.create_all(self.engine, checkfirst=True)
                break
            except DBAPIError:
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        self.committed_by = f"{socket.gethostname()}:{os.getpid()}"

    # -- reading ----------------------------------------------------------------------------
    def version(self) -> int:
        """The id of the latest commit of any process (0 for an empty store)."""
        with self.engine.connect() as con:
            value = con.execute(
                select(func.max(COMMITS.c.commit_id)).where(COMMITS.c.catalog_name == self.name)
            ).scalar()
        return int(value or 0)

    def pointers(self) -> tuple[int, dict[str, str]]:
        """The commit counter and every table's current metadata file, as one consistent reading."""
        with self.engine.connect() as con, con.begin():
            version = con.execute(
                select(func.max(COMMITS.c.commit_id)).where(COMMITS.c.catalog_name == self.name)
            ).scalar()
            rows = con.execute(
                select(
                    IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location
                ).where(IcebergTables.catalog_name == self.name)
            ).all()
        return int(version or 0), {f"{ns}.{name}": str(loc) for ns, name, loc in rows}

    # -- tables -----------------------------------------------------------------------------
    def ensure(self, identifier: str, spec: TableSpec) -> IcebergTable:
        """Load the table, creating it (or adding columns the spec gained) as needed; safe when
        several processes do it at once."""
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                return self._ensure(identifier, spec)
            except (DBAPIError, CommitFailedException):
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _ensure(self, identifier: str, spec: TableSpec) -> IcebergTable:
        namespace = identifier.rsplit(".", 1)[0]
        self.create_namespace_if_not_exists(namespace)
        try:
            table = self.load_table(identifier)
        except NoSuchTableError:
            table = self.create_table_if_not_exists(
                identifier, schema=iceberg_schema(spec), properties=TABLE_PROPERTIES
            )
            self._log("create", [identifier])
            return table
        have = {f.name for f in table.schema().fields}
        missing = [c for c in spec.columns if c.name not in have]
        if missing:
            with table.update_schema() as evolve:
                for col in missing:
                    evolve.add_column(col.name, ICEBERG_TYPES[col.type])
            self._log("add-columns", [identifier])
            table = self.load_table(identifier)
        return table

    def allocate_load_id(self) -> int:
        """A new load id, unique across every process using this catalogue."""
        with self.engine.begin() as con:
            key = con.execute(
                insert(LOAD_IDS).values(catalog_name=self.name, allocated_at=_now())
            ).inserted_primary_key
        assert key is not None
        return int(key[0])

    def _log(self, operation: str, tables: Sequence[str], load_id: int | None = None) -> int:
        with self.engine.begin() as con:
            return self._insert_commit(con, operation, tables, load_id)

    def _insert_commit(self, con: Any, operation: str, tables: Sequence[str], load_id: int | None) -> int:
        key = con.execute(
            insert(COMMITS).values(
                catalog_name=self.name,
                operation=operation,
                tables=",".join(tables)[:2000],
                load_id=load_id,
                committed_by=self.committed_by,
                committed_at=_now(),
            )
        ).inserted_primary_key
        return int(key[0])

    # -- the multi-table commit -------------------------------------------------------------
    def commit(self, changes: Iterable[Change], operation: str, load_id: int | None = None) -> int:
        """Publish every change at once or none; return the commit id.

        Raises :class:`CommitConflictError` when a table moved on since its change's base was loaded.
        """
        staged = []
        for change in sorted(changes, key=lambda c: c.base.name()):
            tx = change.transaction
            if not tx._updates:
                continue
            requirements = (*tx._requirements, AssertTableUUID(uuid=change.base.metadata.table_uuid))
            try:
                new = self._update_and_stage_table(change.base, change.base.name(), requirements, tx._updates)
            except CommitFailedException as exc:
                raise CommitConflictError(str(exc)) from exc
            self._write_metadata(new.metadata, new.io, new.metadata_location)
            staged.append((change.base, new))
        if not staged:
            return self.version()
        names = [".".join(base.name()[-2:]) for base, _ in staged]
        with Session(self.engine) as session, session.begin():
            for base, new in staged:
                namespace, table_name = base.name()[-2], base.name()[-1]
                result = session.execute(
                    update(IcebergTables)
                    .where(
                        IcebergTables.catalog_name == self.name,
                        IcebergTables.table_namespace == namespace,
                        IcebergTables.table_name == table_name,
                        IcebergTables.metadata_location == base.metadata_location,
                    )
                    .values(
                        metadata_location=new.metadata_location,
                        previous_metadata_location=base.metadata_location,
                    )
                )
                if result.rowcount < 1:  # type: ignore[attr-defined]
                    raise CommitConflictError(f"{namespace}.{table_name} was changed by another process")
            commit_id = self._insert_commit(session.connection(), operation, names, load_id)
        for base, new in staged:
            self._delete_old_metadata(base.io, base.metadata, new.metadata)
        return commit_id
