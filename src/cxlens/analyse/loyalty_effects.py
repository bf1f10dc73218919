"""What the loyalty programme causes: joining it, moving up a tier, and points that expire.

* :func:`enrolment_effect`: **difference-in-differences around enrolment**. Members who joined
  during the data are grouped by enrolment week; each week's new members are compared with
  customers who never joined, matched on their earlier spend per day, by the estimator of
  :mod:`cxlens.analyse.campaigns` (``y - x`` per customer, ``x`` = the ``window_days`` before
  joining, ``y`` = the ``window_days`` after). The weeks' estimates are pooled with the new
  members' weights (treating the weeks as independent: each comparison customer serves one
  week). Spend, visits and *active* (bought at all, i.e. retention) are estimated.
  Why not compare members with non-members directly: frequent shoppers are the ones who join,
  so members out-spend non-members whatever the programme does.
* :func:`tier_rd`: **regression discontinuity at a tier threshold**. At a tier review, members
  just above the qualifying threshold move up and those just below do not; the jump in visits
  (and spend) after the review between the two sides, from local linear fits with a triangular
  kernel on each side, is the effect of the upgrade for members at the threshold. The running
  variable is ``tier_history.qualifying_value`` of the review rows. The fit runs on binned
  moments from the engine (bins of a twentieth of the bandwidth, each at its mean running value)
  with a heteroskedasticity-robust (HC0) variance computed exactly from the bins' sums of
  squares. Default bandwidth: 1.84 x sd x n^(-1/5) of the running variable (a rule of thumb);
  half and double it are reported as a robustness check.
* :func:`expiry_complaints`: **points expiry and complaints**. Members whose points expired on the
  main expiry day against members whose did not: the share with a complaint about points in the
  ``window_days`` after it (a feedback row at a loyalty touchpoint, or a text whose loyalty
  aspect is negative once ``cxlens text analyse`` ran), with the same window before it as a
  placebo.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from cxlens.analyse import campaigns as cm
from cxlens.analyse import stats
from cxlens.analyse.common import Tables, TimeLike, getter, journey_map_of, timestamp
from cxlens.analyse.loyalty import data_range, optional
from cxlens.model.schema import LOYALTY_TIERS

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Aspect of the retail taxonomy that holds what customers say about the programme.
LOYALTY_ASPECT = "loyalty_programme"
#: Journey-map stage whose touchpoints are the programme's.
LOYALTY_STAGE = "loyalty"


# -- enrolment ------------------------------------------------------------------------------------


def enrolment_moments_expr(
    tables: Tables, start: pd.Timestamp, end: pd.Timestamp, window_days: int, cohorts: list[pd.Timestamp]
) -> ir.Table:
    """Ibis aggregation behind :func:`enrolment_effect`, shaped like
    :func:`cxlens.analyse.campaigns.campaign_moments_expr` (campaign_id = enrolment week).

    New members are anchored at their own enrolment; customers who never joined are spread over
    the enrolment weeks in customer-id order (each compared once, anchored mid-week), which keeps
    the work proportional to the customers rather than customers x weeks. Per customer: spend,
    visits and buying at all in the ``window_days`` before (x) and after (y) the anchor; matched
    on spend per day in up to two windows before that (the bin)."""
    from cxlens.analyse.customers.prepare import baskets_from_tables

    get = getter(tables)
    w_sec = window_days * 86_400
    lm = get("loyalty_members")
    window = pd.Timedelta(days=window_days)
    joined = lm.filter(
        lm.enrolled_at >= (start + window).to_pydatetime(), lm.enrolled_at < (end - window).to_pydatetime()
    )
    treated = joined.select(
        "customer_id",
        cohort=joined.enrolled_at.truncate("W").cast("timestamp"),
        anchor=joined.enrolled_at.cast("timestamp"),
        group=ibis.literal("targeted"),
    )
    cu = get("customers")
    never = cu.filter(~cu.customer_id.isin(lm.customer_id)).select("customer_id")
    never = never.mutate(k=ibis.row_number().over(order_by=never.customer_id) % len(cohorts))
    slots = ibis.memtable(pd.DataFrame({"idx": range(len(cohorts)), "slot": cohorts})).cast(
        {"slot": "timestamp"}
    )
    controls = never.join(slots, never.k == slots.idx)
    controls = controls.select(
        "customer_id",
        cohort=controls.slot.cast("timestamp"),
        anchor=(controls.slot + ibis.interval(hours=84)).cast("timestamp"),
        group=ibis.literal("other"),
    )
    people = treated.union(controls)
    known = cu.select(kc="customer_id", known_from="created_at")
    people = people.join(known, people.customer_id == known.kc)
    people = people.filter(
        people.known_from.isnull() | (people.known_from < people.anchor - ibis.interval(days=window_days))
    )
    earliest = ibis.literal(start.to_pydatetime())
    people = people.mutate(
        hist_start=ibis.greatest(people.anchor - ibis.interval(days=3 * window_days), earliest)
    )
    b = baskets_from_tables(get)
    b = b.select(bc="customer_id", t="ordered_at", value=b.value.cast("float64"))
    j = people.join(
        b,
        (people.customer_id == b.bc)
        & (b.t >= people.hist_start)
        & (b.t < people.anchor + ibis.interval(days=window_days)),
    )
    pre_start = j.anchor - ibis.interval(days=window_days)
    hist, pre, post = j.t < pre_start, (j.t >= pre_start) & (j.t < j.anchor), j.t >= j.anchor
    per = j.group_by(pc="customer_id").aggregate(
        h=j.value.sum(where=hist),
        s_pre=j.value.sum(where=pre),
        s_post=j.value.sum(where=post),
        v_pre=j.count(where=pre),
        v_post=j.count(where=post),
    )
    t = people.left_join(per, people.customer_id == per.pc)
    hist_days = (t.anchor.epoch_seconds() - w_sec - t.hist_start.epoch_seconds()) / 86_400
    rate = ibis.ifelse(hist_days >= 7, t.h.fill_null(0.0) / hist_days.clip(lower=1), 0.0)
    cols: dict[str, Any] = {
        "campaign_id": t.cohort.strftime("%Y-%m-%d"),
        "group": t.group,
        "bin": (rate * window_days + 1.0).log2().floor().cast("int64").clip(upper=24),
    }
    values = {
        "s": (t.s_pre.fill_null(0.0), t.s_post.fill_null(0.0)),
        "v": (t.v_pre.fill_null(0).cast("float64"), t.v_post.fill_null(0).cast("float64")),
    }
    values["a"] = (ibis.ifelse(values["v"][0] > 0, 1.0, 0.0), ibis.ifelse(values["v"][1] > 0, 1.0, 0.0))
    for m, (x, y) in values.items():
        cols[f"{m}x"], cols[f"{m}y"] = x, y
    t = t.select(**cols)
    aggs: dict[str, Any] = {"n": t.count()}
    for m in values:
        x, y = t[f"{m}x"], t[f"{m}y"]
        aggs.update(
            {
                f"{m}_x": x.sum(),
                f"{m}_y": y.sum(),
                f"{m}_xx": (x * x).sum(),
                f"{m}_yy": (y * y).sum(),
                f"{m}_xy": (x * y).sum(),
            }
        )
    return t.group_by(["campaign_id", "group", "bin"]).aggregate(**aggs)


def enrolment_effect(tables: Tables, *, window_days: int = 60, confidence: float = 0.95) -> pd.DataFrame:
    """The effect of joining on spend, visits and buying at all in the ``window_days`` after it,
    per metric: estimate, interval, p, new members measured and weeks (module docs)."""
    get = getter(tables)
    span = data_range(get)
    cols = ["metric", "estimate", "ci_low", "ci_high", "p_value", "members", "weeks", "window_days"]
    if span is None:
        return pd.DataFrame(columns=cols)
    start, end = span
    window = pd.Timedelta(days=window_days)
    lm = get("loyalty_members")
    joined = lm.filter(
        lm.enrolled_at >= (start + window).to_pydatetime(), lm.enrolled_at < (end - window).to_pydatetime()
    )
    weeks = joined.group_by(week=joined.enrolled_at.truncate("W")).aggregate(n=joined.count()).to_pandas()
    if weeks.empty:
        return pd.DataFrame(columns=cols)
    cohorts = sorted(pd.Timestamp(timestamp(w)) for w in weeks["week"])
    moments = enrolment_moments_expr(get, start, end, window_days, cohorts).to_pandas()
    for m in ("s", "v", "a"):
        for k in ("z", "zz", "xz"):
            moments[f"{m}_{k}"] = 0.0
    frame = pd.DataFrame({"campaign_id": [c.strftime("%Y-%m-%d") for c in cohorts]})
    wins = [
        cm.Windows(label, c - 3 * window, c - window, c, c + window, c + window, 1.0, 1.0, "")
        for label, c in zip(frame["campaign_id"], cohorts, strict=True)
    ]
    effects = cm.estimate(moments, frame, wins, confidence=confidence)
    rows = []
    for metric, col, lo_col, hi_col in (
        ("spend", "uplift_per_household", "ci_low", "ci_high"),
        ("visits", "uplift_visits", "visits_ci_low", "visits_ci_high"),
        ("active", "uplift_active", "active_ci_low", "active_ci_high"),
    ):
        ok = effects[effects[col].notna()]
        n = ok["households_targeted"].to_numpy(float)
        if not n.sum():
            continue
        w = n / n.sum()
        z = stats.z_value(confidence)
        se = ((ok[hi_col] - ok[lo_col]) / (2 * z)).to_numpy(float)
        est = float((w * ok[col].to_numpy(float)).sum())
        se_all = float(np.sqrt((w**2 * se**2).sum()))
        rows.append(
            {
                "metric": metric,
                "estimate": est,
                "ci_low": est - z * se_all,
                "ci_high": est + z * se_all,
                "p_value": float(stats.p_normal(est, se_all)),
                "members": int(n.sum()),
                "weeks": len(ok),
                "window_days": window_days,
            }
        )
    return pd.DataFrame(rows, columns=cols)


# -- tier review: regression discontinuity --------------------------------------------------------


@dataclass(frozen=True)
class Discontinuity:
    """A regression-discontinuity estimate at a tier threshold and its robustness checks."""

    outcome: str
    review_date: str
    threshold: float
    bandwidth: float
    horizon_days: int
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n_below: int
    n_above: int
    #: Share of members above the threshold who were not upgraded (0 for a sharp design).
    fuzzy_share: float
    estimate_half_bandwidth: float
    estimate_double_bandwidth: float
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary."""
        return asdict(self)


