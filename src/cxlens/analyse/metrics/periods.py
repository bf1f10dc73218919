"""Comparisons over time: this period against the previous one, the headline, the biggest movers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cxlens.analyse.common import Tables, TimeLike, getter
from cxlens.analyse.metrics.definitions import (
    _STEP,
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_N,
    Grain,
    MetricName,
    _as_list,
    _dimensions,
    _grain,
    _metrics,
    period_start,
)
from cxlens.analyse.metrics.engine import metric_expr
from cxlens.analyse.metrics.estimates import _compare, _estimate, _jm_if_needed, _moments, _order, _with_meta
from cxlens.journey.map import JourneyMap


def compare_periods(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    grain: Grain = "month",
    by: str | Sequence[str] = (),
    *,
    period: TimeLike | None = None,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """This period (``a``) against the previous one (``b``) for each metric and ``by`` group.

    ``period`` is any time inside the period of interest; default: the latest period with data.
    Columns: ``period_a``, ``period_b``, the ``by`` columns, ``metric``, ``n_a``, ``value_a``,
    ``n_b``, ``value_b``, ``diff`` (a - b), ``diff_ci_low``, ``diff_ci_high``, ``p_value``
    (pooled z-test for the CSAT share, Welch's t for NPS and means; see :mod:`cxlens.analyse.stats`),
    ``significant`` (p < 1 - confidence, which is exactly when the interval excludes 0) and
    ``small_n`` (either n < ``min_n``). Groups seen in only one of the two periods are kept, with
    missing values.
    """
    specs = _metrics(metric)
    grain_ = _grain(grain)
    if grain_ is None:
        raise ValueError("compare_periods needs a grain: day, week, month or quarter")
    dims = _dimensions(_as_list(by))

    def moments(start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
        expr = metric_expr(
            tables,
            metric,
            dims,
            grain_,
            journey_map=journey_map,
            brand=brand,
            filters=filters,
            start=start,
            end=end,
        )
        return _moments(expr.to_pandas(), specs, ["period", *dims])

    mom, this = _two_periods(tables, grain_, period, moments)
    prev = this - _STEP[grain_]
    a = mom[mom["period"] == this].drop(columns="period")
    b = mom[mom["period"] == prev].drop(columns="period")
    out = _compare(a, b, [*dims, "metric"], confidence, min_n)
    out.insert(0, "period_b", prev)
    out.insert(0, "period_a", this)
    out = _order(out, dims, specs, _jm_if_needed(tables, journey_map, dims))
    return _with_meta(out, specs, confidence, min_n)


def _latest(mom: pd.DataFrame) -> pd.Timestamp:
    """The latest period with data (NaT when no feedback with a score matches)."""
    if mom.empty:
        return pd.Timestamp("NaT")
    return pd.Timestamp(mom["period"].max())


def _two_periods(
    tables: Tables,
    grain: Grain,
    period: TimeLike | None,
    moments: Callable[[pd.Timestamp | None, pd.Timestamp | None], pd.DataFrame],
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Moments of the period of interest and the one before, and that period's start.

    Without ``period`` the latest period with data is wanted. Scanning only the store's last two
    periods finds it whenever the filtered feedback has data in the store's latest period (the
    usual case, and 2-3x faster than the whole history); otherwise the whole history is read.
    When nothing matches, the period is NaT and the moments are empty ("no data" downstream).
    """
    step = _STEP[grain]
    if period is not None:
        this = period_start(period, grain)
        return moments(this - step, this + step), this
    latest = getter(tables)("feedback").submitted_at.max().execute()
    if latest is not None and not pd.isna(latest):
        this = period_start(latest, grain)
        mom = moments(this - step, this + step)
        if (mom["period"] == this).any():
            return mom, this
    mom = moments(None, None)
    return mom, _latest(mom)


def headline(
    tables: Tables,
    metrics: Sequence[MetricName] = ("nps", "csat", "csat_mean", "ces"),
    grain: Grain = "month",
    *,
    period: TimeLike | None = None,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Overall metrics for the latest (or given) period with CI, and the change vs the previous one.

    One row per metric: ``metric``, ``label``, ``unit``, ``higher_is_better``, ``period``, ``n``,
    ``value``, ``ci_low``, ``ci_high``, ``small_n``, ``previous_period``, ``previous_n``,
    ``previous_value``, ``change``, ``change_ci_low``, ``change_ci_high``, ``p_value``,
    ``significant``, ``verdict`` ("better", "worse", "no significant change" or "no data").
    """
    specs = _metrics(list(metrics))
    grain_ = _grain(grain)
    if grain_ is None:
        raise ValueError("headline needs a grain: day, week, month or quarter")

    def moments(start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
        expr = metric_expr(
            tables,
            list(metrics),
            (),
            grain_,
            journey_map=journey_map,
            brand=brand,
            filters=filters,
            start=start,
            end=end,
        )
        return _moments(expr.to_pandas(), specs, ["period"])

    mom, this = _two_periods(tables, grain_, period, moments)
    prev = this - _STEP[grain_]
    names = [m.name for m in specs]
    cur = _estimate(mom[mom["period"] == this], confidence, min_n).set_index("metric").reindex(names)
    cmp = _compare(
        mom[mom["period"] == this].drop(columns="period"),
        mom[mom["period"] == prev].drop(columns="period"),
        ["metric"],
        confidence,
        min_n,
    )
    cmp = cmp.set_index("metric").reindex(names)
    higher = np.array([m.higher_is_better for m in specs])
    change = cmp["diff"].to_numpy(float)
    # reindex leaves NaN for metrics with no answers: those are not significant, and small n
    significant = cmp["significant"].eq(True).to_numpy(bool)
    verdict = np.select(
        [np.isnan(change), ~significant, (change > 0) == higher],
        ["no data", "no significant change", "better"],
        "worse",
    )
    out = pd.DataFrame(
        {
            "metric": names,
            "label": [m.label for m in specs],
            "unit": [m.unit for m in specs],
            "higher_is_better": higher,
            "period": this,
            "n": cur["n"].fillna(0).to_numpy("int64"),
            "value": cur["value"].to_numpy(float),
            "ci_low": cur["ci_low"].to_numpy(float),
            "ci_high": cur["ci_high"].to_numpy(float),
            "small_n": ~cur["small_n"].eq(False).to_numpy(bool),
            "previous_period": prev,
            "previous_n": cmp["n_b"].fillna(0).to_numpy("int64"),
            "previous_value": cmp["value_b"].to_numpy(float),
            "change": change,
            "change_ci_low": cmp["diff_ci_low"].to_numpy(float),
            "change_ci_high": cmp["diff_ci_high"].to_numpy(float),
            "p_value": cmp["p_value"].to_numpy(float),
            "significant": significant,
            "verdict": verdict,
        }
    )
    return _with_meta(out, specs, confidence, min_n)


def biggest_movers(
    tables: Tables,
    metric: MetricName = "nps",
    by: str | Sequence[str] = "store_id",
    grain: Grain = "month",
    *,
    k: int = 10,
    include_small_n: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """The ``k`` largest significant changes vs the previous period among ``by`` groups.

    Columns as :func:`compare_periods` plus ``direction`` ("better" or "worse", taking into
    account which way the metric runs), ordered by the size of the change. Small-n groups are left
    out unless ``include_small_n``; groups with a null first ``by`` column are left out.
    """
    spec = _metrics(metric)[0]
    dims = _dimensions(_as_list(by))
    if not dims:
        raise ValueError("biggest_movers needs at least one dimension")
    cmp = compare_periods(tables, metric, grain, dims, **options)
    attrs = cmp.attrs
    moved = cmp[cmp["significant"] & cmp[dims[0]].notna()]
    if not include_small_n:
        moved = moved[~moved["small_n"]]
    moved = moved.assign(_size=moved["diff"].abs())
    moved = moved.sort_values("_size", ascending=False, kind="stable").drop(columns="_size").head(k)
    better = (moved["diff"] > 0) == spec.higher_is_better
    moved = moved.assign(direction=np.where(better, "better", "worse")).reset_index(drop=True)
    moved.attrs = attrs
    return moved
