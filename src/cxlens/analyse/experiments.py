"""A/B readouts: a change tried on some customers and held back from others.

An experiment is a campaign with a holdout: ``campaign_targets`` names who got the change
(``holdout`` false) and who did not (``holdout`` true); ``campaigns.holdout_share`` is the share
planned for the holdout and ``start_at``/``end_at`` the planned run. The readout:

* **sample-ratio check**: a chi-square test of the arm sizes against the planned split; a p-value
  below ``SRM_ALPHA`` means the assignment or the logging is broken and no effect should be read;
* **CUPED**: the outcome (spend, visits or buying at all in the experiment's window) adjusted by
  the same outcome in the window before (:func:`cxlens.analyse.campaigns.cuped`), with its
  interval and the share of variance it removed; the unadjusted difference is shown beside it;
  for ``nps`` the arms' NPS is compared directly (:func:`cxlens.analyse.stats.diff_nps`);
* **peeking**: before the planned end, the readout says so and gives the O'Brien-Fleming
  boundary for the share of the run observed (``z / sqrt(share)``): crossing the usual 1.96 at
  an interim look is not enough, because looking repeatedly inflates false positives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from cxlens.analyse import campaigns as cm
from cxlens.analyse import stats
from cxlens.analyse.common import Tables, TimeLike, getter, timestamp
from cxlens.analyse.loyalty import data_range

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Sample-ratio mismatch alarm level (a strict one: arm sizes are large and exact).
SRM_ALPHA = 0.001
METRICS = {"spend": "s", "visits": "v", "active": "a", "nps": ""}


@dataclass(frozen=True)
class Readout:
    """The A/B readout of one experiment (see the module docstring)."""

    campaign_id: str
    name: str | None
    metric: str
    start: str
    planned_end: str
    as_of: str
    days_observed: float
    days_planned: float
    information_fraction: float
    n_treatment: int
    n_control: int
    planned_control_share: float | None
    srm_p_value: float
    srm_ok: bool
    treatment_mean: float
    control_mean: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    unadjusted_difference: float
    unadjusted_ci_low: float
    unadjusted_ci_high: float
    variance_reduction: float
    relative_lift: float
    z: float
    interim_boundary: float
    significant: bool
    confidence: float
    warnings: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary (warnings as a list)."""
        out = asdict(self)
        out["warnings"] = list(self.warnings)
        return out


def _campaign(tables: Tables, campaign_id: str) -> pd.Series:
    frame = cm.store_campaigns(tables)
    rows = frame[frame["campaign_id"].astype(str) == str(campaign_id)]
    if rows.empty:
        raise ValueError(f"unknown campaign {campaign_id!r}")
    return rows.iloc[0]


def srm_test(n_treatment: int, n_control: int, control_share: float) -> float:
    """p-value of the chi-square test of the arm sizes against the planned control share."""
    total = n_treatment + n_control
    if total == 0 or not 0 < control_share < 1:
        return float("nan")
    expected = [total * (1 - control_share), total * control_share]
    return float(sps.chisquare([n_treatment, n_control], f_exp=expected).pvalue)


def nps_arms_expr(tables: Tables, campaign_id: str, start: Any, end: Any) -> ir.Table:
    """Ibis aggregation: per arm (holdout true/false), NPS answers, promoters and detractors of the
    experiment's customers in ``[start, end)``."""
    get = getter(tables)
    tg = get("campaign_targets")
    tg = tg.filter(tg.campaign_id == campaign_id).select(
        t_id="customer_id", holdout=tg.holdout.fill_null(False)
    )
    fb = get("feedback")
    fb = fb.filter(fb.nps.notnull(), fb.brand.isnull(), fb.submitted_at >= start, fb.submitted_at < end)
    j = fb.join(tg, fb.customer_id == tg.t_id)
    return j.group_by("holdout").aggregate(
        n=j.count(), promoters=j.count(where=j.nps >= 9), detractors=j.count(where=j.nps <= 6)
    )


