"""Backup and restore of the operational store, while it serves, without external tools.

A backup always holds the operational store as one SQLite file, ``operational.sqlite``:

- from **SQLite**, SQLite's online backup API copies the database in one read transaction (a
  consistent state; writers in other processes carry on);
- from **PostgreSQL**, every table is copied row by row through SQLAlchemy in one
  ``REPEATABLE READ`` transaction (one consistent state) into a new SQLite file built by the
  same migrations. No ``pg_dump`` is needed, so no client tools and no client/server version
  match.

A restore first copies that file next to its target and opens it there (which runs any newer
schema migration), counts its rows and checks them against the backup: nothing of the current
store is touched until then. The prepared file then replaces an SQLite store in one rename, or is
copied into a PostgreSQL store in one transaction (all rows replaced, sequences moved past the
restored ids), which a failure rolls back.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Integer, create_engine, delete, func, inspect, select, text
from sqlalchemy.engine import make_url

from cxlens.errors import sqlite_read_only_url
from cxlens.ops import migrate
from cxlens.ops.models import Base
from cxlens.ops.store import OpsStore

SQLITE_FILE = "operational.sqlite"
BATCH = 1_000


class OpsBackupError(RuntimeError):
    """The operational store could not be backed up or restored (says why)."""


def _tables() -> list[str]:
    import cxlens.ops.act_models
    import cxlens.ops.auth_models  # noqa: F401

    return [t.name for t in Base.metadata.sorted_tables]


def row_counts(con: Connection) -> dict[str, int]:
    """Rows of every operational table that exists, read in the caller's transaction."""
    have = set(inspect(con).get_table_names())
    return {
        name: int(con.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar() or 0)
        for name in _tables()
        if name in have
    }


def sqlite_path(url: str) -> Path:
    """The file of an SQLite URL."""
    return Path(make_url(url).database or "")


def _copy_rows(source: Connection, target: Connection) -> None:
    """Replace every operational table's rows in ``target`` by those of ``source`` (parents
    first), in the callers' transactions; on PostgreSQL, move id sequences past the copied ids."""
    have = set(inspect(source).get_table_names())
    names = [n for n in _tables() if n in have]
    for name in reversed(names):
        target.execute(delete(Base.metadata.tables[name]))
    for name in names:
        table = Base.metadata.tables[name]
        result = source.execute(select(table).execution_options(yield_per=BATCH))
        for part in result.mappings().partitions():
            target.execute(table.insert(), [dict(row) for row in part])
        if target.dialect.name == "postgresql":
            for col in table.primary_key.columns:
                if isinstance(col.type, Integer) and col.autoincrement in (True, "auto"):
                    target.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence(:t, :c), coalesce(max({col.name}), 1), "
                            f"max({col.name}) IS NOT NULL) FROM {name}"
                        ),
                        {"t": name, "c": col.name},
                    )


def backup_ops(ops: OpsStore, dest: Path) -> dict[str, Any]:
    """Copy the operational store into ``dest/operational.sqlite``; return the manifest part
    (source dialect, file, schema revision, row counts)."""
    target = dest / SQLITE_FILE
    if ops.dialect == "sqlite":
        uri = sqlite_read_only_url(sqlite_path(ops.url)).removeprefix("sqlite:///").replace("&uri=true", "")
        src = sqlite3.connect(uri, uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    elif ops.dialect == "postgresql":
        copy = OpsStore(f"sqlite:///{target}")  # the same migrations build the same tables
        try:
            with (
                ops.engine.connect().execution_options(isolation_level="REPEATABLE READ") as con,
                con.begin(),
                copy.engine.begin() as out,
            ):
                if migrate.current(con) != migrate.head():
                    raise OpsBackupError(
                        f"the operational store {_safe(ops.url)} is at schema {migrate.current(con)}, "
                        f"this cxlens at {migrate.head()}: open it once with this version first"
                    )
                _copy_rows(con, out)
        finally:
            copy.close()
    else:
        raise OpsBackupError(f"no backup for a {ops.dialect} operational store")
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as con:
            counts, revision = row_counts(con), migrate.current(con)
    finally:
        engine.dispose()
    return {"dialect": ops.dialect, "file": SQLITE_FILE, "revision": revision, "rows": counts}


def is_empty(url: str) -> bool:
    """Whether the operational store at ``url`` holds no table yet (a new file or database)."""
    if url.startswith("sqlite"):
        return not sqlite_path(url).exists()
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            return not inspect(con).get_table_names()
    finally:
        engine.dispose()


def prepare_ops(backed_up: Path, work: Path) -> dict[str, int]:
    """Copy the backed-up store to the new file ``work``, check it is a sound SQLite database,
    bring it to this version's schema and return its row counts."""
    shutil.copyfile(backed_up, work)
    try:
        raw = sqlite3.connect(work)
        try:
            verdict = raw.execute("PRAGMA integrity_check").fetchone()
        finally:
            raw.close()
    except sqlite3.DatabaseError as exc:
        raise OpsBackupError(f"{backed_up}: damaged, not a sound SQLite database ({exc})") from None
    if verdict is None or verdict[0] != "ok":
        raise OpsBackupError(f"{backed_up}: damaged ({verdict[0] if verdict else 'no verdict'})")
    store = OpsStore(f"sqlite:///{work}")
    try:
        with store.engine.connect() as con:
            return row_counts(con)
    finally:
        store.close()


def settle_sqlite(path: Path) -> None:
    """Fold an SQLite file's write-ahead log into it, so the file alone is the database and may be
    renamed; refuse if another process still has it open (a server running on the store)."""
    if not path.exists():
        return
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    if Path(f"{path}-wal").exists():
        raise OpsBackupError(
            f"{path} is open in another process: stop the server and other cxlens commands first"
        )
    Path(f"{path}-shm").unlink(missing_ok=True)


def apply_ops_to_server(work: Path, url: str, expected: dict[str, int]) -> None:
    """Replace every row of the PostgreSQL operational store at ``url`` by those of the prepared
    file ``work``, in one transaction that is rolled back unless the row counts match."""
    target = OpsStore(url)  # brings the target to this version's schema
    source = create_engine(f"sqlite:///{work}")
    try:
        with source.connect() as src, target.engine.begin() as con:
            _copy_rows(src, con)
            got = row_counts(con)
            bad = [
                f"{n}: {rows:,} rows prepared, {got.get(n, 0):,} copied"
                for n, rows in expected.items()
                if got.get(n, 0) != rows
            ]
            if bad:
                raise OpsBackupError(f"{_safe(url)}: " + "; ".join(bad))
    finally:
        source.dispose()
        target.close()


def replace_sqlite(work: Path, path: Path) -> None:
    """Put the prepared file ``work`` in place of the SQLite store ``path`` (one rename)."""
    settle_sqlite(work)
    settle_sqlite(path)
    os.replace(work, path)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
