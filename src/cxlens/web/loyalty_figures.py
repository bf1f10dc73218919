"""The data behind the loyalty and promotion pages, scoped to the caller and cached per load.

Scope (the store, region and segment filters, and a store manager's own stores), with S the
stores in scope and C the customers of S (an order or feedback at a store of S, as
:func:`cxlens.web.insight_figures.store_customers` defines) narrowed to a loyalty tier when the
segment filter names one:

* customer tables (``customers``, ``loyalty_members``, ``points_ledger``, ``tier_history``,
  ``campaign_targets``, ``coupon_redemptions``) hold C's rows only;
* ``orders`` hold orders of C anywhere and orders at S; ``feedback`` rows of C or at S;
* ``product_promotions`` and ``stores`` hold S's rows.

So a manager sees their customers' programme and the campaigns as measured on their customers,
and the in-store promotions of their stores. The date and channel filters do not apply: these
analyses set their own windows (before, during and after a campaign or a review), and the page
says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from cxlens.analyse import campaigns as cm
from cxlens.analyse import loyalty as ly
from cxlens.analyse import loyalty_effects as le
from cxlens.analyse import promo_cx
from cxlens.analyse import promotions as pm
from cxlens.analyse.drivers import text_getter
from cxlens.storage.workspace import Workspace
from cxlens.web.figures import FigureCache
from cxlens.web.insight_figures import Scope, store_customers

if TYPE_CHECKING:
    import ibis.expr.types as ir

Getter = Callable[[str], "ir.Table"]
CACHE = FigureCache(128)
CUSTOMER_TABLES = ("customers", "loyalty_members", "points_ledger", "tier_history", "campaign_targets",
                   "coupon_redemptions")  # fmt: skip


def scoped(ws: Workspace, scope: Scope) -> Getter:
    """A table getter over the workspace (and its text tables) limited to the scope (module docs)."""
    base = text_getter(ws)
    if scope.stores is None and not scope.segment:
        return base
    ids = list(scope.stores) if scope.stores is not None else None

    def people() -> ir.Table:
        cu = base("customers").select("customer_id")
        if ids is not None:
            cu = store_customers(base, tuple(ids)).distinct()
        if scope.segment:
            lm = base("loyalty_members")
            cu = cu.filter(cu.customer_id.isin(lm.filter(lm.tier == scope.segment).customer_id))
        return cu

    memo: dict[str, ir.Table] = {}

    def get(name: str) -> ir.Table:
        if name in memo:
            return memo[name]
        t = base(name)
        mine = people()
        if name in CUSTOMER_TABLES:
            t = t.filter(t.customer_id.isin(mine.customer_id))
        elif name in ("orders", "feedback"):
            pred = t.customer_id.isin(mine.customer_id)
            if ids is not None:
                pred = pred | t.store_id.isin(ids or [""])
            t = t.filter(pred)
        elif name in ("product_promotions", "stores") and ids is not None:
            t = t.filter(t.store_id.isin(ids or [""]))
        memo[name] = t
        return t

    return get


def _has(ws: Workspace, table: str) -> bool:
    counts = CACHE.get(ws, ("counts",), ws.counts)
    return bool(dict(counts).get(table, 0))


def _safe(compute: Callable[[], Any], empty: Any) -> Any:
    """The analytic's answer, or ``empty`` when the scope holds too little for it (ValueError)."""
    try:
        return compute()
    except ValueError:
        return empty


# -- loyalty ----------------------------------------------------------------------------------------