def _review(get: Any, review_date: TimeLike | None) -> pd.Timestamp:
    th = get("tier_history")
    rows = th.filter(th.qualifying_value.notnull())
    days = rows.group_by(day=rows.changed_at.date()).aggregate(n=rows.count()).to_pandas()
    if days.empty:
        raise ValueError("no tier reviews with a qualifying_value in tier_history")
    if review_date is not None:
        return pd.Timestamp(timestamp(review_date)).normalize()
    return pd.Timestamp(days.sort_values(["n", "day"], ascending=[False, True])["day"].iloc[0])


def reviewed_expr(tables: Tables, review: pd.Timestamp, horizon_days: int) -> ir.Table:
    """Ibis table of the members reviewed that day below the top tier: running value ``q``,
    ``upgraded``, and their ``visits`` and ``spend`` in the ``horizon_days`` after the review."""
    get = getter(tables)
    th = get("tier_history")
    rank = {t: i for i, t in enumerate(LOYALTY_TIERS)}
    day = th.filter(
        th.qualifying_value.notnull(),
        th.changed_at >= review.to_pydatetime(),
        th.changed_at < (review + pd.Timedelta(days=1)).to_pydatetime(),
        th.from_tier.notnull(),
        th.from_tier != LOYALTY_TIERS[-1],
    )
    from_rank = day.from_tier.cases(*rank.items(), else_=-1)
    to_rank = day.to_tier.cases(*rank.items(), else_=-1)
    day = day.select("customer_id", q=day.qualifying_value.cast("float64"), upgraded=to_rank > from_rank)
    o = get("orders")
    o = o.filter(
        o.customer_id.notnull(),
        o.status.isnull() | (o.status != "cancelled"),
        o.ordered_at >= review.to_pydatetime(),
        o.ordered_at < (review + pd.Timedelta(days=horizon_days)).to_pydatetime(),
    )
    per = o.group_by(oc="customer_id").aggregate(visits=o.count(), spend=o.total_amount.cast("float64").sum())
    j = day.left_join(per, day.customer_id == per.oc)
    return j.select(
        "customer_id",
        "q",
        "upgraded",
        visits=j.visits.fill_null(0).cast("float64"),
        spend=j.spend.fill_null(0.0),
    )


