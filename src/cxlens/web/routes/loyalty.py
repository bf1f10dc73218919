"""Staff pages and API for the loyalty programme and for promotions and campaigns.

Pages: ``/app/loyalty`` (members, points, tier migration, the tier-upgrade discontinuity, the
effect of joining, expiry complaints, experience by tier) and ``/app/promotions`` (campaign
uplift, display and mailer uplift, price endings, the dip after a sale, bundle attach rates,
stacked offers, experience on promoted days). Every chart and table has a JSON or CSV twin under
``/api/v1/loyalty/*`` and ``/api/v1/promo/*``, scoped as :mod:`cxlens.web.loyalty_figures` says.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cxlens.analyse.loyalty import migration_matrix
from cxlens.analyse.loyalty_effects import Discontinuity
from cxlens.report import loyalty_section as charts
from cxlens.report.charts import interval_bars
from cxlens.web import figures
from cxlens.web import insight_figures as fx
from cxlens.web import loyalty_figures as lf
from cxlens.web.auth import ApiUser, PageUser
from cxlens.web.deps import State
from cxlens.web.figures import Filters
from cxlens.web.routes.api import Figure, figure_reply
from cxlens.web.routes.dashboard import figure_json, page_context
from cxlens.web.staff_i18n import staff_locale, translator

router = APIRouter()
FiltersDep = Annotated[Filters, Depends(figures.filters_param)]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
TIERS = ("none", "bronze", "silver", "gold", "platinum")


def _tr(request: Request) -> Any:
    return translator(staff_locale(request))


def _names(_: Any) -> dict[str, str]:
    """Translated names of the values charts and tables show (ids stay in the API twins)."""
    return {
        "none": _("none"),
        "bronze": _("bronze"),
        "silver": _("silver"),
        "gold": _("gold"),
        "platinum": _("platinum"),
        "(joined)": _("(joined)"),
        "(left)": _("(left)"),
        "members": _("members"),
        "active members": _("active members"),
        "Month": _("Month"),
        "Members": _("Members"),
        "Points": _("Points"),
        "Balance": _("Balance"),
        "Day": _("Day"),
        "Units per day": _("Units per day"),
        "earned": _("earned"),
        "burned": _("burned"),
        "expired": _("expired"),
        "balance": _("balance"),
        "before": _("before"),
        "during": _("during"),
        "after": _("after"),
        "display": _("display"),
        "mailer": _("mailer"),
        "display and mailer": _("display and mailer"),
        "upgraded": _("upgraded"),
        "not upgraded": _("not upgraded"),
        "spend": _("spend"),
        "visits": _("visits"),
        "active": _("active"),
        "promotion": _("promotion"),
        "coupon": _("coupon"),
        "promotion and coupon": _("promotion and coupon"),
        "nps": _("NPS"),
        "csat": _("CSAT"),
        "rating": _("star rating"),
        "charm vs round": _("charm vs round"),
        "other vs round": _("other vs round"),
        "charm vs other": _("charm vs other"),
        "negative price mentions": _("negative price mentions"),
        "negative stock mentions": _("negative stock mentions"),
    }


def _pct(value: Any, digits: int = 1) -> str:
    return charts.fmt(value, digits, pct=True)


# -- pages ------------------------------------------------------------------------------------------


@router.get("/app/loyalty", response_class=HTMLResponse, include_in_schema=False)
def loyalty_page(request: Request, state: State, who: PageUser, filters: FiltersDep) -> Response:
    """Members, points, tier migration, the effects of joining and moving up, experience by tier."""
    ws, _ = state.workspace, _tr(request)
    scope = fx.scope_of(ws, filters, who)
    names = _names(_)
    ctx = page_context(request, state, who, filters, "loyalty")
    series = lf.members(ws, scope)
    chart_list = []
    if not series.empty:
        fig = charts.members_chart(series, _("Members and active members per month"), names)
        chart_list.append(("loyalty-members", figure_json(fig)))
    pseries = lf.points_series(ws, scope)
    if not pseries.empty:
        fig = charts.points_chart(pseries, _("Points earned, burned and expired per month"), names)
        chart_list.append(("loyalty-points", figure_json(fig)))
    moves = lf.migration(ws, scope)
    if not moves.empty:
        matrix = migration_matrix(moves)
        matrix = matrix.rename(index=names, columns=names)
        fig = charts.migration_chart(
            matrix, _("Tier migration over the period"), _("tier at the end"), _("tier at the start")
        )
        chart_list.append(("loyalty-migration", figure_json(fig)))
    rd, bins = lf.tier_rd(ws, scope)
    if rd is not None:
        fig = charts.rd_chart(
            bins,
            Discontinuity(**rd),
            _("Visits after the {day} tier review", day=rd["review_date"]),
            _("qualifying points"),
            _("visits per member after the review"),
            names,
        )
        chart_list.append(("loyalty-rd", figure_json(fig)))
    tiers = lf.cx_tiers(ws, scope)
    nps = tiers[tiers["metric"] == "nps"].assign(
        label=lambda t: t["loyalty_tier"].map(names).fillna(t["loyalty_tier"])
    )
    if not nps.empty:
        chart_list.append(
            (
                "loyalty-nps",
                figure_json(interval_bars(nps, "label", _("NPS by member tier (none: not a member)"))),
            )
        )
    last = figures.records(series.tail(1))[0] if not series.empty else None
    ctx.update(
        charts=chart_list,
        last=last,
        points=lf.points(ws, scope),
        rd=rd,
        enrolment=figures.records(lf.enrolment(ws, scope)),
        expiry=lf.expiry(ws, scope),
        tiers=figures.records(tiers),
        names=names,
        pct=_pct,
        ci=charts.ci,
    )
    return state.templates.TemplateResponse(request, "app_loyalty.html.j2", ctx)


@router.get("/app/promotions", response_class=HTMLResponse, include_in_schema=False)
def promotions_page(request: Request, state: State, who: PageUser, filters: FiltersDep) -> Response:
    """Campaign uplift, display and mailer uplift, price endings, dips, bundles and stacked offers."""
    ws, _ = state.workspace, _tr(request)
    scope = fx.scope_of(ws, filters, who)
    names = _names(_)
    ctx = page_context(request, state, who, filters, "promotions")
    effects = lf.campaigns(ws, scope)
    chart_list = []
    if effects["uplift_per_household"].notna().any():
        chart_list.append(
            (
                "promo-campaigns",
                figure_json(
                    charts.campaign_chart(
                        effects,
                        _("Extra spend per targeted customer"),
                        x_title=_("Extra spend per customer"),
                        y_title=_("Campaign"),
                    )
                ),
            )
        )
    uplift = lf.features(ws, scope)
    if uplift["units_uplift"].notna().any():
        fig = charts.uplift_chart(
            uplift,
            _("Extra units sold on display and in the mailer (%)"),
            names,
            x_title=_("Extra units (%)"),
            y_title=_("Promotion"),
        )
        chart_list.append(("promo-features", figure_json(fig)))
    dip_list = lf.dips(ws, scope)
    for i, (summary, daily) in enumerate(dip_list):
        title = _("Units per day: {name}", name=summary.get("name") or summary["promotion_id"])
        chart_list.append((f"promo-dip-{i}", figure_json(charts.dip_chart(daily, summary, title, names))))
    attach = lf.bundles(ws, scope)
    if not attach.empty:
        for i, (_pid, part) in enumerate(attach.groupby("promotion_id", sort=True)):
            best = part.sort_values("lift_vs_before", ascending=False)["product_id"].iloc[0]
            rows = part[part["product_id"] == best]
            title = _("Attach rate (%): {product}", product=rows["name"].iloc[0])
            fig = charts.attach_chart(rows, title, names, x_title=_("Attach rate (%)"), y_title=_("Period"))
            chart_list.append((f"promo-bundle-{i}", figure_json(fig)))
    ctx.update(
        charts=chart_list,
        campaigns=figures.records(effects),
        features=figures.records(uplift),
        endings=figures.records(lf.endings(ws, scope)),
        dips=[s for s, _d in dip_list],
        stacked=figures.records(lf.stacked(ws, scope)),
        promoted=figures.records(lf.promoted_cx(ws, scope)),
        names=names,
        pct=_pct,
        ci=charts.ci,
    )
    return state.templates.TemplateResponse(request, "app_promotions.html.j2", ctx)


# -- REST API ---------------------------------------------------------------------------------------


api = APIRouter(prefix="/api/v1", tags=["loyalty and promotions"])


def _reply(name: str, frame: pd.DataFrame, filters: Filters, who: Any, fmt: str) -> Response:
    return figure_reply(name, frame, filters, who, fmt)


def _one(record: dict[str, Any] | None) -> pd.DataFrame:
    if not record:
        return pd.DataFrame()
    return pd.DataFrame(
        [{k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in record.items()}]
    )


def _scope(state: Any, filters: Filters, who: Any) -> fx.Scope:
    return fx.scope_of(state.workspace, filters, who)


@api.get("/loyalty/members", response_model=Figure, responses=CSV)
def api_members(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Members at the end of each month, new members and active members (bought that month)."""
    return _reply(
        "loyalty-members", lf.members(state.workspace, _scope(state, filters, who)), filters, who, format
    )


