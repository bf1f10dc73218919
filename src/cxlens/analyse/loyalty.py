"""The loyalty programme at a glance: members and active members, tier migration, points
liability and breakage, and experience (NPS, CSAT, rating, sentiment) by tier.

Definitions (``docs/loyalty.md`` has the long form):

* **member** at a time: enrolled (``loyalty_members.enrolled_at``) on or before it and not left;
  **active** in a period: a member with an order of their own in it (cancelled orders excluded).
* **tier at a time**: the ``to_tier`` of the member's last ``tier_history`` row up to then; before
  their first row, that row's ``from_tier``; with no rows, ``loyalty_members.tier``.
* **points**: ``issued`` = earned plus positive adjustments, ``burned`` and ``expired`` by their
  size (exports that sign them either way work); ``balance`` = issued - burned - expired - negative
  adjustments; **liability** = balance x point value (the ledger's ``value`` per point where it has
  one, else the value given); **redemption rate** = burned / issued; **breakage** = expired /
  (burned + expired), the share of points that left the balance unused.
* experience by tier uses the metric definitions of :mod:`cxlens.analyse.metrics`, with each
  customer's tier from ``loyalty_members`` (non-members are ``none``).

Counting is Ibis in the engine; shares and intervals are computed on the small result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from cxlens.analyse import metrics as m
from cxlens.analyse import stats
from cxlens.analyse.common import TableGetter, Tables, TimeLike, getter, timestamp
from cxlens.model.schema import LOYALTY_TIERS

if TYPE_CHECKING:
    import ibis.expr.types as ir

_UNIT = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}
_FREQ = {"day": "D", "week": "W-MON", "month": "MS", "quarter": "QS"}
JOINED, LEFT = "(joined)", "(left)"
MEMBER, NON_MEMBER = "member", "non-member"


def optional(get: TableGetter, name: str) -> ir.Table | None:
    """``get(name)``, or None when the table does not exist (e.g. texts not analysed yet)."""
    try:
        return get(name)
    except Exception:  # each backend raises its own "table not found"
        return None


def _period_frame(frame: pd.DataFrame, col: str = "period") -> pd.DataFrame:
    period = frame[col]
    if isinstance(period.dtype, pd.DatetimeTZDtype):
        period = period.dt.tz_convert("UTC").dt.tz_localize(None)
    frame[col] = pd.to_datetime(period).astype("datetime64[us]")
    return frame


# -- members --------------------------------------------------------------------------------------


def members_expr(tables: Tables, grain: str = "month") -> tuple[ir.Table, ir.Table, ir.Table]:
    """Ibis aggregations behind :func:`members_series`: enrolments per period, leavers per period,
    and active members per period."""
    if grain not in _UNIT:
        raise ValueError(f"unknown grain {grain!r}; choose from {', '.join(_UNIT)}")
    get = getter(tables)
    lm = get("loyalty_members")
    joined = lm.group_by(period=lm.enrolled_at.truncate(_UNIT[grain])).aggregate(new_members=lm.count())
    gone = lm.filter(lm.left_at.notnull())
    left = gone.group_by(period=gone.left_at.truncate(_UNIT[grain])).aggregate(left_members=gone.count())
    o = get("orders")
    o = o.filter(o.customer_id.notnull(), o.status.isnull() | (o.status != "cancelled"))
    j = o.join(lm.select("customer_id", "enrolled_at", "left_at"), "customer_id")
    j = j.filter(j.ordered_at >= j.enrolled_at, j.left_at.isnull() | (j.ordered_at < j.left_at))
    active = j.group_by(period=j.ordered_at.truncate(_UNIT[grain])).aggregate(
        active_members=j.customer_id.nunique()
    )
    return joined, left, active


def members_series(tables: Tables, grain: str = "month", *, confidence: float = 0.95) -> pd.DataFrame:
    """Per period from the first order to the last: new members, members at the end of the
    period, active members and their share of the members with a Wilson interval."""
    joined, left, active = (_period_frame(e.to_pandas()) for e in members_expr(tables, grain))
    cols = ["period", "new_members", "left_members", "members", "active_members", "active_share"]
    cols += ["ci_low", "ci_high"]
    span = data_range(tables)
    if span is None:
        return pd.DataFrame(columns=cols)
    first_day, last_day = span[0], span[1] - pd.Timedelta(days=1)
    start = m.period_start(first_day, grain)  # type: ignore[arg-type]
    days = pd.date_range(start, last_day, freq=_FREQ[grain])
    periods = pd.DataFrame({"period": days.astype("datetime64[us]")})
    first = periods["period"].iloc[0]
    before = (
        joined.loc[joined["period"] < first, "new_members"].sum()
        - left.loc[left["period"] < first, "left_members"].sum()
    )
    out = periods.merge(joined, on="period", how="left").merge(left, on="period", how="left")
    out = out.merge(active, on="period", how="left").fillna(0)
    out["members"] = before + (out["new_members"] - out["left_members"]).cumsum()
    share, lo, hi = stats.wilson(out["active_members"], out["members"], confidence=confidence)
    out["active_share"], out["ci_low"], out["ci_high"] = share, lo, hi
    for c in ("new_members", "left_members", "members", "active_members"):
        out[c] = out[c].astype("int64")
    return out[cols]


# -- tiers ----------------------------------------------------------------------------------------


def tier_at_expr(tables: Tables, when: TimeLike) -> ir.Table:
    """Ibis table: customer_id and tier of every member enrolled by ``when`` (module docs)."""
    get = getter(tables)
    at = timestamp(when)
    lm = get("loyalty_members")
    lm = lm.filter(lm.enrolled_at <= at, lm.left_at.isnull() | (lm.left_at > at))
    th = get("tier_history")
    past = th.filter(th.changed_at <= at)
    last = past.group_by(bc="customer_id").aggregate(before=past.to_tier.argmax(past.changed_at))
    later = th.filter(th.changed_at > at, th.from_tier.notnull())
    nxt = later.group_by(ac="customer_id").aggregate(after=later.from_tier.argmin(later.changed_at))
    j = lm.left_join(last, lm.customer_id == last.bc)
    j = j.left_join(nxt, j.customer_id == nxt.ac)
    return j.select("customer_id", tier=ibis.coalesce(j.before, j.after, j.tier))


def tier_migration(tables: Tables, start: TimeLike, end: TimeLike) -> pd.DataFrame:
    """Members by tier at ``start`` (rows) and at ``end`` (columns): ``from_tier``, ``to_tier``,
    ``members`` and ``share`` of the row; members who joined in between come from ``(joined)``,
    those who left go to ``(left)``."""
    a = tier_at_expr(tables, start).rename(a_id="customer_id", from_tier="tier")
    b = tier_at_expr(tables, end).rename(b_id="customer_id", to_tier="tier")
    j = a.outer_join(b, a.a_id == b.b_id)
    j = j.select(
        from_tier=ibis.ifelse(j.a_id.isnull(), JOINED, j.from_tier.fill_null("none")),
        to_tier=ibis.ifelse(j.b_id.isnull(), LEFT, j.to_tier.fill_null("none")),
    )
    counts = j.group_by(["from_tier", "to_tier"]).aggregate(members=j.count()).to_pandas()
    if counts.empty:
        return pd.DataFrame(columns=["from_tier", "to_tier", "members", "share"])
    order = {t: i for i, t in enumerate((JOINED, *LOYALTY_TIERS, LEFT))}
    counts["share"] = counts["members"] / counts.groupby("from_tier")["members"].transform("sum")
    counts = counts.sort_values(
        ["from_tier", "to_tier"], key=lambda s: s.map(lambda v: order.get(v, len(order)))
    )
    return counts.reset_index(drop=True)


def migration_matrix(migration: pd.DataFrame) -> pd.DataFrame:
    """The migration as a from x to matrix of member counts (tiers in programme order)."""
    order = [t for t in (JOINED, *LOYALTY_TIERS, LEFT)]
    matrix = migration.pivot_table(index="from_tier", columns="to_tier", values="members", aggfunc="sum")
    rows = [t for t in order if t in matrix.index]
    cols = [t for t in order if t in matrix.columns]
    return matrix.reindex(index=rows, columns=cols).fillna(0).astype("int64")


# -- points ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Points:
    """Points issued, burned and expired, the outstanding balance and its money value."""

    members_with_balance: int
    earned: float
    adjusted_in: float
    adjusted_out: float
    burned: float
    expired: float
    balance: float
    point_value: float | None
    liability: float | None
    redemption_rate: float
    breakage_rate: float
    as_of: str | None

    @property
    def issued(self) -> float:
        """Points earned plus positive adjustments."""
        return self.earned + self.adjusted_in

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary, with ``issued``."""
        return {**asdict(self), "issued": self.issued}


