"""Readers that turn a source (file or data frame) into Arrow record batches for validation.

CSV and JSON values are read as text so that validation, not the reader, decides what a bad
value is and can say which row and column it is in. Parquet and data frames keep their types.
Every batch carries ``__row``: the 1-based record number in the source (CSV: data rows after
the header; NDJSON: the line number; JSON arrays and Parquet: the position).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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


def read_csv(path: Path, delimiter: str, encoding: str, progress: ProgressFn | None) -> Iterator[RawBatch]:
    """Stream a CSV/TSV file (gzip allowed) as all-text batches."""
    gz = is_gzip(path)
    names = _csv_header(path, delimiter, encoding, gz)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SourceError(f"{path}: header repeats column(s) {', '.join(dupes)}")
    raw = pa.OSFile(str(path), "rb")
    total = path.stat().st_size
    stream: Any = pa.CompressedInputStream(raw, "gzip") if gz else raw
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
        row = 1
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield RawBatch(_with_rows(table, row), [])
            row += table.num_rows
            if progress:
                progress(raw.tell(), total)
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "UTF8" in msg or "utf-8" in msg.lower():
            raise SourceError(
                f"{path}: not valid {encoding} text near record {row}: {msg}; pass the file's "
                f"encoding, e.g. --encoding gb18030 or --encoding shift_jis"
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


def read_parquet(path: Path, progress: ProgressFn | None) -> Iterator[RawBatch]:
    """Stream a Parquet file in batches, keeping its column types."""
    try:
        pf = pq.ParquetFile(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file: {exc}") from None
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
        return read_csv(path, delimiter or ("\t" if fmt == "tsv" else ","), encoding, progress)
    if fmt == "parquet":
        return read_parquet(path, progress)
    if fmt == "ndjson":
        return read_ndjson(path, encoding, progress)
    return read_json(path, encoding, progress)
