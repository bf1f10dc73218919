"""The write step of a load: one atomic, idempotent commit of validated rows to the table store.

:mod:`cxlens.collect.ingest` stages and validates a source in DuckDB (temporary tables
``__stage`` and ``__bad`` on the connection it passes in); this module writes the result: the
good rows whose key is not stored, the quarantined records and the load-log line, as one commit
to three tables, retried optimistically when another process commits first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from cxlens.storage.catalog import Change
from cxlens.storage.store import TableState, qident, sql_str

if TYPE_CHECKING:
    from cxlens.collect.ingest import LoadResult, RowError
    from cxlens.model.schema import Table
    from cxlens.storage.workspace import Workspace


def _one(con: Any, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """The single row a statement returns."""
    return tuple(con.execute(sql, params or []).fetchall()[0])


def commit_load(
    workspace: Workspace,
    con: Any,
    spec: Table,
    typed: str,
    result: LoadResult,
    errors: list[RowError],
    bad_rows: int,
    policy: str,
    log: Callable[[str], None],
) -> None:
    """One atomic commit to the table store: the good rows not yet stored, the rejects, and the
    load-log line (three tables, one catalogue transaction).

    The rows are written as new Parquet files first (streamed by DuckDB), after an anti-join with
    the stored files whose key range overlaps this load's. The commit is optimistic: if another
    process committed to the table meanwhile, only the files it added are checked for keys this
    load also holds, those rows are dropped, and the commit is tried again on the new state.
    """
    store = workspace.store
    key = spec.primary_key[0]
    match = " AND ".join(f"t.{qident(k)} = c.{qident(k)}" for k in spec.primary_key)
    low, high = _one(con, f"SELECT min({qident(key)}), max({qident(key)}) FROM ({typed})")
    source_bytes = Path(result.source).stat().st_size if Path(result.source).is_file() else None
    log("writing")
    load_id = store.catalog.allocate_load_id()
    base = store.fresh(spec.name)
    checked = {f.file_path for f in base.files}

    def not_in(state_sql: str) -> str:
        return f"NOT EXISTS (SELECT 1 FROM ({state_sql}) t WHERE t.{qident(key)} BETWEEN ? AND ? AND {match})"

    overlap = base.in_range(key, low, high)
    stored_check = f"AND {not_in(overlap.select_sql())}" if overlap.files and low is not None else ""
    data = store.write_files(
        con,
        base,
        f"SELECT * FROM ({typed}) c WHERE NOT EXISTS (SELECT 1 FROM __bad b WHERE b.__row = c.__row) "
        f"{stored_check}",
        [low, high] if stored_check else [],
    )
    rejects: list[Any] = []
    loads: list[Any] = []
    try:
        if bad_rows:
            malformed = [e for e in errors if e.column == "(record)"]
            con.register(
                "__malformed",
                pa.table(
                    {
                        "row": pa.array([e.row for e in malformed], pa.int64()),
                        "reason": pa.array([e.reason for e in malformed], pa.string()),
                    }
                ),
            )
            meta = (
                f"{load_id}::BIGINT AS load_id, {sql_str(spec.name)} AS table_name, "
                f"{sql_str(result.source)} AS source"
            )
            rejects = store.write_files(
                con,
                store.fresh("_rejects"),
                f"SELECT {meta}, c.__row AS row_number, split_part(e, chr(31), 1) AS column_name, "
                f"split_part(e, chr(31), 2) AS reason, to_json(s)::VARCHAR AS raw_record "
                f"FROM (SELECT __row, unnest(__errs) AS e FROM __bad) c JOIN __stage s ON s.__row = c.__row "
                f"UNION ALL SELECT {meta}, row, '(record)', reason, NULL FROM __malformed",
            )
            con.unregister("__malformed")

        def build() -> list[Change]:
            nonlocal data, loads, checked
            state = store.fresh(spec.name)
            added = [f for f in state.in_range(key, low, high).files if f.file_path not in checked]
            if added and data:
                # Another process committed rows since the check: drop the keys it stored too.
                newer = TableState(state.table, tuple(added)).select_sql()
                mine = TableState(state.table, tuple(data)).select_sql()
                clash = _one(con, f"SELECT count(*) FROM ({mine}) c WHERE NOT {not_in(newer)}", [low, high])[
                    0
                ]
                if clash:
                    kept = store.write_files(
                        con, state, f"SELECT * FROM ({mine}) c WHERE {not_in(newer)}", [low, high]
                    )
                    store.discard(data)
                    data = kept
            checked = {f.file_path for f in state.files}
            result.rows_loaded = sum(f.record_count for f in data)
            result.rows_rejected = bad_rows
            result.rows_duplicate = result.rows_read - bad_rows - result.rows_loaded
            store.discard(loads)
            line = pa.table(
                {
                    "load_id": [load_id],
                    "table_name": [spec.name],
                    "source": [result.source],
                    "source_bytes": pa.array([source_bytes], pa.int64()),
                    "rows_read": [result.rows_read],
                    "rows_loaded": [result.rows_loaded],
                    "rows_duplicate": [result.rows_duplicate],
                    "rows_rejected": [result.rows_rejected],
                    "policy": [policy],
                    "loaded_at": [_utcnow()],
                }
            )
            con.register("__load_line", line)
            try:
                loads = store.write_files(con, store.fresh("_loads"), "SELECT * FROM __load_line")
            finally:
                con.unregister("__load_line")
            props = {"cxlens.load-id": str(load_id), "cxlens.source": result.source[-500:]}
            return [
                store.append_change(state, data, props),
                store.append_change(store.fresh("_rejects"), rejects, props),
                store.append_change(store.fresh("_loads"), loads, props),
            ]

        store.commit(build, "load", load_id)
    except BaseException:
        store.discard([*data, *rejects, *loads])
        raise
    result.load_id = load_id
    log(f"committed load {load_id}: {result.summary()}")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