def _signed(t: ir.Table) -> ir.FloatingValue:
    """The ledger change with burn and expire counted as negative whatever their recorded sign."""
    size = t.points.cast("float64").abs()
    return ibis.cases((t.kind.isin(["burn", "expire"]), -size), else_=t.points.cast("float64"))


def points_expr(tables: Tables, as_of: TimeLike | None = None) -> ir.Table:
    """Ibis aggregation behind :func:`points_summary`: per member, the points by kind, the balance
    and the value recorded for them (summed to one row per kind of total in pandas)."""
    led = getter(tables)("points_ledger")
    if as_of is not None:
        led = led.filter(led.occurred_at < timestamp(as_of))
    size = led.points.cast("float64").abs()
    per = led.group_by("customer_id").aggregate(
        earned=size.sum(where=led.kind == "earn"),
        adjusted_in=led.points.cast("float64").sum(where=(led.kind == "adjust") & (led.points > 0)),
        adjusted_out=size.sum(where=(led.kind == "adjust") & (led.points < 0)),
        burned=size.sum(where=led.kind == "burn"),
        expired=size.sum(where=led.kind == "expire"),
        balance=_signed(led).sum(),
        valued_points=size.sum(where=led.value.notnull()),
        value=led.value.cast("float64").abs().sum(),
    )
    return per.aggregate(
        members_with_balance=per.count(where=per.balance > 0),
        earned=per.earned.sum(),
        adjusted_in=per.adjusted_in.sum(),
        adjusted_out=per.adjusted_out.sum(),
        burned=per.burned.sum(),
        expired=per.expired.sum(),
        balance=per.balance.sum(),
        valued_points=per.valued_points.sum(),
        value=per.value.sum(),
    )


