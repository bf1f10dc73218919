"""Group commit: survey answers and event batches from many concurrent requests are written by one
thread, many at a time, in one transaction each.

A request hands its rows to :meth:`GroupCommit.insert` and waits on the returned future; the
writer thread takes everything queued so far (up to ``max_rows``), inserts it with one
``executemany`` per table, commits once, and only then resolves each request's future. So an
acknowledged answer is always committed (a ``kill -9`` after the answer loses nothing), while a
burst of N requests costs one commit instead of N, and the per-row ORM overhead is gone.

Batches form by themselves: while one commits, the next requests queue; a lone request is
written at once (no waiting for company). A batch that fails because of one write (a duplicate
key, a constraint) is retried one write at a time, so only the offending request gets the error;
a failure of the store itself (SQLite busy past its timeout, the database unreachable) fails
every request of the batch, which the web app answers with 503.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cxlens.ops.store import OpsStore

log = logging.getLogger(__name__)
#: Rows written in one transaction at most (a larger write goes alone).
MAX_ROWS = 5000
#: Bound values in one INSERT statement at most (SQLite allows 32,766, PostgreSQL 65,535).
BOUND_VALUES = 8000


@dataclass
class _Write:
    """One request's rows for one table, and the future its caller waits on."""

    table: Table
    rows: list[Mapping[str, Any]]
    #: Column whose existing values are skipped (``ON CONFLICT DO NOTHING``); the future then
    #: gives the set of values actually inserted.
    skip_existing: str | None
    future: Future[set[Any] | None] = field(default_factory=Future)


class GroupCommit:
    """The writer thread of one operational store (started on first use, stopped by ``close``)."""

    def __init__(self, ops: OpsStore, max_rows: int = MAX_ROWS) -> None:
        self.ops, self.max_rows = ops, max_rows
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._closed = False
        #: Transactions committed and rows written (for tests and the benchmark).
        self.commits = 0
        self.rows = 0

    def insert(
        self, model: type[Any], rows: Sequence[Mapping[str, Any]], *, skip_existing: str | None = None
    ) -> Future[set[Any] | None]:
        """Queue ``rows`` for the table of ``model`` (all with the same keys); the future resolves
        once they are committed (to the set of ``skip_existing`` values inserted when given, else
        None) or fails with the error."""
        write = _Write(model.__table__, list(rows), skip_existing)
        with self._guard:
            if self._closed:
                raise RuntimeError("the operational store is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cxlens-group-commit", daemon=True)
                self._thread.start()
            self._queue.put(write)
        return write.future

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._guard:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch, size = [first], len(first.rows)
            while size < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item.rows)
            # A request whose client went away before its turn is not written (nor acknowledged).
            live = [w for w in batch if w.future.set_running_or_notify_cancel()]
            if live:
                self._commit(live)

    def _commit(self, batch: list[_Write]) -> None:
        try:
            results = self._write(batch)
        except IntegrityError as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            for write in batch:  # find the offending write: each alone
                self._commit([write])
            return
        except Exception as exc:  # the store failed: every request of the batch hears of it
            for write in batch:
                write.future.set_exception(exc)
            return
        for write, result in zip(batch, results, strict=True):
            write.future.set_result(result)

    def _write(self, batch: list[_Write]) -> list[set[Any] | None]:
        """Insert the batch in one transaction; the result of each write (see :class:`_Write`)."""
        groups: dict[tuple[str, str | None], list[_Write]] = {}
        for write in batch:
            groups.setdefault((write.table.name, write.skip_existing), []).append(write)
        results: dict[int, set[Any] | None] = {}
        with self.ops.write_lock(), self.ops.engine.begin() as con:
            for (_, key), writes in groups.items():
                if key is None:
                    rows = [row for w in writes for row in w.rows]
                    if rows:
                        con.execute(insert(writes[0].table), rows)
                    results.update((id(w), None) for w in writes)
                else:
                    results.update(self._insert_new(con, writes, key))
        self.commits += 1
        self.rows += sum(len(w.rows) for w in batch)
        return [results[id(w)] for w in batch]

    def _insert_new(self, con: Connection, writes: list[_Write], key: str) -> dict[int, set[Any]]:
        """Insert rows whose ``key`` is not stored yet; which values each write inserted."""
        table = writes[0].table
        owner: dict[Any, int] = {}  # a value queued twice in one batch belongs to the first write
        rows = []
        for w in writes:
            for row in w.rows:
                if row[key] not in owner:
                    owner[row[key]] = id(w)
                    rows.append(row)
        inserted = _insert_returning(con, table, key, rows) if rows else set()
        results: dict[int, set[Any]] = {id(w): set() for w in writes}
        for value in inserted:
            results[owner[value]].add(value)
        return results


def _insert_returning(con: Connection, table: Table, key: str, rows: list[Mapping[str, Any]]) -> set[Any]:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key`` for ``rows``; the ``key`` values
    inserted. Written here as multi-row statements of driver parameters, each column's bind
    processing done once per distinct value (a request's rows share their timestamp):
    SQLAlchemy's per-row parameter handling was most of the writer's CPU. Rows that leave out a
    column with a Python-side default go through SQLAlchemy, which fills it in."""
    names = list(rows[0])
    if con.dialect.name not in ("sqlite", "postgresql") or any(
        c.default is not None and c.name not in rows[0] for c in table.columns
    ):
        dialect: Any = postgresql if con.dialect.name == "postgresql" else sqlite
        column = table.c[key]
        stmt = dialect.insert(table).on_conflict_do_nothing(index_elements=[column]).returning(column)
        return set(con.execute(stmt, rows).scalars())
    columns = [_bound(con, table.c[name], [row[name] for row in rows]) for name in names]
    quote = con.dialect.identifier_preparer.quote
    mark = "?" if con.dialect.paramstyle == "qmark" else "%s"
    group = "(" + ", ".join([mark] * len(names)) + ")"
    head = (
        f"INSERT INTO {con.dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(n) for n in names)}) VALUES "
    )
    tail = f" ON CONFLICT ({quote(key)}) DO NOTHING RETURNING {quote(key)}"
    per_statement = max(1, BOUND_VALUES // len(names))
    inserted: set[Any] = set()
    for start in range(0, len(rows), per_statement):
        chunk = list(zip(*(c[start : start + per_statement] for c in columns), strict=True))
        params = tuple(v for row in chunk for v in row)
        result = con.exec_driver_sql(head + ", ".join([group] * len(chunk)) + tail, params)
        inserted.update(r[0] for r in result)
    return inserted


def _bound(con: Connection, column: Any, values: list[Any]) -> list[Any]:
    """``values`` as the driver takes them for ``column`` (its type's bind processing)."""
    process = column.type.dialect_impl(con.dialect).bind_processor(con.dialect)
    if process is None:
        return values
    done: dict[Any, Any] = {}
    out: list[Any] = []
    for value in values:
        if value is None:
            out.append(None)
        elif isinstance(value, dict | list):
            out.append(process(value))
        else:
            if value not in done:
                done[value] = process(value)
            out.append(done[value])
    return out
