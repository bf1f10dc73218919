"""Did an action plan work? Difference-in-differences of a CX metric, treated vs control stores.

The estimate is (treated after - treated before) - (control after - control before) of the metric,
in the metric's own units, as :mod:`cxlens.analyse.metrics` defines it: ``nps`` in NPS points
(each answer +100 promoter, 0 passive, -100 detractor), ``csat`` in percentage points of satisfied
(4-5) answers, ``csat_mean`` on the 1-5 scale, ``ces`` on 1-7 (lower is better), ``rating`` in
stars. Every metric is a mean of one value per answer, so counts, sums and sums of squares of that
value per (group, period) are one Ibis aggregation in the engine (:func:`did_expr`); the estimate
and its interval are computed on those four rows in pandas.

Interval: the standard error of a difference of four independent means,
``sqrt(sum(var_g / n_g))``, with a normal critical value. We use it rather than a store-clustered
bootstrap because action plans usually treat a handful of stores (four in the demo), and a cluster
bootstrap over so few clusters gives unstable, too-narrow intervals; the cost is that store-level
shocks that coincide with the start are not reflected in the interval (a placebo plan on other
stores, as in docs/drivers.md, is the check for that).

Example::

    did_effect(ws, treated_stores=["S005", "S013"], start="2025-07-01", touchpoint="store_visit")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from cxlens.analyse import stats
from cxlens.analyse.common import Tables, TimeLike, getter, timestamp
from cxlens.analyse.metrics import METRICS, SCORES, period_start

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Metrics an effect can be measured on, and the unit of their effects.
EFFECT_UNITS: dict[str, str] = {
    "nps": "NPS points",
    "csat": "percentage points (satisfied answers, 4-5)",
    "csat_mean": "points on the 1-5 scale",
    "ces": "points on the 1-7 scale (lower is better)",
    "rating": "stars (1-5)",
}
_GROUPS = ("treated", "control")


@dataclass(frozen=True)
class Effect:
    """A difference-in-differences estimate with its interval, the four group means and their n."""

    metric: str
    unit: str
    touchpoint: str | None
    start: date
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    confidence: float
    treated_before: float
    treated_after: float
    control_before: float
    control_after: float
    n_treated_before: int
    n_treated_after: int
    n_control_before: int
    n_control_after: int
    treated_stores: tuple[str, ...]
    control_stores: tuple[str, ...]

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return bool(self.ci_low > 0 or self.ci_high < 0)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (dates as ISO strings, store lists as lists)."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["treated_stores"] = list(self.treated_stores)
        out["control_stores"] = list(self.control_stores)
        out["significant"] = self.significant
        return out


def _metric(metric: str) -> str:
    if metric not in EFFECT_UNITS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(EFFECT_UNITS)}")
    return metric


def answer_value(score: ir.NumericValue, metric: str) -> ir.FloatingValue:
    """The metric's value of one answer, whose mean over answers is the metric (see module notes)."""
    spec = METRICS[metric]
    scale = SCORES[spec.score]
    if spec.kind == "mean":
        return score.cast("float64")
    if scale.top is None or scale.bottom is None:
        raise ValueError(f"{metric} needs a score with top and bottom boxes")
    top = ibis.ifelse(score.between(*scale.top), 100.0, 0.0)
    if spec.kind == "share":
        return top
    return top - ibis.ifelse(score.between(*scale.bottom), 100.0, 0.0)


def _as_date(value: date | str | pd.Timestamp) -> date:
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise ValueError(f"not a date: {value!r} (use YYYY-MM-DD)") from None