def experiment_readout(
    tables: Tables,
    campaign_id: str,
    *,
    metric: str = "spend",
    as_of: TimeLike | None = None,
    confidence: float = 0.95,
) -> Readout:
    """The A/B readout of a campaign that kept a holdout (module docs); ``as_of`` reads it as it
    stood on that day (an interim look)."""
    from cxlens.analyse.customers.prepare import baskets_from_tables

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    get = getter(tables)
    camp = _campaign(get, campaign_id)
    span = data_range(get)
    if span is None:
        raise ValueError("there are no orders yet")
    start, planned_end = pd.Timestamp(timestamp(camp["start"])), pd.Timestamp(timestamp(camp["end"]))
    look = min(planned_end, span[1], pd.Timestamp(timestamp(as_of)) if as_of is not None else span[1])
    if look <= start:
        raise ValueError(
            f"campaign {campaign_id!r} starts on {start.date()}: nothing observed by {look.date()}"
        )
    warnings: list[str] = []
    frame = pd.DataFrame(
        {"campaign_id": [str(campaign_id)], "start": [start], "end": [look], "name": [camp["name"]]}
    )
    tg = get("campaign_targets")
    tg = tg.filter(tg.campaign_id == str(campaign_id))
    if metric == "nps":
        agg = nps_arms_expr(get, str(campaign_id), start.to_pydatetime(), look.to_pydatetime()).to_pandas()
        arms = agg.set_index("holdout")
        sizes = (
            tg.group_by(h=tg.holdout.fill_null(False)).aggregate(n=tg.count()).to_pandas().set_index("h")["n"]
        )
        n_t, n_c = int(sizes.get(False, 0)), int(sizes.get(True, 0))
        if True not in arms.index or False not in arms.index:
            raise ValueError(f"campaign {campaign_id!r}: no NPS answers in one of the arms")
        t, c = arms.loc[False], arms.loc[True]
        counts = (t["promoters"], t["detractors"], t["n"], c["promoters"], c["detractors"], c["n"])
        d, lo, hi, p = (float(v) for v in stats.diff_nps(*counts, confidence=confidence))
        t_val = stats.nps_interval(t["promoters"], t["detractors"], t["n"])[0]
        c_val = stats.nps_interval(c["promoters"], c["detractors"], c["n"])[0]
        raw, raw_lo, raw_hi, reduction = d, lo, hi, 0.0
        treat_mean, ctrl_mean = float(t_val), float(c_val)
        se = (hi - lo) / (2 * stats.z_value(confidence))
    else:
        wins = cm.windows(frame, span[0].to_pydatetime(), look.to_pydatetime())
        if not wins[0].pre_ok:
            warnings.append("no pre-period in the data: CUPED cannot adjust; the difference is unadjusted")
        moments = cm.campaign_moments_expr(
            baskets_from_tables(get), wins, tg, cm.store_population(get)
        ).to_pandas()
        code = METRICS[metric]
        cols = ["n", *(f"{code}_{k}" for k in ("x", "y", "z", "xx", "yy", "zz", "xy", "xz"))]
        tot = {g: moments.loc[moments["group"] == g, cols].sum() for g in ("targeted", "holdout")}
        n_t, n_c = int(tot["targeted"]["n"]), int(tot["holdout"]["n"])
        if n_t < 2 or n_c < 2:
            raise ValueError(
                f"campaign {campaign_id!r} kept no holdout: no A/B readout (see `cxlens promo campaigns`)"
            )
        d, lo, hi, p, _raw, reduction = cm.cuped(tot["targeted"], tot["holdout"], code, "y", confidence)
        mt, vt = stats.mean_var(n_t, tot["targeted"][f"{code}_y"], tot["targeted"][f"{code}_yy"])
        mc, vc = stats.mean_var(n_c, tot["holdout"][f"{code}_y"], tot["holdout"][f"{code}_yy"])
        raw, raw_lo, raw_hi, _ = (float(v) for v in stats.diff_mean(mt, vt, n_t, mc, vc, n_c, confidence))
        treat_mean, ctrl_mean = float(mt), float(mc)
        se = (hi - lo) / (2 * stats.z_value(confidence))
    planned = camp.get("holdout_share")
    share = float(planned) if planned is not None and pd.notna(planned) else None
    srm_p = srm_test(n_t, n_c, share) if share else float("nan")
    srm_ok = not (srm_p == srm_p and srm_p < SRM_ALPHA)
    if not srm_ok:
        warnings.append(
            f"sample ratio mismatch: {n_c:,} held out of {n_t + n_c:,} against {share:.0%} planned "
            f"(p = {srm_p:.1e}); fix the assignment before reading any effect"
        )
    planned_days = (planned_end - start).total_seconds() / 86400
    observed_days = (look - start).total_seconds() / 86400
    fraction = min(observed_days / planned_days, 1.0) if planned_days > 0 else 1.0
    z_crit = stats.z_value(confidence)
    boundary = z_crit / float(np.sqrt(fraction)) if fraction > 0 else float("inf")
    z = d / se if se and se > 0 else float("nan")
    if fraction < 1:
        warnings.append(
            f"interim look: {observed_days:.0f} of {planned_days:.0f} planned days observed; deciding now "
            f"inflates false positives: treat |z| > {boundary:.2f} (O'Brien-Fleming) as significant, "
            f"not {z_crit:.2f}"
        )
    return Readout(
        campaign_id=str(campaign_id),
        name=None if pd.isna(camp["name"]) else str(camp["name"]),
        metric=metric,
        start=start.date().isoformat(),
        planned_end=planned_end.date().isoformat(),
        as_of=look.date().isoformat(),
        days_observed=round(observed_days, 1),
        days_planned=round(planned_days, 1),
        information_fraction=round(fraction, 4),
        n_treatment=n_t,
        n_control=n_c,
        planned_control_share=share,
        srm_p_value=srm_p,
        srm_ok=srm_ok,
        treatment_mean=treat_mean,
        control_mean=ctrl_mean,
        difference=float(d),
        ci_low=float(lo),
        ci_high=float(hi),
        p_value=float(p),
        unadjusted_difference=raw,
        unadjusted_ci_low=raw_lo,
        unadjusted_ci_high=raw_hi,
        variance_reduction=float(reduction),
        relative_lift=float(d) / ctrl_mean if ctrl_mean and metric != "nps" else float("nan"),
        z=float(z),
        interim_boundary=boundary,
        significant=bool(srm_ok and abs(z) > boundary),
        confidence=confidence,
        warnings=tuple(warnings),
    )
