"""The staff pages: the overview (headline metrics, trends) and the stores league table.

Charts are drawn by :mod:`cxlens.report.charts` from the same frames the REST API serves, and
embedded as JSON data blocks that ``/static/app.js`` hands to plotly.js (served from the wheel at
``/assets/plotly.min.js``).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from cxlens import display
from cxlens.analyse import metrics as m
from cxlens.report.charts import finish, interval_bars, safe_spec, trend_lines
from cxlens.web import figures, staff_i18n
from cxlens.web.auth import PageUser, Principal, safe_next
from cxlens.web.deps import State
from cxlens.web.figures import Filters

router = APIRouter(include_in_schema=False)
FiltersDep = Annotated[Filters, Depends(figures.filters_param)]
LANG_COOKIE_SECONDS = 365 * 24 * 3600


@cache
def plotly_js() -> str:
    """plotly.js from the installed plotly wheel (no CDN)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@router.get("/assets/plotly.min.js")
def plotly_script() -> Response:
    """plotly.js, cacheable for a day."""
    return Response(
        plotly_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )


def figure_json(fig: Any) -> Markup:
    """A figure as JSON that is safe inside a ``<script type="application/json">`` block, with
    data strings shown as text (see :func:`cxlens.report.charts.safe_spec`)."""
    return Markup(safe_spec(finish(fig, display.PAGE_LOCALE.get())))


def fmt(value: Any, digits: int = 1) -> str:
    """A number for display, or an en dash for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    return f"{value:,.{digits}f}"


def page_context(
    request: Request, state: State, who: Principal, filters: Filters, page: str
) -> dict[str, Any]:
    """What every filtered staff page's template needs: user, page, filters, choices, query."""
    locale = staff_i18n.staff_locale(request)
    display.PAGE_LOCALE.set(locale)
    names = figures.display_names(state.workspace, locale)
    choices = figures.filter_choices(state.workspace, who)
    return {
        "user": who,
        "page": page,
        "filters": filters,
        "choices": choices,
        # (id, name) per filter: the store filter lists store names, the values stay ids
        "options": {key: _options(names, key, values, locale) for key, values in choices.items()},
        "names": names,
        "query": urlencode(filters.query()),
        "fmt": lambda value, digits=1: display.number(value, locale, digits),
        "money": lambda value, digits=0: display.money(value, locale, digits=digits),
        "counts": figures.table_counts(state.workspace),
    }


def _options(names: display.DisplayNames, key: str, values: list[str], locale: str) -> list[tuple[str, str]]:
    """(value, shown) pairs of a filter; loyalty tiers as the loyalty pages name them ("金卡")."""
    if key != "segment":
        return names.options(values, FILTER_KINDS[key])
    _ = staff_i18n.translator(locale)
    return sorted(((v, _(v) if _(v) != v else names(v, "segment")) for v in values), key=lambda p: p[1])


#: The kind of id each filter holds (for its display names).
FILTER_KINDS = {"channel": "channel", "region": "region", "store_id": "store", "segment": "segment"}


@router.get("/app", response_class=HTMLResponse)
def overview(request: Request, state: State, who: PageUser, filters: FiltersDep) -> Response:
    """Headline NPS, CSAT, CES and star rating (those the data has) with intervals and change,
    and their monthly trends."""
    ctx = page_context(request, state, who, filters, "overview")
    _ = staff_i18n.translator(staff_i18n.staff_locale(request))
    head = figures.headline(state.workspace, filters, who)
    trend = figures.trend(state.workspace, filters, who)
    shown = figures.shown_metrics(state.workspace)
    charts = []
    for metric in shown:
        part = trend[trend["metric"] == metric]
        if not part.empty:
            spec = m.METRICS[metric]
            unit = _("points") if spec.unit == "points" else spec.unit
            title = _("{metric} by month ({unit})", metric=_(spec.label), unit=unit)
            chart = trend_lines(
                part, "period", title, value_range=spec.range, y_title=_(spec.label), x_title=_("Month")
            )
            charts.append((f"trend-{metric}", figure_json(chart)))
    ctx.update(headline=figures.records(head), charts=charts, has_scores=bool(shown))
    ctx["period"] = pd.Timestamp(head["period"].iloc[0]).strftime("%Y-%m") if not head.empty else None
    ctx["missing"] = [_(m.METRICS[x].label) for x in figures.OVERVIEW_METRICS if x not in shown]
    partial = not head.empty and bool(head["partial"].iloc[0])
    last = pd.Timestamp(head["period_end"].iloc[0]) - pd.Timedelta(days=1) if partial else None
    ctx["partial_to"] = last.strftime("%Y-%m-%d") if last is not None else None
    return state.templates.TemplateResponse(request, "app_overview.html.j2", ctx)


@router.get("/app/stores", response_class=HTMLResponse)
def stores(
    request: Request,
    state: State,
    who: PageUser,
    filters: FiltersDep,
    metric: Annotated[Literal["nps", "csat", "ces", "rating"] | None, Query()] = None,
) -> Response:
    """Every store in scope ranked by a metric (default: the first the data has), with interval
    and a marker where it differs."""
    ctx = page_context(request, state, who, filters, "stores")
    _ = staff_i18n.translator(staff_i18n.staff_locale(request))
    chosen = figures.stores_metric(state.workspace, metric)
    table = figures.stores(state.workspace, filters, who, chosen)
    charts = []
    if not table.empty:  # small-n stores are drawn grey, after the ranked ones
        labelled = table.assign(label=ctx["names"].many(table["store_id"], "store"))
        label = _(m.METRICS[chosen].label)
        chart = interval_bars(
            labelled, "label", _("{metric} by store", metric=label), x_title=label, y_title=_("Store")
        )
        charts.append(("stores-chart", figure_json(chart)))
    rows = figures.records(table.assign(store_name=ctx["names"].many(table["store_id"], "store")))
    ctx.update(rows=rows, metric=chosen, spec=m.METRICS[chosen], charts=charts)
    chain = figures.chain_vs_stores(state.workspace, filters, who, chosen)
    ctx["chain"] = figures.records(chain)
    ctx.update(
        metrics=figures.shown_metrics(state.workspace), labels={k: v.label for k, v in m.METRICS.items()}
    )
    ctx["has_stores"] = bool(figures.filter_choices(state.workspace, who)["store_id"]) or not table.empty
    ctx["api_query"] = urlencode({**filters.query(), "metric": chosen})
    return state.templates.TemplateResponse(request, "app_stores.html.j2", ctx)


@router.get("/")
def home() -> Response:
    """The root sends staff to the overview (which asks them to log in)."""
    return RedirectResponse("/app", status_code=303)


@router.get("/app/lang")
def set_language(
    state: State,
    lang: Annotated[str, Query(max_length=8)] = "en",
    next: Annotated[str, Query(max_length=2048)] = "/app",
) -> Response:
    """Remember the UI language in a cookie (links work without JS) and go back to ``next``."""
    path, _, query = safe_next(next).partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "lang"]
    reply = RedirectResponse(path + (f"?{urlencode(kept)}" if kept else ""), status_code=303)
    if lang in staff_i18n.STAFF_LOCALES:
        reply.set_cookie(
            staff_i18n.COOKIE,
            lang,
            max_age=LANG_COOKIE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=state.settings.cookie_secure,
        )
    return reply
