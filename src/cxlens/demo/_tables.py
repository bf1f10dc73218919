"""Arrow helpers: build columns fast from numpy codes and write tables shaped exactly as the data model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cxlens.demo._sampling import decimal_chars
from cxlens.model.schema import TABLES, ColumnType

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INT: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOL: pa.bool_(),
    ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    ColumnType.DATE: pa.date32(),
    ColumnType.JSON: pa.string(),
}


def arrow_schema(table: str) -> pa.Schema:
    """Arrow schema of a canonical table: model names and order, required columns not nullable."""
    return pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.type], nullable=not c.required) for c in TABLES[table].columns]
    )


def build(table: str, n: int, columns: dict[str, pa.Array]) -> pa.Table:
    """A table of ``n`` rows with every model column; columns not given are all null."""
    schema = arrow_schema(table)
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise KeyError(f"{table}: not in the data model: {sorted(unknown)}")
    arrays = []
    for field in schema:
        arr = columns.get(field.name)
        if arr is None:
            arr = pa.nulls(n, field.type)
        elif not arr.type.equals(field.type):
            arr = arr.cast(field.type)
        if len(arr) != n:
            raise ValueError(f"{table}.{field.name}: {len(arr)} values for {n} rows")
        if not field.nullable and arr.null_count:
            raise ValueError(f"{table}.{field.name}: required column has nulls")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def write(table: pa.Table, path: Path) -> Path:
    """Write one Parquet part file (created deterministically: same table, same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)
    return path


def fixed_strings(chars: np.ndarray) -> pa.Array:
    """A string array from an (n, width) uint8 matrix of ASCII characters (no Python objects)."""
    n, width = chars.shape
    offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    data = np.ascontiguousarray(chars).tobytes()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Identifiers ``prefix`` + zero-padded ``numbers`` (e.g. ``E00000000042``); negative numbers are null."""
    numbers = np.asarray(numbers, dtype=np.int64)
    valid = numbers >= 0
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    body = decimal_chars(numbers[valid], width)
    chars = np.concatenate([np.broadcast_to(head, (len(body), len(head))), body], axis=1)
    dense = fixed_strings(chars)
    if valid.all():
        return dense
    return take(dense, np.where(valid, np.cumsum(valid) - 1, -1))


def take(values: pa.Array, codes: np.ndarray) -> pa.Array:
    """``values[codes]`` with code -1 giving null (used for every categorical and id column)."""
    codes = np.asarray(codes, dtype=np.int64)
    mask = codes < 0
    index = pa.array(np.where(mask, 0, codes), mask=mask if mask.any() else None)
    return values.take(index)


def strings(values: Sequence[str | None]) -> pa.Array:
    """A string array from Python strings (for small tables and feedback text)."""
    return pa.array(values, type=pa.string())


def timestamps(micros: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """UTC timestamps from integer microseconds since the epoch; ``valid`` False gives null."""
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(micros, dtype=np.int64), mask=mask).cast(pa.timestamp("us", tz="UTC"))


def ints(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """int64 column; ``valid`` False gives null."""
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(values, dtype=np.int64), mask=mask)


def floats(values: np.ndarray) -> pa.Array:
    """float64 column; NaN gives null."""
    values = np.asarray(values, dtype=np.float64)
    nan = np.isnan(values)
    return pa.array(np.where(nan, 0.0, values), mask=nan if nan.any() else None)
