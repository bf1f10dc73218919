"""Text insight analytics over the enriched store, written once in Ibis (DuckDB or Spark).

Inputs are table getters (see :func:`cxlens.text.store.text_tables`); outputs are tidy frames:
aspect x sentiment counts by any feedback dimension and period, the sentiment trend, and what
call/chat contacts are about by product brand, product line (category) and product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

TableGetter = Callable[[str], ir.Table]
GRAINS = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}
FEEDBACK_DIMENSIONS = (
    "source",
    "brand",
    "store_id",
    "product_id",
    "channel",
    "touchpoint",
    "language",
    "survey_id",
)
PRODUCT_DIMENSIONS = ("product_brand", "category", "subcategory", "product_id")


def _period(t: ir.Table, grain: str | None) -> dict[str, ir.Value]:
    if grain is None:
        return {}
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}; choose from {', '.join(GRAINS)}")
    return {"period": t.submitted_at.truncate(GRAINS[grain])}


def _feedback(get: TableGetter, own_brand_only: bool | None) -> ir.Table:
    fb = get("feedback")
    if own_brand_only:
        fb = fb.filter(fb.brand.isnull())
    return fb


def _check(by: Sequence[str], allowed: Sequence[str]) -> list[str]:
    bad = [b for b in by if b not in allowed]
    if bad:
        raise ValueError(f"unknown dimension(s) {bad}; choose from {', '.join(allowed)}")
    return list(by)


def aspect_sentiment(
    get: TableGetter,
    by: Sequence[str] = (),
    grain: str | None = None,
    *,
    sub_aspects: bool = False,
    own_brand_only: bool | None = None,
) -> ir.Table:
    """Per aspect (and group/period): texts mentioning it, negative/neutral/positive counts, mean score."""
    keys = _check(by, FEEDBACK_DIMENSIONS)
    fb = _feedback(get, own_brand_only)
    asp = get("feedback_aspects")
    j = asp.join(fb, asp.feedback_id == fb.feedback_id)
    group = list(_period(j, grain)) + keys + ["aspect"] + (["sub_aspect"] if sub_aspects else [])
    j = j.mutate(**_period(j, grain))
    return (
        j.group_by(group)
        .aggregate(
            mentions=j.count(),
            negative=(j.sentiment == "negative").sum(),
            neutral=(j.sentiment == "neutral").sum(),
            positive=(j.sentiment == "positive").sum(),
            mean_score=j.score.mean(),
        )
        .mutate(share_negative=lambda t: t.negative / t.mentions)
        .order_by(group)
    )


def sentiment_trend(
    get: TableGetter, grain: str = "month", by: Sequence[str] = (), own_brand_only: bool | None = True
) -> ir.Table:
    """Per period (and group): analysed texts, share negative/positive, mean score (own brand by default)."""
    keys = _check(by, FEEDBACK_DIMENSIONS)
    fb = _feedback(get, own_brand_only)
    ft = get("feedback_text")
    j = ft.join(fb, ft.feedback_id == fb.feedback_id)
    j = j.mutate(**_period(j, grain))
    group = ["period", *keys]
    return (
        j.group_by(group)
        .aggregate(
            n=j.count(),
            share_negative=(j.sentiment == "negative").cast("float64").mean(),
            share_positive=(j.sentiment == "positive").cast("float64").mean(),
            mean_score=j.score.mean(),
        )
        .order_by(group)
    )


def contact_reasons(
    get: TableGetter,
    by: Sequence[str] = ("category",),
    grain: str | None = "month",
    sources: Sequence[str] = ("call", "chat"),
) -> ir.Table:
    """What call/chat contacts are about (aspects) by product brand, product line and product, or by
    any feedback dimension (brand, source, channel, ...), over time.

    The product is the feedback's own ``product_id`` or else the first line of its order; orders and
    products are joined only when a product dimension is asked for, so a store of transcripts or
    social posts with no products table works too.
    """
    keys = _check(by, (*PRODUCT_DIMENSIONS, *FEEDBACK_DIMENSIONS))
    fb = get("feedback")
    fb = fb.filter(fb.source.isin(list(sources)))
    product_keys = [k for k in keys if k in PRODUCT_DIMENSIONS]
    if product_keys:
        lines = get("order_items")
        first = lines.filter(lines.line_no == 1).select(o_order_id="order_id", o_product_id="product_id")
        fb = fb.left_join(first, fb.order_id == first.o_order_id)
        fb = fb.mutate(product_key=ibis.coalesce(fb.product_id, fb.o_product_id))
        products = get("products").select(
            p_product_id="product_id", product_brand="brand", category="category", subcategory="subcategory"
        )
        fb = fb.left_join(products, fb.product_key == products.p_product_id)
        fb = fb.mutate(product_id=fb.product_key)
    contacts = fb.select("feedback_id", "submitted_at", *keys).rename(contact_id="feedback_id")
    asp = get("feedback_aspects").rename(contact_id="feedback_id")
    return reasons(contacts, asp, keys, grain)


def reasons(contacts: ir.Table, aspects: ir.Table, keys: Sequence[str], grain: str | None) -> ir.Table:
    """Per (period,) keys and aspect: contacts mentioning it, how many of them negatively, all
    contacts of the group and the share. ``contacts``: contact_id, submitted_at and ``keys``;
    ``aspects``: contact_id, aspect, sentiment (one row per sub-aspect found)."""
    keys = list(keys)
    j = aspects.join(contacts, "contact_id")
    j = j.mutate(**_period(j, grain))
    group = list(_period(j, grain)) + keys + ["aspect"]
    per = contacts.mutate(**_period(contacts, grain))
    contact_keys = (["period"] if grain else []) + keys
    counts = j.group_by(group).aggregate(
        mentions=j.contact_id.nunique(),
        negative=j.contact_id.nunique(where=j.sentiment == "negative"),
    )
    if contact_keys:
        counts = counts.join(per.group_by(contact_keys).aggregate(contacts=per.count()), contact_keys)
    else:
        counts = counts.mutate(contacts=per.count().as_scalar())
    return counts.mutate(share_of_contacts=counts.mentions / counts.contacts).order_by(group)


def heatmap_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Aspect x sentiment share table (rows: aspects by mentions) from :func:`aspect_sentiment`."""
    agg = summary.groupby("aspect")[["negative", "neutral", "positive", "mentions"]].sum()
    shares = agg[["negative", "neutral", "positive"]].div(agg["mentions"], axis=0)
    shares["mentions"] = agg["mentions"]
    return shares.sort_values("mentions", ascending=False)
