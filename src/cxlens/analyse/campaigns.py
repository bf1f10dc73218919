"""Did a campaign pay? Incremental spend and visits per targeted customer, with 95% intervals.

For each campaign, every customer of the population gets three numbers per metric (spend and
visits = baskets): ``x`` in the pre-period (the same length as the campaign, just before it;
rescaled per day when the data starts later), ``y`` during the campaign and ``z`` after it (the same
length again). Customers are *targeted* (selected and contacted), *holdout* (selected and held
out) or *other*. One Ibis aggregation (:func:`campaign_moments_expr`) sums n, x, y, z, their
squares and cross-products per campaign, group and bin of history spend h (``floor(log2(1 +
h))``, see below); the estimates are then computed on that small frame:

* **holdout kept** (at least ``MIN_HOLDOUT`` held out): targeted minus holdout with CUPED, i.e.
  ``y - theta (x - mean x)`` with ``theta = cov(x, y) / var(x)`` pooled over both groups; Welch
  interval on the adjusted outcome (:func:`cxlens.analyse.stats.diff_mean`). Random selection
  makes this unbiased; the pre-period only narrows the interval.
* **no holdout**: targeted customers against *matched* non-targeted customers: within each bin
  of *history* spend (the two campaign-lengths before the pre-period), the change ``y - x`` of the
  targeted minus that of the others (difference-in-differences), averaged with the targeted
  customers' weights; bins without two other customers are left out (``matched_share`` says how
  many targeted customers were kept). Normal interval from the bin variances. This assumes that,
  within a bin, targeted and other customers would have changed alike without the campaign.
  *Why match on history, not on the pre-period:* matching on the same noisy pre-period that the
  difference uses lets regression to the mean pass for an effect when the targeted customers
  shop more (or less) than others with the same pre-period spend (Daw & Hatfield 2018); the
  demo's campaign for its most frequent shoppers shows it. Without enough history, every
  customer is in one bin (plain difference-in-differences).
* the **after** columns repeat the estimate on ``z``: does the effect last once the campaign ends?

A campaign whose pre-period lies outside the data (it started too early) gets no estimate (the
``note`` says so); one running past the end of the data is measured over the part observed.
``redemption_rate`` is the share of targeted (contacted) customers with a redemption of the
campaign, with a Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from cxlens.analyse import stats
from cxlens.analyse.common import Tables, getter, timestamp

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Fewest held-out customers for the holdout comparison (else: matched customers).
MIN_HOLDOUT = 20
#: Shortest pre- or after-window (days) that gives an estimate.
MIN_WINDOW_DAYS = 7
METRICS = ("spend", "visits", "active")
#: Column prefixes of the metrics in the moments frame.
METRIC_CODES = ("s", "v", "a")
GROUPS = ("targeted", "holdout", "other")
_MOMENTS = ("x", "y", "z", "xx", "yy", "zz", "xy", "xz")
COLUMNS = (
    "campaign_id", "name", "type", "start", "end", "days_observed", "households_targeted",
    "households_holdout", "method", "redemptions", "redeemers", "redemption_rate", "redemption_ci_low",
    "redemption_ci_high", "uplift_per_household", "ci_low", "ci_high", "p_value", "uplift_visits",
    "visits_ci_low", "visits_ci_high", "uplift_active", "active_ci_low", "active_ci_high",
    "uplift_after", "after_ci_low", "after_ci_high", "matched_share", "spend_per_household", "note",
)  # fmt: skip


@dataclass(frozen=True)
class Windows:
    """The pre, during and after windows of one campaign, clipped to the data."""

    campaign_id: str
    hist_start: datetime
    pre_start: datetime
    start: datetime
    end: datetime
    after_end: datetime
    #: Multipliers that put the pre- and after-window sums on the campaign's length.
    scale_pre: float
    scale_after: float
    note: str

    @property
    def days(self) -> float:
        """Days of the campaign inside the data."""
        return (self.end - self.start).total_seconds() / 86400

    @property
    def pre_ok(self) -> bool:
        """Whether the campaign and its pre-period are long enough in the data for an estimate."""
        return (self.start - self.pre_start).days >= MIN_WINDOW_DAYS and self.days >= MIN_WINDOW_DAYS

    @property
    def after_ok(self) -> bool:
        """Whether the after-window is long enough for an estimate."""
        return (self.after_end - self.end).days >= MIN_WINDOW_DAYS and self.pre_ok


def windows(campaigns: pd.DataFrame, data_start: datetime, data_end: datetime) -> list[Windows]:
    """Each campaign's windows (``start``, ``end`` exclusive) clipped to ``[data_start, data_end)``."""
    out = []
    for row in campaigns.itertuples(index=False):
        start, end = timestamp(row.start), timestamp(row.end)  # type: ignore[arg-type]
        notes = []
        s, e = max(start, data_start), min(end, data_end)
        if start < data_start:
            notes.append("started before the data")
        if end > data_end and (e - s).days >= MIN_WINDOW_DAYS:
            notes.append(f"runs past the end of the data: measured over {max((e - s).days, 0)} days")
        length = max(e - s, timedelta(0))
        pre_start = max(s - length, data_start)
        after_end = min(e + length, data_end)
        pre_len, after_len = s - pre_start, after_end - e
        scale_pre = length / pre_len if pre_len > timedelta(0) else 0.0
        scale_after = length / after_len if after_len > timedelta(0) else 0.0
        hist_start = max(pre_start - 2 * length, data_start)
        if pre_start - hist_start < timedelta(days=MIN_WINDOW_DAYS):
            hist_start = pre_start  # too short to match on: every customer in one bin
        w = Windows(str(row.campaign_id), hist_start, pre_start, s, e, after_end, scale_pre, scale_after, "")
        if w.days < MIN_WINDOW_DAYS:
            notes.append(f"only {w.days:.0f} days of it in the data: not estimated")
        elif not w.pre_ok:
            notes.append("no pre-period in the data: not estimated")
        elif not w.after_ok:
            notes.append("too little data after it to say whether it lasts")
        out.append(
            Windows(
                str(row.campaign_id),
                hist_start,
                pre_start,
                s,
                max(e, s),
                after_end,
                scale_pre,
                scale_after,
                "; ".join(notes),
            )
        )
    return out


