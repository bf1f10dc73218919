"""Mounts the staff side of the app (login, dashboards, the REST API) on the collection app."""

from __future__ import annotations

from fastapi import FastAPI

from cxlens.web.auth import Signer, load_secret
from cxlens.web.deps import AppState
from cxlens.web.routes import (
    api,
    auth_routes,
    cases,
    dashboard,
    drivers,
    editors,
    insights,
    loyalty,
    privacy,
)


def install(app: FastAPI, state: AppState) -> None:
    """Create the user and case tables, the session signer and include the staff routers."""
    app.state.cx_signer = Signer(load_secret(state.workspace.data_dir, state.settings))
    for module in (auth_routes, dashboard, insights, drivers, loyalty, editors, cases, api, privacy):
        app.include_router(module.router)
    app.title = "cxlens"
