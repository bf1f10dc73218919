"""The FastAPI app factory: public survey forms, QR codes, the embed snippet and the collection API.

``create_app`` takes settings and/or a workspace; the app owns the workspace's DuckDB file for
its lifetime (one writing process per file) and exports new responses and events to it every
``CXLENS_EXPORT_INTERVAL`` seconds. Staff pages (dashboards, login) are added later as more
routers over the same :class:`~cxlens.web.deps.AppState`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxlens.collect.outbox import Exporter, Job
from cxlens.collect.responses import AlreadyAnsweredError, CollectError, Collector, NotFoundError
from cxlens.collect.triggers import load_triggers, run_triggers
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web import staff_i18n
from cxlens.web.deps import AppState
from cxlens.web.pages import message_page
from cxlens.web.ratelimit import RateLimiter
from cxlens.web.routes import embed, events, forms, qr, surveys
from cxlens.web.settings import WebSettings, get_web_settings
from cxlens.web.staff import install as install_staff

HERE = Path(__file__).parent


def create_app(
    settings: WebSettings | None = None,
    workspace: Workspace | str | Path | None = None,
    *,
    ops: OpsStore | None = None,
    export: bool = True,
) -> FastAPI:
    """Build the app over a workspace (default: the configured data directory)."""
    settings = settings or get_web_settings()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    owns_ws = not isinstance(workspace, Workspace)
    store = ops or OpsStore(settings.ops_url, data_dir=ws.data_dir)
    collector = Collector(store, ws.journey_map)
    jobs = _jobs(settings, collector, ws)
    exporter = Exporter(store, ws, settings.export_interval, jobs=jobs) if export else None
    # Autoescape every template (they end in .j2, which Jinja would not escape by default):
    # answers are untrusted text and are echoed back on pages with field errors.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    templates = Jinja2Templates(env=env, context_processors=[staff_i18n.context])
    state = AppState(
        settings=settings,
        workspace=ws,
        ops=store,
        collector=collector,
        exporter=exporter,
        limiter=RateLimiter(settings.rate_limit),
        templates=templates,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if exporter is not None:
            exporter.start()
        try:
            yield
        finally:
            if exporter is not None:
                exporter.stop()
            if ops is None:
                store.close()
            if owns_ws:
                ws.close()

    app = FastAPI(title="cxlens collect", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.cx = state
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (forms, qr, embed, surveys, events):
        app.include_router(module.router)
    install_staff(app, state)
    _error_handlers(app, state)
    return app


def _jobs(settings: WebSettings, collector: Collector, ws: Workspace) -> list[Job]:
    """Periodic jobs for the exporter thread: the triggers file, if one is configured."""
    if settings.triggers_file is None:
        return []
    triggers = load_triggers(settings.triggers_file)
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return [(settings.triggers_every, partial(run_triggers, collector, ws, triggers, base))]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_handlers(app: FastAPI, state: AppState) -> None:
    @app.exception_handler(CollectError)
    async def collect_error(request: Request, exc: CollectError) -> Response:
        status = (
            404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, AlreadyAnsweredError) else 400
        )
        if exc.code == "expired":
            status = 410
        if _wants_json(request):
            detail = [{"loc": ["query", k], "msg": v} for k, v in exc.fields.items()]
            return JSONResponse({"code": exc.code, "message": exc.message, "detail": detail}, status)
        locale = request.query_params.get("lang", "en")
        return message_page(state, request, exc.code, status, locale)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request) or exc.status_code not in (404, 429):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        code = "too_many" if exc.status_code == 429 else "unknown_survey"
        locale = request.query_params.get("lang", "en")
        page = message_page(state, request, code, exc.status_code, locale)
        page.headers.update(exc.headers or {})
        return page

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, 422)