def campaign_moments_expr(
    baskets: ir.Table,
    wins: list[Windows],
    targets: ir.Table,
    population: ir.Table,
) -> ir.Table:
    """Ibis aggregation: per ``campaign_id``, ``group``, ``bin`` the count ``n`` and, for spend
    (``s_``), visits (``v_``) and buying at all (``a_``: 1 or 0, not rescaled), the sums of x, y,
    z, their squares and x·y, x·z (module docs).

    ``baskets``: customer_id, ordered_at, value (one row per basket); ``targets``: campaign_id,
    customer_id, holdout (bool or null); ``population``: customer_id (one row each) and, optionally,
    ``known_from``: a customer counts for a campaign only if known before its pre-period."""
    frame = pd.DataFrame(
        {
            "campaign_id": [w.campaign_id for w in wins],
            "hist_start": [w.hist_start for w in wins],
            "pre_start": [w.pre_start for w in wins],
            "c_start": [w.start for w in wins],
            "c_end": [w.end for w in wins],
            "after_end": [w.after_end for w in wins],
            "scale_pre": [float(w.scale_pre) for w in wins],
            "scale_after": [float(w.scale_after) for w in wins],
        }
    )
    times = ("hist_start", "pre_start", "c_start", "c_end", "after_end")
    w = ibis.memtable(frame).cast(dict.fromkeys(times, "timestamp"))
    b = baskets.select("customer_id", "ordered_at", value=baskets.value.cast("float64"))
    j = b.join(w, (b.ordered_at >= w.hist_start) & (b.ordered_at < w.after_end))
    history = j.ordered_at < j.pre_start
    pre = (j.ordered_at >= j.pre_start) & (j.ordered_at < j.c_start)
    during = (j.ordered_at >= j.c_start) & (j.ordered_at < j.c_end)
    after = j.ordered_at >= j.c_end
    per = j.group_by(["campaign_id", "customer_id"]).aggregate(
        s_hist=j.value.sum(where=history),
        s_pre=j.value.sum(where=pre),
        s_dur=j.value.sum(where=during),
        s_aft=j.value.sum(where=after),
        v_pre=j.count(where=pre),
        v_dur=j.count(where=during),
        v_aft=j.count(where=after),
    )
    if "known_from" in population.columns:
        pop = population.select(pid="customer_id", known_from="known_from")
    else:
        pop = population.select(pid="customer_id", known_from=ibis.null("timestamp")).distinct()
    grid = pop.cross_join(w.select("campaign_id", "pre_start", "scale_pre", "scale_after"))
    grid = grid.filter(grid.known_from.isnull() | (grid.known_from < grid.pre_start))
    per = per.rename(pcamp="campaign_id", pcust="customer_id")
    t = grid.left_join(per, (grid.campaign_id == per.pcamp) & (grid.pid == per.pcust))
    tg = targets.select(tcamp="campaign_id", tcust="customer_id", holdout="holdout")
    t = t.left_join(tg, (t.campaign_id == tg.tcamp) & (t.pid == tg.tcust))
    group = ibis.cases(
        (t.tcust.notnull() & t.holdout.fill_null(False), "holdout"),
        (t.tcust.notnull(), "targeted"),
        else_="other",
    )
    cols: dict[str, ir.Value] = {"group": group, "hist": t.s_hist.cast("float64").fill_null(0.0)}
    for m in ("s", "v"):
        cols[f"{m}x"] = t[f"{m}_pre"].cast("float64").fill_null(0.0) * t.scale_pre
        cols[f"{m}y"] = t[f"{m}_dur"].cast("float64").fill_null(0.0)
        cols[f"{m}z"] = t[f"{m}_aft"].cast("float64").fill_null(0.0) * t.scale_after
    for k, part in (("x", "pre"), ("y", "dur"), ("z", "aft")):  # bought at all (retention)
        cols[f"a{k}"] = ibis.ifelse(t[f"v_{part}"].fill_null(0) > 0, 1.0, 0.0)
    t = t.select("campaign_id", **cols)
    t = t.mutate(bin=(t.hist + 1.0).log2().floor().cast("int64").clip(upper=24))
    aggs: dict[str, ir.Scalar] = {"n": t.count()}
    for m in METRIC_CODES:
        x, y, z = t[f"{m}x"], t[f"{m}y"], t[f"{m}z"]
        aggs.update(
            {
                f"{m}_x": x.sum(),
                f"{m}_y": y.sum(),
                f"{m}_z": z.sum(),
                f"{m}_xx": (x * x).sum(),
                f"{m}_yy": (y * y).sum(),
                f"{m}_zz": (z * z).sum(),
                f"{m}_xy": (x * y).sum(),
                f"{m}_xz": (x * z).sum(),
            }
        )
    return t.group_by(["campaign_id", "group", "bin"]).aggregate(**aggs)


