"""Competitor benchmark: our brand against each competitor on every indicator, with significance.

Indicators are the star ``rating`` (feedback.rating, 1-5) and each text aspect found by
``cxlens text analyse`` (feedback_aspects: sentiment label and score per mention). Feedback whose
``brand`` is empty is ours; any other brand is a competitor. Per indicator and brand, one Ibis
aggregation (:func:`benchmark_expr`) counts mentions, positive mentions (rating 4-5) and the sum
and sum of squares of the score; shares get Wilson intervals and differences to our brand the pooled
z-test with its score interval, means t intervals and Welch tests (:mod:`cxlens.analyse.stats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from cxlens.analyse import stats
from cxlens.analyse.common import Tables, TimeLike, getter, timestamp

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Brand label of our own feedback (feedback.brand empty).
OURS = "(ours)"
RATING = "rating"
COLUMNS = (
    "indicator",
    "kind",
    "brand",
    "n",
    "share_positive",
    "share_ci_low",
    "share_ci_high",
    "mean",
    "mean_ci_low",
    "mean_ci_high",
    "diff_share",
    "diff_share_ci_low",
    "diff_share_ci_high",
    "p_share",
    "diff_mean",
    "diff_mean_ci_low",
    "diff_mean_ci_high",
    "p_mean",
    "significant",
    "small_n",
    "verdict",
)
#: ``verdict`` values: the competitor against us. Small-n rows are never better or worse.
VERDICTS = ("better", "worse", "mixed", "no significant difference", "too few answers")


def _has(get: object, name: str) -> bool:
    try:
        get(name).columns  # type: ignore[operator]  # noqa: B018 - raises when the table is missing
    except Exception:
        return False
    return True


def benchmark_expr(
    tables: Tables,
    *,
    text: bool | None = None,
    stores: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> ir.Table:
    """Ibis aggregation: per ``indicator``, ``kind`` (rating/aspect) and ``brand``: n, positive, sum, sumsq.

    ``stores`` limits *our* feedback to those stores (competitor feedback is about no store of ours
    and is kept). ``text``: None = include aspects when ``feedback_aspects`` exists.
    """
    get = getter(tables)
    fb = get("feedback")
    preds = []
    if stores is not None:
        preds.append(fb.brand.notnull() | fb.store_id.isin(list(stores)))
    if start is not None:
        preds.append(fb.submitted_at >= timestamp(start))
    if end is not None:
        preds.append(fb.submitted_at < timestamp(end))
    if preds:
        fb = fb.filter(preds)
    fb = fb.mutate(brand_label=fb.brand.fill_null(OURS))
    r = fb.filter(fb.rating.notnull())
    x = r.rating.cast("float64")
    parts = [
        r.mutate(
            indicator=ibis.literal(RATING),
            kind=ibis.literal("rating"),
            x=x,
            pos=(r.rating >= 4).cast("int64"),
        )
        .group_by(["indicator", "kind", "brand_label"])
        .aggregate(
            n=ibis._.count(), positive=ibis._.pos.sum(), sum=ibis._.x.sum(), sumsq=(ibis._.x * ibis._.x).sum()
        )
    ]
    if text is None:
        text = _has(get, "feedback_aspects")
    if text:
        asp = get("feedback_aspects")
        j = asp.join(fb.select("feedback_id", "brand_label"), "feedback_id")
        s = j.score.cast("float64")
        parts.append(
            j.mutate(
                indicator=j.aspect,
                kind=ibis.literal("aspect"),
                x=s,
                pos=(j.sentiment == "positive").cast("int64"),
            )
            .group_by(["indicator", "kind", "brand_label"])
            .aggregate(
                n=ibis._.count(),
                positive=ibis._.pos.sum(),
                sum=ibis._.x.sum(),
                sumsq=(ibis._.x * ibis._.x).sum(),
            )
        )
    out = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    return out.rename(brand="brand_label")


def benchmark(
    tables: Tables,
    *,
    text: bool | None = None,
    stores: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    min_n: int = stats.DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Per indicator and brand: n, share positive and mean with intervals, and the difference to our brand.

    Columns: see :data:`COLUMNS`. Shares are 0-1 (rating: share of 4-5 stars; aspect: share of
    positive mentions); means are on the indicator's scale (stars 1-5, aspect sentiment -1..1).
    ``diff_*`` = competitor - ours (NaN on our own rows); ``significant`` = either p-value below
    1 - confidence; ``small_n`` = n < ``min_n`` on either side; ``verdict`` (competitor against us,
    None on our own rows): "too few answers" when small_n (a store manager's one store against
    competitors chain-wide usually is), else "better"/"worse" when the significant differences
    point one way, "mixed" when share and mean disagree, else "no significant difference".
    Rows are ours first, then brands.
    """
    agg = benchmark_expr(tables, text=text, stores=stores, start=start, end=end).to_pandas()
    if agg.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    agg = agg.astype({"n": float, "positive": float, "sum": float, "sumsq": float})
    share, s_lo, s_hi = stats.wilson(agg["positive"], agg["n"], confidence=confidence)
    mean, _, m_lo, m_hi = stats.mean_interval(agg["n"], agg["sum"], agg["sumsq"], confidence=confidence)
    out = pd.DataFrame(
        {
            "indicator": agg["indicator"].astype(object),
            "kind": agg["kind"].astype(object),
            "brand": agg["brand"].astype(object),
            "n": agg["n"].astype("int64"),
            "share_positive": share,
            "share_ci_low": s_lo,
            "share_ci_high": s_hi,
            "mean": mean,
            "mean_ci_low": m_lo,
            "mean_ci_high": m_hi,
        }
    )
    ours = agg[agg["brand"] == OURS].set_index("indicator")
    ref = ours.reindex(agg["indicator"])
    _, var_a = stats.mean_var(agg["n"], agg["sum"], agg["sumsq"])
    _, var_b = stats.mean_var(ref["n"], ref["sum"], ref["sumsq"])
    mean_b, _ = stats.mean_var(ref["n"], ref["sum"], ref["sumsq"])
    ds, ds_lo, ds_hi, p_s = stats.diff_share(
        agg["positive"], agg["n"], ref["positive"].to_numpy(), ref["n"].to_numpy(), confidence=confidence
    )
    dm, dm_lo, dm_hi, p_m = stats.diff_mean(
        mean, var_a, agg["n"], mean_b, var_b, ref["n"].to_numpy(), confidence
    )
    mine = (agg["brand"] == OURS).to_numpy()
    for name, values in (
        ("diff_share", ds),
        ("diff_share_ci_low", ds_lo),
        ("diff_share_ci_high", ds_hi),
        ("p_share", p_s),
        ("diff_mean", dm),
        ("diff_mean_ci_low", dm_lo),
        ("diff_mean_ci_high", dm_hi),
        ("p_mean", p_m),
    ):
        out[name] = np.where(mine, np.nan, values)
    alpha = 1 - confidence
    out["significant"] = (np.nan_to_num(out["p_share"], nan=1.0) < alpha) | (
        np.nan_to_num(out["p_mean"], nan=1.0) < alpha
    )
    n_ref = ref["n"].fillna(0).to_numpy()
    out["small_n"] = (out["n"] < min_n) | (~mine & (n_ref < min_n))
    out["verdict"] = _verdicts(out, alpha, mine)
    out["_ours"] = ~mine
    out["_rating"] = out["kind"] != "rating"
    out = out.sort_values(["_rating", "indicator", "_ours", "brand"], kind="stable").drop(
        columns=["_ours", "_rating"]
    )
    out = out.reset_index(drop=True)
    out.attrs = {"confidence": confidence, "min_n": min_n, "ours": OURS}
    return out


