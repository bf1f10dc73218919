"""Writes to the table store that are not loads: derived rows replaced by key, and deletes.

Both are copy-on-write: every data file holding an affected row is rewritten without it, and the
rewrites replace the originals in one commit (with the new rows, for :func:`replace_rows`). A
commit that loses a race to another process is rebuilt on the new state; files already
rewritten are reused when their originals are still current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from cxlens.storage.catalog import Change
from cxlens.storage.store import qident

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile

    from cxlens.storage.workspace import Workspace


def _key_filter(con: Any, key: str, keys: Sequence[Any], name: str) -> str:
    """Register the keys as a relation ``name``; return the SQL condition 'key in it'."""
    con.register(name, pa.table({"k": pa.array(list(keys))}))
    return f"{qident(key)} IN (SELECT k FROM {name})"


def replace_rows(ws: Workspace, frames: Mapping[str, Any], key: str, keys: Sequence[Any]) -> int:
    """See :meth:`Workspace.replace_rows`."""
    store = ws.store
    keys = list(dict.fromkeys(keys))
    rewrites: dict[str, dict[str, list[DataFile]]] = {name: {} for name in frames}
    added: dict[str, list[DataFile]] = {}
    with ws.staging() as con:
        cond = _key_filter(con, key, keys, "__replace_keys")
        for name, frame in frames.items():
            state = store.fresh(name)
            con.register("__replace_rows", frame)
            try:
                added[name] = store.write_files(con, state, "SELECT * FROM __replace_rows")
            finally:
                con.unregister("__replace_rows")

        def build() -> list[Change]:
            changes = []
            for name in frames:
                state = store.fresh(name)
                scope = state.holding(key, keys)
                removed, rewritten, _ = store.rewrite_without(con, scope, cond, [], rewrites[name])
                changes.append(
                    store.replace_change(
                        state, removed, [*rewritten, *added[name]], {"cxlens.operation": "replace"}
                    )
                )
            return changes

        try:
            return store.commit(build, "replace")
        except BaseException:
            for name in frames:
                store.discard(added[name])
            raise


def delete_where(ws: Workspace, table: str, column: str, values: Sequence[Any]) -> int:
    """See :meth:`Workspace.delete_where`."""
    values = list(dict.fromkeys(values))
    if not values:
        return 0
    if column not in {f.name for f in ws.store.fresh(table).table.schema().fields}:
        raise KeyError(f"table {table!r} has no column {column!r}")
    change = RowChange(
        f"{qident(column)} IN (SELECT k FROM __delete_values)",
        prune_column=column,
        prune_values=tuple(values),
    )
    relations = {"__delete_values": pa.table({"k": pa.array(values)})}
    _, matched, _ = change_rows(ws, {table: change}, "delete", relations)
    return matched[table]


@dataclass(frozen=True)
class RowChange:
    """Rows of one table to delete or update: those where ``where`` holds (a DuckDB condition over
    the table's columns; relations registered by the caller may be used), changed by ``updates``
    (column -> SQL expression) or, without updates, deleted."""

    where: str
    updates: Mapping[str, str] | None = None
    #: Only files whose statistics admit one of these values of ``prune_column`` are read.
    prune_column: str | None = None
    prune_values: tuple[Any, ...] = ()


def change_rows(
    ws: Workspace,
    changes: Mapping[str, RowChange],
    operation: str = "delete",
    relations: Mapping[str, Any] | None = None,
) -> tuple[int, dict[str, int], list[DataFile]]:
    """Delete or update rows of several tables in one commit (copy-on-write).

    ``relations`` (name -> Arrow table) are registered for the conditions. Returns the commit id
    (the data version; unchanged when no row matched), the rows matched per table and the files
    the commit replaced (for :meth:`TableStore.purge`).
    """
    store = ws.store
    caches: dict[str, dict[str, list[DataFile]]] = {name: {} for name in changes}
    matched: dict[str, int] = {}
    replaced: list[DataFile] = []
    with ws.staging() as con:
        for name, rel in (relations or {}).items():
            con.register(name, rel)

        def build() -> list[Change]:
            out = []
            replaced.clear()
            for table, change in changes.items():
                state = store.fresh(table)
                scope = (
                    state.holding(change.prune_column, change.prune_values) if change.prune_column else state
                )
                removed, rewritten, _ = store.rewrite_without(
                    con, scope, change.where, [], caches[table], change.updates
                )
                if change.updates:
                    matched[table] = _count(con, state, removed, change.where)
                else:
                    matched[table] = sum(f.record_count for f in removed) - sum(
                        f.record_count for f in rewritten
                    )
                if removed:
                    replaced.extend(removed)
                    out.append(
                        store.replace_change(state, removed, rewritten, {"cxlens.operation": operation})
                    )
            return out

        commit_id = store.commit(build, operation)
    return commit_id, matched, list(replaced)


def _count(con: Any, state: Any, files: list[DataFile], where: str) -> int:
    """Rows of ``files`` (of the table at ``state``) matching ``where``."""
    from cxlens.storage.store import local_path

    if not files:
        return 0
    sql = state.select_sql([local_path(f.file_path) for f in files])
    return int(con.execute(f"SELECT count(*) FROM ({sql}) WHERE {where}").fetchall()[0][0])
