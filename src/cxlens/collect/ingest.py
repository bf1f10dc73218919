"""Validated, idempotent, atomic loading of files and data frames into the table store.

A load runs in three steps, one source at a time:

1. **stage** the source's records into a temporary table (streamed, so memory stays bounded; a
   Parquet file that needs no mapping is read by DuckDB itself);
2. **validate** every record against the data model in one pass, casting each column to its
   type and collecting every problem as (row, column, reason);
3. **write** as one commit: the valid records whose primary key is not yet stored, the rejects
   (with ``policy="quarantine"``) and a line in the load log. Killing the process before the
   commit leaves the store exactly as it was; loads from other processes run at the same time
   (see :func:`cxlens.storage.loads.commit_load`).

This is storage-layer code, so it talks DuckDB SQL directly (staging in a private in-memory
DuckDB connection); analytics never do (they go through Ibis).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from cxlens.collect.mapping import ColumnMapping
from cxlens.collect.pii import redact_many
from cxlens.collect.privacy import redaction_on
from cxlens.collect.readers import (
    ROW,
    MappedBatches,
    ProgressFn,
    RawBatch,
    SourceError,
    detect_format,
    parquet_layout,
    read_frame,
    read_source,
)
from cxlens.model.schema import DUCKDB_TYPES, Column, ColumnType, Table, get_table
from cxlens.storage.loads import commit_load

if TYPE_CHECKING:
    from cxlens.storage.workspace import Workspace

Policy = Literal["reject", "quarantine"]
Source = str | Path | Any
SEP = "\x1f"
#: How many row errors an IngestError message spells out.
ERRORS_SHOWN = 20


@dataclass(frozen=True)
class RowError:
    """One problem with one value: where it is and what is wrong."""

    source: str
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.row}:{self.column}: {self.reason}"


@dataclass
class LoadResult:
    """What a load of one source did."""

    table: str
    source: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    load_id: int | None = None
    seconds: float = 0.0
    #: What the mapping and validation did besides loading (derived keys, case-folded values, ...).
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people: counts and what happened to the rest."""
        parts = [f"{self.source} -> {self.table}: {self.rows_loaded:,} of {self.rows_read:,} rows loaded"]
        if self.rows_duplicate:
            parts.append(f"{self.rows_duplicate:,} already present")
        if self.rows_rejected:
            parts.append(f"{self.rows_rejected:,} quarantined in _rejects")
        return ", ".join(parts)


class IngestError(ValueError):
    """A source was rejected; nothing from it was stored. ``result.errors`` lists the problems."""

    def __init__(self, message: str, result: LoadResult) -> None:
        super().__init__(message)
        self.result = result


def _label(source: Source) -> str:
    if isinstance(source, str | Path):
        return str(source)
    return f"<{type(source).__module__.split('.')[0]} {type(source).__name__}>"