def _local_linear(bins: pd.DataFrame, y: str, h: float) -> tuple[float, float]:
    """Intercept at 0 and its HC0 variance of a triangular-kernel linear fit on one side's bins
    (columns x, n, <y>_sum, <y>_sq), exact for units at their bin's mean x."""
    k = np.clip(1 - np.abs(bins["x"].to_numpy()) / h, 0, None)
    keep = k > 0
    if keep.sum() < 3:
        return np.nan, np.nan
    x = bins["x"].to_numpy()[keep]
    n = bins["n"].to_numpy(float)[keep]
    s = bins[f"{y}_sum"].to_numpy(float)[keep]
    sq = bins[f"{y}_sq"].to_numpy(float)[keep]
    k = k[keep]
    design = np.column_stack([np.ones_like(x), x])
    bread = (design * (k * n)[:, None]).T @ design
    coef = np.linalg.solve(bread, (design * k[:, None]).T @ s)
    fit = design @ coef
    resid_sq = sq - 2 * fit * s + n * fit**2
    meat = (design * (k**2 * np.maximum(resid_sq, 0))[:, None]).T @ design
    inv = np.linalg.inv(bread)
    cov = inv @ meat @ inv
    return float(coef[0]), float(cov[0, 0])


def rd_bins(reviewed: ir.Table, threshold: float, width: float, reach: float) -> ir.Table:
    """Ibis aggregation: per bin of the running value (``width`` wide, within ``reach`` of the
    threshold, split at it): n, mean distance from the threshold, and sums and squares of visits
    and spend."""
    r = reviewed.mutate(x=reviewed.q - threshold)
    r = r.filter(r.x.abs() < reach)
    r = r.mutate(bin=(r.x / width).floor().cast("int64"))
    return r.group_by("bin").aggregate(
        n=r.count(),
        x=r.x.mean(),
        visits_sum=r.visits.sum(),
        visits_sq=(r.visits * r.visits).sum(),
        spend_sum=r.spend.sum(),
        spend_sq=(r.spend * r.spend).sum(),
    )


