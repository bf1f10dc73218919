"""Display names for ids, numbers and money: what people read instead of ``tp:store_visit``.

One place maps every id a chart, table or filter shows to a name in the reader's language:

- journey map: touchpoints (``store_visit``, ``tp:store_visit``), stages and channels, by the names
  the map gives them;
- the text taxonomy: aspects (``returns_after_sales``, ``aspect:delivery``) by their labels;
- operational drivers (``op:delivery_on_time``) by :data:`OPERATIONAL`;
- the stores table: ``store_id`` by the store's name (the id added when two stores share a name);
- anything else (regions, RFM segments, loyalty tiers, sentiments) by itself.

English names are then translated with ``web/locales/<locale>/names.json`` (English name ->
translation, a file of its own so that other catalogues merge freely). An id nobody named falls
back to a readable form (``returns_after_sales`` -> "Returns after sales"); data with no stores
table, no journey map or no taxonomy falls back the same way and never fails. Ids stay unchanged
in the JSON twins and CSV exports: only what people read goes through here.

Numbers and money are formatted per locale with Babel (:func:`number`, :func:`money`); the
currency is the ``CXLENS_CURRENCY`` setting (ISO 4217, default USD).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

NAMES_DIR = Path(__file__).parent / "web" / "locales"
LOCALES = ("en", "zh", "ja", "ko", "ru")
#: Operational drivers (see :mod:`cxlens.analyse.drivers`), by their English names.
OPERATIONAL = {
    "op:delivery_on_time": "On-time delivery",
    "op:queue_wait": "Checkout queue wait (minutes)",
}
#: Id prefixes of key-driver columns and the kind of id that follows.
PREFIXES = {"tp": "touchpoint", "op": "operational", "aspect": "aspect"}
KINDS = ("store", "touchpoint", "stage", "channel", "aspect", "operational", "region", "segment")
_SPLIT = re.compile(r"[_\-]+")
#: The reader's locale while a web page is drawn (set with its page context; charts' separators).
PAGE_LOCALE: ContextVar[str] = ContextVar("cxlens_page_locale", default="en")


def readable(value: Any) -> str:
    """An id as words: ``returns_after_sales`` -> "Returns after sales" (prefix ``tp:`` dropped)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = str(value)
    kind, sep, rest = text.partition(":")
    if sep and kind in PREFIXES and rest:
        text = rest
    if not re.fullmatch(r"[a-z0-9_\-]+", text):  # already a name (or a store id such as S001)
        return text
    words = _SPLIT.sub(" ", text).strip()
    return words[:1].upper() + words[1:] if words else str(value)


@cache
def translations(locale: str) -> dict[str, str]:
    """English name -> translation for ``locale`` (``names.json``; empty for English or none)."""
    path = NAMES_DIR / locale / "names.json"
    if locale not in LOCALES or not path.is_file():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in entries.items() if str(v).strip()}


@dataclass
class DisplayNames:
    """Id -> display name in one locale. Call it: ``names("tp:store_visit")`` -> "Store visit"."""

    locale: str = "en"
    english: dict[str, dict[str, str]] = field(default_factory=dict)

    def translate(self, english: str) -> str:
        """The locale's name for an English name (the English name when it has none)."""
        return translations(self.locale).get(english, english) if self.locale != "en" else english

    def english_name(self, value: Any, kind: str | None = None) -> str:
        """The English name of an id (of ``kind`` if given), else :func:`readable`."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        text = str(value)
        prefix, sep, rest = text.partition(":")
        if sep and prefix in PREFIXES:
            if prefix == "op":
                return OPERATIONAL.get(text, readable(text))
            kind, text = PREFIXES[prefix], rest
        kinds = (kind,) if kind else KINDS
        for k in kinds:
            name = self.english.get(k, {}).get(text)
            if name:
                return name
        return readable(text)

    def __call__(self, value: Any, kind: str | None = None) -> str:
        """The display name of an id in this locale."""
        return self.translate(self.english_name(value, kind))

    def driver(self, value: Any) -> str:
        """A key driver's name: a text aspect says so ("Delivery (comments)"), since a touchpoint
        or an operational measure may have the same name ("Delivery")."""
        name = self(value)
        if str(value).startswith("aspect:"):
            return self.translate("{name} (comments)").format(name=name)
        return name

    def drivers(self, values: Iterable[Any]) -> list[str]:
        """Names of several key drivers (see :meth:`driver`)."""
        return [self.driver(v) for v in values]

    def many(self, values: Iterable[Any], kind: str | None = None) -> list[str]:
        """Display names of several ids."""
        return [self(v, kind) for v in values]

    def options(self, values: Iterable[Any], kind: str | None = None) -> list[tuple[str, str]]:
        """(id, name) pairs for a drop-down, sorted by name."""
        pairs = [(str(v), self(v, kind)) for v in values]
        return sorted(pairs, key=lambda p: (p[1].casefold(), p[0]))


def build_names(
    *,
    journey_map: Any = None,
    taxonomy: Any = None,
    stores: Any = None,
    locale: str = "en",
) -> DisplayNames:
    """Names from a journey map, a text taxonomy and a stores frame (``store_id``, ``name``); each
    may be missing (ids then read as :func:`readable` gives them)."""
    english: dict[str, dict[str, str]] = {k: {} for k in KINDS}
    if journey_map is not None:
        english["channel"] = {c.id: c.name for c in journey_map.channels}
        english["stage"] = {s.id: s.name for s in journey_map.stages}
        english["touchpoint"] = {t.id: t.name for s in journey_map.stages for t in s.touchpoints}
    if taxonomy is not None:
        english["aspect"] = {a: asp.label for a, asp in taxonomy.aspects.items()}
    english["operational"] = {k.removeprefix("op:"): v for k, v in OPERATIONAL.items()}
    if stores is not None and len(stores):
        english["store"] = _store_names(stores)
    return DisplayNames(locale if locale in LOCALES else "en", english)


def _store_names(stores: Any) -> dict[str, str]:
    """store_id -> name; stores sharing a name get their id after it; no name: the id."""
    rows = [
        (str(sid), str(name) if isinstance(name, str) and name.strip() else str(sid))
        for sid, name in zip(stores["store_id"], stores["name"], strict=True)
        if sid is not None
    ]
    counts: dict[str, int] = {}
    for _, name in rows:
        counts[name] = counts.get(name, 0) + 1
    return {sid: (f"{name} ({sid})" if counts[name] > 1 and name != sid else name) for sid, name in rows}


def workspace_names(ws: Any, locale: str = "en") -> DisplayNames:
    """Names for a workspace: its journey map, the default taxonomy and its stores table (if any)."""
    stores = None
    try:
        if ws.counts().get("stores"):
            stores = ws.table("stores").select("store_id", "name").to_pandas()
    except Exception:
        stores = None
    taxonomy = None
    try:
        from cxlens.text.taxonomy import default_taxonomy

        taxonomy = default_taxonomy()
    except Exception:
        taxonomy = None
    return build_names(journey_map=ws.journey_map, taxonomy=taxonomy, stores=stores, locale=locale)


# -- numbers and money ---------------------------------------------------------------------------


def _babel_locale(locale: str) -> str:
    return {"zh": "zh_Hans_CN", "ja": "ja_JP", "ko": "ko_KR", "ru": "ru_RU"}.get(locale, "en_US")


def currency() -> str:
    """The ISO 4217 currency money is shown in (``CXLENS_CURRENCY``, default USD)."""
    from cxlens.config import get_settings

    return get_settings().currency


def number(value: Any, locale: str = "en", digits: int = 0) -> str:
    """A number in full with the locale's separators (never "145.269k"); an en dash for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "<NA>":
        return "–"
    from babel.numbers import format_decimal

    v = float(value)
    if round(v, digits) == 0:
        v = 0.0  # never "−0.0"
    fmt = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return str(format_decimal(v, format=fmt, locale=_babel_locale(locale)))


