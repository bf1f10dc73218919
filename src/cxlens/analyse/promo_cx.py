"""The experience side of promotions: do promoted periods change NPS, and complaints about
price or stock?

Promoted days are the days on which a chain-wide promotion (``promotions`` with no channel) of
at most ``MAX_PROMOTION_DAYS`` ran (longer ones, such as an all-year price test, are the normal
state of the shop, not a promoted period). Own-brand feedback given on promoted days is compared
with feedback on other days: NPS (:func:`cxlens.analyse.stats.diff_nps`) and, once ``cxlens
text analyse`` has run, the share of analysed texts with a negative mention of price (aspect
``price_promotions``) and of stock (``assortment / availability``)
(:func:`cxlens.analyse.stats.diff_share`). It is a comparison of
periods, not an experiment: promotions run when the retailer chooses (holidays, launches).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from cxlens.analyse import stats
from cxlens.analyse.common import Tables, getter, timestamp
from cxlens.analyse.loyalty import optional

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: (label, aspect, sub-aspect or None) of the complaints compared.
COMPLAINTS = (("price", "price_promotions", None), ("stock", "assortment", "availability"))
MAX_PROMOTION_DAYS = 60
COLUMNS = ("measure", "promoted", "n_promoted", "other", "n_other", "difference", "ci_low", "ci_high",
           "p_value")  # fmt: skip


def promoted_days(tables: Tables) -> list[Any]:
    """Days on which a chain-wide promotion (no channel) of at most ``MAX_PROMOTION_DAYS`` ran."""
    pr = getter(tables)("promotions")
    rows = pr.filter(pr.channel.isnull()).select("start_at", "end_at").to_pandas()
    days: set[Any] = set()
    for r in rows.itertuples(index=False):
        s = pd.Timestamp(timestamp(r.start_at)).normalize()
        e = pd.Timestamp(timestamp(r.end_at)) if pd.notna(r.end_at) else s + timedelta(days=1)
        if e - s > timedelta(days=MAX_PROMOTION_DAYS):
            continue
        days.update(d.date() for d in pd.date_range(s, e - pd.Timedelta(microseconds=1), freq="D"))
    return sorted(days)


def _flagged(tables: Tables, days: list[Any]) -> ir.Table:
    fb = getter(tables)("feedback")
    fb = fb.filter(fb.brand.isnull())
    return fb.mutate(promoted=fb.submitted_at.date().isin(days or [pd.Timestamp(0).date()]))


def promo_cx_expr(tables: Tables, days: list[Any]) -> tuple[ir.Table, ir.Table | None]:
    """Ibis aggregations: per ``promoted`` flag, NPS answers, promoters and detractors; and (with
    text tables) texts analysed and negative price and stock mentions."""
    get = getter(tables)
    fb = _flagged(get, days)
    nps = fb.filter(fb.nps.notnull())
    scores = nps.group_by("promoted").aggregate(
        n=nps.count(), promoters=nps.count(where=nps.nps >= 9), detractors=nps.count(where=nps.nps <= 6)
    )
    ft, fa = optional(get, "feedback_text"), optional(get, "feedback_aspects")
    if ft is None or fa is None:
        return scores, None
    analysed = ft.select(t_id="feedback_id")
    t = fb.join(analysed, fb.feedback_id == analysed.t_id)
    aggs: dict[str, ir.Scalar] = {"texts": t.count()}
    for label, aspect, sub in COMPLAINTS:
        neg = fa.filter(fa.aspect == aspect, fa.sentiment == "negative")
        if sub is not None:
            neg = neg.filter(neg.sub_aspect == sub)
        aggs[label] = t.count(where=t.feedback_id.isin(neg.feedback_id))
    return scores, t.group_by("promoted").aggregate(**aggs)


def promo_cx(tables: Tables, *, confidence: float = 0.95) -> pd.DataFrame:
    """NPS and negative price and stock mentions on promoted days against other days (module
    docs). Columns :data:`COLUMNS`; ``df.attrs["promoted_days"]`` counts the promoted days."""
    days = promoted_days(tables)
    scores, texts = promo_cx_expr(tables, days)
    rows = []
    s = scores.to_pandas().set_index("promoted")
    if True in s.index and False in s.index:
        a, b = s.loc[True], s.loc[False]
        counts = (a["promoters"], a["detractors"], a["n"], b["promoters"], b["detractors"], b["n"])
        d, lo, hi, p = stats.diff_nps(*counts, confidence=confidence)
        va = stats.nps_interval(a["promoters"], a["detractors"], a["n"])[0]
        vb = stats.nps_interval(b["promoters"], b["detractors"], b["n"])[0]
        rows.append(
            ["nps", float(va), int(a["n"]), float(vb), int(b["n"]), float(d), float(lo), float(hi), float(p)]
        )
    if texts is not None:
        t = texts.to_pandas().set_index("promoted")
        if True in t.index and False in t.index:
            for label, _, _ in COMPLAINTS:
                a, b = t.loc[True], t.loc[False]
                d, lo, hi, p = stats.diff_share(
                    a[label], a["texts"], b[label], b["texts"], confidence=confidence
                )
                rows.append([f"negative {label} mentions", float(a[label] / a["texts"]), int(a["texts"]),
                             float(b[label] / b["texts"]), int(b["texts"]), float(d), float(lo), float(hi),
                             float(p)])  # fmt: skip
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out.attrs = {"promoted_days": len(days)}
    return out
