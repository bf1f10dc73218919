"""What a metric, a score and a dimension are, argument checks and period boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from cxlens.analyse.common import TimeLike, timestamp

MetricName = Literal["nps", "csat", "csat_mean", "ces", "rating"]
Grain = Literal["day", "week", "month", "quarter"]

#: ``brand=ALL_BRANDS`` uses feedback about every brand (ours and competitors').
ALL_BRANDS = "*"
DEFAULT_MIN_N = 30
DEFAULT_CONFIDENCE = 0.95
#: Label of the comparison group "every other value" in :func:`compare_segments`.
REST = "(rest)"
#: Label of the segment of answers with no value of the compared dimension in :func:`compare_segments`.
UNKNOWN = "(unknown)"

STAT_COLUMNS = ("n", "top", "bottom", "sum", "sumsq")


@dataclass(frozen=True)
class Score:
    """A score column of the feedback table, its scale and its top and bottom boxes."""

    column: str
    low: int
    high: int
    top: tuple[int, int] | None = None
    bottom: tuple[int, int] | None = None


SCORES: dict[str, Score] = {
    "nps": Score("nps", 0, 10, top=(9, 10), bottom=(0, 6)),
    "csat": Score("csat", 1, 5, top=(4, 5), bottom=(1, 2)),
    "ces": Score("ces", 1, 7),
    "rating": Score("rating", 1, 5),
}


@dataclass(frozen=True)
class Metric:
    """How a metric is computed from a score and which way is better (shown in output metadata)."""

    name: str
    score: str
    kind: Literal["net", "share", "mean"]
    label: str
    unit: str
    range: tuple[float, float]
    higher_is_better: bool
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "nps",
            "nps",
            "net",
            "NPS",
            "points",
            (-100.0, 100.0),
            True,
            "% promoters (9-10) minus % detractors (0-6) on the 0-10 likelihood-to-recommend scale; "
            "95% CI by the normal approximation.",
        ),
        Metric(
            "csat",
            "csat",
            "share",
            "CSAT",
            "%",
            (0.0, 100.0),
            True,
            "Percentage of satisfied answers (4-5) on the 1-5 satisfaction scale; Wilson interval.",
        ),
        Metric(
            "csat_mean",
            "csat",
            "mean",
            "CSAT (mean)",
            "1-5",
            (1.0, 5.0),
            True,
            "Mean satisfaction on the 1-5 scale (5 best); t interval.",
        ),
        Metric(
            "ces",
            "ces",
            "mean",
            "CES",
            "1-7",
            (1.0, 7.0),
            False,
            "Mean customer effort on the 1-7 scale; lower is better (1 = very easy, 7 = very hard); "
            "t interval.",
        ),
        Metric(
            "rating",
            "rating",
            "mean",
            "Rating",
            "1-5",
            (1.0, 5.0),
            True,
            "Mean star rating on the 1-5 scale (5 best); t interval.",
        ),
    )
}


@dataclass(frozen=True)
class Dimension:
    """A dimension metrics can be broken down or filtered by, and the table it comes from."""

    name: str
    source: Literal["feedback", "stores", "customers", "orders", "journey"]
    column: str
    description: str


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("store_id", "feedback", "store_id", "Store the feedback is about."),
        Dimension("channel", "feedback", "channel", "Channel the feedback is about."),
        Dimension("touchpoint", "feedback", "touchpoint", "Touchpoint the feedback is about."),
        Dimension("source", "feedback", "source", "Kind of feedback (survey, review, ...)."),
        Dimension("survey_id", "feedback", "survey_id", "Survey that collected it."),
        Dimension("product_id", "feedback", "product_id", "Product the feedback is about."),
        Dimension("brand", "feedback", "brand", "Brand (empty = our own); use with brand='*'."),
        Dimension("language", "feedback", "language", "Language of the feedback text."),
        Dimension("stage", "journey", "touchpoint", "Journey stage of the touchpoint (journey map)."),
        Dimension("region", "stores", "region", "Sales region of the store."),
        Dimension("store_name", "stores", "name", "Name of the store."),
        Dimension("store_format", "stores", "format", "Format of the store."),
        Dimension("city", "stores", "city", "City of the store."),
        Dimension("country", "stores", "country", "Country of the store."),
        Dimension("loyalty_tier", "customers", "loyalty_tier", "Customer's loyalty tier."),
        Dimension("age_band", "customers", "age_band", "Customer's age band."),
        Dimension("gender", "customers", "gender", "Customer's gender."),
        Dimension("income_band", "customers", "income_band", "Customer's income band."),
        Dimension("preferred_channel", "customers", "preferred_channel", "Customer's preferred channel."),
        Dimension(
            "late_delivery",
            "orders",
            "late_delivery",
            "Whether the order arrived after the promised time (null: not delivered or no promise).",
        ),
        Dimension("fulfilment", "orders", "fulfilment", "How the order reached the customer."),
        Dimension("order_channel", "orders", "channel", "Channel the order was placed in."),
    )
}

_TRUNC_UNIT = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}
_STEP = {
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(days=7),
    "month": pd.DateOffset(months=1),
    "quarter": pd.DateOffset(months=3),
}


#: The headline metrics, in the order every summary shows them (those the data has).
HEADLINE_METRICS: tuple[MetricName, ...] = ("nps", "csat", "ces", "rating")


# -- inputs ---------------------------------------------------------------------------------------


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _metrics(metric: MetricName | Sequence[MetricName]) -> list[Metric]:
    names = _as_list(metric)
    if not names:
        raise ValueError("no metric given; choose from " + ", ".join(METRICS))
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
    return [METRICS[m] for m in dict.fromkeys(names)]


def _dimensions(names: Sequence[str]) -> list[str]:
    for name in names:
        if name not in DIMENSIONS:
            raise ValueError(f"unknown dimension {name!r}; choose from {', '.join(DIMENSIONS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"dimension listed twice: {list(names)}")
    return list(names)


def _grain(grain: Grain | None) -> Grain | None:
    if grain is not None and grain not in _TRUNC_UNIT:
        raise ValueError(f"unknown grain {grain!r}; choose from {', '.join(_TRUNC_UNIT)}")
    return grain


def period_start(value: TimeLike, grain: Grain) -> pd.Timestamp:
    """Start of the ``grain`` period holding ``value`` (weeks start on Monday, as in the engines)."""
    ts = pd.Timestamp(timestamp(value)).normalize()
    if grain == "day":
        return ts
    if grain == "week":
        return ts - pd.Timedelta(days=ts.weekday())
    if grain == "month":
        return ts.replace(day=1)
    return ts.replace(month=3 * ((ts.month - 1) // 3) + 1, day=1)
