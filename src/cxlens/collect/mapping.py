"""Column mappings: how a retailer's own export becomes rows of the data model, without code.

A mapping says which source header holds each data-model column (``map``), which columns take
one value for every row (``set``) and how dates are written (``date_formats``). It is applied by
the readers (:class:`cxlens.collect.readers.MappedBatches`), before validation, so whatever
stores the rows sees data-model columns only. The same mapping comes from command-line flags
(``--map``, ``--set``, ``--date-format``) or a YAML file (``--mapping``)::

    # cxlens column mapping: cxlens ingest TABLE FILE --mapping this.yaml
    table: feedback              # optional; must match TABLE when given
    map:                         # data-model column: header in the source file (any Unicode)
      submitted_at: 投稿日
      rating: 評価
      text: レビュー本文
    set:                         # data-model column: constant value for every row
      source: review
    date_formats: ["%Y/%m/%d"]   # strptime formats tried in order for timestamp columns
    sep: ";"                     # optional reader options: sep, encoding, format
    encoding: utf-8

Optional extensions (files without them mean the same as before):

* ``values``: data-model column -> {source value: stored value}, e.g. ``age_band: {19-24: 18-24}``;
* ``where``: source header -> value or list of values; other rows are left out;
* ``rest_as_json``: a JSON column (``events.properties``) that receives every unmapped column;
* ``one_row_per`` and ``sum``: rows sharing this data-model column become one row, the ``sum``
  columns added up and the others taken from the first row (order lines -> orders);
* ``set`` values may name source columns in braces, ``"{Month} 2017"``; ``{_row}`` is the record
  number in the file.

:func:`suggest_mapping` guesses a mapping from header names in en, zh, ja, ko, ru and pt, and
:func:`guess_date_format` the layout of sample dates, for ``cxlens ingest --preview``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cxlens.model.schema import ColumnType, Table

#: Keys of a mapping file, in the order they are written.
KEYS = (
    "table",
    "map",
    "set",
    "values",
    "where",
    "rest_as_json",
    "one_row_per",
    "sum",
    "date_formats",
    "sep",
    "encoding",
    "format",
)
#: ``{header}`` placeholders in ``set`` values (``{{`` and ``}}`` are literal braces).
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")
ROW_PLACEHOLDER = "_row"


class MappingError(ValueError):
    """A mapping is malformed or does not fit the table or the file."""


@dataclass
class ColumnMapping:
    """How the columns of one source file become the columns of one data-model table."""

    table: str | None = None
    map: dict[str, str] = field(default_factory=dict)
    set: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    where: dict[str, list[str]] = field(default_factory=dict)
    rest_as_json: str | None = None
    one_row_per: str | None = None
    sum: list[str] = field(default_factory=list)
    date_formats: list[str] = field(default_factory=list)
    sep: str | None = None
    encoding: str | None = None
    format: str | None = None
    #: Where the mapping was read from (for messages).
    origin: str = "the mapping"

    @property
    def is_empty(self) -> bool:
        """True when the mapping changes nothing about the columns (reader options aside)."""
        return not (
            self.map or self.set or self.values or self.where or self.rest_as_json or self.one_row_per
        )

    def check(self, table: Table) -> None:
        """Raise :class:`MappingError` when a named column is not in ``table`` or options clash."""
        if self.table is not None and self.table != table.name:
            raise MappingError(
                f"{self.origin} is for table {self.table!r}, not {table.name!r}; "
                f"load it with `cxlens ingest {self.table} ...`"
            )
        names = table.column_names
        for section in ("map", "set", "values"):
            for col in getattr(self, section):
                if col not in names:
                    raise MappingError(
                        f"{self.origin}: {section}: {col!r} is not a column of table {table.name!r}"
                        f"{did_you_mean(col, names)}; its columns are {', '.join(names)}"
                    )
        both = sorted(set(self.map) & set(self.set))
        if both:
            raise MappingError(f"{self.origin}: {', '.join(both)} is both mapped and set; keep one")
        if self.rest_as_json is not None and (
            self.rest_as_json not in names or table.column(self.rest_as_json).type != ColumnType.JSON
        ):
            json_cols = [c.name for c in table.columns if c.type == ColumnType.JSON]
            raise MappingError(
                f"{self.origin}: rest_as_json must name a JSON column of {table.name!r} "
                f"({', '.join(json_cols) or 'it has none'}), not {self.rest_as_json!r}"
            )
        if self.one_row_per is not None and self.one_row_per not in names:
            raise MappingError(
                f"{self.origin}: one_row_per: {self.one_row_per!r} is not a column of {table.name!r}"
            )
        for col in self.sum:
            if col not in names or table.column(col).type not in (ColumnType.INT, ColumnType.FLOAT):
                raise MappingError(f"{self.origin}: sum: {col!r} is not a numeric column of {table.name!r}")
        if self.sum and self.one_row_per is None:
            raise MappingError(f"{self.origin}: sum needs one_row_per (the column whose rows are added up)")
        for fmt in self.date_formats:
            if "%" not in fmt:
                raise MappingError(
                    f"{self.origin}: date format {fmt!r} has no % directive; write it as for strptime, "
                    "e.g. %Y/%m/%d or %d.%m.%Y %H:%M"
                )

    def merged(self, other: ColumnMapping) -> ColumnMapping:
        """This mapping with ``other``'s entries on top (flags given on the command line win)."""
        return ColumnMapping(
            table=other.table or self.table,
            map={**self.map, **other.map},
            set={**self.set, **other.set},
            values={**self.values, **other.values},
            where={**self.where, **other.where},
            rest_as_json=other.rest_as_json or self.rest_as_json,
            one_row_per=other.one_row_per or self.one_row_per,
            sum=other.sum or self.sum,
            date_formats=list(dict.fromkeys([*other.date_formats, *self.date_formats])),
            sep=other.sep or self.sep,
            encoding=other.encoding or self.encoding,
            format=other.format or self.format,
            origin=_origin(self, other),
        )

    def as_dict(self) -> dict[str, Any]:
        """The mapping as a plain dict in file order, leaving out what is not set."""
        out: dict[str, Any] = {}
        for key in KEYS:
            value = getattr(self, key)
            if value not in (None, [], {}):
                out[key] = value
        return out

    def dump(self) -> str:
        """The mapping as YAML text in the documented file format."""
        header = "# cxlens column mapping: cxlens ingest TABLE FILE --mapping this.yaml\n"
        body = yaml.safe_dump(self.as_dict(), allow_unicode=True, sort_keys=False, width=100)
        return header + body

    def save(self, path: str | Path) -> Path:
        """Write the mapping to ``path`` as YAML (UTF-8) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.dump(), encoding="utf-8")
        return target


def _origin(base: ColumnMapping, flags: ColumnMapping) -> str:
    """Where a merged mapping came from, for messages: the file, the flags, or both."""
    has_flags = bool(flags.map or flags.set)
    if base.is_empty and not base.date_formats:
        return flags.origin if has_flags else base.origin
    return f"{base.origin} and {flags.origin}" if has_flags else base.origin


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise MappingError(f"{where}: empty value (quote it if it should be the text 'null')")
    if isinstance(value, dict | list):
        raise MappingError(f"{where}: expected a single value, got {type(value).__name__}")
    return str(value)


def _str_dict(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected 'column: value' lines, got {type(raw).__name__}")
    return {str(k): _text(v, f"{where}: {k}") for k, v in raw.items()}


def _str_list(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list):
        raise MappingError(f"{where}: expected a list, got {type(raw).__name__}")
    return [_text(v, where) for v in raw]


def mapping_from_dict(raw: Any, origin: str = "the mapping") -> ColumnMapping:
    """A :class:`ColumnMapping` from parsed YAML/JSON, with clear errors for a wrong shape."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise MappingError(f"{origin}: expected keys such as map:, set:, date_formats:")
    unknown = sorted(set(map(str, raw)) - set(KEYS))
    if unknown:
        raise MappingError(
            f"{origin}: unknown key(s) {', '.join(unknown)}{did_you_mean(unknown[0], list(KEYS))}; "
            f"a mapping has {', '.join(KEYS)}"
        )
    values = raw.get("values") or {}
    if not isinstance(values, dict):
        raise MappingError(f"{origin}: values: expected 'column: {{source value: stored value}}'")
    where = raw.get("where") or {}
    if not isinstance(where, dict):
        raise MappingError(f"{origin}: where: expected 'header: value or [values]'")
    table = raw.get("table")
    return ColumnMapping(
        table=str(table) if table is not None else None,
        map=_str_dict(raw.get("map"), f"{origin}: map"),
        set=_str_dict(raw.get("set"), f"{origin}: set"),
        values={str(k): _str_dict(v, f"{origin}: values: {k}") for k, v in values.items()},
        where={str(k): _str_list(v, f"{origin}: where: {k}") for k, v in where.items()},
        rest_as_json=_opt(raw, "rest_as_json", origin),
        one_row_per=_opt(raw, "one_row_per", origin),
        sum=_str_list(raw.get("sum"), f"{origin}: sum"),
        date_formats=_str_list(raw.get("date_formats"), f"{origin}: date_formats"),
        sep=_opt(raw, "sep", origin),
        encoding=_opt(raw, "encoding", origin),
        format=_opt(raw, "format", origin),
        origin=origin,
    )


