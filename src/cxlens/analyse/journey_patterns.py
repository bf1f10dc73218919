"""Omnichannel patterns: showrooming, webrooming, online-only, store-only and mixed purchases, the
zero moment of truth (first touch) and conversion by research channel.

A purchase is classified from the order and the stitched events of the same actor in the
``window_days`` before it (identity stitching as in :mod:`.journeys`). Research events are events
at a touchpoint of the ``research_stage`` (consideration by default); an event counts as online
research when its channel is an online one and as store research when its channel is a store one.
Patterns, in order of precedence:

* ``showrooming``: an online order with store research;
* ``webrooming``: a store order with online research;
* ``online_only`` / ``store_only``: an online (store) order with no store (online) research;
* ``mixed``: an order in another channel (call centre, chat, ...) after research in both;
* ``other``: any other order in another channel.

Online channels default to the journey map's channels of kind ``online``; store channels to those
of kind ``offline`` (store, kiosk, ...). Both can be given explicitly, as can the research
touchpoints (``online_research`` / ``store_research``), which then replace the channel rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxlens.analyse.journeys import (
    DEFAULT_RULES,
    JourneyMap,
    JourneyRules,
    Tables,
    getter,
    journey_events,
    journey_map_of,
    stitch,
)
from cxlens.analyse.stats import DEFAULT_CONFIDENCE, nps_interval, wilson

PATTERNS: tuple[str, ...] = ("showrooming", "webrooming", "online_only", "store_only", "mixed", "other")
#: First touch of an order with no event in its window.
NO_TOUCH = "(none)"


@dataclass(frozen=True)
class ResearchRule:
    """Which orders are online or in store and which events count as online or store research."""

    online_channels: tuple[str, ...]
    store_channels: tuple[str, ...]
    research_touchpoints: tuple[str, ...]
    online_research: tuple[str, ...] | None = None
    store_research: tuple[str, ...] | None = None

    def is_online_research(self, ev: ir.Table) -> ir.BooleanValue:
        """Events that are online research."""
        if self.online_research is not None:
            return ev.touchpoint.isin(list(self.online_research))
        return ev.touchpoint.isin(list(self.research_touchpoints)) & ev.channel.isin(
            list(self.online_channels)
        )

    def is_store_research(self, ev: ir.Table) -> ir.BooleanValue:
        """Events that are store research."""
        if self.store_research is not None:
            return ev.touchpoint.isin(list(self.store_research))
        return ev.touchpoint.isin(list(self.research_touchpoints)) & ev.channel.isin(
            list(self.store_channels)
        )


def research_rule(
    jm: JourneyMap,
    *,
    online_channels: Sequence[str] | None = None,
    store_channels: Sequence[str] | None = None,
    research_stage: str = "consideration",
    online_research: Sequence[str] | None = None,
    store_research: Sequence[str] | None = None,
) -> ResearchRule:
    """The research rule for a journey map (defaults from channel kinds and the research stage)."""
    stages = {s.id: s for s in jm.stages}
    if research_stage not in stages:
        raise ValueError(f"unknown stage {research_stage!r}; the journey map has {', '.join(stages)}")
    for given in (online_research, store_research):
        unknown = set(given or ()) - set(jm.touchpoint_ids)
        if unknown:
            raise ValueError(f"unknown touchpoint(s) {', '.join(sorted(unknown))}")
    online = online_channels or [c.id for c in jm.channels if c.kind == "online"]
    store = store_channels or [c.id for c in jm.channels if c.kind == "offline"]
    return ResearchRule(
        online_channels=tuple(online),
        store_channels=tuple(store),
        research_touchpoints=tuple(t.id for t in stages[research_stage].touchpoints),
        online_research=tuple(online_research) if online_research is not None else None,
        store_research=tuple(store_research) if store_research is not None else None,
    )


def order_patterns(
    tables: Tables,
    *,
    window_days: float = 7,
    journey_map: JourneyMap | None = None,
    rule: ResearchRule | None = None,
) -> ir.Table:
    """One row per order: ``order_id``, ``actor_id``, ``ordered_at``, ``order_channel``,
    ``store_id``, ``events`` (stitched events in the window), ``online_research``,
    ``store_research`` (counts), ``pattern``, ``first_touchpoint`` and ``first_channel`` (the
    zero moment of truth: the first event in the window, ``(none)`` if there was none)."""
    get = getter(tables)
    jm = journey_map_of(tables, journey_map)
    rule = rule or research_rule(jm)
    orders = stitch(get("orders"), tables)
    orders = orders.select("order_id", "actor_id", "ordered_at", "store_id", order_channel=orders.channel)
    ev = stitch(get("events"), tables)
    ev = ev.select(
        "actor_id",
        "event_id",
        "occurred_at",
        "channel",
        "touchpoint",
        online=rule.is_online_research(ev),
        store=rule.is_store_research(ev),
    ).rename(_cx_actor="actor_id")
    window = ibis.interval(seconds=int(window_days * 86_400))
    pairs = orders.join(
        ev,
        [
            orders.actor_id == ev._cx_actor,
            ev.occurred_at <= orders.ordered_at,
            ev.occurred_at >= orders.ordered_at - window,
        ],
    ).select("order_id", "event_id", "occurred_at", "channel", "touchpoint", "online", "store")
    per = pairs.group_by("order_id").aggregate(
        events=pairs.count(),
        online_research=pairs.count(where=pairs.online),
        store_research=pairs.count(where=pairs.store),
    )
    w = ibis.window(group_by=pairs.order_id, order_by=[pairs.occurred_at, pairs.event_id])
    ranked = pairs.mutate(_cx_rn=ibis.row_number().over(w))
    first = ranked.filter(ranked._cx_rn == 0).select(
        _cx_first_order=ranked.order_id, first_touchpoint=ranked.touchpoint, first_channel=ranked.channel
    )
    per = per.rename(_cx_order="order_id")
    t = orders.left_join(per, orders.order_id == per._cx_order).drop("_cx_order")
    t = t.left_join(first, t.order_id == first._cx_first_order).drop("_cx_first_order")
    t = t.mutate(
        events=t.events.fill_null(0),
        online_research=t.online_research.fill_null(0),
        store_research=t.store_research.fill_null(0),
        first_touchpoint=t.first_touchpoint.fill_null(NO_TOUCH),
        first_channel=t.first_channel.fill_null(NO_TOUCH),
    )
    is_online = t.order_channel.isin(list(rule.online_channels))
    is_store = t.order_channel.isin(list(rule.store_channels))
    pattern = ibis.cases(
        (is_online & (t.store_research > 0), "showrooming"),
        (is_store & (t.online_research > 0), "webrooming"),
        (is_online, "online_only"),
        (is_store, "store_only"),
        ((t.online_research > 0) & (t.store_research > 0), "mixed"),
        else_="other",
    )
    return t.mutate(pattern=pattern)


def pattern_summary(
    tables: Tables,
    *,
    window_days: float = 7,
    journey_map: JourneyMap | None = None,
    rule: ResearchRule | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> pd.DataFrame:
    """Per pattern: ``orders``, ``share`` of all orders with ``share_ci_low``/``share_ci_high``
    (Wilson), and the NPS of feedback about those orders (``nps_n``, ``nps``, ``nps_ci_low``,
    ``nps_ci_high``; own brand only). Every pattern is listed, with 0 orders if none."""
    op = order_patterns(tables, window_days=window_days, journey_map=journey_map, rule=rule)
    fb = getter(tables)("feedback")
    fb = fb.filter(fb.nps.notnull(), fb.brand.isnull(), fb.order_id.notnull())
    fb = fb.select(_cx_order=fb.order_id, nps=fb.nps)
    joined = op.select("order_id", "pattern").left_join(fb, op.order_id == fb._cx_order)
    agg = op.group_by("pattern").aggregate(orders=op.count())
    nps = joined.group_by("pattern").aggregate(
        nps_n=joined.nps.count(),
        promoters=joined.nps.count(where=joined.nps >= 9),
        detractors=joined.nps.count(where=joined.nps <= 6),
    )
    df = agg.to_pandas().merge(nps.to_pandas(), on="pattern", how="left")
    df = df.set_index("pattern").reindex(list(PATTERNS)).fillna(0).reset_index()
    for col in ("orders", "nps_n", "promoters", "detractors"):
        df[col] = df[col].astype("int64")
    total = df["orders"].sum()
    share, lo, hi = wilson(df["orders"].to_numpy(), np.full(len(df), total), confidence=confidence)
    value, _, nlo, nhi = nps_interval(df["promoters"], df["detractors"], df["nps_n"], confidence=confidence)
    out = df[["pattern", "orders"]].assign(
        share=share,
        share_ci_low=lo,
        share_ci_high=hi,
        nps_n=df["nps_n"],
        nps=value,
        nps_ci_low=nlo,
        nps_ci_high=nhi,
    )
    out.attrs["window_days"] = window_days
    return out


def zero_moment(
    tables: Tables,
    *,
    window_days: float = 7,
    journey_map: JourneyMap | None = None,
    rule: ResearchRule | None = None,
) -> pd.DataFrame:
    """The zero moment of truth: orders by ``pattern``, ``first_channel`` and
    ``first_touchpoint`` with ``n`` and ``share`` within the pattern."""
    op = order_patterns(tables, window_days=window_days, journey_map=journey_map, rule=rule)
    keys = ["pattern", "first_channel", "first_touchpoint"]
    df = op.group_by(keys).aggregate(n=op.count()).to_pandas()
    df["n"] = df["n"].astype("int64")
    df["share"] = df["n"] / df.groupby("pattern")["n"].transform("sum")
    rank = {p: i for i, p in enumerate(PATTERNS)}
    df = df.assign(_cx=df["pattern"].map(rank)).sort_values(
        ["_cx", "n", "first_channel", "first_touchpoint"], ascending=[True, False, True, True]
    )
    return df.drop(columns="_cx").reset_index(drop=True)


def research_conversion(
    tables: Tables,
    rules: JourneyRules = DEFAULT_RULES,
    *,
    journey_map: JourneyMap | None = None,
    rule: ResearchRule | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> pd.DataFrame:
    """Conversion of journeys (see :class:`.JourneyRules`) by where the customer researched:
    ``research`` in ``online``, ``store``, ``both`` or ``none``, with ``journeys``, ``converted``
    (a purchase event in the journey), ``conversion`` and its Wilson interval."""
    jm = journey_map_of(tables, journey_map)
    rule = rule or research_rule(jm)
    ev = journey_events(tables, rules, journey_map=jm)
    ev = ev.mutate(
        _cx_on=rule.is_online_research(ev),
        _cx_st=rule.is_store_research(ev),
        _cx_buy=ev.event_type.isin(list(rules.purchase_event_types)),
    )
    per = ev.group_by("journey_id").aggregate(on=ev._cx_on.any(), st=ev._cx_st.any(), bought=ev._cx_buy.any())
    research = ibis.cases((per.on & per.st, "both"), (per.on, "online"), (per.st, "store"), else_="none")
    per = per.mutate(research=research)
    df = (
        per.group_by("research")
        .aggregate(journeys=per.count(), converted=per.count(where=per.bought))
        .to_pandas()
    )
    df = df.set_index("research").reindex(["online", "store", "both", "none"]).fillna(0).reset_index()
    df[["journeys", "converted"]] = df[["journeys", "converted"]].astype("int64")
    p, lo, hi = wilson(df["converted"].to_numpy(), df["journeys"].to_numpy(), confidence=confidence)
    return df.assign(conversion=p, ci_low=lo, ci_high=hi)