def _verdicts(out: pd.DataFrame, alpha: float, mine: np.ndarray) -> np.ndarray:
    """The competitor against us per row (see :func:`benchmark`): signs of the significant tests."""
    signs = []
    for diff, p in (("diff_share", "p_share"), ("diff_mean", "p_mean")):
        sig = np.nan_to_num(out[p].to_numpy(float), nan=1.0) < alpha
        signs.append(np.where(sig, np.sign(out[diff].to_numpy(float)), 0.0))
    up = (signs[0] > 0) | (signs[1] > 0)
    down = (signs[0] < 0) | (signs[1] < 0)
    verdict = pd.Series("no significant difference", index=out.index, dtype=object)
    verdict[up] = "better"
    verdict[down] = "worse"
    verdict[up & down] = "mixed"
    verdict[out["small_n"].to_numpy(bool)] = "too few answers"
    verdict[mine] = None
    return verdict.to_numpy()


def benchmark_matrix(frame: pd.DataFrame, value: str = "diff_share") -> pd.DataFrame:
    """Indicator x competitor matrix of ``value`` (for a heatmap); our brand is the reference.
    Cells with too few answers on either side are left empty (NaN) rather than coloured."""
    comp = frame[frame["brand"] != OURS]
    if comp.empty:
        return pd.DataFrame()
    comp = comp.assign(**{value: comp[value].where(~comp["small_n"].astype(bool))})
    return comp.pivot_table(
        index="indicator", columns="brand", values=value, aggfunc="first", sort=False, dropna=False
    )
