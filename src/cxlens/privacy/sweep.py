"""Search both stores for what identifies one customer: every text column of every table of the
table store, every Parquet file under the data directory that the store does not use (caches,
generated sources, files of unfinished loads), and every text and JSON column of the operational
store.

Identifiers (the customer id, anonymous ids, e-mail addresses and contacts) count where they
stand as a whole value or word (``C1`` is not found in ``C10``); the customer's texts count where
their first characters appear (see :meth:`Subject.text_probes`), and are reported apart: the same
short sentence may have been written by someone else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import JSON, String, Text, cast, or_, select

from cxlens.ops.models import Base
from cxlens.privacy.subject import Subject, json_text, ops_tables
from cxlens.storage.store import local_path, qident, sql_str

if TYPE_CHECKING:
    from cxlens.ops import OpsStore
    from cxlens.storage.workspace import Workspace

#: Characters that may stand next to an identifier for it to count as found (not part of a word).
_EDGE = "[^0-9A-Za-z_]"


@dataclass
class Hits:
    """Where the customer's identifiers and texts were found: ``place`` -> rows (or files)."""

    identifiers: dict[str, int] = field(default_factory=dict)
    texts: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.identifiers or self.texts)

    def add(self, other: Hits) -> None:
        """Add another search's findings to these."""
        for mine, theirs in ((self.identifiers, other.identifiers), (self.texts, other.texts)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n


def identifier_pattern(values: set[str]) -> str | None:
    """A regular expression (RE2 and Python) finding any of ``values`` as a whole word or value."""
    if not values:
        return None
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return f"(?:^|{_EDGE})(?:{alternatives})(?:$|{_EDGE})"


def _conditions(columns: list[str], subject: Subject) -> list[tuple[str, str, str]]:
    """(column, kind, DuckDB condition) for each string column and kind of finding."""
    pattern = identifier_pattern(subject.identifiers)
    probes = subject.text_probes()
    out = []
    for col in columns:
        if pattern:
            out.append((col, "identifiers", f"regexp_matches({qident(col)}, {sql_str(pattern)})"))
        if probes:
            found = " OR ".join(f"contains({qident(col)}, {sql_str(p)})" for p in sorted(probes))
            out.append((col, "texts", f"({found})"))
    return out


def _count(con: Any, relation: str, columns: list[str], subject: Subject, place: str) -> Hits:
    hits = Hits()
    conditions = _conditions(columns, subject)
    if not conditions:
        return hits
    counts = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, _, cond in conditions)
    row = con.execute(f"SELECT {counts} FROM {relation}").fetchone()
    for (col, kind, _), n in zip(conditions, row, strict=True):
        if n:
            getattr(hits, kind)[f"{place}.{col}"] = int(n)
    return hits


def sweep_store(ws: Workspace, subject: Subject) -> Hits:
    """Rows of every table of the table store (current snapshot) holding the customer's data."""
    hits = Hits()
    _, pointers = ws.store.pointers()
    with ws.staging() as con:
        for name in sorted(pointers):
            state = ws.store.state(name, pointers[name])
            columns = [f.name for f in state.table.schema().fields if str(f.field_type) == "string"]
            hits.add(_count(con, f"({state.select_sql()})", columns, subject, name))
    return hits


def store_files(ws: Workspace) -> set[Path]:
    """Every data file the tables' current snapshots use."""
    _, pointers = ws.store.pointers()
    return {Path(p) for name in pointers for p in ws.store.state(name, pointers[name]).paths}


def sweep_files(ws: Workspace, subject: Subject) -> dict[Path, int]:
    """Parquet files under the data directory (and the warehouse) that the store's current
    snapshots do not use, holding the customer's identifiers or texts: file -> rows."""
    used = store_files(ws)
    roots = {ws.data_dir, ws.warehouse}
    files = {p for root in roots if root.exists() for p in root.rglob("*.parquet") if p.is_file()}
    found: dict[Path, int] = {}
    with ws.staging() as con:
        for path in sorted(files - used):
            try:
                schema = pq.read_schema(path)
            except (OSError, pa.ArrowInvalid):
                continue
            columns = [
                f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            ]
            hits = _count(con, f"read_parquet({sql_str(local_path(str(path)))})", columns, subject, "file")
            if hits:
                found[path] = sum(hits.identifiers.values()) + sum(hits.texts.values())
    return found


def sweep_ops(ops: OpsStore, subject: Subject) -> Hits:
    """Rows of every table of the operational store holding the customer's data (a text filter
    in the database, confirmed here with the same rules as the table store's search)."""
    hits = Hits()
    pattern = identifier_pattern(subject.identifiers)
    ids = re.compile(pattern) if pattern else None
    probes = subject.text_probes()
    needles = {*subject.identifiers, *probes}
    needles |= {json_text(v) for v in needles}
    with ops.sessions() as s:
        for name in ops_tables():
            table = Base.metadata.tables[name]
            for col in table.columns:
                if not isinstance(col.type, String | Text | JSON):
                    continue
                text = cast(col, Text)
                query = select(text).where(or_(*(text.contains(n, autoescape=True) for n in needles)))
                for (value,) in s.execute(query):
                    decoded = decoded_text(value)
                    place = f"{name}.{col.name}"
                    if ids is not None and ids.search(decoded):
                        hits.identifiers[place] = hits.identifiers.get(place, 0) + 1
                    elif any(p in decoded for p in probes):
                        hits.texts[place] = hits.texts.get(place, 0) + 1
    return hits


def decoded_text(value: Any) -> str:
    """A column value as text, with JSON's ``\\uXXXX`` escapes read back."""
    text = str(value)
    if "\\u" in text:
        try:
            return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError:
            return text
    return text