def _opt(raw: dict[str, Any], key: str, origin: str) -> str | None:
    value = raw.get(key)
    return None if value is None else _text(value, f"{origin}: {key}")


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read a mapping file (YAML; JSON is YAML too)."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise MappingError(f"{p}: no such mapping file") from None
    except UnicodeDecodeError as exc:
        raise MappingError(f"{p}: mapping file is not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise MappingError(f"{p}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return mapping_from_dict(raw, str(p))


def parse_pairs(items: list[str], flag: str) -> dict[str, str]:
    """``COLUMN=VALUE`` flags as a dict (the value may hold ``=`` and any Unicode)."""
    out: dict[str, str] = {}
    for item in items:
        col, sep, value = item.partition("=")
        if not sep or not col.strip():
            raise MappingError(f"{flag} takes COLUMN=VALUE, got {item!r}")
        out[col.strip()] = value
    return out


def did_you_mean(name: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- suggestions --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def synonyms() -> dict[str, tuple[str, ...]]:
    """Data-model column -> header names that usually hold it (``header_names.yaml``)."""
    raw = yaml.safe_load((Path(__file__).parent / "header_names.yaml").read_text(encoding="utf-8"))
    return {col: tuple(str(w) for words in langs.values() for w in words) for col, langs in raw.items()}


def normalise_header(name: str) -> str:
    """A header for matching: NFKC, case-folded, without spaces, underscores, dashes and dots."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\s_\-.:/()]+", "", text)


def suggest_mapping(headers: list[str], table: Table) -> dict[str, str]:
    """Data-model column -> source header for headers that look like a column of ``table``.

    A header equal to the column's name needs no mapping and is left out. Exact matches (after
    :func:`normalise_header`) win over a synonym contained in a longer header; each header is
    suggested once.
    """
    norm = {h: normalise_header(h) for h in headers}
    taken = {h for h in headers if h in table.column_names}
    candidates: list[tuple[int, int, str, str]] = []
    for col in table.column_names:
        if col in headers:
            continue
        words = [col, *synonyms().get(col, ())]
        for h, nh in norm.items():
            if h in taken or not nh:
                continue
            for word in words:
                nw = normalise_header(word)
                if not nw:
                    continue
                if nh == nw:
                    candidates.append((0, -len(nw), col, h))
                elif len(nw) >= 2 and nw in nh and len(nw) * 2 >= len(nh):
                    candidates.append((1, -len(nw), col, h))
    out: dict[str, str] = {}
    used: set[str] = set()
    for _rank, _length, col, h in sorted(
        candidates, key=lambda c: (c[0], c[1], table.column_names.index(c[2]))
    ):
        if col in out or h in used:
            continue
        out[col] = h
        used.add(h)
    return {c: out[c] for c in table.column_names if c in out}


#: Date layouts tried by :func:`guess_date_format` (ISO 8601 needs no format).
COMMON_DATE_FORMATS = (
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%Y年%m月%d日 %H:%M",
    "%Y%m%d",
    "%d-%m-%Y",
    "%a %b %d %H:%M:%S %z %Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%B %d, %Y",
)


def _is_iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def guess_date_format(samples: list[str]) -> str | None:
    """The first common layout that reads every sample, or None (also when ISO 8601 reads them)."""
    values = [s.strip() for s in samples if s and s.strip()]
    if not values or all(_is_iso(v) for v in values):
        return None
    for fmt in COMMON_DATE_FORMATS:
        try:
            for v in values:
                datetime.strptime(v, fmt)
        except ValueError:
            continue
        return fmt
    return None
