"""Staff pages and API for journeys, the voice of the customer and customers.

Pages: ``/app/journey`` (map, Sankey, funnel, emotion curve), ``/app/voc`` (aspect x sentiment,
topic trends, verbatim search) and ``/app/customers`` (RFM segments, predicted value, churn risk).
Every chart's rows are served by ``/api/v1/journey/*``, ``/api/v1/voc/*`` and
``/api/v1/customers/*`` as JSON or formula-safe CSV, scoped as :mod:`cxlens.web.insight_figures`
describes. Customer text is untrusted: templates autoescape it; only topic terms (words, markup
characters removed) reach chart JSON, which :func:`figure_json` makes safe inside a script block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cxlens import display
from cxlens.report.charts import BLUE, LAYOUT
from cxlens.report.customers_section import segment_chart
from cxlens.report.journey_section import emotion_figure, funnel_figure, sankey_figure
from cxlens.report.text_section import aspect_heatmap
from cxlens.web import figures
from cxlens.web import insight_figures as fx
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


#: Plain-language names of the churn model's features (the at-risk table's reasons).
REASONS = {
    "recency_days": "Days since last purchase",
    "tenure_days": "Days since first purchase",
    "orders": "Number of orders",
    "orders_90d": "Orders in the last 90 days",
    "spend": "Total spend",
    "avg_basket": "Average basket",
    "spend_90d": "Spend in the last 90 days",
    "stores": "Stores visited",
    "late_deliveries": "Late deliveries",
    "late_share": "Share of late deliveries",
    "returns": "Returns",
    "online_share": "Share of online orders",
    "support_contacts": "Support contacts",
    "nps_mean": "Mean NPS answer",
    "nps_min": "Lowest NPS answer",
    "detractor_answers": "Detractor answers",
    "csat_mean": "Mean CSAT",
    "feedback_count": "Feedback given",
}


def describe(value: Any) -> str:
    """A reason code as its plain-language name (unknown codes unchanged)."""
    return REASONS.get(str(value), str(value)) if value is not None else ""


class VerbatimPage(Figure):
    """One page of verbatims: the rows plus the number matching in all and the page asked for."""

    total: int
    page: int
    per_page: int


def verbatim_query(
    q: Annotated[str | None, Query(max_length=200, description="Substring to find (any case).")] = None,
    language: Annotated[str | None, Query(max_length=16, description="Detected language.")] = None,
    sentiment: Annotated[
        str | None,
        Query(pattern=r"^(negative|neutral|positive)?$", description="negative, neutral or positive."),
    ] = None,
    aspect: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=fx.MAX_PER_PAGE)] = 25,
) -> fx.VerbatimQuery:
    """The verbatim search from the query string (empty values mean none)."""
    text = (q or "").replace("\x00", "").strip()
    return fx.VerbatimQuery(text or None, language or None, sentiment or None, aspect or None, page, per_page)


VerbatimDep = Annotated[fx.VerbatimQuery, Depends(verbatim_query)]
TopicLanguage = Annotated[
    str | None, Query(max_length=16, description="Language of the texts (default: the most frequent).")
]


# -- charts -------------------------------------------------------------------------------------


def heatmap_figure(heat: pd.DataFrame, title: str, labels: list[str], **titles: Any) -> go.Figure:
    """Aspect x sentiment heatmap from :func:`fx.aspects`: the report's chart (red = negative share,
    blue = positive share), with the page's names and labels."""
    return aspect_heatmap(heat, title, labels, **titles)


