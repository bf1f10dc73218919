"""Cohort retention: customers grouped by the month (or week) of their first purchase, and the share
of each cohort that buys again in each later period.

The counting runs in the engine (:func:`cohort_counts`); :func:`retention_table` turns the small
result into the cohort x period matrix behind the heatmap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

if TYPE_CHECKING:
    import ibis.expr.types as ir

CohortGrain = Literal["month", "week"]


def _period_index(ts: ir.TimestampValue, grain: CohortGrain) -> ir.IntegerValue:
    """A running period number (months since year 0, or weeks since 1970-01-05, a Monday)."""
    if grain == "month":
        return ts.year().cast("int64") * 12 + ts.month().cast("int64") - 1
    if grain == "week":
        return ts.date().delta(ibis.date(1970, 1, 5), unit="day").cast("int64") // 7
    raise ValueError(f"cohort grain must be month or week, not {grain!r}")


def cohort_counts(baskets: ir.Table, grain: CohortGrain = "month") -> ir.Table:
    """Active customers per (cohort, periods since first purchase), with the cohort's size and spend."""
    b = baskets.mutate(p=_period_index(baskets.ordered_at, grain))
    first = b.group_by("customer_id").aggregate(cohort_p=b.p.min())
    j = b.join(first, "customer_id")
    active = j.group_by([j.cohort_p, (j.p - j.cohort_p).name("period")]).aggregate(
        customers=j.customer_id.nunique(), value=j.value.sum()
    )
    size = first.group_by("cohort_p").aggregate(cohort_size=first.count())
    out = active.join(size, "cohort_p")
    if grain == "month":
        cohort = ibis.date((out.cohort_p // 12).cast("int32"), (out.cohort_p % 12 + 1).cast("int32"), 1)
    else:
        cohort = ibis.date(1970, 1, 5) + (out.cohort_p * 7).cast("int32").as_interval("D")
    return out.select(
        cohort=cohort.cast("date"),
        period="period",
        customers="customers",
        cohort_size="cohort_size",
        value="value",
    )


def retention_table(counts: pd.DataFrame, *, max_period: int | None = None) -> pd.DataFrame:
    """Cohort x period matrix of retention shares (0-1) from :func:`cohort_counts`' frame."""
    df = counts.copy()
    df["retention"] = df["customers"] / df["cohort_size"]
    if max_period is not None:
        df = df[df["period"] <= max_period]
    table = df.pivot_table(index="cohort", columns="period", values="retention", aggfunc="sum")
    table.columns = [int(c) for c in table.columns]
    sizes = df.groupby("cohort")["cohort_size"].first()
    table.insert(0, "cohort_size", sizes.reindex(table.index))
    return table.sort_index()
