"""Funnels over journeys: ordered steps with conversion and drop-off per step, by channel, store or
customer segment, time-to-convert distributions, and the time between any two touchpoints.

A step is a name or a list of names; a name matches an event's journey stage, touchpoint or event
type. A journey reaches step 1 at its first matching event and step *i* at its first event matching
step *i* at or after the moment it reached step *i - 1* (and, with ``within``, no later than that
after step 1). Everything up to the per-group counts runs in the engine; times are whole seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxlens.analyse.journeys import (
    DEFAULT_RULES,
    JourneyMap,
    JourneyRules,
    Tables,
    TimeLike,
    getter,
    journey_events,
    journey_map_of,
)
from cxlens.analyse.stats import DEFAULT_CONFIDENCE, wilson

Step = str | Sequence[str]
#: Dimensions taken from the event that started the funnel (step 1).
EVENT_DIMENSIONS = ("channel", "store_id")
#: Dimensions taken from the customer (journeys of unknown customers get null).
CUSTOMER_DIMENSIONS = (
    "loyalty_tier",
    "age_band",
    "gender",
    "income_band",
    "preferred_channel",
    "home_store_id",
    "region",
    "country",
    "language",
)
#: Upper bounds (seconds) of the time-to-convert bins; the last bin is open.
TIME_BINS: tuple[tuple[str, float], ...] = (
    ("< 1 h", 3_600),
    ("1–6 h", 6 * 3_600),
    ("6–24 h", 86_400),
    ("1–3 d", 3 * 86_400),
    ("3–7 d", 7 * 86_400),
    ("7–30 d", 30 * 86_400),
    ("≥ 30 d", float("inf")),
)
#: A typical retail funnel on the default journey map (online view to review).
DEFAULT_STEPS: tuple[str, ...] = ("product_page", "add_to_cart", "checkout", "payment", "delivery")


def _names(step: Step) -> list[str]:
    names = [step] if isinstance(step, str) else list(step)
    if not names:
        raise ValueError("a funnel step needs at least one stage, touchpoint or event type")
    return names


def step_label(step: Step) -> str:
    """How a step is shown: its name, or its names joined by ``|``."""
    return "|".join(_names(step))


def _check(steps: Sequence[Step], by: Sequence[str], jm: JourneyMap) -> None:
    if len(steps) < 1:
        raise ValueError("a funnel needs at least one step")
    known = {s.id for s in jm.stages} | set(jm.touchpoint_ids) | set(jm.touchpoint_of_event_type)
    for step in steps:
        for name in _names(step):
            if name not in known:
                raise ValueError(
                    f"unknown funnel step {name!r}: not a stage, touchpoint or event type of the journey map"
                )
    for dim in by:
        if dim not in EVENT_DIMENSIONS + CUSTOMER_DIMENSIONS:
            raise ValueError(
                f"unknown funnel dimension {dim!r}; choose from "
                + ", ".join(EVENT_DIMENSIONS + CUSTOMER_DIMENSIONS)
            )


def _epoch(t: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since the epoch, floored the same way on every engine."""
    return t.truncate("s").epoch_seconds().cast("int64")


