"""Readers that turn a source (file or data frame) into Arrow record batches for validation.

CSV and JSON values are read as text so that validation, not the reader, decides what a bad
value is and can say which row and column it is in. Parquet and data frames keep their types.
Every batch carries ``__row``: the 1-based record number in the source (CSV: data rows after
the header; NDJSON: the line number; JSON arrays and Parquet: the position).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cxlens.model.schema import ColumnType, Table

if TYPE_CHECKING:
    from cxlens.collect.mapping import ColumnMapping

ROW = "__row"
FORMATS = ("csv", "tsv", "parquet", "json", "ndjson")
#: Batch size in records for JSON, Parquet and data frames.
BATCH_ROWS = 250_000
#: CSV block size; a single record must fit in one block (a 10 MB line fits).
CSV_BLOCK_BYTES = 64 << 20

#: Called with (units done, units total or None).
ProgressFn = Callable[[int, int | None], None]


class SourceError(ValueError):
    """The source as a whole cannot be read (missing, empty, wrong format or encoding)."""


@dataclass
class RawBatch:
    """One batch of raw records; ``malformed`` lists (row, reason) for records that did not parse."""

    table: pa.Table
    malformed: list[tuple[int, str]]


def detect_format(path: Path) -> str:
    """Guess the format from the file name, ignoring a trailing .gz."""
    name = path.name.lower().removesuffix(".gz")
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    mapping = {
        "csv": "csv",
        "txt": "csv",
        "tsv": "tsv",
        "parquet": "parquet",
        "pq": "parquet",
        "json": "json",
        "ndjson": "ndjson",
        "jsonl": "ndjson",
    }
    if suffix not in mapping:
        raise SourceError(
            f"{path}: cannot tell the format from the name; use one of .csv .tsv .parquet .json "
            f".ndjson/.jsonl (optionally .gz) or pass --format"
        )
    return mapping[suffix]


def is_gzip(path: Path) -> bool:
    """True if the file starts with the gzip magic bytes (whatever its name says)."""
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _with_rows(table: pa.Table, first_row: int) -> pa.Table:
    rows = pa.array(np.arange(first_row, first_row + table.num_rows, dtype=np.int64))
    return table.append_column(ROW, rows)


def _csv_header(path: Path, delimiter: str, encoding: str, gz: bool) -> list[str]:
    opener: Any = gzip.open if gz else open
    try:
        with opener(path, "rt", encoding=encoding, newline="") as fh:
            first = next(csv.reader(fh, delimiter=delimiter), None)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: header is not valid {encoding} text ({exc.reason} at byte {exc.start}); "
            f"pass the file's encoding, e.g. --encoding gb18030"
        ) from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from None
    if not first or all(not c.strip() for c in first):
        raise SourceError(f"{path}: file is empty (no header row)")
    return [c.strip().lstrip("\ufeff") for c in first]


#: Separators :func:`sniff_delimiter` chooses between.
DELIMITERS = (",", ";", "\t", "|")


def _outside_quotes(line: str, char: str) -> int:
    """How often ``char`` occurs in ``line`` outside double quotes."""
    count, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count


def sniff_delimiter(path: Path, encoding: str = "utf-8") -> str | None:
    """The separator of a delimited text file from its header line: the one of , ; tab | that
    occurs most often outside quotes (a comma on a tie); None when the line has none of them."""
    opener: Any = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rt", encoding=encoding, errors="replace", newline="") as fh:
            line = fh.readline(1 << 20)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    counts = {d: _outside_quotes(line, d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else None


def read_csv(path: Path, delimiter: str, encoding: str, progress: ProgressFn | None) -> Iterator[RawBatch]:
    """Stream a CSV/TSV file (gzip allowed) as all-text batches; CRLF, LF and a mix both end lines."""
    gz = is_gzip(path)
    names = _csv_header(path, delimiter, encoding, gz)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SourceError(f"{path}: header repeats column(s) {', '.join(dupes)}")
    raw = pa.OSFile(str(path), "rb")
    total = path.stat().st_size
    stream: Any = pa.CompressedInputStream(raw, "gzip") if gz else raw
    row = 1
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=CSV_BLOCK_BYTES, encoding=encoding
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield RawBatch(_with_rows(table, row), [])
            row += table.num_rows
            if progress:
                progress(raw.tell(), total)
        if row == 1:  # a header and no rows: the columns still name what the file holds
            empty = pa.table({n: pa.array([], type=pa.string()) for n in names})
            yield RawBatch(_with_rows(empty, 1), [])
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "UTF8" in msg or "utf-8" in msg.lower():
            raise SourceError(
                f"{path}: not valid {encoding} text near record {row}: {msg}; pass the file's "
                f"encoding, e.g. --encoding gb18030 or --encoding shift_jis"
            ) from None
        if "Expected" in msg and "columns" in msg:
            ragged = _first_ragged(path, delimiter, encoding, gz)
            where = f"{path}:{ragged[0]}:(record): {ragged[1]}" if ragged else f"{path}: {msg}"
            raise SourceError(
                f"{where} (read with separator {delimiter!r}: a value holding it must be quoted; if the "
                "file uses another separator, pass it, e.g. --sep ';' or --sep tab)"
            ) from None
        raise SourceError(f"{path}: malformed CSV near record {row}: {msg}") from None
    finally:
        raw.close()


def _json_cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _records_to_batch(records: list[tuple[int, dict[str, Any]]]) -> pa.Table:
    columns: dict[str, list[str | None]] = {}
    for i, (_, rec) in enumerate(records):
        for key in rec:
            if key not in columns:
                columns[key] = [None] * i
        for key, values in columns.items():
            values.append(_json_cell(rec.get(key)))
    table = pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})
    if not columns:
        table = pa.table({"__empty": pa.array([None] * len(records), type=pa.string())}).drop(["__empty"])
    return table.append_column(ROW, pa.array([r for r, _ in records], type=pa.int64()))


def _open_text(path: Path, encoding: str) -> IO[str]:
    if is_gzip(path):
        return gzip.open(path, "rt", encoding=encoding)
    return open(path, encoding=encoding)


def read_ndjson(path: Path, encoding: str, progress: ProgressFn | None) -> Iterator[RawBatch]:
    """Stream newline-delimited JSON; a line that is not a JSON object is a malformed record."""
    total = path.stat().st_size
    records: list[tuple[int, dict[str, Any]]] = []
    malformed: list[tuple[int, str]] = []
    lineno = 0
    seen_any = False
    try:
        with _open_text(path, encoding) as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                seen_any = True
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    malformed.append((lineno, f"invalid JSON: {exc.msg} at column {exc.colno}"))
                    continue
                if not isinstance(rec, dict):
                    malformed.append((lineno, f"expected a JSON object, got {type(rec).__name__}"))
                    continue
                records.append((lineno, rec))
                if len(records) >= BATCH_ROWS:
                    yield RawBatch(_records_to_batch(records), malformed)
                    records, malformed = [], []
                    if progress:
                        progress(min(total, fh.buffer.tell() if hasattr(fh, "buffer") else 0), total)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: not valid {encoding} text after line {lineno} ({exc.reason}); pass the "
            f"file's encoding with --encoding"
        ) from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from None
    if not seen_any:
        raise SourceError(f"{path}: file is empty (no records)")
    if records or malformed:
        yield RawBatch(_records_to_batch(records), malformed)


def read_json(path: Path, encoding: str, progress: ProgressFn | None) -> Iterator[RawBatch]:
    """Read a JSON array of objects (or fall back to NDJSON when the file holds one object a line)."""
    with _open_text(path, encoding) as fh:
        try:
            head = fh.read(4096).lstrip()
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}: not valid {encoding} text ({exc.reason})") from None
    if not head:
        raise SourceError(f"{path}: file is empty")
    if not head.startswith("["):
        yield from read_ndjson(path, encoding, progress)
        return
    try:
        with _open_text(path, encoding) as fh:
            data = json.load(fh)
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not valid {encoding} text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    records: list[tuple[int, dict[str, Any]]] = []
    malformed: list[tuple[int, str]] = []
    for i, rec in enumerate(data, start=1):
        if isinstance(rec, dict):
            records.append((i, rec))
        else:
            malformed.append((i, f"expected a JSON object, got {type(rec).__name__}"))
    for start in range(0, max(len(records), 1), BATCH_ROWS):
        yield RawBatch(
            _records_to_batch(records[start : start + BATCH_ROWS]), malformed if start == 0 else []
        )


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file: {exc}") from None


def parquet_layout(path: Path) -> tuple[list[str], int]:
    """A Parquet file's column names and row count, from its footer (no data read)."""
    pf = _open_parquet(path)
    return list(pf.schema_arrow.names), pf.metadata.num_rows


