"""Metric tables: by period and dimensions, trends, breakdowns and rankings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cxlens.analyse.common import Tables, TimeLike
from cxlens.analyse.metrics.definitions import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_N,
    HEADLINE_METRICS,
    Grain,
    MetricName,
    _as_list,
    _dimensions,
    _metrics,
)
from cxlens.analyse.metrics.engine import metric_expr
from cxlens.analyse.metrics.estimates import _estimate, _jm_if_needed, _keys, _moments, _order, _with_meta
from cxlens.journey.map import JourneyMap


def metric_table(
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
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """One or more metrics by period and dimensions, as a tidy frame with n and a CI.

    Columns: ``period`` (if ``grain``), the ``by`` columns, ``metric``, ``n``, ``value``,
    ``ci_low``, ``ci_high``, ``small_n`` (n < ``min_n``). Groups without answers are left out.
    ``df.attrs["metrics"]`` describes each metric (scale, unit, ``higher_is_better``).
    Arguments as in :func:`metric_expr`.
    """
    specs = _metrics(metric)
    keys = _keys(by, grain)
    expr = metric_expr(
        tables,
        metric,
        by,
        grain,
        journey_map=journey_map,
        brand=brand,
        filters=filters,
        start=start,
        end=end,
    )
    est = _estimate(_moments(expr.to_pandas(), specs, keys), confidence, min_n)
    out = est[[*keys, "metric", "n", "value", "ci_low", "ci_high", "small_n"]]
    out = _order(out, keys, specs, _jm_if_needed(tables, journey_map, keys))
    return _with_meta(out, specs, confidence, min_n)


def trend(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    grain: Grain = "month",
    by: str | Sequence[str] = (),
    **options: Any,
) -> pd.DataFrame:
    """Metrics per period of ``grain`` (and ``by``), for trend charts; see :func:`metric_table`."""
    return metric_table(tables, metric, by, grain, **options)


def breakdown(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    dimensions: Sequence[str] = ("region", "channel", "stage", "loyalty_tier"),
    **options: Any,
) -> pd.DataFrame:
    """Metrics by each of several dimensions in turn, stacked in one long frame.

    Columns: ``dimension``, ``level`` (the dimension's value), then as :func:`metric_table`.
    """
    parts = []
    for dim in _dimensions(list(dimensions)):
        part = metric_table(tables, metric, [dim], None, **options)
        part = part.rename(columns={dim: "level"})
        part.insert(0, "dimension", dim)
        part["level"] = part["level"].astype(object)
        parts.append(part)
    specs = _metrics(metric)
    out = pd.concat(parts, ignore_index=True)
    return _with_meta(
        out, specs, options.get("confidence", DEFAULT_CONFIDENCE), options.get("min_n", DEFAULT_MIN_N)
    )


@dataclass
class Ranking:
    """Best and worst groups by a metric; groups with n < min_n are not ranked but listed apart."""

    metric: str
    by: list[str]
    min_n: int
    #: Every rankable group, best first, with a ``rank`` column (1 = best).
    ranked: pd.DataFrame
    #: The ``k`` best groups, best first.
    best: pd.DataFrame
    #: The ``k`` worst groups, worst first.
    worst: pd.DataFrame
    #: Groups left out of the ranking because n < min_n (with their values, flagged small_n).
    excluded: pd.DataFrame

    @property
    def note(self) -> str:
        """A sentence for reports saying what was left out of the ranking and why."""
        if self.excluded.empty:
            return f"All {len(self.ranked)} groups have n >= {self.min_n} and are ranked."
        return (
            f"{len(self.excluded)} of {len(self.ranked) + len(self.excluded)} groups have fewer than "
            f"{self.min_n} answers and are not ranked."
        )


def best_worst(
    tables: Tables,
    metric: MetricName = "nps",
    by: str | Sequence[str] = ("store_id", "store_name"),
    *,
    k: int = 5,
    **options: Any,
) -> Ranking:
    """Rank groups (stores by default) by a metric, best first (lowest first for CES).

    Groups whose first ``by`` column is null, or with n < ``min_n``, are not ranked; the latter are
    returned in ``excluded``. Ties share a rank. Other options as in :func:`metric_table`.
    """
    spec = _metrics(metric)[0]
    dims = _dimensions(_as_list(by))
    if not dims:
        raise ValueError("best_worst needs at least one dimension to rank")
    if "grain" in options:
        raise ValueError("best_worst ranks over one time range; use start and end instead of grain")
    table = metric_table(tables, metric, dims, None, **options)
    table = table[table[dims[0]].notna()]
    eligible = table[~table["small_n"]]
    excluded = table[table["small_n"]].reset_index(drop=True)
    ranked = eligible.sort_values(
        ["value", "n"], ascending=[not spec.higher_is_better, False], kind="stable"
    ).reset_index(drop=True)
    score = ranked["value"] if spec.higher_is_better else -ranked["value"]
    ranked.insert(0, "rank", score.rank(method="min", ascending=False).astype("int64"))
    worst = ranked.iloc[::-1].head(k).reset_index(drop=True)
    attrs = table.attrs
    for frame in (ranked, excluded, worst):
        frame.attrs = attrs
    best = ranked.head(k).reset_index(drop=True)
    best.attrs = attrs
    return Ranking(spec.name, dims, int(attrs["min_n"]), ranked, best, worst, excluded)


def available_metrics(
    tables: Tables,
    metrics: Sequence[MetricName] = HEADLINE_METRICS,
    *,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    journey_map: JourneyMap | None = None,
) -> list[MetricName]:
    """The ``metrics`` that have at least one answer in the (filtered) feedback, in their order.

    Summaries show these: review exports have star ratings but no NPS, surveys the opposite.
    """
    specs = _metrics(list(metrics))
    expr = metric_expr(tables, list(metrics), journey_map=journey_map, brand=brand, filters=filters)
    counts = expr.to_pandas()
    if counts.empty:
        return []
    row = counts.iloc[0]
    return [m.name for m in specs if int(row.get(f"{m.score}_n", 0) or 0) > 0]  # type: ignore[misc]
