"""Writes to the table store that are not loads: derived rows replaced by key, and deletes.

Both are copy-on-write: every data file holding an affected row is rewritten without it, and the
rewrites replace the originals in one commit (with the new rows, for :func:`replace_rows`). A
commit that loses a race to another process is rebuilt on the new state; files already
rewritten are reused when their originals are still current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    store = ws.store
    values = list(dict.fromkeys(values))
    if not values:
        return 0
    cache: dict[str, list[DataFile]] = {}
    deleted = 0
    with ws.staging() as con:
        cond = _key_filter(con, column, values, "__delete_values")
        state0 = store.fresh(table)
        if column not in {f.name for f in state0.table.schema().fields}:
            raise KeyError(f"table {table!r} has no column {column!r}")

        def build() -> list[Change]:
            nonlocal deleted
            state = store.fresh(table)
            removed, rewritten, deleted = store.rewrite_without(
                con, state.holding(column, values), cond, [], cache
            )
            if not removed:
                return []
            # rows removed on an earlier attempt from files still current count too
            deleted = sum(f.record_count for f in removed) - sum(f.record_count for f in rewritten)
            return [store.replace_change(state, removed, rewritten, {"cxlens.operation": "delete"})]

        store.commit(build, "delete")
    return deleted