def expand_sources(sources: Source | list[Source]) -> list[Source]:
    """Flatten the sources; a directory stands for the data files in it, in name order."""
    items = sources if isinstance(sources, list | tuple) else [sources]
    out: list[Source] = []
    for item in items:
        if isinstance(item, str | Path) and Path(item).is_dir():
            files = sorted(
                p for p in Path(item).rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
            )
            if not files:
                raise SourceError(f"{item}: directory holds no data files")
            out.extend(files)
        else:
            out.append(item)
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Validator:
    """Builds the one-pass validation query for a table over a staging table."""

    def __init__(
        self,
        table: Table,
        staged_types: dict[str, str],
        allowed: Callable[[str], tuple[str, ...]],
        event_type_map: dict[str, str],
        *,
        date_formats: tuple[str, ...] = (),
    ) -> None:
        self.table = table
        self.staged_types = staged_types
        self.allowed = allowed
        self.event_type_map = event_type_map
        self.date_formats = date_formats

    def allowed_values(self, col: Column) -> tuple[str, ...] | None:
        """The values an enumerated column takes (its own list or the journey map's), or None."""
        return col.allowed or (self.allowed(col.allowed_from_journey) if col.allowed_from_journey else None)

    def _folded(self, expr: str, allowed: tuple[str, ...]) -> str:
        """``expr`` with values that equal an allowed value but for case replaced by that value."""
        cases = " ".join(f"WHEN {_lit(a.lower())} THEN {_lit(a)}" for a in allowed)
        return f"coalesce(CASE lower({expr}) {cases} END, {expr})"

    def case_notes(self, con: Any) -> list[str]:
        """One note per enumerated column whose values matched only without regard to case."""
        notes = []
        for col in self.table.columns:
            allowed = self.allowed_values(col)
            if not allowed or self.staged_types.get(col.name) != "VARCHAR":
                continue
            raw = f"NULLIF({_q(col.name)}, '')"
            inside = ", ".join(_lit(a) for a in allowed)
            n, example = _one(
                con,
                f"SELECT count(*), min({raw}) FROM __stage WHERE {raw} NOT IN ({inside}) "
                f"AND {self._folded(raw, allowed)} IN ({inside})",
            )
            if n:
                notes.append(
                    f"{col.name}: {n:,} value(s) matched without regard to case "
                    f"(e.g. {example!r} read as {self._fold_py(str(example), allowed)!r})"
                )
        return notes

    @staticmethod
    def _fold_py(value: str, allowed: tuple[str, ...]) -> str:
        return next((a for a in allowed if a.lower() == value.lower()), value)

    def _date_hint(self, col: Column) -> str:
        """What a date column accepts, and how to read other layouts (a SQL string literal)."""
        example = "2024-03-05" if col.type == ColumnType.DATE else "2024-03-05 or 2024-03-05 14:30:00+09:00"
        if self.date_formats:
            tried = " or ".join(self.date_formats)
            return _lit(
                f" (read with --date-format {tried} and as ISO 8601 such as {example}; add the layout "
                f"of this value with another --date-format, e.g. --date-format %d.%m.%Y)"
            )
        return _lit(
            f" (expected ISO 8601 such as {example}; for another layout pass --date-format, "
            f"e.g. --date-format %Y/%m/%d or --date-format %d/%m/%Y)"
        )

    def cast(self, col: Column) -> str:
        src = _q(col.name)
        staged = self.staged_types[col.name]
        is_text = staged == "VARCHAR"
        if is_text:
            src = f"NULLIF(trim({src}), '')" if col.type != ColumnType.STRING else f"NULLIF({src}, '')"
        if col.type == ColumnType.TIMESTAMP:
            expr = (
                f"TRY_CAST(TRY_CAST({src} AS TIMESTAMPTZ) AS TIMESTAMP)"
                if is_text or "WITH TIME ZONE" in staged
                else f"TRY_CAST({src} AS TIMESTAMP)"
            )
        elif col.type in (ColumnType.STRING, ColumnType.JSON):
            expr = src if is_text else f"TRY_CAST({src} AS VARCHAR)"
            allowed = self.allowed_values(col)
            if allowed and col.type == ColumnType.STRING:
                expr = self._folded(expr, allowed)
        else:
            expr = f"TRY_CAST({src} AS {DUCKDB_TYPES[col.type]})"
        if self.table.name == "events" and col.name == "touchpoint":
            cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in self.event_type_map.items())
            mapped = f"(CASE NULLIF({_q('event_type')}, '') {cases} END)" if cases else "NULL"
            expr = f"coalesce({expr}, {mapped})"
        return expr

    def checks(self, col: Column, cast: str) -> list[tuple[str, str]]:
        """(condition, reason SQL) pairs for one column; the reason is a SQL string expression."""
        raw = _q(col.name)
        shown = f"left(TRY_CAST({raw} AS VARCHAR), 60)"
        out: list[tuple[str, str]] = []
        staged = self.staged_types[col.name]
        if col.type not in (ColumnType.STRING, ColumnType.JSON):
            present = f"NULLIF(trim({raw}), '') IS NOT NULL" if staged == "VARCHAR" else f"{raw} IS NOT NULL"
            hint = (
                f" || {self._date_hint(col)}" if col.type in (ColumnType.TIMESTAMP, ColumnType.DATE) else ""
            )
            out.append(
                (f"{present} AND {cast} IS NULL", f"'not a valid {col.type.value}: ' || {shown}{hint}")
            )
        if col.type == ColumnType.INT:
            out.append(
                (
                    f"{cast} IS NOT NULL AND TRY_CAST({raw} AS DOUBLE) <> {cast}",
                    f"'not a whole number: ' || {shown}",
                )
            )
        if col.type == ColumnType.FLOAT:
            out.append(
                (f"{cast} IS NOT NULL AND NOT isfinite({cast})", f"'not a finite number: ' || {shown}")
            )
        if col.required:
            if self.table.name == "events" and col.name == "touchpoint":
                out.append(
                    (
                        f"{cast} IS NULL AND NULLIF({_q('event_type')}, '') IS NOT NULL",
                        f"'event_type ' || {_q('event_type')} || ' maps to no touchpoint in the "
                        f"journey map; give a touchpoint or map the event type'",
                    )
                )
            else:
                out.append(
                    (
                        f"{cast} IS NULL AND ({raw} IS NULL OR TRY_CAST({raw} AS VARCHAR) = '')",
                        "'required value missing'",
                    )
                )
        # a score off its scale usually comes from another scale (1-10 stars): say how to translate it
        scale = (
            _lit(
                f" ({col.name} runs from {col.min:g} to {col.max:g}; for another scale translate the "
                f"values with `values:` in a mapping file, see docs/own-data.md)"
            )
            if self.table.name == "feedback" and col.min is not None and col.max is not None
            else "''"
        )
        if col.min is not None:
            out.append((f"{cast} < {col.min}", f"'below the minimum {col.min:g}: ' || {shown} || {scale}"))
        if col.max is not None:
            out.append((f"{cast} > {col.max}", f"'above the maximum {col.max:g}: ' || {shown} || {scale}"))
        allowed = self.allowed_values(col)
        if allowed:
            listed = ", ".join(allowed)
            if len(listed) > 300:
                listed = listed[:300] + ", ..."
            inside = ", ".join(_lit(a) for a in allowed)
            out.append(
                (
                    f"{cast} IS NOT NULL AND {cast} NOT IN ({inside})",
                    f"{_lit('')} || {shown} || {_lit(' is not one of: ' + listed)}",
                )
            )
        limit = col.string_limit
        if limit:
            out.append(
                (
                    f"length({cast}) > {limit}",
                    f"'longer than {limit:,} characters (' || length({cast}) || ')'",
                )
            )
        if col.type == ColumnType.JSON:
            out.append(
                (f"{cast} IS NOT NULL AND NOT coalesce(json_valid({cast}), false)", "'not valid JSON'")
            )
            out.append(
                (
                    f"{cast} IS NOT NULL AND coalesce(json_valid({cast}), false) "
                    f"AND json_type({cast}) <> 'OBJECT'",
                    "'not a JSON object'",
                )
            )
        return out

    def typed(self) -> str:
        """SELECT of ``__row`` and every column cast to its type, over the staged records."""
        cols = ", ".join(f"{self.cast(c)} AS {_q(c.name)}" for c in self.table.columns)
        return f"SELECT {_q(ROW)}, {cols} FROM __stage"

    def duplicate_keys(self) -> str:
        """Count of primary keys that occur more than once in the staged records (a cheap pre-check)."""
        pk_casts = ", ".join(self.cast(self.table.column(k)) for k in self.table.primary_key)
        return f"SELECT count(*) FROM (SELECT {pk_casts} FROM __stage GROUP BY ALL HAVING count(*) > 1)"

    def rule_counts(self) -> str:
        """SELECT of one count per rule over the staged records (one scan, no per-row strings): a
        clean source is known to be clean without building each row's list of problems."""
        casts = {c.name: self.cast(c) for c in self.table.columns}
        conds = [cond for col in self.table.columns for cond, _ in self.checks(col, casts[col.name])]
        for rule in self.table.row_rules:
            conds.append(" AND ".join(f"{casts[c]} IS NULL" for c in rule.any_of))
        counts = ", ".join(f"count(CASE WHEN {cond} THEN 1 END)" for cond in conds) or "0"
        return f"SELECT {counts} FROM __stage"

    def problems(self, check_duplicates: bool) -> str:
        """SELECT of ``__row`` and ``__errs`` (list of 'column<US>reason') for the rows with problems
        only, so that a large clean load never materialises a second copy of the data."""
        casts = {c.name: self.cast(c) for c in self.table.columns}
        errs: list[str] = []
        for col in self.table.columns:
            for cond, reason in self.checks(col, casts[col.name]):
                errs.append(f"CASE WHEN {cond} THEN {_lit(col.name + SEP)} || ({reason}) END")
        for rule in self.table.row_rules:
            cond = " AND ".join(f"{casts[c]} IS NULL" for c in rule.any_of)
            errs.append(f"CASE WHEN {cond} THEN {_lit('|'.join(rule.any_of) + SEP + rule.description)} END")
        if check_duplicates:
            pk = self.table.primary_key
            pk_casts = ", ".join(casts[k] for k in pk)
            pk_shown = " || ', ' || ".join(
                f"{_lit(k + '=')} || coalesce(CAST({casts[k]} AS VARCHAR), '')" for k in pk
            )
            first = f"min({_q(ROW)}) OVER (PARTITION BY {pk_casts})"
            errs.append(
                f"CASE WHEN {first} < {_q(ROW)} THEN {_lit(pk[0] + SEP + 'duplicate key (')} || {pk_shown} "
                f"|| ') first seen at row ' || {first} END"
            )
        return (
            f"SELECT {_q(ROW)}, __errs FROM (SELECT {_q(ROW)}, list_filter([{', '.join(errs)}], "
            f"lambda x: x IS NOT NULL) AS __errs FROM __stage) WHERE len(__errs) > 0"
        )


