"""Staff page and API for key drivers and competitor benchmarks.

``/app/drivers`` shows the priority matrix, driver importance with intervals and the competitor
heatmap; ``/api/v1/drivers`` and ``/api/v1/benchmark`` serve their rows as JSON or formula-safe
CSV. Scope: the date range, store and region filters apply (a store manager's drivers use only the
feedback, orders and events of their stores; another store is a 403). Competitor feedback is about
no store of ours, so every caller's benchmark compares their own feedback with all of it. Missing
or empty tables give empty rows, never an error.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cxlens.analyse.benchmark import COLUMNS as BENCHMARK_COLUMNS
from cxlens.analyse.benchmark import OURS, benchmark
from cxlens.analyse.drivers import key_drivers, text_getter
from cxlens.report.drivers_section import benchmark_heatmap, importance_chart, priority_matrix_chart
from cxlens.report.export import safe_csv
from cxlens.storage.workspace import Workspace
from cxlens.web import figures
from cxlens.web.auth import ApiUser, PageUser, Principal
from cxlens.web.deps import State
from cxlens.web.figures import Filters
from cxlens.web.routes.api import Figure
from cxlens.web.routes.dashboard import figure_json, fmt, page_context
from cxlens.web.staff_i18n import staff_locale, translator

router = APIRouter()
FiltersDep = Annotated[Filters, Depends(figures.filters_param)]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")]
OutcomeParam = Annotated[Literal["nps", "csat", "repurchase"], Query(description="Outcome to explain.")]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
#: Bootstrap resamples behind the page's intervals (the CLI defaults to 200).
WEB_BOOT = 100
DRIVER_COLUMNS = ("rank", "driver", "kind", "name", "importance", "ci_low", "ci_high", "share", "direction",
                  "performance", "mean", "coverage", "quadrant", "revenue_at_risk")  # fmt: skip


class DriversFigure(Figure):
    """Driver rows plus the model facts: outcome, method, R² and its interval, customers, cost of inaction."""

    outcome: str
    method: str | None
    r2: float | None
    r2_ci: list[float] | None
    n_units: int
    cost_of_inaction: dict[str, Any]


def _text_state(ws: Workspace) -> tuple[int, str]:
    """Changes when texts are (re-)analysed, which is not a data load."""
    if not ws.has_table("feedback_text"):
        return (0, "")
    row = ws.query("SELECT count(*), max(analysed_at) FROM feedback_text")[0]
    return int(row[0]), str(row[1])


def _feedback_rows(ws: Workspace) -> int:
    return int(dict(figures.CACHE.get(ws, ("counts",), ws.counts)).get("feedback", 0))


def _scope(ws: Workspace, filters: Filters, who: Principal) -> dict[str, Any]:
    """Stores (None: all; 403 outside a manager's stores) and the half-open time range."""
    stores = who.scope_stores(filters.store_id)
    if filters.region:
        st = ws.table("stores")
        in_region = set(st.filter(st.region == filters.region).select("store_id").to_pandas()["store_id"])
        stores = sorted(in_region if stores is None else set(stores) & in_region)
    end = filters.end + timedelta(days=1) if filters.end else None
    return {"stores": stores, "start": filters.start, "end": end}


def drivers_data(ws: Workspace, filters: Filters, who: Principal, outcome: str = "nps") -> dict[str, Any]:
    """Key drivers in the caller's scope: ``frame`` (driver rows) and the model facts (empty if none)."""
    scope = _scope(ws, filters, who)
    key = ("drivers", outcome, filters, who.stores, _text_state(ws))

    def compute() -> dict[str, Any]:
        empty: dict[str, Any] = {
            "frame": pd.DataFrame(columns=list(DRIVER_COLUMNS)),
            "method": None,
            "r2": None,
            "r2_ci": None,
            "n_units": 0,
            "cost": {},
        }
        if not _feedback_rows(ws) or scope["stores"] == []:
            return empty
        try:
            r = key_drivers(text_getter(ws), outcome, n_boot=WEB_BOOT, **scope)  # type: ignore[arg-type]
        except ValueError:
            return empty
        return {
            "frame": r.drivers,
            "method": r.method,
            "r2": r.r2,
            "r2_ci": list(r.r2_ci),
            "n_units": r.n_units,
            "cost": r.cost,
        }

    value = figures.CACHE.get(ws, key, compute)
    return {**value, "frame": value["frame"].copy()}


def benchmark_data(ws: Workspace, filters: Filters, who: Principal) -> pd.DataFrame:
    """The competitor benchmark with our side limited to the caller's scope."""
    scope = _scope(ws, filters, who)
    key = ("benchmark", filters, who.stores, _text_state(ws))

    def compute() -> pd.DataFrame:
        if not _feedback_rows(ws):
            return pd.DataFrame(columns=list(BENCHMARK_COLUMNS))
        return benchmark(text_getter(ws), **scope)

    return figures.CACHE.get(ws, key, compute)


# -- page ---------------------------------------------------------------------------------------


def _pct(value: Any, digits: int = 1) -> str:
    """A 0-1 share as a percentage number (an en dash for none)."""
    return fmt(None if value is None else 100 * value, digits)


@router.get("/app/drivers", response_class=HTMLResponse, include_in_schema=False)
def drivers_page(
    request: Request, state: State, who: PageUser, filters: FiltersDep, outcome: OutcomeParam = "nps"
) -> Response:
    """Priority matrix, driver importance with intervals, revenue at risk and the competitor heatmap."""
    _ = translator(staff_locale(request))
    ws = state.workspace
    ctx = page_context(request, state, who, filters, "drivers")
    names = ctx["names"]
    data = drivers_data(ws, filters, who, outcome)
    frame = data["frame"]
    shown = frame.assign(driver=names.drivers(frame["driver"]), name=names.drivers(frame["driver"]))
    bench = benchmark_data(ws, filters, who)
    charts = []
    quadrants = {q: _(q) for q in ("fix first", "keep up", "monitor", "possible overkill")}
    if not frame.empty:
        matrix = priority_matrix_chart(
            shown,
            _("Priority matrix: importance x performance"),
            x_title=_("Performance (share performing well)"),
            y_title=_("Importance (% of explained variance)"),
            quadrant_names=quadrants,
        )
        charts.append(("drivers-matrix", figure_json(matrix)))
        importance = importance_chart(
            shown,
            _("Driver importance (share of explained variance, 95% interval)"),
            x_title=_("Share of explained variance (%)"),
            y_title=_("Driver"),
        )
        charts.append(("drivers-importance", figure_json(importance)))
    competitors = bench[bench["brand"] != OURS] if not bench.empty else bench
    if not competitors.empty:
        heat = benchmark_heatmap(
            bench,
            _("Competitors against us: share positive (points)"),
            x_title=_("Competitor"),
            y_title=_("Indicator"),
            scale_title=_("Competitor − us (points; red: they are ahead)"),
            names=names,
        )
        charts.append(("drivers-benchmark", figure_json(heat)))
    ctx |= {
        "pct": _pct,
        "outcome": outcome,
        "drivers": figures.records(shown),
        "model": data,
        "benchmark": figures.records(
            competitors.assign(indicator=names.many(competitors["indicator"], "aspect"))
            if not competitors.empty
            else competitors
        ),
        "charts": charts,
        "api_query": urlencode({**filters.query(), "outcome": outcome}),
    }
    return state.templates.TemplateResponse(request, "app_drivers.html.j2", ctx)


# -- API ----------------------------------------------------------------------------------------


def _csv(name: str, frame: pd.DataFrame) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="cxlens-{name}.csv"'}
    return Response(safe_csv(frame), media_type="text/csv; charset=utf-8", headers=headers)


def _stores(who: Principal) -> list[str] | None:
    return list(who.stores) if who.stores is not None else None


@router.get("/api/v1/drivers", response_model=DriversFigure, responses=CSV, tags=["dashboards"])
def drivers_api(
    state: State, who: ApiUser, filters: FiltersDep, outcome: OutcomeParam = "nps", format: Format = "json"
) -> Response:
    """Key drivers of NPS, CSAT or repurchase: importance with bootstrap intervals, quadrant, revenue."""
    data = drivers_data(state.workspace, filters, who, outcome)
    if format == "csv":
        return _csv(f"drivers-{outcome}", data["frame"])
    body = DriversFigure(
        figure=f"drivers-{outcome}",
        filters=filters.query(),
        stores=_stores(who),
        rows=figures.records(data["frame"]),
        outcome=outcome,
        method=data["method"],
        r2=data["r2"],
        r2_ci=data["r2_ci"],
        n_units=data["n_units"],
        cost_of_inaction=data["cost"],
    )
    return JSONResponse(body.model_dump())


@router.get("/api/v1/benchmark", response_model=Figure, responses=CSV, tags=["dashboards"])
def benchmark_api(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Our brand against each competitor per indicator (rating, text aspects) with tests."""
    frame = benchmark_data(state.workspace, filters, who)
    if format == "csv":
        return _csv("benchmark", frame)
    body = Figure(
        figure="benchmark", filters=filters.query(), stores=_stores(who), rows=figures.records(frame)
    )
    return JSONResponse(body.model_dump())
