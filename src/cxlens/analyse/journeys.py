"""Omnichannel journeys: identity stitching, journey splitting, paths, transitions and step matrices.

Every analytic here builds Ibis expressions (window functions and group-bys only), so the same code
runs on DuckDB (out of core) and Spark; only small aggregated frames come back to pandas.

* **Stitching.** Each event gets an ``actor_id``: its ``customer_id``, else the customer its
  ``anonymous_id`` is linked to in ``identities``, else the ``anonymous_id`` itself. An anonymous id
  linked to several customers goes to the smallest customer id (counted by
  :func:`stitching_summary`).
* **Journeys.** An actor's events, in time order, are cut into journeys by :class:`JourneyRules`:
  an inactivity gap, optionally after a purchase event, and at explicit start events.
* **Paths.** The states of a journey (touchpoint, stage, channel or event type), with repeats
  collapsed, give transitions, a step matrix, Sankey links and top paths. Each recomputes the
  states from the events unless given ``states=``: a :func:`journey_states` table computed once
  (``.cache()`` it) for several of them. Truncation is never
  silent: :class:`TopPaths` says how many paths and journeys were left out and how many journeys
  were cut at ``max_steps``.

Funnels live in :mod:`.journey_funnels`, omnichannel patterns in :mod:`.journey_patterns`, the
emotion curve, peak-end and moments of truth in :mod:`.journey_experience`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

from cxlens.analyse.common import Tables, TimeLike, getter, journey_map_of, timestamp
from cxlens.journey.map import JourneyMap

if TYPE_CHECKING:
    import ibis.expr.types as ir

Level = Literal["touchpoint", "stage", "channel", "event_type"]

LEVELS: tuple[str, ...] = ("touchpoint", "stage", "channel", "event_type")
#: State after the last one of a journey (transitions) and of journeys with fewer steps (step matrix).
END = "(end)"
#: Marks a path cut at ``max_steps``.
MORE = "…"


@dataclass(frozen=True)
class JourneyRules:
    """How an actor's events are cut into journeys.

    A new journey starts at an actor's first event, after ``inactivity_gap`` without events, at an
    event whose type is in ``start_event_types``, and (if ``split_after_purchase``) at the first
    event after one whose type is in ``purchase_event_types``.
    """

    inactivity_gap: timedelta = timedelta(days=7)
    split_after_purchase: bool = False
    purchase_event_types: tuple[str, ...] = ("payment", "pos_purchase", "self_checkout")
    start_event_types: tuple[str, ...] = ()


DEFAULT_RULES = JourneyRules()


def stage_expr(touchpoint: ir.StringValue, jm: JourneyMap) -> ir.StringValue:
    """The journey-map stage of a touchpoint column."""
    return touchpoint.cases(*jm.stage_of.items())


# -- stitching ---------------------------------------------------------------------------------


def identity_map(tables: Tables) -> ir.Table:
    """One row per linked anonymous id: ``anonymous_id``, ``linked_customer_id`` and ``links``
    (customers it is linked to; above 1 means ambiguous, resolved to the smallest customer id)."""
    ids = getter(tables)("identities")
    return ids.group_by(ids.anonymous_id).aggregate(
        linked_customer_id=ids.customer_id.min(), links=ids.customer_id.nunique()
    )


def linked_customers(tables: Tables) -> ir.Table:
    """``anonymous_id`` -> ``linked_customer_id``: the customer each linked anonymous id stands
    for (the smallest id when it is linked to several). The one rule of stitching."""
    ids = getter(tables)("identities")
    return ids.group_by(ids.anonymous_id).aggregate(linked_customer_id=ids.customer_id.min())


def stitch(table: ir.Table, tables: Tables) -> ir.Table:
    """``table`` (with ``customer_id`` and ``anonymous_id``) plus ``actor_id`` and ``stitched``
    (true when the actor came from the identities table)."""
    idm = linked_customers(tables).rename(_cx_anon="anonymous_id")
    joined = table.left_join(idm, table.anonymous_id == idm._cx_anon).drop("_cx_anon")
    actor = ibis.coalesce(joined.customer_id, joined.linked_customer_id, joined.anonymous_id)
    stitched = joined.customer_id.isnull() & joined.linked_customer_id.notnull()
    return joined.mutate(actor_id=actor, stitched=stitched).drop("linked_customer_id")


def customer_rows(table: ir.Table, tables: Tables) -> ir.Table:
    """The rows of ``table`` (orders, feedback, events) that belong to a known customer, with
    ``customer_id`` set to that customer: their own ``customer_id``, else the customer their
    ``anonymous_id`` is linked to in ``identities`` (the stitching of :func:`stitch`). Customer
    analytics read orders, feedback and events through this, so a guest order linked to a customer
    counts in their RFM, value and churn features as it does in their journeys. (Only the guest
    rows are looked up, which keeps it cheap; the result is :func:`stitch`'s rows with a customer.)"""
    known = table.filter(table.customer_id.notnull())
    guests = table.filter(table.customer_id.isnull() & table.anonymous_id.notnull())
    links = linked_customers(tables).rename(_cx_anon="anonymous_id")
    linked = guests.join(links, guests.anonymous_id == links._cx_anon)  # inner: linked guests only
    linked = linked.mutate(customer_id=linked.linked_customer_id).select(*table.columns)
    return known.union(linked)


def stitched_events(
    tables: Tables, *, start: TimeLike | None = None, end: TimeLike | None = None
) -> ir.Table:
    """Events with ``actor_id`` and ``stitched`` (``start`` inclusive, ``end`` exclusive)."""
    ev = getter(tables)("events")
    if start is not None:
        ev = ev.filter(ev.occurred_at >= timestamp(start))
    if end is not None:
        ev = ev.filter(ev.occurred_at < timestamp(end))
    return stitch(ev, tables)


def stitching_summary(tables: Tables) -> pd.DataFrame:
    """What stitching did: events by how their actor is known, actors before and after stitching.

    One row per ``actor_source`` (``customer_id``, ``linked anonymous id``, ``unlinked anonymous
    id``) with ``events`` and ``actors`` (distinct actors among them), plus a ``(all)`` row whose
    ``actors`` is the distinct actors after stitching and ``ids_before`` before it; and the number of
    ``ambiguous_ids`` (anonymous ids linked to several customers) in ``attrs``.
    """
    ev = stitched_events(tables)
    source = ibis.cases(
        (ev.customer_id.notnull(), "customer_id"),
        (ev.stitched, "linked anonymous id"),
        else_="unlinked anonymous id",
    )
    src = ev.mutate(actor_source=source)
    by = src.group_by("actor_source").aggregate(events=src.count(), actors=src.actor_id.nunique())
    by = by.to_pandas()
    raw = ibis.coalesce(ev.customer_id, ev.anonymous_id)
    total = ev.aggregate(events=ev.count(), actors=ev.actor_id.nunique(), ids_before=raw.nunique())
    tot = total.to_pandas().assign(actor_source="(all)")
    idm = identity_map(tables)
    ambiguous = int(idm.filter(idm.links > 1).count().to_pandas())
    out = pd.concat([by.sort_values("actor_source"), tot], ignore_index=True)
    out = out[["actor_source", "events", "actors", "ids_before"]]
    out.attrs["ambiguous_ids"] = ambiguous
    return out


# -- journeys ----------------------------------------------------------------------------------


def _starts_journey(ev: ir.Table, w: ibis.Window, rules: JourneyRules) -> ir.BooleanValue:
    """True for an event that starts a journey under ``rules`` (``w``: the actor's events in order)."""
    gap = int(rules.inactivity_gap.total_seconds())
    prev_t = ev.occurred_at.lag().over(w)
    new = prev_t.isnull() | (ev.occurred_at > prev_t + ibis.interval(seconds=gap))
    if rules.start_event_types:
        new = new | ev.event_type.isin(list(rules.start_event_types))
    if rules.split_after_purchase:
        bought = ev.event_type.isin(list(rules.purchase_event_types))
        new = new | bought.lag().over(w).fill_null(False)
    return new


def journey_events(
    tables: Tables,
    rules: JourneyRules = DEFAULT_RULES,
    *,
    journey_map: JourneyMap | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> ir.Table:
    """Stitched events cut into journeys: adds ``stage``, ``journey_no`` (1, 2, ... per actor),
    ``journey_id`` (``actor_id#journey_no``) and ``event_no`` (1-based within the journey)."""
    jm = journey_map_of(tables, journey_map)
    ev = stitched_events(tables, start=start, end=end)
    w = ibis.window(group_by=ev.actor_id, order_by=[ev.occurred_at, ev.event_id])
    new = _starts_journey(ev, w, rules)
    ev = ev.mutate(stage=stage_expr(ev.touchpoint, jm), _cx_new=new.cast("int64"))
    cw = ibis.cumulative_window(group_by=ev.actor_id, order_by=[ev.occurred_at, ev.event_id])
    ev = ev.mutate(journey_no=ev._cx_new.sum().over(cw)).drop("_cx_new")
    ev = ev.mutate(journey_id=ev.actor_id.concat("#", ev.journey_no.cast("string")))
    wj = ibis.window(group_by=ev.journey_id, order_by=[ev.occurred_at, ev.event_id])
    return ev.mutate(event_no=ibis.row_number().over(wj) + 1)


def journeys(
    tables: Tables,
    rules: JourneyRules = DEFAULT_RULES,
    *,
    journey_map: JourneyMap | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> ir.Table:
    """One row per journey: ``journey_id``, ``actor_id``, ``journey_no``, ``started_at``,
    ``ended_at``, ``events``, ``channels`` (distinct), ``orders`` (distinct order ids) and
    ``purchased`` (a purchase event happened), plus the first touch's ``first_touchpoint`` and
    ``first_channel`` (the zero moment of truth)."""
    ev = journey_events(tables, rules, journey_map=journey_map, start=start, end=end)
    bought = ev.event_type.isin(list(rules.purchase_event_types))
    agg = ev.group_by(["journey_id", "actor_id", "journey_no"]).aggregate(
        started_at=ev.occurred_at.min(),
        ended_at=ev.occurred_at.max(),
        events=ev.count(),
        channels=ev.channel.nunique(),
        orders=ev.order_id.nunique(),
        purchased=bought.any(),
    )
    first = ev.filter(ev.event_no == 1).select(
        _cx_j=ev.journey_id, first_touchpoint=ev.touchpoint, first_channel=ev.channel
    )
    return agg.join(first, agg.journey_id == first._cx_j).drop("_cx_j")


# -- paths -------------------------------------------------------------------------------------


def _level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose from {', '.join(LEVELS)}")
    return level


def journey_states(
    tables: Tables,
    level: Level = "touchpoint",
    rules: JourneyRules = DEFAULT_RULES,
    *,
    collapse_repeats: bool = True,
    journey_map: JourneyMap | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> ir.Table:
    """The path of each journey as rows ``journey_id``, ``step`` (1-based), ``state``,
    ``next_state`` (null after the last step) and ``occurred_at``; with ``collapse_repeats``
    consecutive events in the same state count as one step.

    The journeys are those of :func:`journey_events`, computed leaner: only the columns the paths
    need, the journey cut and the repeat collapse in one pass over each actor's events (a repeat
    never starts a journey, so the actor's previous event is the journey's), and the steps
    numbered within (actor, journey number) before the ``journey_id`` text is built.
    """
    jm = journey_map_of(tables, journey_map)
    ev = stitched_events(tables, start=start, end=end)
    state = stage_expr(ev.touchpoint, jm) if _level(level) == "stage" else ev[level]
    ev = ev.select("actor_id", "event_id", "occurred_at", "event_type", state=state)
    w = ibis.window(group_by=ev.actor_id, order_by=[ev.occurred_at, ev.event_id])
    new = _starts_journey(ev, w, rules)
    keep: ir.BooleanValue = ibis.literal(True)
    if collapse_repeats:
        prev = ev.state.lag().over(w)
        keep = new | prev.isnull() | (prev != ev.state)
    ev = ev.mutate(_cx_new=new.cast("int64"), _cx_keep=keep)
    ev = ev.filter(ev._cx_keep)
    cw = ibis.cumulative_window(group_by=ev.actor_id, order_by=[ev.occurred_at, ev.event_id])
    ev = ev.mutate(journey_no=ev._cx_new.sum().over(cw))
    wj = ibis.window(group_by=[ev.actor_id, ev.journey_no], order_by=[ev.occurred_at, ev.event_id])
    ev = ev.mutate(step=ibis.row_number().over(wj) + 1, next_state=ev.state.lead().over(wj))
    journey_id = ev.actor_id.concat("#", ev.journey_no.cast("string"))
    return ev.select(
        journey_id=journey_id,
        step=ev.step,
        state=ev.state,
        next_state=ev.next_state,
        occurred_at=ev.occurred_at,
    )


def _states(
    tables: Tables,
    level: str,
    rules: JourneyRules,
    jm: JourneyMap,
    states: ir.Table | None,
    options: dict[str, TimeLike | None],
) -> ir.Table:
    """The given precomputed states, or :func:`journey_states` for these arguments."""
    if states is not None:
        return states
    return journey_states(tables, level, rules, journey_map=jm, **options)  # type: ignore[arg-type]


def _order_states(df: pd.DataFrame, columns: Sequence[str], jm: JourneyMap, level: str) -> pd.DataFrame:
    """Sort a frame by state columns in journey-map order (unknown states after, END last)."""
    if level == "touchpoint":
        known = list(jm.touchpoint_ids)
    elif level == "stage":
        known = [s.id for s in jm.stages]
    elif level == "channel":
        known = list(jm.channel_ids)
    else:
        known = list(jm.touchpoint_of_event_type)
    rank = {s: i for i, s in enumerate(known)}
    keys = {c: df[c].map(lambda s: len(rank) + 1 if s == END else rank.get(s, len(rank))) for c in columns}
    tmp = df.assign(**{f"_cx_{c}": k for c, k in keys.items()})
    sort = [x for c in columns for x in (f"_cx_{c}", c)]
    return tmp.sort_values(sort, kind="stable").drop(columns=[f"_cx_{c}" for c in columns])


def transitions(
    tables: Tables,
    level: Level = "touchpoint",
    rules: JourneyRules = DEFAULT_RULES,
    *,
    journey_map: JourneyMap | None = None,
    states: ir.Table | None = None,
    **options: TimeLike | None,
) -> pd.DataFrame:
    """Transition counts ``state`` -> ``next_state`` (``(end)`` after a journey's last step) with
    ``n`` and ``share`` (of all transitions out of ``state``)."""
    jm = journey_map_of(tables, journey_map)
    st = _states(tables, level, rules, jm, states, options)
    st = st.mutate(next_state=st.next_state.fill_null(END))
    df = st.group_by(["state", "next_state"]).aggregate(n=st.count()).to_pandas()
    df["n"] = df["n"].astype("int64")
    df["share"] = df["n"] / df.groupby("state")["n"].transform("sum")
    return _order_states(df, ["state", "next_state"], jm, level).reset_index(drop=True)


def transition_matrix(transition_frame: pd.DataFrame, value: str = "share") -> pd.DataFrame:
    """Pivot :func:`transitions` into a matrix: rows ``state``, columns ``next_state``."""
    order = list(dict.fromkeys(transition_frame["state"]))
    cols = list(dict.fromkeys([*order, *transition_frame["next_state"]]))
    m = transition_frame.pivot(index="state", columns="next_state", values=value)
    return m.reindex(index=order, columns=cols).fillna(0.0)


def step_matrix(
    tables: Tables,
    level: Level = "touchpoint",
    rules: JourneyRules = DEFAULT_RULES,
    *,
    max_steps: int = 10,
    journey_map: JourneyMap | None = None,
    states: ir.Table | None = None,
    **options: TimeLike | None,
) -> pd.DataFrame:
    """Long step matrix: per ``step`` (1..max_steps) and ``state``, the ``n`` journeys in that
    state at that step and their ``share`` of all journeys; journeys shorter than the step are
    in state ``(end)``."""
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    jm = journey_map_of(tables, journey_map)
    st = _states(tables, level, rules, jm, states, options)
    total = int(st.filter(st.step == 1).count().to_pandas())
    part = st.filter(st.step <= max_steps)
    df = part.group_by(["step", "state"]).aggregate(n=part.count()).to_pandas()
    df["n"] = df["n"].astype("int64")
    present = df.groupby("step")["n"].sum().reindex(range(1, max_steps + 1), fill_value=0)
    ended = pd.DataFrame({"step": present.index, "state": END, "n": total - present.to_numpy()})
    df = pd.concat([df, ended[ended["n"] > 0]], ignore_index=True)
    df["step"] = df["step"].astype("int64")
    df["share"] = df["n"] / total if total else 0.0
    out = _order_states(df, ["state"], jm, level).sort_values("step", kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["journeys"] = total
    return out


def sankey_links(
    tables: Tables,
    level: Level = "stage",
    rules: JourneyRules = DEFAULT_RULES,
    *,
    max_steps: int = 5,
    journey_map: JourneyMap | None = None,
    states: ir.Table | None = None,
    **options: TimeLike | None,
) -> pd.DataFrame:
    """Sankey data: journeys moving from ``source`` at ``step`` to ``target`` at ``step + 1``
    (``(end)`` when the journey stops there), for steps 1..max_steps-1, with ``n``."""
    if max_steps < 2:
        raise ValueError("max_steps must be at least 2 for a Sankey diagram")
    jm = journey_map_of(tables, journey_map)
    st = _states(tables, level, rules, jm, states, options)
    part = st.filter(st.step < max_steps).mutate(target=st.next_state.fill_null(END))
    df = part.group_by(["step", "state", "target"]).aggregate(n=part.count()).to_pandas()
    df = df.rename(columns={"state": "source"})
    df["n"] = df["n"].astype("int64")
    df["step"] = df["step"].astype("int64")
    df = _order_states(df, ["source", "target"], jm, level).sort_values("step", kind="stable")
    return df.reset_index(drop=True)


TOTALS = ("distinct", "journeys", "truncated")


def _int(value: object) -> int:
    """An engine scalar as int (a sum over no rows is null: 0)."""
    return 0 if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


@dataclass
class TopPaths:
    """The most frequent journey paths and what was left out of the list."""

    level: str
    max_steps: int
    #: ``rank``, ``path`` (states joined by " > ", "…" when cut), ``steps``, ``n``, ``share``.
    paths: pd.DataFrame
    total_journeys: int
    distinct_paths: int
    #: Journeys longer than max_steps (their path is cut and ends in "…").
    truncated_journeys: int
    steps: list[str] = field(default_factory=list)

    @property
    def left_out_paths(self) -> int:
        """Distinct paths not listed."""
        return self.distinct_paths - len(self.paths)

    @property
    def left_out_journeys(self) -> int:
        """Journeys whose path is not listed."""
        return self.total_journeys - int(self.paths["n"].sum()) if len(self.paths) else self.total_journeys

    @property
    def note(self) -> str:
        """A sentence saying what was left out (never silent)."""
        parts = [
            f"{len(self.paths):,} of {self.distinct_paths:,} distinct paths listed, covering "
            f"{self.total_journeys - self.left_out_journeys:,} of {self.total_journeys:,} journeys"
        ]
        if self.left_out_paths:
            parts.append(f"{self.left_out_paths:,} paths ({self.left_out_journeys:,} journeys) left out")
        if self.truncated_journeys:
            parts.append(
                f"{self.truncated_journeys:,} journeys longer than {self.max_steps} steps are cut "
                f"(shown ending in {MORE})"
            )
        return "; ".join(parts) + "."


def top_paths(
    tables: Tables,
    level: Level = "stage",
    rules: JourneyRules = DEFAULT_RULES,
    *,
    k: int = 20,
    max_steps: int = 8,
    journey_map: JourneyMap | None = None,
    states: ir.Table | None = None,
    **options: TimeLike | None,
) -> TopPaths:
    """The ``k`` most frequent paths (first ``max_steps`` states, repeats collapsed), ties broken
    by the path text; counts of what was left out come with them."""
    if k < 1 or max_steps < 1:
        raise ValueError("k and max_steps must be at least 1")
    jm = journey_map_of(tables, journey_map)
    st = _states(tables, level, rules, jm, states, options)
    # Steps past max_steps + 1 change nothing: the path is cut either way (``steps`` is only shown
    # for paths that are not cut).
    st = st.filter(st.step <= max_steps + 1)
    cols = [f"s{i}" for i in range(1, max_steps + 1)]
    wide = st.group_by("journey_id").aggregate(
        steps=st.step.max(),
        **{c: st.state.max(where=st.step == i) for i, c in enumerate(cols, start=1)},
    )
    wide = wide.mutate(cut=wide.steps > max_steps)
    keyed = wide.mutate(**{c: wide[c].fill_null("") for c in cols})
    counts = keyed.group_by([*cols, "cut"]).aggregate(n=keyed.count(), steps=keyed.steps.min())
    # The totals ride along as window aggregates: one pass over the paths, not one per figure.
    everything = ibis.window()
    counts = counts.mutate(
        _cx_distinct=counts.count().over(everything),
        _cx_journeys=counts.n.sum().over(everything),
        _cx_truncated=counts.n.sum(where=counts.cut).over(everything),
    )
    top = counts.order_by([ibis.desc("n"), *cols, "cut"]).limit(k).to_pandas()
    stats = top.head(1) if len(top) else pd.DataFrame({f"_cx_{c}": [0] for c in TOTALS})
    total = _int(stats["_cx_journeys"].iloc[0])
    rows = []
    for i, r in enumerate(top.itertuples(index=False), start=1):
        states = [getattr(r, c) for c in cols if getattr(r, c)]
        path = " > ".join(states) + (f" > {MORE}" if r.cut else "")
        steps = min(int(r.steps), max_steps) if not r.cut else max_steps
        rows.append((i, path, steps, int(r.n), int(r.n) / total))
    paths = pd.DataFrame(rows, columns=["rank", "path", "steps", "n", "share"])
    return TopPaths(
        level=level,
        max_steps=max_steps,
        paths=paths,
        total_journeys=total,
        distinct_paths=_int(stats["_cx_distinct"].iloc[0]),
        truncated_journeys=_int(stats["_cx_truncated"].iloc[0]),
        steps=cols,
    )