def members(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Members, new and active members per month (:func:`cxlens.analyse.loyalty.members_series`)."""
    if not _has(ws, "loyalty_members"):
        return pd.DataFrame(columns=["period", "new_members", "members", "active_members", "active_share"])
    return CACHE.get(ws, ("ly-members", scope), lambda: ly.members_series(scoped(ws, scope)))


def migration(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Tier migration over the data's whole range (from_tier, to_tier, members, share)."""

    def compute() -> pd.DataFrame:
        get = scoped(ws, scope)
        span = ly.data_range(get)
        if span is None or not _has(ws, "loyalty_members"):
            return pd.DataFrame(columns=["from_tier", "to_tier", "members", "share"])
        return ly.tier_migration(get, span[0], span[1] - pd.Timedelta(days=1))

    return CACHE.get(ws, ("ly-migration", scope), compute)


def points(ws: Workspace, scope: Scope) -> dict[str, Any] | None:
    """Points summary (:func:`cxlens.analyse.loyalty.points_summary`), None without a ledger."""
    if not _has(ws, "points_ledger"):
        return None
    return CACHE.get(ws, ("ly-points", scope), lambda: ly.points_summary(scoped(ws, scope)).as_dict())


def points_series(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Points earned, burned, expired per month and the running balance."""
    if not _has(ws, "points_ledger"):
        return pd.DataFrame(columns=["period", "earned", "burned", "expired", "adjusted", "net", "balance"])
    return CACHE.get(ws, ("ly-points-series", scope), lambda: ly.points_series(scoped(ws, scope)))


def tier_rd(ws: Workspace, scope: Scope) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """The tier-review discontinuity and its binned points (None and empty when not estimable)."""

    def compute() -> tuple[dict[str, Any] | None, pd.DataFrame]:
        empty = (None, pd.DataFrame(columns=["bin", "qualifying_value", "n", "mean", "side"]))
        if not _has(ws, "tier_history"):
            return empty
        result = _safe(lambda: le.tier_rd(scoped(ws, scope)), None)
        return empty if result is None else (result[0].as_dict(), result[1])

    rd, bins = CACHE.get(ws, ("ly-rd", scope), compute)
    return (dict(rd) if rd else None), bins.copy()


def enrolment(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """The effect of joining (:func:`cxlens.analyse.loyalty_effects.enrolment_effect`)."""
    if not _has(ws, "loyalty_members"):
        return pd.DataFrame(columns=["metric", "estimate", "ci_low", "ci_high", "p_value", "members"])
    return CACHE.get(ws, ("ly-enrolment", scope), lambda: le.enrolment_effect(scoped(ws, scope)))


def expiry(ws: Workspace, scope: Scope) -> dict[str, Any] | None:
    """Complaints after points expire (None when no points expired in scope)."""
    if not _has(ws, "points_ledger"):
        return None
    return CACHE.get(
        ws, ("ly-expiry", scope), lambda: _safe(lambda: le.expiry_complaints(scoped(ws, scope)), None)
    )


def cx_tiers(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """NPS, CSAT and rating by member tier."""

    def compute() -> pd.DataFrame:
        if not _has(ws, "feedback"):
            return pd.DataFrame(
                columns=["loyalty_tier", "metric", "n", "value", "ci_low", "ci_high", "small_n"]
            )
        table = ly.cx_by_tier(scoped(ws, scope), ["nps", "csat", "rating"])
        return table[table["loyalty_tier"].notna()].reset_index(drop=True)

    return CACHE.get(ws, ("ly-cx", scope), compute)


# -- promotions -------------------------------------------------------------------------------------


def campaigns(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Campaign effects on the customers in scope (:func:`cxlens.analyse.campaigns.campaign_effects`)."""
    if not (_has(ws, "campaigns") and _has(ws, "campaign_targets")):
        return pd.DataFrame(columns=list(cm.COLUMNS))
    return CACHE.get(
        ws,
        ("pr-campaigns", scope),
        lambda: _safe(lambda: cm.campaign_effects(scoped(ws, scope)), pd.DataFrame(columns=list(cm.COLUMNS))),
    )


def features(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Display and mailer uplift in the stores in scope."""
    if not _has(ws, "product_promotions"):
        return pd.DataFrame(columns=list(pm.UPLIFT_COLUMNS))
    return CACHE.get(ws, ("pr-features", scope), lambda: pm.feature_uplift(scoped(ws, scope)))


def endings(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Units at charm, round and other price endings in the stores in scope."""
    if not _has(ws, "product_promotions"):
        return pd.DataFrame(columns=list(pm.ENDING_COLUMNS))
    return CACHE.get(ws, ("pr-endings", scope), lambda: pm.price_endings(scoped(ws, scope)))


def _promotions_listed(get: Getter, kind: str) -> pd.DataFrame:
    pr, pp = get("promotions"), get("product_promotions")
    listed = pp.filter(pp.promotion_id.notnull()).select("promotion_id").distinct()
    rows = pr.filter(pr.type == kind, pr.promotion_id.isin(listed.promotion_id)).select(
        "promotion_id", "name"
    )
    return rows.to_pandas().sort_values("promotion_id").reset_index(drop=True)


def dips(ws: Workspace, scope: Scope) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Each time-limited promotion's lift and dip (summary, daily series)."""

    def compute() -> list[tuple[dict[str, Any], pd.DataFrame]]:
        if not _has(ws, "product_promotions"):
            return []
        get = scoped(ws, scope)
        out = []
        for promotion in _promotions_listed(get, "limited_time")["promotion_id"]:
            try:
                out.append(pm.promotion_dip(get, str(promotion)))
            except ValueError:  # no sales of its products in scope
                continue
        return out

    return [(dict(s), d.copy()) for s, d in CACHE.get(ws, ("pr-dips", scope), compute)]


def bundles(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Attach rates of every bundle's products before, during and after it."""

    def compute() -> pd.DataFrame:
        if not _has(ws, "product_promotions"):
            return pd.DataFrame(columns=["promotion_id", "product_id", "name", "period", "attach_rate"])
        get = scoped(ws, scope)
        frames = []
        for row in _promotions_listed(get, "bundle").itertuples():
            try:
                part = pm.bundle_attach(get, str(row.promotion_id))
            except ValueError:  # fewer than two products in scope
                continue
            frames.append(part.assign(promotion_id=str(row.promotion_id), promotion=str(row.name)))
        return (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=["promotion_id", "product_id"])
        )

    return CACHE.get(ws, ("pr-bundles", scope), compute)


def stacked(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Basket value by offers used (descriptive)."""
    if not _has(ws, "orders"):
        return pd.DataFrame(columns=["offers", "orders", "mean_value", "ci_low", "ci_high"])
    return CACHE.get(ws, ("pr-stacked", scope), lambda: pm.stacked_offers(scoped(ws, scope)))


def promoted_cx(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """NPS and negative price and stock mentions on promoted days against other days."""
    if not (_has(ws, "feedback") and _has(ws, "promotions")):
        return pd.DataFrame(columns=list(promo_cx.COLUMNS))
    return CACHE.get(ws, ("pr-cx", scope), lambda: promo_cx.promo_cx(scoped(ws, scope)))