def points_summary(tables: Tables, as_of: TimeLike | None = None, point_value: float | None = None) -> Points:
    """Points issued, burned, expired, the balance, the liability and the redemption and breakage
    rates up to ``as_of`` (exclusive; default: everything)."""
    row = points_expr(tables, as_of).to_pandas().fillna(0).iloc[0]
    if point_value is None and row["valued_points"] > 0:
        point_value = float(row["value"] / row["valued_points"])
    issued = float(row["earned"] + row["adjusted_in"])
    used = float(row["burned"] + row["expired"])
    return Points(
        members_with_balance=int(row["members_with_balance"]),
        earned=float(row["earned"]),
        adjusted_in=float(row["adjusted_in"]),
        adjusted_out=float(row["adjusted_out"]),
        burned=float(row["burned"]),
        expired=float(row["expired"]),
        balance=float(row["balance"]),
        point_value=point_value,
        liability=float(row["balance"]) * point_value if point_value is not None else None,
        redemption_rate=float(row["burned"]) / issued if issued else float("nan"),
        breakage_rate=float(row["expired"]) / used if used else float("nan"),
        as_of=None if as_of is None else pd.Timestamp(timestamp(as_of)).isoformat(),
    )


def points_series_expr(tables: Tables, grain: str = "month") -> ir.Table:
    """Ibis aggregation: points earned, burned, expired and adjusted (signed) per period."""
    led = getter(tables)("points_ledger")
    size = led.points.cast("float64").abs()
    return led.group_by(period=led.occurred_at.truncate(_UNIT[grain])).aggregate(
        earned=size.sum(where=led.kind == "earn"),
        burned=size.sum(where=led.kind == "burn"),
        expired=size.sum(where=led.kind == "expire"),
        adjusted=led.points.cast("float64").sum(where=led.kind == "adjust"),
        net=_signed(led).sum(),
    )


def points_series(tables: Tables, grain: str = "month") -> pd.DataFrame:
    """Points earned, burned, expired, adjusted per period and the running balance."""
    frame = _period_frame(points_series_expr(tables, grain).to_pandas()).fillna(0.0)
    frame = frame.sort_values("period").reset_index(drop=True)
    frame["balance"] = frame["net"].cumsum()
    return frame


# -- experience by tier ---------------------------------------------------------------------------