def read_parquet(path: Path, progress: ProgressFn | None) -> Iterator[RawBatch]:
    """Stream a Parquet file in batches, keeping its column types."""
    pf = _open_parquet(path)
    total = pf.metadata.num_rows
    row = 1
    for batch in pf.iter_batches(batch_size=BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        yield RawBatch(_with_rows(table, row), [])
        row += table.num_rows
        if progress:
            progress(row - 1, total)
    if row == 1:
        yield RawBatch(_with_rows(pf.schema_arrow.empty_table(), 1), [])


def _first_ragged(path: Path, delimiter: str, encoding: str, gz: bool) -> tuple[int, str] | None:
    """(data row, reason) of the first record whose field count differs from the header's, read
    with Python's csv module (pyarrow's reader does not say which row it was)."""
    opener: Any = gzip.open if gz else open
    with opener(path, "rt", encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        width = len(next(reader, []))
        for row, record in enumerate(reader, start=1):
            if record and len(record) != width:
                shown = delimiter.join(record)
                shown = shown if len(shown) <= 80 else shown[:77] + "..."
                return row, f"{len(record)} fields where the header has {width}: {shown}"
    return None


def read_frame(frame: Any, progress: ProgressFn | None) -> Iterator[RawBatch]:
    """Batches from a pandas or Polars DataFrame, or an Arrow table."""
    table = to_arrow(frame)
    total = table.num_rows
    for start in range(0, max(total, 1), BATCH_ROWS):
        part = table.slice(start, BATCH_ROWS)
        yield RawBatch(_with_rows(part, start + 1), [])
        if progress:
            progress(min(start + BATCH_ROWS, total), total)


def to_arrow(frame: Any) -> pa.Table:
    """Convert a pandas/Polars DataFrame or Arrow table/batch to an Arrow table."""
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    module = type(frame).__module__.split(".")[0]
    if module == "polars":
        return frame.to_arrow()
    if module == "pandas":
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(f"cannot ingest a {type(frame).__name__}; give a path, or a pandas/Polars/Arrow table")


def read_source(
    path: Path,
    fmt: str | None = None,
    *,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    progress: ProgressFn | None = None,
) -> Iterator[RawBatch]:
    """Batches of raw records from a file in any supported format."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: file is empty")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise SourceError(f"{path}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt in ("csv", "tsv"):
        delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter or "", delimiter)
        if not delimiter:
            delimiter = "\t" if fmt == "tsv" else sniff_delimiter(path, encoding) or ","
        return read_csv(path, delimiter, encoding, progress)
    if fmt == "parquet":
        return read_parquet(path, progress)
    if fmt == "ndjson":
        return read_ndjson(path, encoding, progress)
    return read_json(path, encoding, progress)


# -- column mapping -------------------------------------------------------------------------------


def _as_text(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return array if pa.types.is_string(array.type) else pc.cast(array, pa.string())


class MappedBatches:
    """Batches of a source with a :class:`~cxlens.collect.mapping.ColumnMapping` applied: source
    headers renamed to data-model columns, constants set, values translated, dates parsed with
    the mapping's formats into ISO text, and a missing primary key derived (:meth:`derive_key`).

    With an empty mapping the headers pass through unchanged (so unknown columns are still
    reported by validation); with a mapping, source columns it does not name are left out.
    ``notes`` says what was done, for the load's summary.
    """

    def __init__(self, batches: Iterator[RawBatch], mapping: ColumnMapping, table: Table, label: str) -> None:
        mapping.check(table)
        self.batches, self.mapping, self.table, self.label = batches, mapping, table, label
        self.notes: list[str] = []
        self.source_of: dict[str, str] = {}
        self.passthrough: list[str] = []
        self.unmapped: list[str] = []
        self.templates: dict[str, list[str | tuple[str]]] = {}
        self.key: str | None = None
        self.line_key: tuple[str, list[str]] | None = None
        self._seen: dict[str, int] = {}
        self.hashed: list[str] = []
        self._constants = ""
        self._lines: dict[tuple[Any, ...], int] = {}
        self._stem = Path(label).name.split(".")[0] or "rows"
        self._name = Path(label).name

    def _plan(self, headers: list[str]) -> None:
        m, names = self.mapping, self.table.column_names
        missing = [h for h in [*m.map.values(), *m.where] if h not in headers]
        if missing:
            from cxlens.collect.mapping import did_you_mean

            raise SourceError(
                f"{self.label}: no column {missing[0]!r} in the file{did_you_mean(missing[0], headers)} "
                f"(named in {m.origin}); its columns are {', '.join(headers)}"
            )
        self.source_of = dict(m.map)
        for h in headers:
            if h in names and h not in self.source_of and h not in m.set:
                self.source_of[h] = h
        self.source_of = {c: self.source_of[c] for c in names if c in self.source_of}
        templates = {p[0] for v in m.set.values() for p in _template(v) if isinstance(p, tuple)}
        used = {*self.source_of.values(), *templates, *m.where}
        self.unmapped = [h for h in headers if h not in used]
        if m.is_empty:
            self.passthrough = self.unmapped
        elif self.unmapped and not m.rest_as_json:
            shown = ", ".join(h or "(unnamed)" for h in self.unmapped[:12])
            shown += ", ..." if len(self.unmapped) > 12 else ""
            self.notes.append(
                f"left out {len(self.unmapped)} source column(s) the mapping does not name: {shown}"
            )
        for col, value in m.set.items():
            parts = _template(value)
            if any(isinstance(p, tuple) for p in parts):
                refs = [p[0] for p in parts if isinstance(p, tuple) and p[0] != "_row"]
                absent = [r for r in refs if r not in headers]
                if absent:
                    raise SourceError(
                        f"{self.label}: set {col}={value!r} names column {absent[0]!r}, which the file "
                        f"does not have; its columns are {', '.join(headers)}"
                    )
                self.templates[col] = parts
        refs = [
            ROW if p[0] == "_row" else p[0]
            for parts in self.templates.values()
            for p in parts
            if isinstance(p, tuple)
        ]
        rest = self.unmapped if m.rest_as_json else []
        self.hashed = list(dict.fromkeys([*self.source_of.values(), *refs, *rest]))
        self._constants = "\x1f".join(f"{k}={v}" for k, v in sorted(m.set.items()))
        present = {*self.source_of, *m.set, *(self.passthrough if m.is_empty else ())}
        if m.rest_as_json:
            present.add(m.rest_as_json)
        pk = self.table.primary_key
        absent_pk = [k for k in pk if k not in present]
        if len(pk) == 1 and absent_pk and self.table.column(pk[0]).type == ColumnType.STRING:
            self.key = pk[0]
            self.notes.append(
                f"{pk[0]} derived from the file name and each row's values (loading the same file "
                "again adds nothing)"
            )
        elif len(absent_pk) == 1 and self.table.column(absent_pk[0]).type == ColumnType.INT:
            self.line_key = (absent_pk[0], [k for k in pk if k != absent_pk[0]])
            self.notes.append(f"{absent_pk[0]} numbered 1, 2, ... within each {', '.join(self.line_key[1])}")

    def __iter__(self) -> Iterator[RawBatch]:
        planned = False
        kept: list[RawBatch] = []
        for batch in self.batches:
            t = batch.table
            if not planned:
                self._plan([n for n in t.column_names if n != ROW])
                planned = True
            out = RawBatch(self._map(t), batch.malformed)
            if self.mapping.one_row_per:
                kept.append(out)
            else:
                yield out
        if kept:
            yield self._combine(kept)

    def _map(self, t: pa.Table) -> pa.Table:
        m = self.mapping
        if m.where:
            mask = None
            for header, allowed in m.where.items():
                hit = pc.fill_null(pc.is_in(_as_text(t.column(header)), pa.array(allowed)), False)
                mask = hit if mask is None else pc.and_(mask, hit)
            before = t.num_rows
            t = t.filter(mask)
            self._note_count("rows left out by where", before - t.num_rows)
        if m.is_empty and not m.date_formats and self.key is None and self.line_key is None:
            return t
        cols: dict[str, Any] = {}
        for col, header in self.source_of.items():
            array = t.column(header)
            if col in m.values:
                table_ = m.values[col]
                array = pa.array(
                    [
                        table_.get(v.strip(), v) if v is not None else None
                        for v in _as_text(array).to_pylist()
                    ],
                    type=pa.string(),
                )
            cols[col] = array
        for col, value in m.set.items():
            if col in self.templates:
                cols[col] = self._template(t, self.templates[col])
            else:
                cols[col] = pa.array([value] * t.num_rows, type=pa.string())
        if m.date_formats:
            for col in [*self.source_of, *m.set]:
                kind = self.table.column(col).type
                if kind in (ColumnType.TIMESTAMP, ColumnType.DATE):
                    cols[col] = self._dates(cols[col], kind)
        if m.rest_as_json:
            cols[m.rest_as_json] = self._rest_json(t)
        for h in self.passthrough:
            cols[h] = t.column(h)
        if self.key is not None:
            cols[self.key] = self._derived_keys(t)
        if self.line_key is not None:
            cols[self.line_key[0]] = self._line_numbers(cols, self.line_key[1])
        order = [c for c in self.table.column_names if c in cols] + [
            c for c in cols if c not in self.table.column_names
        ]
        return pa.table({**{c: cols[c] for c in order}, ROW: t.column(ROW)})

    def _note_count(self, what: str, n: int) -> None:
        if not n:
            return
        for i, note in enumerate(self.notes):
            if note.endswith(what):
                self.notes[i] = f"{int(note.split(' ', 1)[0].replace(',', '')) + n:,} {what}"
                return
        self.notes.append(f"{n:,} {what}")

    def _dates(self, array: Any, kind: ColumnType) -> pa.Array:
        """Values read with the first of the mapping's formats that fits, as ISO text; others unchanged."""
        text = pc.utf8_trim_whitespace(_as_text(array))
        out = None
        for fmt in self.mapping.date_formats:
            parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
            iso = (
                pc.strftime(parsed, format="%Y-%m-%d")
                if kind == ColumnType.DATE
                else pc.cast(parsed, pa.string())
            )
            out = iso if out is None else pc.coalesce(out, iso)
        return pc.coalesce(out, text) if out is not None else text

    def _template(self, t: pa.Table, parts: list[str | tuple[str]]) -> Any:
        """A ``set`` template filled per row (an empty value fills in as nothing; blank -> null)."""
        pieces = []
        for part in parts:
            if isinstance(part, tuple):
                pieces.append(pc.fill_null(_as_text(t.column(ROW if part[0] == "_row" else part[0])), ""))
            else:
                pieces.append(pa.array([part] * t.num_rows, type=pa.string()))
        joined = pc.utf8_trim_whitespace(pc.binary_join_element_wise(*pieces, ""))
        return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)

    def _rest_json(self, t: pa.Table) -> pa.Array:
        import json

        names = [h for h in self.unmapped if h not in self.mapping.where]
        columns = [t.column(h).to_pylist() for h in names]
        rows = []
        for values in zip(*columns, strict=True) if columns else [()] * t.num_rows:
            rec = {n: v for n, v in zip(names, values, strict=True) if v is not None and v != ""}
            rows.append(json.dumps(rec, ensure_ascii=False, default=str) if rec else None)
        return pa.array(rows, type=pa.string())

    def derive_key(self, values: str, seen: dict[str, int]) -> str:
        """The key of a row: the file's stem, then 16 hex digits of BLAKE2b over the file name,
        the mapping's constants and the row's values of the source columns the mapping reads;
        ``-2``, ``-3``, ... for the second and later identical rows of the file."""
        text = f"{self._name}\x1e{self._constants}\x1e{values}"
        digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
        seen[digest] = seen.get(digest, 0) + 1
        key = f"{self._stem[:40]}-{digest}"
        return key if seen[digest] == 1 else f"{key}-{seen[digest]}"

    def _derived_keys(self, t: pa.Table) -> pa.Array:
        arrays = [pc.fill_null(_as_text(t.column(h)), "\x00") for h in self.hashed]
        if not arrays:
            arrays = [_as_text(t.column(ROW))]
        joined = pc.binary_join_element_wise(*arrays, "\x1f") if len(arrays) > 1 else arrays[0]
        return pa.array([self.derive_key(v, self._seen) for v in joined.to_pylist()], type=pa.string())

    def _line_numbers(self, cols: dict[str, Any], within: list[str]) -> pa.Array:
        keys = [_as_text(cols[k]).to_pylist() for k in within]
        out = []
        for group in zip(*keys, strict=True):
            self._lines[group] = self._lines.get(group, 0) + 1
            out.append(str(self._lines[group]))
        return pa.array(out, type=pa.string())

    def _combine(self, parts: list[RawBatch]) -> RawBatch:
        """One row per ``one_row_per`` value: ``sum`` columns added up, others from the first row."""
        import duckdb

        key, sums = self.mapping.one_row_per, set(self.mapping.sum)
        tables = [p.table for p in parts]
        names = [n for n in tables[0].column_names if n != ROW]
        whole = pa.concat_tables([t.select([*names, ROW]) for t in tables], promote_options="permissive")
        whole = whole.cast(pa.schema([pa.field(n, pa.string()) for n in names] + [pa.field(ROW, pa.int64())]))
        con = duckdb.connect()
        con.register("lines", whole)
        q = lambda n: '"' + n.replace('"', '""') + '"'  # noqa: E731
        for col in sums & set(names):
            bad = con.execute(
                f"SELECT {q(ROW)}, {q(col)} FROM lines WHERE {q(col)} IS NOT NULL AND trim({q(col)}) <> '' "
                f"AND TRY_CAST(trim({q(col)}) AS DOUBLE) IS NULL ORDER BY 1 LIMIT 1"
            ).fetchall()
            if bad:
                raise SourceError(
                    f"{self.label}:{bad[0][0]}:{col}: not a number, so the rows of one {key} cannot be "
                    f"added up: {bad[0][1]!r}"
                )
        exprs = [
            f"CAST(round(sum(TRY_CAST(trim({q(n)}) AS DOUBLE)), 9) AS VARCHAR) AS {q(n)}"
            if n in sums
            else f"first({q(n)} ORDER BY {q(ROW)}) FILTER (WHERE {q(n)} IS NOT NULL) AS {q(n)}"
            for n in names
            if n != key
        ]
        combined = con.sql(
            f"SELECT {q(key)}, {', '.join(exprs)}, min({q(ROW)}) AS {q(ROW)} FROM lines "
            f"GROUP BY {q(key)} ORDER BY {q(ROW)}"
        ).to_arrow_table()
        con.close()
        self.notes.append(f"{whole.num_rows:,} rows combined into {combined.num_rows:,}, one per {key}")
        return RawBatch(combined.select([*[n for n in names], ROW]), [e for p in parts for e in p.malformed])


def _template(value: str) -> list[str | tuple[str]]:
    """A ``set`` value as literal parts and ``(header,)`` references (``{{``/``}}`` are braces)."""
    from cxlens.collect.mapping import PLACEHOLDER

    parts: list[str | tuple[str]] = []
    pos = 0
    for match in PLACEHOLDER.finditer(value):
        if match.start() > pos:
            parts.append(value[pos : match.start()])
        token = match.group(0)
        parts.append(token[0] if token in ("{{", "}}") else (match.group(1),))
        pos = match.end()
    if pos < len(value):
        parts.append(value[pos:])
    return parts
