"""Comparisons over time: this period against the previous one (like for like when the latest
period is partial), the headline, the biggest movers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cxlens.analyse.common import Tables, TimeLike, getter, timestamp
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


@dataclass(frozen=True)
class PeriodPair:
    """The period of interest and the previous one, as compared: ``[this, this_end)`` against
    ``[previous, previous_end)`` (ends exclusive).

    When the data end inside ``this`` period (``partial``), a like-for-like comparison takes the
    period to date and the same stretch of the previous one: feedback up to the 9th of a month
    against the 1st to the 9th of the month before. ``as_of`` is the day after the last feedback
    (the data are taken to cover that last day).
    """

    grain: Grain
    this: pd.Timestamp
    this_end: pd.Timestamp
    previous: pd.Timestamp
    previous_end: pd.Timestamp
    partial: bool
    as_of: pd.Timestamp | None

    @property
    def windows(self) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The two compared time ranges, this one first."""
        return [(self.this, self.this_end), (self.previous, self.previous_end)]

    @property
    def note(self) -> str:
        """A sentence for people: what is compared with what (empty for two whole periods)."""
        if not self.partial:
            return ""
        last = (self.this_end - pd.Timedelta(days=1)).date()
        prev_last = (self.previous_end - pd.Timedelta(days=1)).date()
        if self.this_end <= self.this:
            return f"no data yet in the {self.grain} starting {self.this.date()}"
        return (
            f"partial {self.grain}: {self.this.date()} to {last} compared with the same days of the "
            f"previous {self.grain}, {self.previous.date()} to {prev_last}"
        )


def period_pair(
    this: TimeLike, grain: Grain, as_of: TimeLike | None, *, like_for_like: bool = True
) -> PeriodPair:
    """The comparison of the ``grain`` period holding ``this`` with the one before, given that the
    data end on the day of ``as_of`` (their last time stamp; None: unknown, taken as complete)."""
    grain_ = _grain(grain)
    if grain_ is None:
        raise ValueError("a period comparison needs a grain: day, week, month or quarter")
    start = period_start(this, grain_)
    step = _STEP[grain_]
    end, prev = start + step, start - step
    covered = None if as_of is None else pd.Timestamp(timestamp(as_of)).normalize() + pd.Timedelta(days=1)
    partial = covered is not None and covered < end
    if not partial or covered is None:
        return PeriodPair(grain_, start, end, prev, start, False, covered)
    this_end = max(covered, start)
    prev_end = min(prev + (this_end - start), start) if like_for_like else start
    return PeriodPair(grain_, start, this_end, prev, prev_end, True, covered)


def _data_end(tables: Tables) -> pd.Timestamp | None:
    """The last feedback time stamp in the store (any brand): how far the data go."""
    latest = getter(tables)("feedback").submitted_at.max().execute()
    return None if latest is None or pd.isna(latest) else pd.Timestamp(latest)


def _two_periods(
    tables: Tables,
    grain: Grain,
    period: TimeLike | None,
    moments: Callable[..., pd.DataFrame],
    like_for_like: bool,
) -> tuple[pd.DataFrame, PeriodPair]:
    """Moments of the two compared windows (``period`` column = window start) and the pair.

    Without ``period`` the latest period with data is wanted. Reading only the two windows of
    the store's latest period finds it whenever the filtered feedback has data there (the usual
    case, and 2-3x faster than the whole history); otherwise the whole history is grouped by
    ``grain`` to find the filtered data's own latest period. When nothing matches, the pair's
    periods are NaT and the moments are empty ("no data" downstream).
    """
    end = _data_end(tables)
    if period is not None:
        pair = period_pair(period, grain, end, like_for_like=like_for_like)
        return moments(windows=pair.windows), pair
    if end is not None:
        pair = period_pair(end, grain, end, like_for_like=like_for_like)
        mom = moments(windows=pair.windows)
        if (mom["period"] == pair.this).any():
            return mom, pair
    history = moments(grain=grain)
    if history.empty:
        nat = pd.Timestamp("NaT")
        return history, PeriodPair(grain, nat, nat, nat, nat, False, None)
    pair = period_pair(history["period"].max(), grain, end, like_for_like=like_for_like)
    return moments(windows=pair.windows), pair


