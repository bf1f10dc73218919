"""Comparisons between segments: one value against another, or each value against the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cxlens.analyse.common import Tables, TimeLike
from cxlens.analyse.metrics.definitions import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_N,
    REST,
    STAT_COLUMNS,
    UNKNOWN,
    Grain,
    MetricName,
    _as_list,
    _dimensions,
    _grain,
    _metrics,
)
from cxlens.analyse.metrics.engine import metric_expr
from cxlens.analyse.metrics.estimates import _compare, _jm_if_needed, _moments, _order, _with_meta
from cxlens.journey.map import JourneyMap


def compare_segments(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    dimension: str = "loyalty_tier",
    a: Any = None,
    b: Any = None,
    by: str | Sequence[str] = (),
    grain: Grain | None = None,
    *,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
    unknowns: bool = True,
) -> pd.DataFrame:
    """Segment ``a`` against segment ``b`` of ``dimension`` (within each period/``by`` group).

    ``b=None`` compares ``a`` with every other answer together; ``a=None`` compares every value
    with the rest. Answers with no value (feedback with no customer has no loyalty tier; online
    feedback has no store or region) are a segment of their own, ``"(unknown)"``, shown and
    counted in the rest like any other, so nothing is dropped silently; ``unknowns=False`` leaves
    them out altogether (e.g. to compare stores with the other stores only).
    Columns: ``period`` (if ``grain``), the ``by`` columns, ``dimension``, ``segment_a``,
    ``segment_b`` (a value, ``"(unknown)"`` or ``"(rest)"``), ``metric``, then as
    :func:`compare_periods` from ``n_a`` on.
    """
    specs = _metrics(metric)
    (dim,) = _dimensions([dimension])
    dims = _dimensions(_as_list(by))
    if dim in dims:
        raise ValueError(f"{dim!r} is the compared dimension; it cannot also be in by")
    keys = (["period"] if _grain(grain) is not None else []) + dims
    expr = metric_expr(
        tables,
        metric,
        [*dims, dim],
        grain,
        journey_map=journey_map,
        brand=brand,
        filters=filters,
        start=start,
        end=end,
    )
    mom = _moments(expr.to_pandas(), specs, [*keys, dim])
    if not unknowns:
        mom = mom[mom[dim].notna()]

    def pick(value: Any) -> pd.DataFrame:
        return mom[mom[dim].isna()] if value == UNKNOWN else mom[mom[dim] == value]

    group = [*keys, "metric"]
    stat = list(STAT_COLUMNS)
    if a is not None and b is not None:
        sa = pick(a).drop(columns=dim)
        sb = pick(b).drop(columns=dim)
        out = _compare(sa, sb, group, confidence, min_n)
        out.insert(len(keys), "segment_b", b)
        out.insert(len(keys), "segment_a", a)
    else:
        totals = mom.groupby(group, dropna=False, sort=False)[stat].sum().reset_index()
        seg = mom if a is None else pick(a)
        rest = seg[[*group, dim]].merge(totals, on=group, how="left")
        rest[stat] = rest[stat].to_numpy() - seg[stat].to_numpy()
        seg = seg.rename(columns={dim: "segment_a"})
        rest = rest.rename(columns={dim: "segment_a"})
        out = _compare(seg, rest, [*keys, "segment_a", "metric"], confidence, min_n)
        out.insert(len(keys) + 1, "segment_b", REST)
    out.insert(len(keys), "dimension", dim)
    out["segment_a"] = out["segment_a"].astype(object)
    out["segment_b"] = out["segment_b"].astype(object)
    order_keys = [*keys, "segment_a"]
    jm = _jm_if_needed(tables, journey_map, [*keys, dim])
    if jm is not None and dim in ("stage", "touchpoint"):
        out = out.rename(columns={"segment_a": dim})
        out = _order(out, [*keys, dim], specs, jm).rename(columns={dim: "segment_a"})
    else:
        out = _order(out, order_keys, specs, jm)
    # unknowns sort last (as NaN) and are then named
    out["segment_a"] = out["segment_a"].where(out["segment_a"].notna(), UNKNOWN)
    return _with_meta(out, specs, confidence, min_n)