def _stores(
    tables: Tables, treated: Sequence[str], control: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """Check the store ids against the stores table; default control = every other store."""
    if isinstance(treated, str):
        treated = [s for s in treated.split(",") if s]
    treated = list(dict.fromkeys(s.strip() for s in treated))
    if not treated:
        raise ValueError("no treated stores given")
    known = set(getter(tables)("stores").store_id.to_pandas().dropna())
    if control is None:
        control_ = sorted(known - set(treated))
    else:
        control_ = list(dict.fromkeys(s.strip() for s in control))
    unknown = [s for s in [*treated, *control_] if s not in known]
    if unknown:
        raise ValueError(f"unknown store {unknown[0]!r}")
    overlap = set(treated) & set(control_)
    if overlap:
        raise ValueError(f"store {sorted(overlap)[0]!r} is both treated and control")
    if not control_:
        raise ValueError("no control stores: every store is treated")
    return treated, control_


def _base(
    tables: Tables,
    treated: list[str],
    control: list[str],
    metric: str,
    touchpoint: str | None,
    before: TimeLike | None,
    end: TimeLike | None,
) -> ir.Table:
    """Own-brand feedback with an answer, in the chosen stores and window, tagged treated/control."""
    fb = getter(tables)("feedback")
    column = METRICS[metric].score
    preds = [fb[column].notnull(), fb.brand.isnull(), fb.store_id.isin([*treated, *control])]
    if touchpoint is not None:
        preds.append(fb.touchpoint == touchpoint)
    if before is not None:
        preds.append(fb.submitted_at >= timestamp(before))
    if end is not None:
        preds.append(fb.submitted_at < timestamp(end))
    t = fb.filter(preds)
    group = ibis.ifelse(t.store_id.isin(treated), "treated", "control")
    return t.mutate(group=group, x=answer_value(t[column], metric))


def did_expr(
    tables: Tables,
    *,
    treated_stores: Sequence[str],
    start: date | str,
    metric: str = "csat",
    touchpoint: str | None = None,
    control_stores: Sequence[str] | None = None,
    before: date | str | None = None,
    end: date | str | None = None,
) -> ir.Table:
    """Ibis aggregation: per ``group`` (treated/control) and ``after`` (bool), n, sum and sum of squares."""
    name = _metric(metric)
    treated, control = _stores(tables, treated_stores, control_stores)
    t = _base(tables, treated, control, name, touchpoint, before, end)
    t = t.mutate(after=t.submitted_at >= timestamp(_as_date(start)))
    return t.group_by(["group", "after"]).aggregate(n=t.count(), sum=t.x.sum(), sumsq=(t.x * t.x).sum())


def _data_range(tables: Tables) -> tuple[date, date] | None:
    fb = getter(tables)("feedback")
    row = fb.aggregate(lo=fb.submitted_at.min(), hi=fb.submitted_at.max()).to_pandas().iloc[0]
    if pd.isna(row["lo"]):
        return None
    return pd.Timestamp(row["lo"]).date(), pd.Timestamp(row["hi"]).date()


def did_effect(
    tables: Tables,
    *,
    treated_stores: Sequence[str],
    start: date | str,
    metric: str = "csat",
    touchpoint: str | None = None,
    control_stores: Sequence[str] | None = None,
    before: date | str | None = None,
    end: date | str | None = None,
    confidence: float = 0.95,
) -> Effect:
    """Difference-in-differences of the mean ``metric`` answer around ``start`` (see module docs).

    ``before`` (inclusive) and ``end`` (exclusive) bound the window on ``submitted_at``; default:
    all data. Raises ValueError for unknown stores, a start outside the data, or an empty group.
    """
    name = _metric(metric)
    start_ = _as_date(start)
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    treated, control = _stores(tables, treated_stores, control_stores)
    span = _data_range(tables)
    if span is None:
        raise ValueError("there is no feedback to measure an effect on")
    if not span[0] < start_ <= span[1]:
        raise ValueError(f"start {start_} is outside the data ({span[0]} to {span[1]})")
    agg = did_expr(
        tables,
        treated_stores=treated,
        start=start_,
        metric=name,
        touchpoint=touchpoint,
        control_stores=control,
        before=before,
        end=end,
    ).to_pandas()
    cells: dict[tuple[str, bool], tuple[float, float, int]] = {}
    for g in _GROUPS:
        for after in (False, True):
            row = agg[(agg["group"] == g) & (agg["after"] == after)]
            n = int(row["n"].sum())
            if n < 2:
                when = "after" if after else "before"
                raise ValueError(
                    f"fewer than 2 {name} answers for the {g} stores {when} {start_}"
                    + (f" at touchpoint {touchpoint!r}" if touchpoint else "")
                )
            mean, var = stats.mean_var(n, row["sum"].sum(), row["sumsq"].sum())
            cells[(g, after)] = (float(mean), float(var), n)
    tb, ta = cells[("treated", False)], cells[("treated", True)]
    cb, ca = cells[("control", False)], cells[("control", True)]
    est = (ta[0] - tb[0]) - (ca[0] - cb[0])
    se = float(np.sqrt(sum(v / n for _, v, n in cells.values())))
    z = stats.z_value(confidence)
    p = float(stats.p_normal(est, se))
    return Effect(
        metric=name,
        unit=EFFECT_UNITS[name],
        touchpoint=touchpoint,
        start=start_,
        estimate=est,
        ci_low=est - z * se,
        ci_high=est + z * se,
        p_value=p,
        confidence=confidence,
        treated_before=tb[0],
        treated_after=ta[0],
        control_before=cb[0],
        control_after=ca[0],
        n_treated_before=tb[2],
        n_treated_after=ta[2],
        n_control_before=cb[2],
        n_control_after=ca[2],
        treated_stores=tuple(treated),
        control_stores=tuple(control),
    )


def did_series_expr(
    tables: Tables,
    *,
    treated_stores: Sequence[str],
    start: date | str,
    metric: str = "csat",
    touchpoint: str | None = None,
    control_stores: Sequence[str] | None = None,
    before: date | str | None = None,
    end: date | str | None = None,
    grain: str = "month",
) -> ir.Table:
    """Ibis aggregation behind :func:`did_series`: per group and period, n, sum and sum of squares."""
    name = _metric(metric)
    _as_date(start)
    units = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}
    if grain not in units:
        raise ValueError(f"unknown grain {grain!r}; choose from {', '.join(units)}")
    treated, control = _stores(tables, treated_stores, control_stores)
    t = _base(tables, treated, control, name, touchpoint, before, end)
    t = t.mutate(period=t.submitted_at.truncate(units[grain]))
    return t.group_by(["group", "period"]).aggregate(n=t.count(), sum=t.x.sum(), sumsq=(t.x * t.x).sum())