def compare_periods(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    grain: Grain = "month",
    by: str | Sequence[str] = (),
    *,
    period: TimeLike | None = None,
    like_for_like: bool = True,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """This period (``a``) against the previous one (``b``) for each metric and ``by`` group.

    ``period`` is any time inside the period of interest; default: the latest period with data.
    When the data end inside that period it is ``partial``, and (``like_for_like``, the default)
    compared with the same days of the previous period (:class:`PeriodPair`).
    Columns: ``period_a``, ``period_b`` (period starts), the ``by`` columns, ``metric``, ``n_a``,
    ``value_a``, ``n_b``, ``value_b``, ``diff`` (a - b), ``diff_ci_low``, ``diff_ci_high``,
    ``p_value`` (pooled z-test for the CSAT share, Welch's t for NPS and means; see
    :mod:`cxlens.analyse.stats`), ``significant`` (p < 1 - confidence, which is exactly when the
    interval excludes 0), ``small_n`` (either n < ``min_n``), ``partial``, and ``period_a_end`` and
    ``period_b_end`` (exclusive ends of what was compared). Groups seen in only one of the two
    periods are kept, with missing values. ``df.attrs["comparison"]`` holds the note.
    """
    specs = _metrics(metric)
    grain_ = _grain(grain)
    if grain_ is None:
        raise ValueError("compare_periods needs a grain: day, week, month or quarter")
    dims = _dimensions(_as_list(by))

    def moments(**window: Any) -> pd.DataFrame:
        expr = metric_expr(
            tables, metric, dims, journey_map=journey_map, brand=brand, filters=filters, **window
        )
        return _moments(expr.to_pandas(), specs, ["period", *dims])

    mom, pair = _two_periods(tables, grain_, period, moments, like_for_like)
    a = mom[mom["period"] == pair.this].drop(columns="period")
    b = mom[mom["period"] == pair.previous].drop(columns="period")
    out = _compare(a, b, [*dims, "metric"], confidence, min_n)
    out.insert(0, "period_b", pair.previous)
    out.insert(0, "period_a", pair.this)
    out = _order(out, dims, specs, _jm_if_needed(tables, journey_map, dims))
    out["partial"] = pair.partial
    out["period_a_end"] = pair.this_end
    out["period_b_end"] = pair.previous_end
    out = _with_meta(out, specs, confidence, min_n)
    out.attrs["comparison"] = pair.note
    return out


def headline(
    tables: Tables,
    metrics: Sequence[MetricName] = ("nps", "csat", "csat_mean", "ces"),
    grain: Grain = "month",
    *,
    period: TimeLike | None = None,
    like_for_like: bool = True,
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
    ``significant``, ``verdict`` ("better", "worse", "no significant change" or "no data"),
    ``partial``, ``period_end`` and ``previous_period_end`` (exclusive ends of what was compared:
    a partial period to date against the same days before; see :func:`compare_periods`).
    ``df.attrs["comparison"]`` holds a sentence saying so.
    """
    specs = _metrics(list(metrics))
    grain_ = _grain(grain)
    if grain_ is None:
        raise ValueError("headline needs a grain: day, week, month or quarter")

    def moments(**window: Any) -> pd.DataFrame:
        expr = metric_expr(
            tables, list(metrics), (), journey_map=journey_map, brand=brand, filters=filters, **window
        )
        return _moments(expr.to_pandas(), specs, ["period"])

    mom, pair = _two_periods(tables, grain_, period, moments, like_for_like)
    this, prev = pair.this, pair.previous
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
            "partial": pair.partial,
            "period_end": pair.this_end,
            "previous_period_end": pair.previous_end,
        }
    )
    out = _with_meta(out, specs, confidence, min_n)
    out.attrs["comparison"] = pair.note
    return out


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