def topic_figure(
    trend: pd.DataFrame, title: str, *, x_title: str = "Month", y_title: str = "Share of texts (%)"
) -> go.Figure:
    """One line per topic: its share of each month's texts (percent) from :func:`fx.topic_trends`;
    the 95% interval and counts are in the hover (bands would hide each other)."""
    fig = go.Figure()
    for topic, part in trend.groupby("topic", sort=True):
        fig.add_trace(
            go.Scatter(
                x=part["period"].astype(str).str[:7].tolist(),
                y=(part["share"] * 100).tolist(),
                mode="lines+markers",
                name=f"{topic}: {part['terms'].iloc[0]}",
                customdata=list(
                    zip(
                        part["ci_low"] * 100,
                        part["ci_high"] * 100,
                        part["documents"],
                        part["total"],
                        strict=True,
                    )
                ),
                hovertemplate="%{x}: %{y:.1f}% [%{customdata[0]:.1f}, %{customdata[1]:.1f}]"
                "<br>%{customdata[2]:,} of %{customdata[3]:,}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        height=420,
        yaxis={"title": y_title, "rangemode": "tozero"},
        xaxis={"title": x_title, "type": "category"},
        legend={"orientation": "h", "y": -0.15},
        **LAYOUT,
    )
    return fig


def band_figure(
    bins: pd.DataFrame,
    title: str,
    x_title: str,
    digits: int = 0,
    *,
    y_title: str = "Customers",
    label: Callable[[float], str] | None = None,
) -> go.Figure:
    """Customers per band (from :func:`fx.clv_distribution` or :func:`fx.churn_distribution`);
    ``label`` formats a band's ends (money for customer value)."""
    show = label or (lambda v: f"{v:,.{digits}f}")
    labels = [f"{show(lo)}–{show(hi)}" for lo, hi in zip(bins["low"], bins["high"], strict=True)]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=bins["customers"].tolist(),
            marker_color=BLUE,
            hovertemplate="%{x}: %{y:,}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=340,
        xaxis={"title": x_title, "type": "category"},
        yaxis={"title": y_title},
        **LAYOUT,
    )
    return fig


# -- pages --------------------------------------------------------------------------------------


def _tr(request: Request) -> Any:
    return translator(staff_locale(request))


@router.get("/app/journey", response_class=HTMLResponse, include_in_schema=False)
def journey_page(request: Request, state: State, who: PageUser, filters: FiltersDep) -> Response:
    """The journey map, the Sankey of stage paths, the funnel and the emotion curve."""
    ws, _ = state.workspace, _tr(request)
    scope = fx.scope_of(ws, filters, who)
    ctx = page_context(request, state, who, filters, "journey")
    jmap = fx.journey_map(ws, scope)
    names = ctx["names"]
    if not jmap.empty:  # the map cards in the reader's language
        jmap = jmap.assign(
            stage_name=names.many(jmap["stage"], "stage"),
            touchpoint_name=names.many(jmap["touchpoint"], "touchpoint"),
            channels=[
                ", ".join(names(c.strip(), "channel") for c in str(v).split(",") if c.strip())
                for v in jmap["channels"]
            ],
        )
    stages = [
        (str(rows["stage_name"].iloc[0]), figures.records(rows))
        for _stage, rows in jmap.groupby("stage", sort=False)
    ]
    charts = []
    links = fx.sankey(ws, scope)
    if not links.empty:
        sankey = sankey_figure(links, _("Journey paths by stage"), names)
        charts.append(("journey-sankey", figure_json(sankey)))
    funnel = fx.funnel(ws, scope)
    if not funnel.empty:
        title = _("Funnel: {steps}", steps=" → ".join(names.many(funnel["step"], "touchpoint")))
        fig = funnel_figure(funnel, title, names, x_title=_("Journeys"), y_title=_("Step"))
        charts.append(("journey-funnel", figure_json(fig)))
    curve = fx.emotions(ws, scope)
    if not curve.empty:
        title = _("Emotion curve by stage (0 = worst, 1 = best; 95% intervals)")
        fig = emotion_figure(curve, title, names, y_title=_("0 = worst, 1 = best"), x_title=_("Stage"))
        charts.append(("journey-emotions", figure_json(fig)))
    ctx.update(stages=stages, charts=charts, journeys=int(links[links["step"] == 1]["n"].sum()))
    return state.templates.TemplateResponse(request, "app_journey.html.j2", ctx)