@api.get("/loyalty/tiers", response_model=Figure, responses=CSV)
def api_tiers(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Tier migration: members by tier at the first and the last day, with each row's share."""
    return _reply(
        "loyalty-tiers", lf.migration(state.workspace, _scope(state, filters, who)), filters, who, format
    )


@api.get("/loyalty/points", response_model=Figure, responses=CSV)
def api_points(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Points issued, burned, expired, the balance, its liability, redemption rate and breakage."""
    return _reply(
        "loyalty-points", _one(lf.points(state.workspace, _scope(state, filters, who))), filters, who, format
    )


@api.get("/loyalty/points-series", response_model=Figure, responses=CSV)
def api_points_series(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Points earned, burned, expired and adjusted per month, and the running balance."""
    frame = lf.points_series(state.workspace, _scope(state, filters, who))
    return _reply("loyalty-points-series", frame, filters, who, format)


@api.get("/loyalty/tier-upgrade", response_model=Figure, responses=CSV)
def api_rd(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Visits after the tier review per bin of qualifying points (the chart's points); the
    discontinuity estimate is in ``/loyalty/tier-upgrade-effect``."""
    _rd, bins = lf.tier_rd(state.workspace, _scope(state, filters, who))
    return _reply("loyalty-tier-upgrade", bins, filters, who, format)


@api.get("/loyalty/tier-upgrade-effect", response_model=Figure, responses=CSV)
def api_rd_effect(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """The jump in visits at the tier threshold (regression discontinuity) with its 95% interval."""
    rd, _bins = lf.tier_rd(state.workspace, _scope(state, filters, who))
    return _reply("loyalty-tier-upgrade-effect", _one(rd), filters, who, format)


@api.get("/loyalty/enrolment", response_model=Figure, responses=CSV)
def api_enrolment(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """The effect of joining on spend, visits and buying at all (difference-in-differences)."""
    frame = lf.enrolment(state.workspace, _scope(state, filters, who))
    return _reply("loyalty-enrolment", frame, filters, who, format)


@api.get("/loyalty/expiry", response_model=Figure, responses=CSV)
def api_expiry(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Members complaining about points after their points expired, against the others."""
    return _reply(
        "loyalty-expiry", _one(lf.expiry(state.workspace, _scope(state, filters, who))), filters, who, format
    )


@api.get("/loyalty/cx", response_model=Figure, responses=CSV)
def api_cx(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """NPS, CSAT and rating by member tier (none: not a member), with 95% intervals."""
    return _reply(
        "loyalty-cx", lf.cx_tiers(state.workspace, _scope(state, filters, who)), filters, who, format
    )


@api.get("/promo/campaigns", response_model=Figure, responses=CSV)
def api_campaigns(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Per campaign: customers targeted, redemption rate, extra spend and visits per targeted
    customer during and after it, with 95% intervals and the method used."""
    frame = lf.campaigns(state.workspace, _scope(state, filters, who))
    return _reply("promo-campaigns", frame, filters, who, format)


@api.get("/promo/display", response_model=Figure, responses=CSV)
def api_display(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Units and baskets uplift of displayed and mailer products, with 95% intervals."""
    return _reply(
        "promo-display", lf.features(state.workspace, _scope(state, filters, who)), filters, who, format
    )


@api.get("/promo/prices", response_model=Figure, responses=CSV)
def api_prices(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Units per store-week at charm and other price endings against round prices."""
    return _reply(
        "promo-prices", lf.endings(state.workspace, _scope(state, filters, who)), filters, who, format
    )


@api.get("/promo/dips", response_model=Figure, responses=CSV)
def api_dips(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Daily units of each time-limited promotion's products before, during and after it."""
    parts = [
        d.assign(promotion_id=s["promotion_id"])
        for s, d in lf.dips(state.workspace, _scope(state, filters, who))
    ]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["day", "units", "period"])
    return _reply("promo-dips", frame, filters, who, format)


@api.get("/promo/dip-effects", response_model=Figure, responses=CSV)
def api_dip_effects(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Each time-limited promotion's lift while it ran and the dip after it, with 95% intervals."""
    frame = pd.DataFrame([s for s, _d in lf.dips(state.workspace, _scope(state, filters, who))])
    return _reply("promo-dip-effects", frame, filters, who, format)


@api.get("/promo/bundles", response_model=Figure, responses=CSV)
def api_bundles(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Attach rates of each bundle's products before, during and after it."""
    return _reply(
        "promo-bundles", lf.bundles(state.workspace, _scope(state, filters, who)), filters, who, format
    )


@api.get("/promo/stacked", response_model=Figure, responses=CSV)
def api_stacked(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Mean basket value of orders with a promotion, a coupon, both or neither (descriptive)."""
    return _reply(
        "promo-stacked", lf.stacked(state.workspace, _scope(state, filters, who)), filters, who, format
    )


@api.get("/promo/cx", response_model=Figure, responses=CSV)
def api_promo_cx(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """NPS and negative price and stock mentions on promoted days against other days."""
    return _reply(
        "promo-cx", lf.promoted_cx(state.workspace, _scope(state, filters, who)), filters, who, format
    )


router.include_router(api)