#: Free-text columns redacted on load when personal-data redaction is on.
PII_COLUMNS = {"feedback": ("text", "title")}


def _redacted(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """``table`` with personal data replaced in the given text columns (see :mod:`cxlens.collect.pii`)."""
    for name in columns:
        if name in table.column_names:
            values = table.column(name).cast(pa.string()).to_pylist()
            i = table.column_names.index(name)
            table = table.set_column(i, name, pa.array(redact_many(values), type=pa.string()))
    return table


def _stage(
    con: Any,
    batches: Iterator[RawBatch],
    table: Table,
    label: str,
    allow_extra: bool,
    errors: list[RowError],
    redact: bool = False,
) -> tuple[int, dict[str, str]]:
    """Stream batches into the temp table ``__stage``; return (records read, staged column types)."""
    con.execute("DROP TABLE IF EXISTS __stage")
    created = False
    rows = 0
    for batch in batches:
        for row, reason in batch.malformed:
            errors.append(RowError(label, row, "(record)", reason))
        rows += len(batch.malformed)
        t = batch.table
        if redact and table.name in PII_COLUMNS:
            t = _redacted(t, PII_COLUMNS[table.name])
        names = [n for n in t.column_names if n != ROW]
        _check_columns(names, table, label, allow_extra, required=not created and t.num_rows > 0)
        arrays = []
        for col in table.columns:
            if col.name in names:
                arrays.append(t.column(col.name))
            else:
                arrays.append(pa.nulls(t.num_rows, type=pa.string()))
        arrays.append(t.column(ROW))
        projected = pa.Table.from_arrays(arrays, names=[*table.column_names, ROW])
        con.register("__batch", projected)
        try:
            if not created:
                con.execute("CREATE TEMP TABLE __stage AS SELECT * FROM __batch")
                created = True
            else:
                con.execute("INSERT INTO __stage SELECT * FROM __batch")
        finally:
            con.unregister("__batch")
        rows += t.num_rows
    if not created:
        con.execute(
            "CREATE TEMP TABLE __stage AS SELECT "
            + ", ".join(f"CAST(NULL AS VARCHAR) AS {_q(c)}" for c in table.column_names)
            + f", CAST(NULL AS BIGINT) AS {_q(ROW)} WHERE false"
        )
    types = {r[0]: r[1] for r in con.execute("DESCRIBE __stage").fetchall()}
    return rows, types


def _check_columns(names: list[str], table: Table, label: str, allow_extra: bool, required: bool) -> None:
    """Refuse a source with columns the table does not have (unless dropped on purpose) or, when
    ``required``, without a required column."""
    unknown = sorted(set(names) - set(table.column_names))
    if unknown and not allow_extra:
        raise SourceError(
            f"{label}: unknown column(s) {', '.join(unknown)} for table {table.name!r}; "
            f"its columns are {', '.join(table.column_names)} (pass --allow-extra-columns to drop them)"
        )
    missing = [c for c in table.required_columns if c not in names]
    if missing and required and not _tolerates_missing(table, missing):
        raise SourceError(
            f"{label}: missing required column(s) {', '.join(missing)} for table {table.name!r}"
        )


def _stage_parquet(
    con: Any, path: Path, table: Table, label: str, allow_extra: bool, tick: ProgressFn | None
) -> tuple[int, dict[str, str]] | None:
    """Stage a Parquet file that needs no mapping with DuckDB's own reader (decoding it natively
    costs about half the CPU of pyarrow batches copied in: the largest part of a bulk load's
    staging). The same ``__stage`` as :func:`_stage`: the table's columns, NULL text for absent
    ones, and ``__row`` numbered from 1. None when the file needs the general path: a key to
    derive, a column DuckDB would add under the same name, a name DuckDB would read as a glob
    pattern, or a column type DuckDB cannot read (pyarrow then reads it as before)."""
    import duckdb

    names, total = parquet_layout(path)
    if (
        any(k not in names for k in table.primary_key)
        or "file_row_number" in names
        or any(ch in str(path) for ch in "*?[{")
    ):
        return None
    _check_columns(names, table, label, allow_extra, required=total > 0)
    cols = ", ".join(_q(c) if c in names else f"CAST(NULL AS VARCHAR) AS {_q(c)}" for c in table.column_names)
    con.execute("DROP TABLE IF EXISTS __stage")
    try:
        con.execute(
            f"CREATE TEMP TABLE __stage AS SELECT {cols}, file_row_number + 1 AS {_q(ROW)} "
            f"FROM read_parquet({_lit(str(path))}, file_row_number = true)"
        )
    except duckdb.Error:
        con.execute("DROP TABLE IF EXISTS __stage")
        return None
    if tick:
        tick(total, total)
    types = {r[0]: r[1] for r in con.execute("DESCRIBE __stage").fetchall()}
    return total, types


def _one(con: Any, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """The single row a statement returns."""
    rows = con.execute(sql, params or []).fetchall()
    if not rows:
        raise RuntimeError(f"statement returned no row: {sql[:80]}")
    return tuple(rows[0])


def _tolerates_missing(table: Table, missing: list[str]) -> bool:
    """Events may omit the touchpoint column: it is derived from the event type."""
    return table.name == "events" and missing == ["touchpoint"]


def ingest(
    workspace: Workspace,
    table: str,
    sources: Source | list[Source],
    *,
    policy: Policy = "reject",
    fmt: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    allow_extra_columns: bool = False,
    mapping: ColumnMapping | None = None,
    progress: Callable[[str], ProgressFn] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[LoadResult]:
    """Validate and load ``sources`` (paths, directories or data frames) into ``table``.

    ``policy="reject"`` (default) stores nothing from a source with any bad row and raises
    :class:`IngestError`; ``"quarantine"`` loads the good rows and keeps the bad ones in the
    ``_rejects`` table. Records whose primary key is already stored are skipped (idempotent).
    ``mapping`` says which source columns hold which data-model columns (see
    :mod:`cxlens.collect.mapping`); its reader options apply where no argument is given.
    """
    spec = get_table(table)
    mapping = mapping or ColumnMapping()
    mapping.check(spec)
    fmt, delimiter = fmt or mapping.format, delimiter or mapping.sep
    encoding = mapping.encoding if mapping.encoding and encoding == "utf-8" else encoding
    if policy not in ("reject", "quarantine"):
        raise ValueError(f"unknown policy {policy!r}; choose reject or quarantine")
    results = []
    for source in expand_sources(sources):
        results.append(
            _ingest_one(
                workspace,
                spec,
                source,
                policy=policy,
                fmt=fmt,
                encoding=encoding,
                delimiter=delimiter,
                allow_extra=allow_extra_columns,
                mapping=mapping,
                progress=progress,
                log=log or (lambda _m: None),
            )
        )
    return results


def _ingest_one(
    workspace: Workspace,
    spec: Table,
    source: Source,
    *,
    policy: Policy,
    fmt: str | None,
    encoding: str,
    delimiter: str | None,
    allow_extra: bool,
    mapping: ColumnMapping,
    progress: Callable[[str], ProgressFn] | None,
    log: Callable[[str], None],
) -> LoadResult:
    started = time.perf_counter()
    label = _label(source)
    result = LoadResult(spec.name, label)
    tick = progress(label) if progress else None
    if isinstance(source, str | Path):
        batches = read_source(Path(source), fmt, encoding=encoding, delimiter=delimiter, progress=tick)
    else:
        batches = read_frame(source, tick)
    mapped = MappedBatches(batches, mapping, spec, label)
    batches = iter(mapped)
    errors: list[RowError] = []
    redact = redaction_on(workspace.data_dir)
    direct = (
        isinstance(source, str | Path)
        and mapping.is_empty
        and not mapping.date_formats
        and not (redact and spec.name in PII_COLUMNS)
        and (fmt or detect_format(Path(source))) == "parquet"
    )
    with workspace._lock, workspace.staging() as con:
        try:
            staged = _stage_parquet(con, Path(source), spec, label, allow_extra, tick) if direct else None
            if staged is None:
                staged = _stage(con, batches, spec, label, allow_extra, errors, redact=redact)
            result.rows_read, staged_types = staged
            log(f"staged {result.rows_read:,} records from {label}")
            validator = _Validator(
                spec,
                staged_types,
                workspace.journey_map.allowed,
                workspace.journey_map.touchpoint_of_event_type,
                date_formats=tuple(mapping.date_formats),
            )
            result.notes = [*mapped.notes, *validator.case_notes(con)]
            has_duplicates = int(_one(con, validator.duplicate_keys())[0]) > 0
            con.execute("DROP TABLE IF EXISTS __bad")
            if has_duplicates or any(_one(con, validator.rule_counts())):
                con.execute(f"CREATE TEMP TABLE __bad AS {validator.problems(has_duplicates)}")
            else:  # every rule holds for every record: no row has a problem
                con.execute(f"CREATE TEMP TABLE __bad ({_q(ROW)} BIGINT, __errs VARCHAR[])")
            row_errors = con.execute(
                f"SELECT {_q(ROW)}, split_part(e, chr(31), 1), split_part(e, chr(31), 2) "
                f"FROM (SELECT {_q(ROW)}, unnest(__errs) AS e FROM __bad) "
                f"ORDER BY 1, 2 LIMIT {ERRORS_SHOWN * 50}"
            ).fetchall()
            n_err_values, n_bad_rows = _one(con, "SELECT coalesce(sum(len(__errs)), 0), count(*) FROM __bad")
            errors.extend(RowError(label, int(r), c, reason) for r, c, reason in row_errors)
            errors.sort(key=lambda e: (e.row, e.column))
            result.error_count = int(n_err_values) + sum(1 for e in errors if e.column == "(record)")
            malformed = sum(1 for e in errors if e.column == "(record)")
            bad_rows = int(n_bad_rows) + malformed
            result.errors = errors[: ERRORS_SHOWN * 50]
            log(f"validated {result.rows_read:,} records: {bad_rows:,} with problems")
            if bad_rows and policy == "reject":
                shown = "\n".join(f"  {e}" for e in result.errors[:ERRORS_SHOWN])
                more = result.error_count - min(ERRORS_SHOWN, len(result.errors))
                raise IngestError(
                    f"{label}: rejected, nothing stored: {bad_rows:,} of {result.rows_read:,} rows have "
                    f"problems ({result.error_count:,} in all):\n{shown}"
                    + (f"\n  ... and {more:,} more" if more > 0 else "")
                    + "\n(fix the file, or load the good rows with --quarantine)",
                    result,
                )
            commit_load(workspace, con, spec, validator.typed(), result, errors, bad_rows, policy, log)
        finally:
            con.execute("DROP TABLE IF EXISTS __bad")
            con.execute("DROP TABLE IF EXISTS __stage")
    result.seconds = time.perf_counter() - started
    return result
