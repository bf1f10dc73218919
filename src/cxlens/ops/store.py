"""The operational store: an SQLAlchemy engine and session factory over SQLite or PostgreSQL.

SQLite (the embedded default) lives at ``<data_dir>/cxlens-ops.sqlite`` in WAL mode with a
busy timeout (``CXLENS_OPS_BUSY_TIMEOUT``, default 5 s: SQLite's busy handler retries with
backoff meanwhile), so concurrent request threads queue for the write lock; a writer still locked
out after that gets an error :func:`is_busy` recognises, which the web app answers with 503 and
``Retry-After``.
PostgreSQL is used when ``CXLENS_OPS_URL`` (or ``url=``) names one.

Survey answers and events are written through :attr:`OpsStore.writer` (group commit, see
:mod:`cxlens.ops.batch`): many requests per transaction, each acknowledged after its commit.

Durability on SQLite: WAL with ``synchronous=NORMAL``. A commit is in the WAL file (the operating
system's cache) when it returns, so a killed server process (``kill -9``, a crash) loses nothing
it acknowledged; a power cut or kernel crash may lose the transactions committed since the last
checkpoint (never corrupting the file). ``CXLENS_OPS_SYNCHRONOUS=FULL`` also survives those, at
the cost of an fsync per commit, which group commit shares among the requests of a batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from cxlens.config import get_settings
from cxlens.errors import ReadOnlyStoreError, sqlite_read_only_url, writable
from cxlens.ops import migrate
from cxlens.ops.batch import GroupCommit
from cxlens.ops.models import AuditEntry
from cxlens.ops.settings import get_collect_settings

OPS_FILE = "cxlens-ops.sqlite"


def default_url(data_dir: str | Path | None = None) -> str:
    """The store URL from the settings, or SQLite inside the data directory."""
    url = get_collect_settings().ops_url
    if url:
        return url
    folder = Path(data_dir if data_dir is not None else get_settings().data_dir).resolve()
    return f"sqlite:///{folder / OPS_FILE}"


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "busy" errors (wrapped by SQLAlchemy or not)."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def _sqlite_pragmas(busy_ms: int, synchronous: str, writable: bool = True) -> Any:
    def apply(dbapi_con: Any, _record: Any) -> None:
        cur = dbapi_con.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        if not writable:
            cur.close()
            return
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return apply


def _register_tables() -> None:
    """Import every module that declares operational tables, so ``create_all`` on open creates
    them all (users, cases, ...) whatever the caller imported first."""
    import cxlens.ops.act_models
    import cxlens.ops.auth_models  # noqa: F401


class OpsStore:
    """The operational database: engine, sessions and the audit log; tables created on open."""

    def __init__(self, url: str | None = None, *, data_dir: str | Path | None = None) -> None:
        self.url = url or default_url(data_dir)
        self.busy_timeout = 0.0
        #: Why the store is read-only ("" when it is not): an SQLite file in a directory that
        #: cannot be written, or CXLENS_READ_ONLY.
        self.read_only_reason = ""
        connect_url = self.url
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:" and not path.startswith("file:"):
                connect_url = self._sqlite_file(Path(path))
            self.busy_timeout = get_collect_settings().ops_busy_timeout
            options = {"connect_args": {"timeout": self.busy_timeout, "check_same_thread": False}}
        else:
            options.update(pool_size=10, max_overflow=20)
        self.engine: Engine = create_engine(connect_url, **options)
        if self.engine.dialect.name == "sqlite":
            synchronous = get_collect_settings().ops_synchronous
            pragmas = _sqlite_pragmas(int(self.busy_timeout * 1000), synchronous, not self.read_only)
            event.listen(self.engine, "connect", pragmas)
        _register_tables()
        if self.read_only:
            self._check_schema()
        else:
            migrate.upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer; queueing writers of this process on a lock avoids the busy
        # handler's sleeps (other processes still wait through busy_timeout).
        self._write_lock: threading.Lock | None = threading.Lock() if self.dialect == "sqlite" else None
        self._writer: GroupCommit | None = None
        self._writer_guard = threading.Lock()

    def _sqlite_file(self, path: Path) -> str:
        """The URL to open an SQLite store file with: read-only where it cannot be written."""
        if get_settings().read_only:
            self.read_only_reason = "CXLENS_READ_ONLY is set"
        elif not writable(path.parent) or (path.exists() and not os.access(path, os.W_OK)):
            self.read_only_reason = f"{path.parent} is not writable"
        if not self.read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
            return self.url
        if not path.exists():
            raise ReadOnlyStoreError(
                f"no operational store at {path}, and it cannot be created there ({self.read_only_reason}); "
                "set CXLENS_OPS_URL or use a writable data directory"
            )
        return sqlite_read_only_url(path)

    def _check_schema(self) -> None:
        with self.engine.connect() as con:
            at = migrate.current(con)
        if at != migrate.head():
            raise ReadOnlyStoreError(
                f"the operational store {self.url} needs a schema upgrade ({at} -> {migrate.head()}), "
                f"which a read-only store cannot take ({self.read_only_reason}): open it once where it "
                "can be written"
            )

    @property
    def read_only(self) -> bool:
        """Whether this store only reads (writes raise :class:`ReadOnlyStoreError`)."""
        return bool(self.read_only_reason)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self.engine.dialect.name)

    @property
    def writer(self) -> GroupCommit:
        """The group-commit writer for survey answers and events (its thread starts on first use)."""
        with self._writer_guard:
            if self._writer is None:
                self._writer = GroupCommit(self)
            return self._writer

    def write_lock(self) -> threading.Lock | nullcontext[None]:
        """Held around every write transaction of this process on SQLite (one writer at a time)."""
        return self._write_lock or nullcontext()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one (write) transaction: committed on success, rolled back on error."""
        if self.read_only:
            raise ReadOnlyStoreError(
                f"this needs to write to the operational store {self.url}, but it is read-only here "
                f"({self.read_only_reason})"
            )
        with self.write_lock(), self.sessions() as session, session.begin():
            if self._write_lock is not None:
                # pysqlite defers BEGIN to the first write, so the reads of a read-then-write
                # transaction would run outside it; BEGIN IMMEDIATE takes SQLite's write lock
                # first, so server workers in other processes cannot interleave such updates.
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    def audit(
        self,
        session: Session,
        action: str,
        object_type: str,
        object_id: str | None = None,
        *,
        actor: str = "system",
        **detail: Any,
    ) -> None:
        """Add an audit-log entry in the caller's transaction."""
        session.add(
            AuditEntry(
                actor=actor, action=action, object_type=object_type, object_id=object_id, detail=detail
            )
        )

    def count(self, model: type[Any], *where: Any) -> int:
        """Number of rows of ``model`` matching the conditions (for status output and tests)."""
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def close(self) -> None:
        """Write what the group-commit writer holds, then release the connections."""
        with self._writer_guard:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        self.engine.dispose()

    def __enter__(self) -> OpsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpsStore({self.engine.url.render_as_string(hide_password=True)!r})"