def funnel_journeys(
    tables: Tables,
    steps: Sequence[Step] = DEFAULT_STEPS,
    by: Sequence[str] = (),
    rules: JourneyRules = DEFAULT_RULES,
    *,
    within: timedelta | None = None,
    journey_map: JourneyMap | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> ir.Table:
    """One row per journey that reached step 1: ``journey_id``, the ``by`` columns and ``t1`` ...
    ``tK`` (seconds since the epoch when the journey reached each step; null if it did not)."""
    jm = journey_map_of(tables, journey_map)
    by = list(by)
    _check(steps, by, jm)
    ev = journey_events(tables, rules, journey_map=jm, start=start, end=end)

    def matching(step: Step) -> ir.Table:
        names = _names(step)
        hit = ev.stage.isin(names) | ev.touchpoint.isin(names) | ev.event_type.isin(names)
        return ev.filter(hit)

    first = matching(steps[0])
    w = ibis.window(group_by=first.journey_id, order_by=[first.occurred_at, first.event_id])
    first = first.mutate(_cx_rn=ibis.row_number().over(w))
    first = first.filter(first._cx_rn == 0)
    event_dims = {d: first[d] for d in by if d in EVENT_DIMENSIONS}
    base = first.select("journey_id", "actor_id", t1=_epoch(first.occurred_at), **event_dims)
    limit = int(within.total_seconds()) if within is not None else None
    for i, step in enumerate(steps[1:], start=2):
        cand = matching(step)
        cand = cand.select(_cx_j=cand.journey_id, _cx_t=_epoch(cand.occurred_at))
        prev = base.select("journey_id", "t1", _cx_prev=base[f"t{i - 1}"])
        cond = [prev.journey_id == cand._cx_j, cand._cx_t >= prev._cx_prev]
        if limit is not None:
            cond.append(cand._cx_t <= prev.t1 + limit)
        reached = prev.join(cand, cond).group_by("journey_id").aggregate(**{f"t{i}": ibis._._cx_t.min()})
        reached = reached.rename(_cx_jr="journey_id")
        base = base.left_join(reached, base.journey_id == reached._cx_jr).drop("_cx_jr")
    cust_dims = [d for d in by if d in CUSTOMER_DIMENSIONS]
    if cust_dims:
        cust = getter(tables)("customers")
        cust = cust.select(_cx_c=cust.customer_id, **{d: cust[d] for d in cust_dims})
        base = base.left_join(cust, base.actor_id == cust._cx_c).drop("_cx_c")
    return base.select("journey_id", *by, *[f"t{i}" for i in range(1, len(steps) + 1)])


def funnel(
    tables: Tables,
    steps: Sequence[Step] = DEFAULT_STEPS,
    by: Sequence[str] = (),
    rules: JourneyRules = DEFAULT_RULES,
    *,
    within: timedelta | None = None,
    journey_map: JourneyMap | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> pd.DataFrame:
    """Conversion and drop-off per step (and ``by`` group).

    Columns: the ``by`` columns, ``step_no``, ``step``, ``journeys`` (that reached the step),
    ``conversion`` (of step 1) with ``ci_low``/``ci_high`` (Wilson), ``step_conversion`` (of the
    previous step), ``drop_off`` (journeys lost since the previous step), ``drop_off_share`` and
    ``mean_hours`` (mean time from step 1 to this step among journeys that reached it).
    """
    fj = funnel_journeys(
        tables, steps, by, rules, within=within, journey_map=journey_map, start=start, end=end
    )
    by = list(by)
    k = len(steps)
    aggs: dict[str, ir.Scalar] = {}
    for i in range(1, k + 1):
        t = fj[f"t{i}"]
        aggs[f"n{i}"] = t.count()
        aggs[f"s{i}"] = (t - fj.t1).sum()
    agg = fj.group_by(by).aggregate(**aggs) if by else fj.aggregate(**aggs)
    wide = agg.to_pandas()
    rows = []
    for i, step in enumerate(steps, start=1):
        part = wide[by].copy()
        part["step_no"] = i
        part["step"] = step_label(step)
        part["journeys"] = wide[f"n{i}"].fillna(0).astype("int64")
        part["_first"] = wide["n1"].fillna(0).astype("int64")
        part["_prev"] = wide[f"n{max(i - 1, 1)}"].fillna(0).astype("int64")
        part["_secs"] = wide[f"s{i}"].astype("float64")
        rows.append(part)
    df = pd.concat(rows, ignore_index=True)
    p, lo, hi = wilson(df["journeys"].to_numpy(), df["_first"].to_numpy(), confidence=confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        step_conv = df["journeys"].to_numpy(float) / df["_prev"].to_numpy(float)
        mean_hours = df["_secs"].to_numpy(float) / df["journeys"].to_numpy(float) / 3_600
    df = df.assign(
        conversion=p,
        ci_low=lo,
        ci_high=hi,
        step_conversion=step_conv,
        drop_off=df["_prev"] - df["journeys"],
        drop_off_share=1 - step_conv,
        mean_hours=mean_hours,
    )
    df = df.drop(columns=["_first", "_prev", "_secs"])
    df = df.sort_values([*by, "step_no"], kind="stable", na_position="last").reset_index(drop=True)
    df.attrs["steps"] = [step_label(s) for s in steps]
    return df


def _binned(seconds: ir.IntegerValue) -> ir.StringValue:
    cases = [(seconds < upper, label) for label, upper in TIME_BINS[:-1]]
    return ibis.cases(*cases, else_=TIME_BINS[-1][0])


def time_to_convert(
    tables: Tables,
    steps: Sequence[Step] = DEFAULT_STEPS,
    by: Sequence[str] = (),
    rules: JourneyRules = DEFAULT_RULES,
    *,
    within: timedelta | None = None,
    journey_map: JourneyMap | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> pd.DataFrame:
    """Distribution of the time from step 1 to the last step among journeys that completed the
    funnel: the ``by`` columns, ``bin`` (from ``< 1 h`` to ``≥ 30 d``), ``n`` and ``share``."""
    fj = funnel_journeys(
        tables, steps, by, rules, within=within, journey_map=journey_map, start=start, end=end
    )
    last = fj[f"t{len(steps)}"]
    done = fj.filter(last.notnull())
    done = done.mutate(bin=_binned(done[f"t{len(steps)}"] - done.t1))
    df = done.group_by([*by, "bin"]).aggregate(n=done.count()).to_pandas()
    labels = [label for label, _ in TIME_BINS]
    if by:
        groups = df[list(by)].drop_duplicates()
        full = groups.merge(pd.DataFrame({"bin": labels}), how="cross")
    else:
        full = pd.DataFrame({"bin": labels})
    df = full.merge(df, on=[*by, "bin"], how="left")
    df["n"] = df["n"].fillna(0).astype("int64")
    totals = df.groupby(list(by), dropna=False)["n"].transform("sum") if by else df["n"].sum()
    df["share"] = df["n"] / totals
    df["_cx"] = df["bin"].map({b: i for i, b in enumerate(labels)})
    df = df.sort_values([*by, "_cx"], kind="stable", na_position="last").drop(columns="_cx")
    return df.reset_index(drop=True)


def time_between(
    tables: Tables,
    a: Step,
    b: Step,
    by: Sequence[str] = (),
    rules: JourneyRules = DEFAULT_RULES,
    *,
    journey_map: JourneyMap | None = None,
) -> pd.DataFrame:
    """Time from the first ``a`` of a journey to the first ``b`` at or after it: the ``by``
    columns, ``bin``, ``n`` and ``share`` (as :func:`time_to_convert` for the funnel ``a`` -> ``b``),
    with the mean in hours in ``attrs["mean_hours"]`` (overall)."""
    df = time_to_convert(tables, [a, b], by, rules, journey_map=journey_map)
    fun = funnel(tables, [a, b], (), rules, journey_map=journey_map)
    df.attrs["mean_hours"] = float(fun["mean_hours"].iloc[-1])
    df.attrs["pairs"] = int(fun["journeys"].iloc[-1])
    return df
