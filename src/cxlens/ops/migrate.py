"""Schema migrations of the operational store (Alembic), run when a store opens.

An empty database is built by running every revision; a database created before migrations
existed (by ``create_all``, no ``alembic_version`` table) is stamped with the baseline revision
``0001`` and upgraded from there, so an upgrade never needs a table dropped. Tables that no
revision creates yet (a module added by other work) are still created by ``create_all`` after
the upgrade. Concurrent openers (several server workers) are serialised: an advisory lock on
PostgreSQL, a lock file next to the SQLite database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect, text

from cxlens.ops.models import Base

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: importing it costs about 0.4 s (it pulls in Mako and
# Pygments), which every load and command paid through ``cxlens.ops`` even when no operational
# store is opened or its schema is already current.

BASELINE = "0001"
#: Any constant: the PostgreSQL advisory lock key that serialises migrations.
PG_LOCK_KEY = 7_318_204_551
HERE = Path(__file__).parent


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the migrations shipped in this package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def head() -> str:
    """The newest revision."""
    from alembic.script import ScriptDirectory

    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None
    return found


def current(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as con:
            con.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
            con.commit()
            try:
                yield
            finally:
                con.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                con.commit()
        return
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        with nullcontext():
            yield
        return
    from filelock import FileLock

    with FileLock(f"{path}.migrate.lock", timeout=120):
        yield


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision (stamping a pre-migration one first), then
    create any table the revisions do not know yet."""
    with engine.connect() as con:
        if current(con) == head():
            _create_missing(engine)
            return
    with _lock(engine), engine.begin() as con:
        at = current(con)
        if at != head():
            from alembic import command

            cfg = config(con)
            if at is None and inspect(con).has_table("surveys"):
                command.stamp(cfg, BASELINE)
            command.upgrade(cfg, "head")
    _create_missing(engine)


def _create_missing(engine: Engine) -> None:
    Base.metadata.create_all(engine)


def pending_changes(engine: Engine) -> list[Any]:
    """Differences between the models and the database (empty when a revision covers every
    model change): what ``alembic revision --autogenerate`` would write."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as con:
        diffs: list[Any] = compare_metadata(MigrationContext.configure(con), Base.metadata)
    return diffs
