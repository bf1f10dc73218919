"""The REST API behind the dashboards: one endpoint per figure, as JSON or formula-safe CSV.

Authenticate with an API key (``X-API-Key: cxk_...``) or a logged-in session. Store managers
get their own stores only; asking for another store's data is a 403.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from cxlens.report.export import safe_csv
from cxlens.web import figures
from cxlens.web.auth import ApiUser, Principal
from cxlens.web.deps import State
from cxlens.web.figures import Filters

router = APIRouter(prefix="/api/v1", tags=["dashboards"])

FiltersDep = Annotated[Filters, Depends(figures.filters_param)]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")]


class Figure(BaseModel):
    """A figure's data: its rows, the filters applied and the caller's store scope."""

    figure: str
    filters: dict[str, str]
    stores: list[str] | None
    rows: list[dict[str, Any]]


class Me(BaseModel):
    """The caller: name, role and the stores they may see (null: all)."""

    username: str
    role: str
    stores: list[str] | None


def figure_reply(name: str, frame: pd.DataFrame, filters: Filters, who: Principal, fmt: str) -> Response:
    """A figure's rows as JSON (the :class:`Figure` model) or as formula-safe CSV."""
    if fmt == "csv":
        headers = {"Content-Disposition": f'attachment; filename="cxlens-{name}.csv"'}
        return Response(safe_csv(frame), media_type="text/csv; charset=utf-8", headers=headers)
    body = Figure(
        figure=name,
        filters=filters.query(),
        stores=list(who.stores) if who.stores is not None else None,
        rows=figures.records(frame),
    )
    return JSONResponse(body.model_dump())


@router.get("/me", response_model=Me)
def me(who: ApiUser) -> Me:
    """Who the key or session belongs to."""
    return Me(
        username=who.username, role=who.role, stores=list(who.stores) if who.stores is not None else None
    )


@router.get("/headline", response_model=Figure, responses={200: {"content": {"text/csv": {}}}})
def headline(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """Headline NPS, CSAT, CES and star rating (those the data has) for the latest month with 95%
    intervals and the change; no rows when no answer matches."""
    return figure_reply("headline", figures.headline(state.workspace, filters, who), filters, who, format)


@router.get("/trend", response_model=Figure, responses={200: {"content": {"text/csv": {}}}})
def trend(state: State, who: ApiUser, filters: FiltersDep, format: Format = "json") -> Response:
    """NPS, CSAT, CES and star rating (those the data has) per month with 95% intervals (the
    overview's trend charts)."""
    return figure_reply("trend", figures.trend(state.workspace, filters, who), filters, who, format)


@router.get("/stores", response_model=Figure, responses={200: {"content": {"text/csv": {}}}})
def stores(
    state: State,
    who: ApiUser,
    filters: FiltersDep,
    metric: Annotated[Literal["nps", "csat", "ces", "rating"] | None, Query()] = None,
    format: Format = "json",
) -> Response:
    """The stores league table with significance against the other stores (``vs_rest``), by
    ``metric`` (default: the first of NPS, CSAT, CES and star rating the data has)."""
    chosen = figures.stores_metric(state.workspace, metric)
    frame = figures.stores(state.workspace, filters, who, chosen)
    return figure_reply(f"stores-{chosen}", frame, filters, who, format)


@router.get("/filters")
def filter_values(state: State, who: ApiUser) -> dict[str, list[str]]:
    """The values the filters take, limited to the caller's stores."""
    return figures.filter_choices(state.workspace, who)
