"""RFM: per-customer recency, frequency and monetary summaries, scores and named segments.

:func:`summary` is the frequency/recency/T/monetary summary the BG/NBD and Gamma-Gamma models
take, computed in the engine with the same definitions as ``lifetimes``'
``summary_data_from_transaction_data`` (purchases counted per calendar day; ``frequency`` = repeat
purchase days; ``monetary_value`` = mean spend of the repeat days). :func:`calibration_holdout`
splits it at a date as ``lifetimes.utils.calibration_and_holdout_data`` does. :func:`rfm_scores`
gives 1-5 scores by rank and the usual named segments (champions, loyal customers, at risk, ...).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal, TypeAlias

import ibis
import pandas as pd

if TYPE_CHECKING:
    import ibis.expr.types as ir

TimeUnit: TypeAlias = Literal["days", "weeks"]
DateLike: TypeAlias = date | datetime | str | pd.Timestamp

UNIT_DAYS: dict[str, float] = {"days": 1.0, "weeks": 7.0}

#: Segment by (recency score, frequency score), the usual RFM map; first match wins.
SEGMENTS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (5,), (4, 5)),
    ("loyal customers", (3, 4), (4, 5)),
    ("potential loyalists", (4, 5), (2, 3)),
    ("new customers", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need attention", (3,), (3,)),
    ("about to sleep", (3,), (1, 2)),
    ("can't lose them", (1, 2), (5,)),
    ("at risk", (1, 2), (3, 4)),
    ("hibernating", (1, 2), (1, 2)),
)


def as_date(value: DateLike) -> date:
    """A calendar date from a date, datetime, string or pandas time stamp."""
    ts = pd.Timestamp(value)
    return date(ts.year, ts.month, ts.day)


def unit_days(unit: TimeUnit | str) -> float:
    """Days per time unit ('days' or 'weeks')."""
    if unit not in UNIT_DAYS:
        raise ValueError(f"time unit must be days or weeks, not {unit!r}")
    return UNIT_DAYS[unit]


def purchase_days(baskets: ir.Table) -> ir.Table:
    """Spend per customer and calendar day (the purchase unit of the CLV models)."""
    day = baskets.mutate(day=baskets.ordered_at.date())
    return day.group_by(["customer_id", "day"]).aggregate(value=day.value.sum())


def _per_customer(days: ir.Table) -> ir.Table:
    # one row per customer and day, so the first day's spend is well defined (arg_min by day)
    return days.group_by("customer_id").aggregate(
        first_day=days.day.min(),
        last_day=days.day.max(),
        n_days=days.count(),
        total=days.value.sum(),
        first_value=days.value.argmin(days.day),
    )


def summary(
    baskets: ir.Table,
    observation_end: DateLike,
    *,
    unit: TimeUnit | str = "days",
) -> ir.Table:
    """Per customer: frequency, recency, T, monetary_value (lifetimes' definitions) plus totals."""
    per_day = unit_days(unit)
    end = ibis.literal(as_date(observation_end))
    days = purchase_days(baskets)
    days = days.filter(days.day <= end)
    c = _per_customer(days)
    freq = c.n_days - 1
    return c.select(
        "customer_id",
        frequency=freq.cast("float64"),
        recency=c.last_day.delta(c.first_day, unit="day").cast("float64") / per_day,
        T=end.delta(c.first_day, unit="day").cast("float64") / per_day,
        monetary_value=ibis.ifelse(freq > 0, (c.total - c.first_value) / freq.cast("float64"), 0.0),
        first_purchase=c.first_day,
        last_purchase=c.last_day,
        total_value=c.total,
    )


def calibration_holdout(
    baskets: ir.Table,
    calibration_end: DateLike,
    observation_end: DateLike,
    *,
    unit: TimeUnit | str = "days",
) -> ir.Table:
    """Calibration summary (``*_cal``) and holdout counts and spend per customer of the calibration.

    Columns as ``lifetimes.utils.calibration_and_holdout_data``: frequency_cal, recency_cal, T_cal,
    monetary_value_cal, frequency_holdout, monetary_value_holdout, duration_holdout.
    """
    cal_end, obs_end = as_date(calibration_end), as_date(observation_end)
    if obs_end <= cal_end:
        raise ValueError(f"observation end {obs_end} must be after calibration end {cal_end}")
    per_day = unit_days(unit)
    cal = summary(baskets, cal_end, unit=unit)
    days = purchase_days(baskets)
    hold = days.filter((days.day > ibis.literal(cal_end)) & (days.day <= ibis.literal(obs_end)))
    hold = hold.group_by("customer_id").aggregate(n=hold.count(), total=hold.value.sum())
    joined = cal.left_join(hold, cal.customer_id == hold.customer_id)
    n = joined.n.fill_null(0).cast("float64")
    return joined.select(
        customer_id=cal.customer_id,
        frequency_cal=cal.frequency,
        recency_cal=cal.recency,
        T_cal=cal.T,
        monetary_value_cal=cal.monetary_value,
        frequency_holdout=n,
        monetary_value_holdout=ibis.ifelse(n > 0, joined.total / n, 0.0),
        duration_holdout=ibis.literal((obs_end - cal_end).days / per_day, "float64"),
    )


def _score(column: ir.NumericColumn) -> ir.IntegerValue:
    """1-5 by percentile rank (ties share a rank, so the score is the same on every engine)."""
    return ibis.least((column.percent_rank() * 5).floor().cast("int64") + 1, 5)


def rfm_scores(baskets: ir.Table, as_of: DateLike) -> ir.Table:
    """Recency (days since last purchase), frequency (baskets), monetary (spend), 1-5 scores, segment."""
    end_lit = ibis.literal(as_date(as_of))
    b = baskets.filter(baskets.ordered_at.date() <= end_lit)
    c = b.group_by("customer_id").aggregate(
        last_day=b.ordered_at.date().max(), frequency=b.count(), monetary=b.value.sum()
    )
    c = c.mutate(recency_days=end_lit.delta(c.last_day, unit="day"))
    c = c.mutate(
        r_score=_score(-c.recency_days.cast("float64")),
        f_score=_score(c.frequency.cast("float64")),
        m_score=_score(c.monetary),
    )
    segment = ibis.cases(
        *[(c.r_score.isin(list(rs)) & c.f_score.isin(list(fs)), name) for name, rs, fs in SEGMENTS],
        else_="other",
    )
    return c.select(
        "customer_id",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        rfm=c.r_score.cast("string").concat(c.f_score.cast("string"), c.m_score.cast("string")),
        segment=segment,
    )


def segment_summary(scores: ir.Table) -> ir.Table:
    """Customers, share, mean recency, frequency and spend per RFM segment."""
    return scores.group_by("segment").aggregate(
        customers=scores.count(),
        recency_days=scores.recency_days.mean(),
        frequency=scores.frequency.mean(),
        monetary=scores.monetary.mean(),
        total_value=scores.monetary.sum(),
    )