def member_tiers(tables: Tables, *, status: bool = False) -> TableGetter:
    """A getter whose ``customers.loyalty_tier`` is the member's tier from ``loyalty_members``
    (``none`` for non-members), or with ``status`` "member" / "non-member"."""
    get = getter(tables)

    def table(name: str) -> ir.Table:
        t = get(name)
        if name != "customers":
            return t
        lm = get("loyalty_members").select(_m_id="customer_id", _m_tier="tier")
        j = t.left_join(lm, t.customer_id == lm._m_id)
        if status:
            tier = ibis.ifelse(j._m_id.notnull(), MEMBER, NON_MEMBER)
        else:
            tier = ibis.ifelse(j._m_id.notnull(), j._m_tier.fill_null("none"), "none")
        return j.mutate(loyalty_tier=tier).drop("_m_id", "_m_tier")

    return table


def cx_by_tier(
    tables: Tables, metrics: Sequence[m.MetricName] = ("nps", "csat", "rating"), **opts: Any
) -> pd.DataFrame:
    """NPS, CSAT, rating (any :mod:`~cxlens.analyse.metrics` metric) per member tier, with n and
    intervals (:func:`cxlens.analyse.metrics.metric_table` over :func:`member_tiers`)."""
    table = m.metric_table(member_tiers(tables), list(metrics), by=["loyalty_tier"], **opts)
    order = {t: i for i, t in enumerate(LOYALTY_TIERS)}
    key = table["loyalty_tier"].map(lambda t: order.get(t, len(order)))
    return (
        table.assign(_k=key)
        .sort_values(["metric", "_k"], kind="stable")
        .drop(columns="_k")
        .reset_index(drop=True)
    )


def cx_members_vs_others(
    tables: Tables, metrics: Sequence[m.MetricName] = ("nps", "csat", "rating"), **opts: Any
) -> pd.DataFrame:
    """Members against non-members for each metric: both values, the difference, its interval
    and test (:func:`cxlens.analyse.metrics.compare_segments`)."""
    return m.compare_segments(
        member_tiers(tables, status=True),
        list(metrics),
        "loyalty_tier",
        a=MEMBER,
        b=NON_MEMBER,
        **opts,
    )


def sentiment_by_tier_expr(tables: Tables) -> ir.Table | None:
    """Ibis aggregation: per member tier, texts analysed and how many are negative and positive
    (None when ``cxlens text analyse`` has not run)."""
    get = getter(tables)
    ft = optional(get, "feedback_text")
    if ft is None:
        return None
    fb = get("feedback")
    fb = fb.filter(fb.brand.isnull(), fb.customer_id.notnull()).select("feedback_id", "customer_id")
    cu = member_tiers(get)("customers").select(c_id="customer_id", tier="loyalty_tier")
    texts = ft.select(f_id="feedback_id", sentiment="sentiment")
    j = fb.join(texts, fb.feedback_id == texts.f_id)
    j = j.join(cu, j.customer_id == cu.c_id)
    return j.group_by("tier").aggregate(
        texts=j.count(),
        negative=j.count(where=j.sentiment == "negative"),
        positive=j.count(where=j.sentiment == "positive"),
    )


def sentiment_by_tier(tables: Tables, *, confidence: float = 0.95) -> pd.DataFrame:
    """Share of negative and positive texts per tier with Wilson intervals (empty before
    ``cxlens text analyse``)."""
    expr = sentiment_by_tier_expr(tables)
    cols = ["tier", "texts", "negative_share", "negative_ci_low", "negative_ci_high", "positive_share"]
    if expr is None:
        return pd.DataFrame(columns=cols)
    agg = expr.to_pandas()
    neg, lo, hi = stats.wilson(agg["negative"], agg["texts"], confidence=confidence)
    pos, _, _ = stats.wilson(agg["positive"], agg["texts"], confidence=confidence)
    agg = agg.assign(negative_share=neg, negative_ci_low=lo, negative_ci_high=hi, positive_share=pos)
    order = {t: i for i, t in enumerate(LOYALTY_TIERS)}
    agg = agg.sort_values("tier", key=lambda s: s.map(lambda t: order.get(t, len(order))))
    return agg[cols].reset_index(drop=True)


def data_range(tables: Tables) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First day of the orders and the day after the last (None without orders)."""
    o = getter(tables)("orders")
    row = o.aggregate(lo=o.ordered_at.min(), hi=o.ordered_at.max()).to_pandas().iloc[0]
    if pd.isna(row["lo"]):
        return None
    lo = pd.Timestamp(timestamp(row["lo"])).normalize()
    hi = pd.Timestamp(timestamp(row["hi"])).normalize() + pd.Timedelta(days=1)
    return lo, hi
