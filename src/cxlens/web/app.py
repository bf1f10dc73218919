"""The FastAPI app factory: public survey forms, QR codes, the embed snippet and the collection API.

``create_app`` takes settings and/or a workspace (with neither, both come from the environment:
``cxlens serve --workers N`` starts each worker process that way); it exports new responses and
events to the table store every ``CXLENS_EXPORT_INTERVAL`` seconds (one worker of several does).
Staff pages (dashboards, login) are added later as more
routers over the same :class:`~cxlens.web.deps.AppState`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxlens.collect.outbox import Exporter, Job
from cxlens.collect.responses import AlreadyAnsweredError, CollectError, Collector, NotFoundError
from cxlens.collect.triggers import load_triggers, run_triggers
from cxlens.ops import OpsStore
from cxlens.ops.store import is_busy
from cxlens.storage.workspace import Workspace
from cxlens.web import staff_i18n
from cxlens.web.deps import AppState
from cxlens.web.figures import CacheWarmer
from cxlens.web.guard import InputGuard
from cxlens.web.middleware import AuditExports, SecurityHeaders
from cxlens.web.pages import message_page
from cxlens.web.ratelimit import RateLimiter
from cxlens.web.routes import embed, events, forms, health, qr, surveys
from cxlens.web.settings import WebSettings, get_web_settings
from cxlens.web.staff import install as install_staff
from cxlens.web.workers import JobsLease

HERE = Path(__file__).parent
#: Seconds a client is asked to wait when the SQLite operational store stayed busy.
BUSY_RETRY_AFTER = 5
log = logging.getLogger(__name__)


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
    warmer = CacheWarmer(ws, store) if settings.warm_cache else None
    if warmer is not None:  # on the exporter's thread: warms again after exports change the data
        jobs.append((settings.warm_every, warmer.run))
    lease = JobsLease(store, ws.data_dir) if settings.workers > 1 else None
    leader = lease.held if lease is not None else None
    exporter = Exporter(store, ws, settings.export_interval, jobs=jobs, leader=leader) if export else None
    # Autoescape every template (they end in .j2, which Jinja would not escape by default):
    # answers are untrusted text and are echoed back on pages with field errors.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    templates = staff_i18n.StaffTemplates(env=env)
    state = AppState(
        settings=settings,
        workspace=ws,
        ops=store,
        collector=collector,
        exporter=exporter,
        limiter=RateLimiter(settings.rate_limit, ops=store, name="form"),
        templates=templates,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop_pages = threading.Event()
        pages = threading.Thread(target=_warm_pages, args=(ws, stop_pages), name="cxlens-warm-pages")
        if warmer is not None:  # before serving, so the first visitors get cached figures
            await asyncio.to_thread(warmer.run_logged)
            if settings.warm_pages:
                pages.start()
        if exporter is not None:
            exporter.start()
        if settings.workers > 1:  # a worker process: start-up objects out of the collector's way
            gc.freeze()
        try:
            yield
        finally:
            if warmer is not None:
                warmer.stop()
            stop_pages.set()
            if pages.is_alive():  # it queries the workspace: finish before anyone closes it
                await asyncio.to_thread(pages.join)
            if exporter is not None:
                exporter.stop()
            if lease is not None:
                lease.release()
            if ops is None:
                store.close()
            if owns_ws:
                ws.close()

    app = FastAPI(title="cxlens collect", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.cx = state
    app.state.cx_warmer = warmer
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (forms, qr, embed, surveys, events, health):
        app.include_router(module.router)
    install_staff(app, state)
    _error_handlers(app, state)
    app.add_middleware(AuditExports, ops=store)
    app.add_middleware(InputGuard)
    app.add_middleware(SecurityHeaders, secure=settings.cookie_secure)
    return app


def _jobs(settings: WebSettings, collector: Collector, ws: Workspace) -> list[Job]:
    """Periodic jobs for the exporter thread: survey triggers, and alerts with the SLA sweep,
    when their files are configured or a version is stored (checked on each cycle)."""
    jobs: list[Job] = []
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    if settings.triggers_file is not None:
        triggers = load_triggers(settings.triggers_file)
        jobs.append((settings.triggers_every, partial(run_triggers, collector, ws, triggers, base)))
    from cxlens.act import config
    from cxlens.act.jobs import CycleState, configured_cycle

    # a file is checked at start-up only while no version of its kind is stored (a broken file
    # then stops the server, as before): a stored version wins over the file, which is unused
    for kind, path in (("rules", settings.alert_rules_file), ("routing", settings.routing_file)):
        if config.latest(collector.ops, kind) is None:
            config.resolve(None, kind, path)
    cycle = partial(
        configured_cycle,
        collector.ops,
        ws,
        base,
        settings.alert_rules_file,
        settings.routing_file,
        state=CycleState(),
    )
    jobs.append((settings.act_every, cycle))
    return jobs


def _warm_pages(ws: Workspace, stop: threading.Event) -> None:
    """Compute the journey, voice-of-customer and customer figures in the background (slower
    than the overview's, so the server does not wait for them)."""
    from cxlens.web import insight_figures

    try:
        insight_figures.warm(ws, stop)
    except Exception:
        log.exception("warming the journey, voice-of-customer and customer figures failed")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


#: Paths of the staff side, whose errors are HTML pages in the staff's language.
STAFF_PREFIXES = ("/app", "/login", "/logout")


def _is_staff(request: Request) -> bool:
    path = request.url.path
    return path == "/" or path.startswith(STAFF_PREFIXES)


def staff_error_page(
    state: AppState, request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """An error on a staff page as HTML (the API answers JSON instead)."""
    ctx = {"user": None, "status": status, "detail": detail, "page": "error"}
    page: HTMLResponse = state.templates.TemplateResponse(
        request, "app_error.html.j2", ctx, status_code=status, headers=dict(headers or {})
    )
    return page


def _error_handlers(app: FastAPI, state: AppState) -> None:
    @app.exception_handler(OperationalError)
    async def store_busy(request: Request, exc: OperationalError) -> Response:
        if not is_busy(exc):
            raise exc
        log.warning("the operational store is busy: %s %s answered 503", request.method, request.url.path)
        return JSONResponse(
            {"detail": "the server is busy; please try again in a few seconds"},
            503,
            headers={"Retry-After": str(BUSY_RETRY_AFTER)},
        )

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
        if exc.status_code >= 400 and not _wants_json(request) and _is_staff(request):
            return staff_error_page(state, request, exc.status_code, str(exc.detail), exc.headers)
        if _wants_json(request) or exc.status_code not in (404, 429):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        code = "too_many" if exc.status_code == 429 else "unknown_survey"
        locale = request.query_params.get("lang", "en")
        page = message_page(state, request, code, exc.status_code, locale)
        page.headers.update(exc.headers or {})
        return page

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        if not _wants_json(request) and _is_staff(request):
            text = "; ".join(f"{'.'.join(str(p) for p in d['loc'][1:])}: {d['msg']}" for d in detail)
            return staff_error_page(state, request, 422, text)
        return JSONResponse({"detail": detail}, 422)