@router.get("/app/voc", response_class=HTMLResponse, include_in_schema=False)
def voc_page(
    request: Request,
    state: State,
    who: PageUser,
    filters: FiltersDep,
    search: VerbatimDep,
    topic_language: TopicLanguage = None,
) -> Response:
    """Aspect x sentiment heatmap, topic trends and the verbatim explorer."""
    ws, _ = state.workspace, _tr(request)
    scope = fx.scope_of(ws, filters, who)
    ctx = page_context(request, state, who, filters, "voc")
    charts = []
    heat = fx.aspects(ws, scope)
    if not heat.empty:
        labels = [_("negative"), _("neutral"), _("positive")]
        title = _("Aspect × sentiment (share of mentions)")
        fig = heatmap_figure(
            heat,
            title,
            labels,
            names=ctx["names"],
            x_title=_("Sentiment"),
            y_title=_("Aspect"),
        )
        charts.append(("voc-aspects", figure_json(fig)))
    languages = fx.text_languages(ws, scope)
    trend = fx.topic_trends(ws, scope, topic_language or None)
    topic_charts = []
    if not trend.empty:
        title = _("Topics per month ({language} texts, % of texts)", language=str(trend["language"].iloc[0]))
        fig = topic_figure(trend, title, x_title=_("Month"), y_title=_("Share of texts (%)"))
        topic_charts.append(("voc-topics", figure_json(fig)))
    rows, total = fx.verbatims(ws, scope, search)
    base = {**filters.query(), **_search_query(search)}
    pages = max(1, -(-total // search.per_page))
    ctx.update(
        charts=charts,
        topic_charts=topic_charts,
        text_ready=fx.text_ready(ws),
        languages=figures.records(languages),
        topic_language=str(trend["language"].iloc[0]) if not trend.empty else (topic_language or ""),
        search=search,
        verbatims=figures.records(rows),
        total=total,
        pages=pages,
        aspects=fx.aspect_names(ws),
        prev_link=urlencode({**base, "page": search.page - 1}) if search.page > 1 else None,
        next_link=urlencode({**base, "page": search.page + 1}) if search.page < pages else None,
        api_query=urlencode(base),
    )
    return state.templates.TemplateResponse(request, "app_voc.html.j2", ctx)


def _search_query(search: fx.VerbatimQuery) -> dict[str, str]:
    values = {"q": search.q, "language": search.language, "sentiment": search.sentiment}
    values["aspect"] = search.aspect
    return {k: v for k, v in values.items() if v}


@router.get("/app/customers", response_class=HTMLResponse, include_in_schema=False)
def customers_page(request: Request, state: State, who: PageUser, filters: FiltersDep) -> Response:
    """RFM segments, predicted customer value and churn risk with reasons."""
    ws, _ = state.workspace, _tr(request)
    scope = fx.scope_of(ws, filters, who)
    ctx = page_context(request, state, who, filters, "customers")
    models = fx.customer_models(ws)
    segs = fx.segments(ws, scope)
    value, risk = fx.clv_distribution(ws, scope), fx.churn_distribution(ws, scope)
    charts = []
    locale = staff_locale(request)
    if not segs.empty:
        fig = segment_chart(segs.assign(segment=[_(str(s)) for s in segs["segment"]]))
        fig.update_layout(title=_("Customers per RFM segment"), height=max(300, 34 * len(segs) + 80))
        fig.update_xaxes(title=_("Customers"))
        fig.update_yaxes(title=_("Segment"))
        charts.append(("customers-segments", figure_json(fig)))
    if not value.empty:
        title = _("Predicted value per customer, next {days} days", days=fx.HORIZON_DAYS)
        x_title = f"{_('Predicted value')} ({display.currency_symbol(locale)})"
        fig = band_figure(
            value, title, x_title, y_title=_("Customers"), label=lambda v: display.money(v, locale)
        )
        charts.append(("customers-clv", figure_json(fig)))
    if not risk.empty:
        title = _("Customers by churn risk (no purchase in the next {days} days)", days=fx.HORIZON_DAYS)
        fig = band_figure(risk, title, _("Churn probability"), 1, y_title=_("Customers"))
        charts.append(("customers-churn", figure_json(fig)))
    top = fx.top_value(ws, scope)
    ctx.update(
        charts=charts,
        as_of=models.as_of,
        notes=models.notes,
        segments=figures.records(segs),
        customers=int(segs["customers"].sum()) if not segs.empty else 0,
        predicted=float(segs["predicted_value"].sum()) if not segs.empty else None,
        high_risk=int(risk[risk["low"] >= 0.5]["customers"].sum()) if not risk.empty else None,
        top_value=figures.records(top),
        at_risk=figures.records(fx.at_risk(ws, scope)),
        describe=describe,
        horizon=fx.HORIZON_DAYS,
    )
    return state.templates.TemplateResponse(request, "app_customers.html.j2", ctx)


# -- REST API -----------------------------------------------------------------------------------


api = APIRouter(prefix="/api/v1", tags=["journeys, voice of customer, customers"])


@api.get("/journey/map", response_model=Figure, responses=CSV)
def api_journey_map(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Stages and touchpoints of the journey map with their channels, events in scope and mean
    experience (0-1, higher is better)."""
    frame = fx.journey_map(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("journey-map", frame, filters, who, format)


@api.get("/journey/sankey", response_model=Figure, responses=CSV)
def api_journey_sankey(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Journeys moving from ``source`` at ``step`` to ``target`` at the next step, by stage."""
    frame = fx.sankey(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("journey-sankey", frame, filters, who, format)


@api.get("/journey/funnel", response_model=Figure, responses=CSV)
def api_journey_funnel(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Journeys reaching each step of the online funnel, with conversion and 95% intervals."""
    frame = fx.funnel(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("journey-funnel", frame, filters, who, format)


@api.get("/journey/emotions", response_model=Figure, responses=CSV)
def api_journey_emotions(
    state: State, who: ApiUser, filters: FiltersDep, format: Format = "json"
) -> Response:
    """The emotion curve: mean experience signal (0-1) per stage with 95% intervals."""
    frame = fx.emotions(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("journey-emotions", frame, filters, who, format)


@api.get("/voc/aspects", response_model=Figure, responses=CSV)
def api_voc_aspects(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Mentions per aspect and the share negative, neutral and positive (own brand)."""
    frame = fx.aspects(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("voc-aspects", frame, filters, who, format)


@api.get("/voc/topics", response_model=Figure, responses=CSV)
def api_voc_topics(
    state: State, who: ApiUser, filters: FiltersDep, language: TopicLanguage = None, format: Format = "json"
) -> Response:
    """Discovered topics of one language's texts and their share of texts per month (95% intervals)."""
    frame = fx.topic_trends(state.workspace, fx.scope_of(state.workspace, filters, who), language or None)
    return figure_reply("voc-topics", frame, filters, who, format)


@api.get("/voc/verbatims", response_model=VerbatimPage, responses=CSV)
def api_voc_verbatims(
    state: State, who: ApiUser, filters: FiltersDep, search: VerbatimDep, format: Format = "json"
) -> Response:
    """Feedback texts in scope, newest first, filtered by substring, language, sentiment and aspect."""
    rows, total = fx.verbatims(state.workspace, fx.scope_of(state.workspace, filters, who), search)
    if format == "csv":
        return figure_reply("voc-verbatims", rows, filters, who, format)
    body = VerbatimPage(
        figure="voc-verbatims",
        filters={**filters.query(), **_search_query(search)},
        stores=list(who.stores) if who.stores is not None else None,
        rows=figures.records(rows),
        total=total,
        page=search.page,
        per_page=search.per_page,
    )
    return JSONResponse(body.model_dump())


@api.get("/customers/segments", response_model=Figure, responses=CSV)
def api_customer_segments(
    state: State, who: ApiUser, filters: FiltersDep, format: Format = "json"
) -> Response:
    """Customers per RFM segment with mean recency, orders and spend and the predicted value."""
    frame = fx.segments(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("customer-segments", frame, filters, who, format)


@api.get("/customers/clv", response_model=Figure, responses=CSV)
def api_customer_clv(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Customers per band of predicted value over the next 90 days (BG/NBD + Gamma-Gamma)."""
    frame = fx.clv_distribution(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("customer-clv", frame, filters, who, format)


@api.get("/customers/top-value", response_model=Figure, responses=CSV)
def api_customer_top_value(
    state: State, who: ApiUser, filters: FiltersDep, format: Format = "json"
) -> Response:
    """The 20 customers with the highest predicted value."""
    frame = fx.top_value(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("customer-top-value", frame, filters, who, format)


@api.get("/customers/churn", response_model=Figure, responses=CSV)
def api_customer_churn(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Customers per tenth of predicted churn probability (no purchase in the next 90 days)."""
    frame = fx.churn_distribution(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("customer-churn", frame, filters, who, format)


@api.get("/customers/at-risk", response_model=Figure, responses=CSV)
def api_customer_at_risk(
    state: State, who: ApiUser, filters: FiltersDep, format: Format = "json"
) -> Response:
    """The 20 customers with the most value that can still be saved (P(alive) x value if kept x
    churn risk), with the three features raising their risk most."""
    frame = fx.at_risk(state.workspace, fx.scope_of(state.workspace, filters, who))
    return figure_reply("customer-at-risk", frame, filters, who, format)


router.include_router(api)
