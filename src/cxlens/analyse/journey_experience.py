"""The experience side of journeys: the emotion curve, peak-end scores and moments of truth.

Every score is put on one 0-1 scale, higher = better (an *experience signal*): NPS answer / 10,
(CSAT - 1) / 4, 1 - (CES - 1) / 6 (CES runs the other way), (rating - 1) / 4 and, when a text
sentiment in [-1, 1] is supplied, (sentiment + 1) / 2. Only feedback about our own brand counts.

* :func:`emotion_curve`: mean signal per stage and touchpoint with n and a t interval.
* :func:`journey_experience`: per journey (an order and the feedback about it) the average, the
  peak (the signal furthest from the neutral 0.5), the end (the last signal) and the peak-end
  score (mean of peak and end), with the journey's NPS answer and whether the actor bought again.
* :class:`cxlens.analyse.journey_peak_end.PeakEndComparison` (needs scikit-learn): how well
  peak-end and the plain average predict NPS (R²) and repurchase (AUC), cross-validated.
* :func:`moments_of_truth`: touchpoints ranked by how much a bottom-box experience there lowers
  NPS and repurchase, with intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxlens.analyse.common import predicate
from cxlens.analyse.journeys import JourneyMap, Tables, getter, journey_map_of, stage_expr, stitch
from cxlens.analyse.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_N,
    diff_nps,
    diff_share,
    mean_interval,
    nps_interval,
)

#: Score column -> expression of the 0-1 signal (higher is better).
SCALES: dict[str, tuple[float, float, bool]] = {
    "nps": (0, 10, False),
    "csat": (1, 5, False),
    "ces": (1, 7, True),
    "rating": (1, 5, False),
}
SENTIMENT = "sentiment"
#: Signals used to describe touchpoint experiences (NPS is the outcome, not a moment).
MOMENT_KINDS: tuple[str, ...] = ("csat", "ces", "rating")
#: A signal at or below this is a bottom-box experience (CSAT/rating 1-2, CES 6-7).
BOTTOM_BOX = 0.25
#: Journeys eligible for repurchase need this many days of data after the order.
REPURCHASE_DAYS = 90


def _signal(col: ir.NumericValue, kind: str) -> ir.FloatingValue:
    low, high, reverse = SCALES[kind]
    x = (col.cast("float64") - low) / (high - low)
    return 1 - x if reverse else x


def experience_signals(
    tables: Tables,
    kinds: Sequence[str] = ("nps", "csat", "ces", "rating"),
    *,
    sentiment: str | ir.Table | None = None,
    journey_map: JourneyMap | None = None,
) -> ir.Table:
    """Long table of signals: ``feedback_id``, ``submitted_at``, ``actor_id``, ``order_id``,
    ``store_id``, ``channel``, ``source``, ``touchpoint``, ``stage``, ``kind``, ``raw`` and
    ``signal`` (0-1). ``sentiment``: a feedback column, or a table with ``feedback_id`` and
    ``sentiment``, holding text sentiment in [-1, 1] (added as kind ``sentiment``)."""
    unknown = [k for k in kinds if k not in SCALES]
    if unknown:
        raise ValueError(f"unknown score {unknown[0]!r}; choose from {', '.join(SCALES)}")
    jm = journey_map_of(tables, journey_map)
    fb = getter(tables)("feedback")
    fb = fb.filter(fb.brand.isnull())
    if isinstance(sentiment, str):
        fb = fb.mutate(_cx_sent=fb[sentiment].cast("float64"))
    elif sentiment is not None:
        sent = sentiment.select(_cx_fid=sentiment.feedback_id, _cx_sent=sentiment.sentiment.cast("float64"))
        fb = fb.left_join(sent, fb.feedback_id == sent._cx_fid).drop("_cx_fid")
    fb = stitch(fb, tables)
    keep = [
        "feedback_id",
        "submitted_at",
        "actor_id",
        "order_id",
        "store_id",
        "channel",
        "source",
        "touchpoint",
    ]
    parts = []
    for kind in kinds:
        part = fb.filter(fb[kind].notnull())
        parts.append(
            part.select(
                *keep,
                kind=ibis.literal(kind),
                raw=part[kind].cast("float64"),
                signal=_signal(part[kind], kind),
            )
        )
    if sentiment is not None:
        part = fb.filter(fb._cx_sent.notnull())
        parts.append(
            part.select(
                *keep,
                kind=ibis.literal(SENTIMENT),
                raw=part._cx_sent,
                signal=(part._cx_sent.clip(-1, 1) + 1) / 2,
            )
        )
    if not parts:
        raise ValueError("no signal kinds given")
    sig = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    return sig.mutate(stage=stage_expr(sig.touchpoint, jm))


def emotion_curve(
    tables: Tables,
    level: str = "touchpoint",
    by: Sequence[str] = (),
    *,
    kinds: Sequence[str] = ("nps", "csat", "ces", "rating"),
    sentiment: str | ir.Table | None = None,
    filters: Mapping[str, Any] | None = None,
    journey_map: JourneyMap | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """The emotion curve: per ``stage`` (and ``touchpoint`` if ``level="touchpoint"``) and ``by``
    group, ``n`` signals, their ``mean`` on the 0-1 scale, ``sd``, ``ci_low``/``ci_high`` (t) and
    ``small_n``, in journey order. ``by``/``filters`` take signal columns (``store_id``,
    ``channel``, ``source``, ``kind``, ...)."""
    if level not in ("stage", "touchpoint"):
        raise ValueError("level must be stage or touchpoint")
    jm = journey_map_of(tables, journey_map)
    sig = experience_signals(tables, kinds, sentiment=sentiment, journey_map=jm)
    sig = sig.filter(sig.touchpoint.notnull())
    for col, value in (filters or {}).items():
        sig = sig.filter(predicate(sig[col], value))
    keys = ["stage", *(["touchpoint"] if level == "touchpoint" else []), *by]
    x = sig.signal
    df = sig.group_by(keys).aggregate(n=x.count(), _s=x.sum(), _ss=(x * x).sum()).to_pandas()
    mean, sd, lo, hi = mean_interval(df["n"], df["_s"], df["_ss"], confidence=confidence)
    df = df.drop(columns=["_s", "_ss"]).assign(mean=mean, sd=sd, ci_low=lo, ci_high=hi)
    df["n"] = df["n"].astype("int64")
    df["small_n"] = df["n"] < min_n
    rank_stage = {s.id: i for i, s in enumerate(jm.stages)}
    rank_tp = {t: i for i, t in enumerate(jm.touchpoint_ids)}
    df["_a"] = df["stage"].map(rank_stage)
    df["_b"] = df["touchpoint"].map(rank_tp) if level == "touchpoint" else 0
    df = df.sort_values(["_a", "_b", *by], kind="stable", na_position="last").drop(columns=["_a", "_b"])
    return df.reset_index(drop=True)


def order_outcomes(tables: Tables, repurchase_days: int = REPURCHASE_DAYS) -> ir.Table:
    """Per order: ``order_id``, ``actor_id``, ``ordered_at``, ``repurchased`` (the stitched actor
    ordered again within ``repurchase_days``; null when the data ends before that window does)."""
    orders = stitch(getter(tables)("orders"), tables)
    last = orders.ordered_at.max().to_pandas()
    w = ibis.window(group_by=orders.actor_id, order_by=[orders.ordered_at, orders.order_id])
    nxt = orders.ordered_at.lead().over(w)
    horizon = ibis.interval(days=repurchase_days)
    eligible = orders.ordered_at + horizon <= ibis.literal(pd.Timestamp(last).to_pydatetime())
    bought = nxt.notnull() & (nxt <= orders.ordered_at + horizon)
    repurchased = ibis.cases((eligible, bought), else_=ibis.null("boolean"))
    return orders.select("order_id", "actor_id", "ordered_at", repurchased=repurchased)


def journey_experience(
    tables: Tables,
    kinds: Sequence[str] = MOMENT_KINDS,
    *,
    sentiment: str | ir.Table | None = None,
    repurchase_days: int = REPURCHASE_DAYS,
    journey_map: JourneyMap | None = None,
) -> ir.Table:
    """Per journey (order) with at least one signal: ``order_id``, ``signals``, ``average``,
    ``peak``, ``end``, ``peak_end``, ``nps`` (mean NPS answer about the order, null if none) and
    ``repurchased``. Ties for the peak go to the earlier signal."""
    sig = experience_signals(tables, kinds, sentiment=sentiment, journey_map=journey_map)
    sig = sig.filter(sig.order_id.notnull())
    intensity = (sig.signal - 0.5).abs()
    w_peak = ibis.window(
        group_by=sig.order_id, order_by=[ibis.desc(intensity), sig.submitted_at, sig.feedback_id, sig.kind]
    )
    w_end = ibis.window(
        group_by=sig.order_id,
        order_by=[ibis.desc(sig.submitted_at), ibis.desc(sig.feedback_id), ibis.desc(sig.kind)],
    )
    sig = sig.mutate(_cx_p=ibis.row_number().over(w_peak), _cx_e=ibis.row_number().over(w_end))
    per = sig.group_by("order_id").aggregate(
        signals=sig.count(),
        average=sig.signal.mean(),
        peak=sig.signal.max(where=sig._cx_p == 0),
        end=sig.signal.max(where=sig._cx_e == 0),
    )
    per = per.mutate(peak_end=(per.peak + per.end) / 2)
    fb = getter(tables)("feedback")
    fb = fb.filter(fb.nps.notnull(), fb.brand.isnull(), fb.order_id.notnull())
    nps = fb.group_by("order_id").aggregate(nps=fb.nps.cast("float64").mean()).rename(_cx_o1="order_id")
    per = per.left_join(nps, per.order_id == nps._cx_o1).drop("_cx_o1")
    out = order_outcomes(tables, repurchase_days).select("order_id", "repurchased")
    out = out.rename(_cx_o2="order_id")
    return per.left_join(out, per.order_id == out._cx_o2).drop("_cx_o2")


def moments_of_truth(
    tables: Tables,
    kinds: Sequence[str] = MOMENT_KINDS,
    *,
    bottom: float = BOTTOM_BOX,
    repurchase_days: int = REPURCHASE_DAYS,
    sentiment: str | ir.Table | None = None,
    journey_map: JourneyMap | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Touchpoints ranked by how much a bad experience there lowers NPS, then repurchase.

    A journey (order) had a bad experience at a touchpoint when its lowest signal there is at or
    below ``bottom``. Per touchpoint: ``orders_bad``/``orders_ok``; NPS (points) of the answers
    about bad and other journeys with the difference ``nps_effect``, its interval and p-value; the
    repurchase rate (%) likewise (``repurchase_effect``, percentage points). ``small_n`` when
    either group has fewer than ``min_n`` NPS answers; small-n rows are ranked after the others.
    """
    jm = journey_map_of(tables, journey_map)
    sig = experience_signals(tables, kinds, sentiment=sentiment, journey_map=jm)
    sig = sig.filter(sig.order_id.notnull(), sig.touchpoint.notnull())
    tp = sig.group_by(["order_id", "touchpoint"]).aggregate(bad=sig.signal.min() <= bottom)
    fb = getter(tables)("feedback")
    fb = fb.filter(fb.nps.notnull(), fb.brand.isnull(), fb.order_id.notnull())
    fb = fb.select(_cx_o1=fb.order_id, nps=fb.nps)
    oc = order_outcomes(tables, repurchase_days).select(_cx_o2="order_id", repurchased="repurchased")
    with_nps = tp.join(fb, tp.order_id == fb._cx_o1)
    nps = with_nps.group_by(["touchpoint", "bad"]).aggregate(
        nps_n=with_nps.count(),
        promoters=with_nps.count(where=with_nps.nps >= 9),
        detractors=with_nps.count(where=with_nps.nps <= 6),
    )
    with_rep = tp.left_join(oc, tp.order_id == oc._cx_o2)
    rep = with_rep.group_by(["touchpoint", "bad"]).aggregate(
        orders=with_rep.count(),
        rep_n=with_rep.repurchased.count(),
        rep_k=with_rep.count(where=with_rep.repurchased),
    )
    df = rep.to_pandas().merge(nps.to_pandas(), on=["touchpoint", "bad"], how="left").fillna(0)
    bad = df[df["bad"].astype(bool)].drop(columns="bad").set_index("touchpoint")
    ok = df[~df["bad"].astype(bool)].drop(columns="bad").set_index("touchpoint")
    tps = [t for t in jm.touchpoint_ids if t in set(bad.index) | set(ok.index)]
    bad, ok = bad.reindex(tps).fillna(0), ok.reindex(tps).fillna(0)
    nps_cols = ("promoters", "detractors", "nps_n")
    d, lo, hi, p = diff_nps(*(bad[c] for c in nps_cols), *(ok[c] for c in nps_cols), confidence=confidence)
    nb = nps_interval(bad["promoters"], bad["detractors"], bad["nps_n"])[0]
    no = nps_interval(ok["promoters"], ok["detractors"], ok["nps_n"])[0]
    rd, rlo, rhi, rp = diff_share(bad["rep_k"], bad["rep_n"], ok["rep_k"], ok["rep_n"], confidence=confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        rb = bad["rep_k"].to_numpy(float) / bad["rep_n"].to_numpy(float)
        ro = ok["rep_k"].to_numpy(float) / ok["rep_n"].to_numpy(float)
    out = pd.DataFrame(
        {
            "touchpoint": tps,
            "stage": [jm.stage_of[t] for t in tps],
            "orders_bad": bad["orders"].astype("int64").to_numpy(),
            "orders_ok": ok["orders"].astype("int64").to_numpy(),
            "nps_n_bad": bad["nps_n"].astype("int64").to_numpy(),
            "nps_n_ok": ok["nps_n"].astype("int64").to_numpy(),
            "nps_bad": nb,
            "nps_ok": no,
            "nps_effect": d,
            "nps_ci_low": lo,
            "nps_ci_high": hi,
            "nps_p": p,
            "repurchase_bad": 100 * rb,
            "repurchase_ok": 100 * ro,
            "repurchase_effect": 100 * rd,
            "repurchase_ci_low": 100 * rlo,
            "repurchase_ci_high": 100 * rhi,
            "repurchase_p": rp,
        }
    )
    out["small_n"] = (out["nps_n_bad"] < min_n) | (out["nps_n_ok"] < min_n)
    out["_k1"] = out["nps_effect"].fillna(np.inf)
    out["_k2"] = out["repurchase_effect"].fillna(np.inf)
    out = out.sort_values(["small_n", "_k1", "_k2", "touchpoint"], kind="stable").drop(columns=["_k1", "_k2"])
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)