def tier_rd(
    tables: Tables,
    *,
    outcome: str = "visits",
    review_date: TimeLike | None = None,
    threshold: float | None = None,
    bandwidth: float | None = None,
    horizon_days: int | None = None,
    confidence: float = 0.95,
) -> tuple[Discontinuity, pd.DataFrame]:
    """The jump in ``outcome`` (visits or spend) after a tier review at the upgrade threshold
    (module docs); also the binned points for a chart (bin, x, n, mean, side)."""
    if outcome not in ("visits", "spend"):
        raise ValueError("outcome must be visits or spend")
    get = getter(tables)
    review = _review(get, review_date)
    span = data_range(get)
    if span is None:
        raise ValueError("there are no orders to measure visits after the review")
    left = int((span[1] - review).days)
    horizon = min(horizon_days or left, left)
    if horizon < 7:
        raise ValueError(f"only {horizon} days of data after the review of {review.date()}")
    reviewed = reviewed_expr(get, review, horizon)
    facts = (
        reviewed.aggregate(
            n=reviewed.count(),
            sd=reviewed.q.std(),
            up_min=reviewed.q.min(where=reviewed.upgraded),
        )
        .to_pandas()
        .iloc[0]
    )
    if not facts["n"] or pd.isna(facts["up_min"]):
        raise ValueError(f"nobody was upgraded at the review of {review.date()}")
    t = float(threshold if threshold is not None else facts["up_min"])
    h = float(bandwidth or 1.84 * float(facts["sd"]) * float(facts["n"]) ** -0.2)
    width = h / 20
    bins = rd_bins(reviewed, t, width, 2 * h).to_pandas().sort_values("bin")
    side = reviewed.mutate(above=reviewed.q >= t)
    fuzz = (
        side.aggregate(above=side.count(where=side.above), stay=side.count(where=side.above & ~side.upgraded))
        .to_pandas()
        .iloc[0]
    )

    def jump(hh: float) -> tuple[float, float, int, int]:
        below, above = bins[bins["bin"] < 0], bins[bins["bin"] >= 0]
        a0, va = _local_linear(above, outcome, hh)
        b0, vb = _local_linear(below, outcome, hh)
        n_b = int(below.loc[below["x"].abs() < hh, "n"].sum())
        n_a = int(above.loc[above["x"].abs() < hh, "n"].sum())
        return a0 - b0, float(np.sqrt(va + vb)), n_b, n_a

    est, se, n_b, n_a = jump(h)
    z = stats.z_value(confidence)
    result = Discontinuity(
        outcome=outcome,
        review_date=review.date().isoformat(),
        threshold=t,
        bandwidth=h,
        horizon_days=horizon,
        estimate=est,
        ci_low=est - z * se,
        ci_high=est + z * se,
        p_value=float(stats.p_normal(est, se)),
        n_below=n_b,
        n_above=n_a,
        fuzzy_share=float(fuzz["stay"] / fuzz["above"]) if fuzz["above"] else float("nan"),
        estimate_half_bandwidth=jump(h / 2)[0],
        estimate_double_bandwidth=jump(2 * h)[0],
        confidence=confidence,
    )
    points = bins.assign(
        qualifying_value=bins["x"] + t,
        mean=bins[f"{outcome}_sum"] / bins["n"],
        side=np.where(bins["bin"] >= 0, "upgraded", "not upgraded"),
    )[["bin", "qualifying_value", "n", "mean", "side"]]
    return result, points.reset_index(drop=True)


