"""Convert a workspace of an earlier cxlens (one DuckDB file) into the table store, losing nothing.

Every table of the old file becomes a table of the store: data-model tables, the load log and
rejects, and derived tables (text analytics, ...), all in **one commit**. Then each table is
compared between the old file and the new store: row count and an order-independent checksum
of every row. Only when all agree is the old file renamed to ``cxlens.duckdb.migrated`` (kept,
not deleted). A migration that fails or is interrupted leaves the old file in place and the
store without the migrated rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert

from cxlens.model.schema import TABLES, Column, ColumnType, Table
from cxlens.storage.catalog import LOAD_IDS, Change, _now
from cxlens.storage.store import duckdb_type, qident, sql_str
from cxlens.storage.workspace import LEGACY_DB_FILE, META_TABLES

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile

    from cxlens.storage.workspace import Workspace

_TYPES = {
    "VARCHAR": ColumnType.STRING,
    "BIGINT": ColumnType.INT,
    "INTEGER": ColumnType.INT,
    "SMALLINT": ColumnType.INT,
    "DOUBLE": ColumnType.FLOAT,
    "FLOAT": ColumnType.FLOAT,
    "BOOLEAN": ColumnType.BOOL,
    "TIMESTAMP": ColumnType.TIMESTAMP,
    "DATE": ColumnType.DATE,
}


class MigrationError(RuntimeError):
    """The old store could not be converted, or the copy does not match it."""


@dataclass(frozen=True)
class TableCheck:
    """One table compared between the old file and the new store."""

    table: str
    rows_before: int
    rows_after: int
    checksum_before: int
    checksum_after: int

    @property
    def ok(self) -> bool:
        return self.rows_before == self.rows_after and self.checksum_before == self.checksum_after


def _spec_from(con: object, name: str) -> Table:
    """A table spec read from the old file's column types (for derived tables)."""
    rows = con.execute(f"DESCRIBE legacy.{qident(name)}").fetchall()  # type: ignore[attr-defined]
    cols = []
    for col_name, col_type, *_ in rows:
        if col_type not in _TYPES:
            raise MigrationError(f"{name}.{col_name}: no table-store type for DuckDB type {col_type}")
        cols.append(Column(col_name, _TYPES[col_type], f"Migrated from {LEGACY_DB_FILE}."))
    return Table(name, f"Migrated from {LEGACY_DB_FILE}.", tuple(cols), (cols[0].name,))


def checksum(con: object, relation: str, columns: list[tuple[str, str]]) -> tuple[int, int]:
    """(rows, order-independent checksum) of ``relation`` with columns cast to the given types."""
    cast = ", ".join(f"CAST({qident(c)} AS {t})" for c, t in columns)
    row = con.execute(  # type: ignore[attr-defined]
        f"SELECT count(*), coalesce(sum(hash({cast})::HUGEINT), 0) FROM {relation}"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def migrate(
    ws: Workspace, legacy: Path | None = None, progress: Callable[[str], None] | None = None
) -> list[TableCheck]:
    """Copy the legacy DuckDB store into ``ws``'s table store and verify it; see the module doc."""
    say = progress or (lambda _m: None)
    legacy = legacy or ws.data_dir / LEGACY_DB_FILE
    if not legacy.exists():
        raise MigrationError(f"no earlier store at {legacy}")
    ws.legacy_ok = True
    store = ws.store
    nonempty = [name for name, n in ws.counts().items() if n]
    if nonempty:
        raise MigrationError(
            f"the table store of {ws.data_dir} already holds rows ({', '.join(nonempty)}); "
            "migrate into an empty data directory (--data-dir) or load the old data with `cxlens ingest`"
        )
    with ws.staging() as con:
        con.execute(f"ATTACH {sql_str(str(legacy))} AS legacy (READ_ONLY)")
        try:
            names = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'legacy' "
                    "AND table_type = 'BASE TABLE' ORDER BY table_name"
                ).fetchall()
            ]
            meta = {f"_{t.name}": t for t in META_TABLES}
            derived = [_spec_from(con, n) for n in names if n not in TABLES and n not in meta]
            ws.ensure_tables(derived)
            written: dict[str, list[DataFile]] = {}
            try:
                for name in names:
                    say(f"copying {name}")
                    state = store.fresh(name)
                    cols = {f.name for f in state.table.schema().fields}
                    have = {r[0] for r in con.execute(f"DESCRIBE legacy.{qident(name)}").fetchall()}
                    select = ", ".join(
                        qident(c) if c in have else f"NULL AS {qident(c)}"
                        for c in [f.name for f in state.table.schema().fields]
                    )
                    if have - cols:
                        raise MigrationError(
                            f"{name}: column(s) {', '.join(sorted(have - cols))} of the old store are "
                            "not in this version's data model"
                        )
                    written[name] = store.write_files(
                        con, state, f"SELECT {select} FROM legacy.{qident(name)}"
                    )

                def build() -> list[Change]:
                    props = {"cxlens.operation": "migrate", "cxlens.source": str(legacy)}
                    return [store.append_change(store.fresh(n), written[n], props) for n in names]

                if "_loads" in names:
                    _reserve_load_ids(ws, con)
                store.commit(build, "migrate")
            except BaseException:
                for files in written.values():
                    store.discard(files)
                raise
            say("comparing row counts and checksums")
            ws.refresh()
            checks = []
            for name in names:
                state = store.fresh(name)
                columns = [(f.name, duckdb_type(f.field_type)) for f in state.table.schema().fields]
                have = {r[0] for r in con.execute(f"DESCRIBE legacy.{qident(name)}").fetchall()}
                picked = ", ".join(qident(c) if c in have else f"NULL AS {qident(c)}" for c, _ in columns)
                before = checksum(con, f"(SELECT {picked} FROM legacy.{qident(name)})", columns)
                after = checksum(con, f"({state.select_sql()})", columns)
                checks.append(TableCheck(name, before[0], after[0], before[1], after[1]))
        finally:
            con.execute("DETACH legacy")
    bad = [c for c in checks if not c.ok]
    if bad:
        raise MigrationError(
            "the copy does not match the old store: "
            + "; ".join(f"{c.table}: {c.rows_before:,} rows before, {c.rows_after:,} after" for c in bad)
            + f" (the old file {legacy} is left as it was)"
        )
    legacy.rename(legacy.with_name(legacy.name + ".migrated"))
    return checks


def _reserve_load_ids(ws: Workspace, con: object) -> None:
    """Advance the load-id sequence past the migrated load log, so new loads get new ids."""
    top = con.execute(  # type: ignore[attr-defined]
        "SELECT coalesce(max(load_id), 0) FROM legacy._loads"
    ).fetchall()[0][0]
    catalog = ws.store.catalog
    rows = [{"catalog_name": catalog.name, "allocated_at": _now()}] * int(top or 0)
    if rows:
        with catalog.engine.begin() as db:
            db.execute(insert(LOAD_IDS), rows)
