"""``cxlens ingest TABLE FILE --preview``: the first rows as they would be stored, and a mapping.

Nothing is written. The first rows of the source go through the reader and the column mapping
(the one given, completed with suggestions from the header names), then through the same
validation query a load runs, in a throw-away in-memory DuckDB, so the preview shows the typed
values and every problem a load would report for those rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from cxlens.collect.ingest import RowError, _Validator
from cxlens.collect.mapping import ColumnMapping, guess_date_format, suggest_mapping
from cxlens.collect.readers import ROW, MappedBatches, read_source
from cxlens.journey.map import JourneyMap
from cxlens.model.schema import ColumnType, Table, get_table

#: Records read from the source for the preview (enough to guess date layouts).
SAMPLE_ROWS = 200


@dataclass
class Preview:
    """What a load of the file would store, and the mapping that gets there."""

    table: str
    source: str
    headers: list[str]
    mapping: ColumnMapping
    #: Data-model columns the mapping fills from suggestions (not from the flags or file given).
    suggested: dict[str, str] = field(default_factory=dict)
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Required columns that still have no source (map them or set them).
    missing: list[str] = field(default_factory=list)

    def flags(self) -> str:
        """The mapping as command-line flags (quoted for a POSIX shell)."""
        import shlex

        parts = [f"--map {shlex.quote(f'{c}={h}')}" for c, h in self.mapping.map.items()]
        parts += [f"--set {shlex.quote(f'{c}={v}')}" for c, v in self.mapping.set.items()]
        parts += [f"--date-format {shlex.quote(f)}" for f in self.mapping.date_formats]
        return " ".join(parts)


def _suggest_source(table: Table, mapping: ColumnMapping) -> dict[str, str]:
    """A constant for feedback's required ``source`` when nothing maps it."""
    if table.name != "feedback" or "source" in mapping.map or "source" in mapping.set:
        return {}
    return {"source": "survey" if {"nps", "csat", "ces"} & set(mapping.map) else "review"}


def _date_formats(table: Table, mapping: ColumnMapping, sample: pa.Table) -> list[str]:
    """Layouts of the sampled date columns that ISO 8601 does not read."""
    formats: list[str] = []
    for col, header in mapping.map.items():
        if table.column(col).type not in (ColumnType.TIMESTAMP, ColumnType.DATE):
            continue
        values = [str(v) for v in sample.column(header).to_pylist() if v is not None][:SAMPLE_ROWS]
        fmt = guess_date_format(values)
        if fmt and fmt not in formats:
            formats.append(fmt)
    return formats


def preview(
    table_name: str,
    path: Path,
    mapping: ColumnMapping | None = None,
    *,
    journey_map: JourneyMap,
    fmt: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    rows: int = 5,
) -> Preview:
    """Read the first records of ``path`` and show them as ``table_name`` would store them."""
    import duckdb

    table = get_table(table_name)
    given = mapping or ColumnMapping()
    given.check(table)
    fmt, delimiter = fmt or given.format, delimiter or given.sep
    encoding = given.encoding if given.encoding and encoding == "utf-8" else encoding
    raw = next(iter(read_source(path, fmt, encoding=encoding, delimiter=delimiter)))
    sample = raw.table.slice(0, SAMPLE_ROWS)
    headers = [n for n in sample.column_names if n != ROW]
    covered = {*given.map, *given.set, *(h for h in headers if h in table.column_names)}
    guesses = {
        col: h
        for col, h in suggest_mapping(headers, table).items()
        if col not in covered and h not in given.map.values()
    }
    effective = replace(given, map={**given.map, **guesses})
    effective = replace(effective, set={**_suggest_source(table, effective), **given.set})
    if not given.date_formats:
        effective = replace(effective, date_formats=_date_formats(table, effective, sample))
    mapped = MappedBatches(iter([raw]), effective, table, str(path))
    batch = next(iter(mapped)).table.slice(0, rows)
    names = [n for n in batch.column_names if n != ROW]
    present = set(names)
    missing = [c for c in table.required_columns if c not in present]
    arrays = [
        batch.column(c) if c in present else pa.nulls(batch.num_rows, pa.string()) for c in table.column_names
    ]
    staged = pa.Table.from_arrays([*arrays, batch.column(ROW)], names=[*table.column_names, ROW])
    con = duckdb.connect()
    try:
        con.register("__batch", staged)
        con.execute("CREATE TEMP TABLE __stage AS SELECT * FROM __batch")
        types = {r[0]: r[1] for r in con.execute("DESCRIBE __stage").fetchall()}
        validator = _Validator(
            table,
            types,
            journey_map.allowed,
            journey_map.touchpoint_of_event_type,
            date_formats=tuple(effective.date_formats),
        )
        frame = con.execute(f"{validator.typed()} ORDER BY 1").fetchdf()
        bad = con.execute(
            f"SELECT __row, split_part(e, chr(31), 1), split_part(e, chr(31), 2) FROM "
            f"(SELECT __row, unnest(__errs) AS e FROM ({validator.problems(False)})) ORDER BY 1, 2"
        ).fetchall()
        notes = [*mapped.notes, *validator.case_notes(con)]
    finally:
        con.close()
    keep = [c for c in table.column_names if c in present or c in effective.set]
    return Preview(
        table=table.name,
        source=str(path),
        headers=headers,
        mapping=replace(effective, table=table.name),
        suggested={**guesses, **{k: v for k, v in effective.set.items() if k not in given.set}},
        rows=frame[keep] if not missing else frame[[c for c in keep if c in frame.columns]],
        problems=[RowError(str(path), int(r), c, reason) for r, c, reason in bad],
        notes=notes,
        missing=missing,
    )


def describe_columns(frame: pd.DataFrame) -> list[tuple[str, Any]]:
    """(column, first non-empty value) pairs, for a narrow terminal."""
    out = []
    for col in frame.columns:
        values = frame[col].dropna()
        out.append((str(col), values.iloc[0] if not values.empty else None))
    return out