# -- points expiry and complaints ----------------------------------------------------------------


def _complaints(get: Any, tables: Tables) -> ir.Table:
    """Feedback rows about the programme: at a loyalty touchpoint, or (once texts are analysed)
    with a negative loyalty aspect. Columns customer_id, submitted_at."""
    fb = get("feedback")
    fb = fb.filter(fb.customer_id.notnull(), fb.brand.isnull())
    jm = journey_map_of(tables)
    touchpoints = [tp for tp, stage in jm.stage_of.items() if stage == LOYALTY_STAGE]
    about = fb.touchpoint.isin(touchpoints or [""])
    aspects = optional(get, "feedback_aspects")
    if aspects is not None:
        neg = aspects.filter(aspects.aspect == LOYALTY_ASPECT, aspects.sentiment == "negative")
        about = about | fb.feedback_id.isin(neg.feedback_id)
    return fb.filter(about).select("customer_id", "submitted_at")


def expiry_complaints_expr(tables: Tables, day: pd.Timestamp, window_days: int) -> ir.Table:
    """Ibis aggregation: per group (expired / not expired), members and members complaining about
    points in the window before and after ``day``."""
    get = getter(tables)
    led = get("points_ledger")
    gone = led.filter(
        led.kind == "expire", led.occurred_at >= day.to_pydatetime(),
        led.occurred_at < (day + pd.Timedelta(days=1)).to_pydatetime(),
    ).select(ec="customer_id").distinct()  # fmt: skip
    lm = get("loyalty_members")
    lm = lm.filter(lm.enrolled_at < (day - pd.Timedelta(days=window_days)).to_pydatetime())
    c = _complaints(get, tables)
    w = pd.Timedelta(days=window_days)
    after = c.filter(c.submitted_at >= day.to_pydatetime(), c.submitted_at < (day + w).to_pydatetime())
    before = c.filter(c.submitted_at >= (day - w).to_pydatetime(), c.submitted_at < day.to_pydatetime())
    t = lm.select("customer_id").mutate(
        expired=lm.customer_id.isin(gone.ec),
        after=lm.customer_id.isin(after.customer_id),
        before=lm.customer_id.isin(before.customer_id),
    )
    return t.group_by("expired").aggregate(
        members=t.count(), after=t.count(where=t.after), before=t.count(where=t.before)
    )


def expiry_complaints(
    tables: Tables, *, window_days: int = 30, day: TimeLike | None = None, confidence: float = 0.95
) -> dict[str, Any]:
    """Share of members complaining about points after the main expiry day, expired against not
    expired, with intervals and the same comparison in the window before as a placebo."""
    get = getter(tables)
    led = get("points_ledger")
    if day is None:
        gone = led.filter(led.kind == "expire")
        days = gone.group_by(d=gone.occurred_at.date()).aggregate(n=gone.count()).to_pandas()
        if days.empty:
            raise ValueError("no points expired in points_ledger")
        when = pd.Timestamp(days.sort_values(["n", "d"], ascending=[False, True])["d"].iloc[0])
    else:
        when = pd.Timestamp(timestamp(day)).normalize()
    agg = expiry_complaints_expr(get, when, window_days).to_pandas().set_index("expired")
    if True not in agg.index or False not in agg.index:
        raise ValueError(f"no comparison on {when.date()}: every member or none had points expire")
    out: dict[str, Any] = {"expiry_day": when.date().isoformat(), "window_days": window_days}
    for g, label in ((True, "expired"), (False, "not_expired")):
        out[f"members_{label}"] = int(agg.loc[g, "members"])
    for period in ("after", "before"):
        e, n = agg.loc[True, period], agg.loc[True, "members"]
        k, m_ = agg.loc[False, period], agg.loc[False, "members"]
        for label, (kk, nn) in (("expired", (e, n)), ("not_expired", (k, m_))):
            share, lo, hi = stats.wilson(kk, nn, confidence=confidence)
            out[f"{period}_{label}_share"] = float(share)
            out[f"{period}_{label}_ci"] = [float(lo), float(hi)]
        d, lo, hi, p = stats.diff_share(e, n, k, m_, confidence=confidence)
        out[f"{period}_difference"] = float(d)
        out[f"{period}_ci_low"], out[f"{period}_ci_high"], out[f"{period}_p_value"] = (
            float(lo),
            float(hi),
            float(p),
        )
    return out
