"""The engine side: one Ibis aggregation of counts, sums and sums of squares per group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ibis

from cxlens.analyse.common import TableGetter, Tables, TimeLike, getter, journey_map_of, predicate, timestamp
from cxlens.analyse.metrics.definitions import (
    _TRUNC_UNIT,
    ALL_BRANDS,
    DIMENSIONS,
    SCORES,
    Dimension,
    Grain,
    MetricName,
    _as_list,
    _dimensions,
    _grain,
    _metrics,
)
from cxlens.journey.map import JourneyMap

if TYPE_CHECKING:
    import ibis.expr.types as ir


def metric_expr(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    by: str | Sequence[str] = (),
    grain: Grain | None = None,
    *,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    windows: Sequence[tuple[TimeLike, TimeLike]] | None = None,
) -> ir.Table:
    """The Ibis aggregation behind every metric: per group (``period`` if a grain is given, then
    ``by``), ``<score>_n`` (non-null answers), ``<score>_sum``, ``<score>_sumsq`` and, for NPS and
    CSAT, ``<score>_top``/``<score>_bottom`` (promoters/detractors, 4-5/1-2). Runs in the engine.

    ``brand``: None (default) = our own brand only, ``"*"`` = all brands, else a brand or a list.
    ``filters``: dimension -> value, list of values (IN) or None (IS NULL). ``start`` is
    inclusive and ``end`` exclusive, on ``submitted_at``. ``windows`` (instead of a grain): only
    rows inside one of these (start inclusive, end exclusive) time ranges count, grouped by
    ``period`` = the start of their range (like-for-like period comparisons in one scan).
    """
    specs = _metrics(metric)
    keys = _dimensions(_as_list(by))
    filters = dict(filters or {})
    _dimensions(list(filters))
    grain = _grain(grain)
    if grain is not None and windows is not None:
        raise ValueError("give a grain or windows, not both")
    spans = [(timestamp(lo), timestamp(hi)) for lo, hi in windows or ()]
    get = getter(tables)
    scores = [SCORES[s] for s in dict.fromkeys(m.score for m in specs)]

    fb = get("feedback")
    preds: list[ir.BooleanValue] = [ibis.or_(*(fb[s.column].notnull() for s in scores))]
    if brand is None:
        preds.append(fb.brand.isnull())
    elif isinstance(brand, str):
        if brand != ALL_BRANDS:
            preds.append(fb.brand == brand)
    else:
        preds.append(fb.brand.isin(list(brand)))
    if start is not None:
        preds.append(fb.submitted_at >= timestamp(start))
    if end is not None:
        preds.append(fb.submitted_at < timestamp(end))
    if spans:
        preds.append(ibis.or_(*((fb.submitted_at >= lo) & (fb.submitted_at < hi) for lo, hi in spans)))
    late_filters: dict[str, Any] = {}
    for name, value in filters.items():
        dim = DIMENSIONS[name]
        if dim.source == "feedback":
            preds.append(predicate(fb[dim.column], value))
        else:
            late_filters[name] = value

    needed = [DIMENSIONS[d] for d in dict.fromkeys([*keys, *late_filters])]
    fb_cols = {s.column for s in scores}
    fb_cols |= {d.column for d in needed if d.source in ("feedback", "journey")}
    if any(d.source == "stores" for d in needed):
        fb_cols.add("store_id")
    if any(d.source == "customers" for d in needed):
        fb_cols.add("customer_id")
    if any(d.source == "orders" for d in needed):
        fb_cols.add("order_id")
    if grain is not None or spans:
        fb_cols.add("submitted_at")
    t = fb.filter(preds).select(*sorted(fb_cols))

    t = _join(t, get, "stores", "store_id", [d for d in needed if d.source == "stores"])
    t = _join(t, get, "customers", "customer_id", [d for d in needed if d.source == "customers"])
    t = _join(t, _with_order_facts(get), "orders", "order_id", [d for d in needed if d.source == "orders"])
    derived: dict[str, ir.Value] = {}
    if any(d.source == "journey" for d in needed):
        jm = journey_map_of(tables, journey_map)
        derived["stage"] = t.touchpoint.cases(*jm.stage_of.items())
    if grain is not None:
        derived["period"] = t.submitted_at.truncate(_TRUNC_UNIT[grain])
    elif spans:
        derived["period"] = ibis.cases(
            *(((t.submitted_at >= lo) & (t.submitted_at < hi), ibis.literal(lo)) for lo, hi in spans)
        )
    if derived:
        t = t.mutate(**derived)
    if late_filters:
        t = t.filter([predicate(t[name], value) for name, value in late_filters.items()])

    aggs: dict[str, ir.Scalar] = {}
    for s in scores:
        col = t[s.column]
        x = col.cast("float64")
        aggs[f"{s.column}_n"] = col.count()
        if s.top is not None and s.bottom is not None:
            aggs[f"{s.column}_top"] = col.count(where=col.between(*s.top))
            aggs[f"{s.column}_bottom"] = col.count(where=col.between(*s.bottom))
        aggs[f"{s.column}_sum"] = x.sum()
        aggs[f"{s.column}_sumsq"] = (x * x).sum()
    group = (["period"] if grain is not None or spans else []) + keys
    if group:
        return t.group_by(group).aggregate(**aggs)
    return t.aggregate(**aggs)


def _with_order_facts(get: TableGetter) -> TableGetter:
    """A getter whose orders table also has ``late_delivery`` (delivered after the promise)."""

    def getter(name: str) -> ir.Table:
        table = get(name)
        if name == "orders":
            table = table.mutate(late_delivery=table.delivered_at > table.promised_delivery_at)
        return table

    return getter


def _join(t: ir.Table, get: TableGetter, table: str, key: str, dims: list[Dimension]) -> ir.Table:
    """Left-join the columns of ``dims`` from ``table`` (one row per ``key``) onto ``t``."""
    if not dims:
        return t
    other = get(table)
    right = other.select(_cx_key=other[key], **{d.name: other[d.column] for d in dims})
    joined = t.left_join(right, t[key] == right._cx_key)
    return joined.drop("_cx_key")