def did_series(
    tables: Tables,
    *,
    treated_stores: Sequence[str],
    start: date | str,
    metric: str = "csat",
    touchpoint: str | None = None,
    control_stores: Sequence[str] | None = None,
    before: date | str | None = None,
    end: date | str | None = None,
    grain: str = "month",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean ``metric`` per period for treated and control stores, for a before/after chart.

    Columns: ``group`` (treated/control), ``period``, ``mean``, ``n``, ``ci_low``, ``ci_high``
    (t interval), ``after`` (period starts on or after ``start``'s period). ``mean`` is the
    metric's value in its own units (``df.attrs["unit"]``: CSAT in % satisfied, NPS in points).
    ``df.attrs`` holds ``start``, ``metric``, ``unit`` and ``touchpoint``.
    """
    agg = did_series_expr(
        tables,
        treated_stores=treated_stores,
        start=start,
        metric=metric,
        touchpoint=touchpoint,
        control_stores=control_stores,
        before=before,
        end=end,
        grain=grain,
    ).to_pandas()
    period = agg["period"]
    if isinstance(period.dtype, pd.DatetimeTZDtype):
        period = period.dt.tz_convert("UTC").dt.tz_localize(None)
    mean, _, low, high = stats.mean_interval(agg["n"], agg["sum"], agg["sumsq"], confidence=confidence)
    out = pd.DataFrame(
        {
            "group": agg["group"].astype(object),
            "period": pd.to_datetime(period).astype("datetime64[us]"),
            "mean": mean,
            "n": agg["n"].astype("int64"),
            "ci_low": low,
            "ci_high": high,
        }
    )
    out["after"] = out["period"] >= period_start(_as_date(start), grain)  # type: ignore[arg-type]
    out = out.sort_values(["group", "period"], ascending=[False, True], kind="stable").reset_index(drop=True)
    name = _metric(metric)
    out.attrs = {"start": _as_date(start).isoformat(), "metric": name, "unit": EFFECT_UNITS[name]}
    out.attrs["touchpoint"] = touchpoint
    return out