def redemption_counts_expr(redemptions: ir.Table, targets: ir.Table) -> ir.Table:
    """Ibis aggregation: per campaign, redemptions and distinct targeted (contacted) redeemers."""
    tg = targets.filter(targets.holdout.isnull() | ~targets.holdout).select(
        tcamp="campaign_id", tcust="customer_id"
    )
    r = redemptions.select("campaign_id", "customer_id")
    per = r.group_by(["campaign_id", "customer_id"]).aggregate(k=r.count())
    j = per.join(tg, (per.campaign_id == tg.tcamp) & (per.customer_id == tg.tcust))
    return j.group_by("campaign_id").aggregate(redemptions=j.k.sum(), redeemers=j.count())


# -- estimates on the aggregated frame ---------------------------------------------------------


def _sum(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    return frame[cols].sum() if len(frame) else pd.Series(0.0, index=cols)


def _stat(s: pd.Series, m: str, a: str, b: str | None = None) -> tuple[float, float]:
    """Mean of ``a`` and covariance of ``a`` with ``b`` (variance when ``b`` is None) from sums."""
    n = float(s["n"])
    b = b or a
    ma, mb = s[f"{m}_{a}"] / n, s[f"{m}_{b}"] / n
    key = f"{m}_{''.join(sorted(a + b))}" if a != b else f"{m}_{a}{a}"
    cov = (s[key] - n * ma * mb) / max(n - 1.0, 1.0)
    return float(ma), float(cov)


def cuped(
    treated: pd.Series, control: pd.Series, metric: str, outcome: str = "y", confidence: float = 0.95
) -> tuple[float, ...]:
    """Treated minus control of ``outcome`` adjusted by the pre-period (CUPED): difference,
    interval, p-value, unadjusted difference and the share of variance removed."""
    both = treated + control
    _, var_x = _stat(both, metric, "x")
    _, cov = _stat(both, metric, "x", outcome)
    theta = cov / var_x if var_x > 0 else 0.0
    parts = []
    for g in (treated, control):
        mx, vx = _stat(g, metric, "x")
        my, vy = _stat(g, metric, outcome)
        _, cxy = _stat(g, metric, "x", outcome)
        parts.append((my, vy, mx, max(vy - 2 * theta * cxy + theta * theta * vx, 0.0), float(g["n"])))
    (my_t, vy_t, mx_t, va_t, n_t), (my_c, vy_c, mx_c, va_c, n_c) = parts
    d, lo, hi, p = stats.diff_mean(my_t - theta * mx_t, va_t, n_t, my_c - theta * mx_c, va_c, n_c, confidence)
    raw = my_t - my_c
    pooled_raw = vy_t / n_t + vy_c / n_c
    reduction = 1.0 - (va_t / n_t + va_c / n_c) / pooled_raw if pooled_raw > 0 else 0.0
    return float(d), float(lo), float(hi), float(p), float(raw), float(reduction)


def matched_did(
    treated: pd.DataFrame, other: pd.DataFrame, metric: str, outcome: str = "y", confidence: float = 0.95
) -> tuple[float, float, float, float, float]:
    """Targeted minus matched others of the change ``outcome - x`` within pre-spend bins, weighted
    by the targeted: difference, interval, p-value and the share of targeted customers matched."""
    t = treated.set_index("bin")
    o = other.set_index("bin")
    common = [b for b in t.index if b in o.index and o.loc[b, "n"] >= 2]
    total = float(t["n"].sum())
    if not common or total == 0:
        return (np.nan, np.nan, np.nan, np.nan, 0.0)
    est, var, weight = 0.0, 0.0, 0.0
    for b in common:
        tb, ob = t.loc[b], o.loc[b]
        d_t, v_t = _change(tb, metric, outcome)
        d_o, v_o = _change(ob, metric, outcome)
        if tb["n"] < 2:
            v_t = v_o
        w = float(tb["n"])
        est += w * (d_t - d_o)
        var += w * w * (v_t / tb["n"] + v_o / ob["n"])
        weight += w
    est, se = est / weight, float(np.sqrt(var)) / weight
    z = stats.z_value(confidence)
    return est, est - z * se, est + z * se, float(stats.p_normal(est, se)), weight / total


def _change(s: pd.Series, metric: str, outcome: str) -> tuple[float, float]:
    """Mean and variance of ``outcome - x`` from the sums."""
    n = float(s["n"])
    mx, vx = _stat(s, metric, "x")
    my, vy = _stat(s, metric, outcome)
    _, cxy = _stat(s, metric, "x", outcome)
    return my - mx, max(vx + vy - 2 * cxy, 0.0) if n >= 2 else np.nan


def estimate(
    moments: pd.DataFrame,
    campaigns: pd.DataFrame,
    wins: list[Windows],
    redemptions: pd.DataFrame | None = None,
    *,
    confidence: float = 0.95,
    min_holdout: int = MIN_HOLDOUT,
    scale: float = 1.0,
) -> pd.DataFrame:
    """One row per campaign (columns :data:`COLUMNS`) from :func:`campaign_moments_expr`'s frame.

    ``scale`` multiplies spend (e.g. 1 / sampling rate when the baskets are a sample of lines)."""
    rows = []
    red = redemptions.set_index("campaign_id") if redemptions is not None and len(redemptions) else None
    win = {w.campaign_id: w for w in wins}
    cols = ["n", *(f"{m}_{k}" for m in METRIC_CODES for k in _MOMENTS)]
    for c in campaigns.itertuples(index=False):
        cid = str(c.campaign_id)
        w = win[cid]
        part = moments[moments["campaign_id"].astype(str) == cid]
        groups = {g: part[part["group"] == g] for g in GROUPS}
        tot = {g: _sum(groups[g], cols) for g in GROUPS}
        n_t, n_h = int(tot["targeted"]["n"]), int(tot["holdout"]["n"])
        row: dict[str, Any] = {
            "campaign_id": cid,
            "name": getattr(c, "name", None),
            "type": getattr(c, "type", None),
            "start": w.start,
            "end": w.end,
            "days_observed": round(w.days, 1),
            "households_targeted": n_t,
            "households_holdout": n_h,
            "note": w.note,
            "matched_share": np.nan,
        }
        k: dict[Any, Any] = red.loc[cid].to_dict() if red is not None and cid in red.index else {}
        row["redemptions"] = int(k.get("redemptions", 0))
        row["redeemers"] = int(k.get("redeemers", 0))
        p, lo, hi = stats.wilson(row["redeemers"], n_t, confidence=confidence) if n_t else (np.nan,) * 3
        row["redemption_rate"], row["redemption_ci_low"], row["redemption_ci_high"] = (
            float(p),
            float(lo),
            float(hi),
        )
        row["spend_per_household"] = float(tot["targeted"]["s_y"]) / n_t * scale if n_t else np.nan
        results: dict[tuple[str, str], tuple[float, float, float, float]] = {}
        if n_t and w.pre_ok:
            for metric in METRIC_CODES:
                for outcome in ("y", "z"):
                    if outcome == "z" and not w.after_ok:
                        continue
                    if n_h >= min_holdout:
                        d, lo_, hi_, p_, *_ = cuped(
                            tot["targeted"], tot["holdout"], metric, outcome, confidence
                        )
                        row["method"] = "holdout, CUPED"
                    else:
                        d, lo_, hi_, p_, share = matched_did(
                            groups["targeted"], groups["other"], metric, outcome, confidence
                        )
                        row["method"] = "matched non-targeted, difference-in-differences"
                        row["matched_share"] = share
                    results[(metric, outcome)] = (d, lo_, hi_, p_)
        else:
            row["method"] = "not estimated"
        nan4 = (np.nan,) * 4
        d, lo_, hi_, p_ = results.get(("s", "y"), nan4)
        row.update(uplift_per_household=d * scale, ci_low=lo_ * scale, ci_high=hi_ * scale, p_value=p_)
        d, lo_, hi_, _ = results.get(("v", "y"), nan4)
        row.update(uplift_visits=d, visits_ci_low=lo_, visits_ci_high=hi_)
        d, lo_, hi_, _ = results.get(("s", "z"), nan4)
        row.update(uplift_after=d * scale, after_ci_low=lo_ * scale, after_ci_high=hi_ * scale)
        d, lo_, hi_, _ = results.get(("a", "y"), nan4)
        row.update(uplift_active=d, active_ci_low=lo_, active_ci_high=hi_)
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out.attrs = {"confidence": confidence, "scale": scale}
    return out


def natural_key(value: Any) -> tuple[int, Any]:
    """Sort key that puts "2" before "10" (campaign ids are often numbers stored as text)."""
    text = str(value)
    return (0, int(text)) if text.isdigit() else (1, text)


def campaign_effects_from(
    baskets: ir.Table,
    campaigns: pd.DataFrame,
    targets: ir.Table,
    *,
    redemptions: ir.Table | None = None,
    population: ir.Table | None = None,
    data_start: Any = None,
    data_end: Any = None,
    confidence: float = 0.95,
    scale: float = 1.0,
) -> pd.DataFrame:
    """Campaign effects from any baskets, campaigns, targets and redemptions (see module docs).

    ``campaigns``: campaign_id, start, end (exclusive), optional name and type. ``population``
    defaults to everyone with a basket or a target; the data runs from the first basket to the day
    after the last unless ``data_start``/``data_end`` say otherwise."""
    if campaigns.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    if data_start is None or data_end is None:
        span = baskets.aggregate(lo=baskets.ordered_at.min(), hi=baskets.ordered_at.max()).to_pandas().iloc[0]
        if pd.isna(span["lo"]):
            raise ValueError("there are no purchases to measure a campaign on")
        data_start = data_start or pd.Timestamp(span["lo"]).normalize()
        data_end = data_end or pd.Timestamp(span["hi"]).normalize() + pd.Timedelta(days=1)
    campaigns = campaigns.sort_values("campaign_id", key=lambda s: s.map(natural_key)).reset_index(drop=True)
    wins = windows(campaigns, timestamp(data_start), timestamp(data_end))
    if population is None:
        population = baskets.select("customer_id").union(targets.select("customer_id")).distinct()
    moments = campaign_moments_expr(baskets, wins, targets, population).to_pandas()
    red = redemption_counts_expr(redemptions, targets).to_pandas() if redemptions is not None else None
    if red is not None:
        red["campaign_id"] = red["campaign_id"].astype(str)
    return estimate(moments, campaigns, wins, red, confidence=confidence, scale=scale)


def store_campaigns(tables: Tables) -> pd.DataFrame:
    """The campaigns table as a small frame: campaign_id, name, type, start, end, holdout_share."""
    c = getter(tables)("campaigns")
    frame = c.select(
        "campaign_id", "name", "type", start="start_at", end="end_at", holdout_share="holdout_share"
    ).to_pandas()
    frame["end"] = frame["end"].fillna(frame["start"] + pd.Timedelta(days=28))
    return frame


def store_population(tables: Tables) -> ir.Table:
    """The population compared: every customer of the ``customers`` table with the time they
    became known (``known_from``), plus anyone with an order or a campaign target who is not in
    it (known from the start: stores often load orders without a customer master)."""
    get = getter(tables)
    cu = get("customers")
    cu = cu.select("customer_id", known_from=cu.created_at.cast("timestamp"))
    o, tg = get("orders"), get("campaign_targets")
    others = (
        o.filter(o.customer_id.notnull()).select("customer_id").union(tg.select("customer_id")).distinct()
    )
    others = others.filter(~others.customer_id.isin(cu.customer_id))
    return cu.union(others.mutate(known_from=ibis.null("timestamp").cast("timestamp")))


def campaign_effects(
    tables: Tables, campaign_ids: list[str] | None = None, *, confidence: float = 0.95
) -> pd.DataFrame:
    """Per campaign of the store: targeted customers, redemption rate, incremental spend and visits
    per targeted customer during and after it, with intervals (module docs)."""
    from cxlens.analyse.customers.prepare import baskets_from_tables

    get = getter(tables)
    campaigns = store_campaigns(get)
    if campaign_ids:
        unknown = sorted(set(campaign_ids) - set(campaigns["campaign_id"].astype(str)))
        if unknown:
            raise ValueError(f"unknown campaign {unknown[0]!r}")
        campaigns = campaigns[campaigns["campaign_id"].astype(str).isin(campaign_ids)]
    if campaigns.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    baskets = baskets_from_tables(get)
    span = baskets.aggregate(lo=baskets.ordered_at.min(), hi=baskets.ordered_at.max()).to_pandas().iloc[0]
    if pd.isna(span["lo"]):
        raise ValueError("there are no orders of known customers to measure a campaign on")
    return campaign_effects_from(
        baskets,
        campaigns,
        get("campaign_targets"),
        redemptions=get("coupon_redemptions"),
        population=store_population(get),
        data_start=pd.Timestamp(span["lo"]).normalize(),
        data_end=pd.Timestamp(span["hi"]).normalize() + pd.Timedelta(days=1),
        confidence=confidence,
    )