def money(value: Any, locale: str = "en", code: str | None = None, digits: int = 0) -> str:
    """An amount in the configured currency, formatted for the locale (e.g. "$6,609,617", "US$6,609,617")."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "<NA>":
        return "–"
    from babel.numbers import format_currency

    v = float(value)
    if round(v, digits) == 0:
        v = 0.0
    from babel import Locale

    loc = _babel_locale(locale)
    pattern = Locale.parse(loc).currency_formats["standard"].pattern.split(";")[0]
    fraction = "." + "0" * digits if digits > 0 else ""
    fmt = re.sub(r"[#,0]+(\.0+)?", lambda m: m.group(0).split(".")[0] + fraction, pattern, count=1)
    return str(format_currency(v, code or currency(), format=fmt, locale=loc, currency_digits=False))


def currency_symbol(locale: str = "en", code: str | None = None) -> str:
    """The currency's symbol in the locale (for axis titles: "Predicted value ($)")."""
    from babel.numbers import get_currency_symbol

    return str(get_currency_symbol(code or currency(), locale=_babel_locale(locale)))


def separators(locale: str = "en") -> str:
    """Plotly's ``layout.separators`` (decimal point, then thousands) for the locale."""
    from babel.numbers import get_decimal_symbol, get_group_symbol

    loc = _babel_locale(locale)
    return f"{get_decimal_symbol(loc)}{get_group_symbol(loc)}"


def label_column(frame: Any, column: str, names: DisplayNames, kind: str | None = None) -> Any:
    """A copy of ``frame`` with ``column`` replaced by display names (for charts and tables only)."""
    out = frame.copy()
    out[column] = names.many(out[column], kind)
    return out


def named(mapping: Mapping[str, Any], names: DisplayNames, kind: str | None = None) -> dict[str, Any]:
    """A mapping with its keys as display names."""
    return {names(k, kind): v for k, v in mapping.items()}


def customer_names(tables: Any, ids: Iterable[Any]) -> dict[str, str]:
    """customer_id -> name for the given customers, from a workspace or a table getter (only those
    with a name on file; empty when the customers table has no names, as in most exports)."""
    wanted = sorted({str(i) for i in ids if i is not None and str(i) != "<NA>"})
    if not wanted:
        return {}
    get = tables.table if hasattr(tables, "table") else tables
    try:
        table = get("customers")
    except Exception:  # no customers table loaded: ids stay as they are
        return {}
    if "name" not in table.columns:
        return {}
    rows = (
        table.filter(table.customer_id.isin(wanted) & table.name.notnull())
        .select("customer_id", "name")
        .to_pandas()
    )
    return {str(c): str(n) for c, n in zip(rows["customer_id"], rows["name"], strict=True) if str(n).strip()}


def with_customer_names(tables: Any, frame: Any) -> Any:
    """``frame`` with a ``name`` column after ``customer_id`` (None where no name is on file), so
    staff see people, not ids; unchanged when no customer in it has a name."""
    if "customer_id" not in frame.columns or "name" in frame.columns or frame.empty:
        return frame
    found = customer_names(tables, frame["customer_id"])
    if not found:
        return frame
    out = frame.copy()
    out.insert(
        list(out.columns).index("customer_id") + 1, "name", [found.get(str(c)) for c in out["customer_id"]]
    )
    return out
