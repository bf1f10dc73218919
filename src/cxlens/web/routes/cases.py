"""Staff pages and API for alerts, cases and action plans.

Store managers see and change only their own stores' cases and alerts (403 otherwise, on pages,
forms and the API); analysts and admins see all. Every form carries the session's CSRF token; the
JSON API changes cases with ``PATCH /api/v1/cases/{id}`` (an API key, or a session plus the
``X-CSRF-Token`` header). Customer text in alerts and cases is shown escaped by the templates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi import Path as FPath
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from cxlens.act import alerts as al
from cxlens.act import cases as cs
from cxlens.act import plans as pl
from cxlens.act.config import resolve_routing
from cxlens.act.routing import Routing
from cxlens.ops import utcnow
from cxlens.ops.act_models import CASE_STATUSES, PRIORITIES
from cxlens.report.export import safe_csv
from cxlens.web import auth
from cxlens.web.auth import ApiUser, PageUser, Principal
from cxlens.web.deps import State

router = APIRouter()
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")]
StoreQ = Annotated[str | None, Query(max_length=256, description="Only this store.")]
Text = Annotated[str, Form(max_length=20_000)]
Csrf = Annotated[str, Form(max_length=128)]
#: Row ids in paths: positive and within a 32-bit INTEGER (SQLite and PostgreSQL), else 422.
RowId = Annotated[int, FPath(ge=1, le=2**31 - 1)]


@contextmanager
def _http_errors() -> Iterator[None]:
    """Case and plan errors as HTTP errors: unknown 404, outside the scope 403, invalid 400."""
    try:
        yield
    except cs.CaseNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except cs.CaseAccessError as exc:
        raise HTTPException(403, str(exc)) from None
    except (cs.CaseError, pl.PlanError) as exc:
        status = 404 if str(exc).startswith("no action plan") else 400
        raise HTTPException(status, str(exc)) from None


def _scope(who: Principal, store_id: str | None) -> list[str] | None:
    return who.scope_stores(store_id or None)


def _routing(state: State) -> Routing:
    """The owner routing and SLA hours in force: the latest version stored (the web editor,
    ``cxlens act routing import``), else ``CXLENS_ROUTING_FILE``, else the defaults."""
    return resolve_routing(state.ops, state.settings.routing_file)


def _scope_of(who: Principal) -> list[str] | None:
    return list(who.stores) if who.stores is not None else None


def _status(value: str | None) -> str | None:
    if value and value not in CASE_STATUSES:
        raise HTTPException(400, f"unknown status {value!r}; choose one of {', '.join(CASE_STATUSES)}")
    return value or None


def _csv(name: str, rows: list[dict[str, Any]]) -> Response:
    frame = pd.DataFrame(rows)
    headers = {"Content-Disposition": f'attachment; filename="cxlens-{name}.csv"'}
    return Response(safe_csv(frame), media_type="text/csv; charset=utf-8", headers=headers)


# -- pages --------------------------------------------------------------------------------------------


def _page(request: Request, state: State, who: Principal, template: str, page: str, **ctx: Any) -> Response:
    from cxlens.web.figures import display_names
    from cxlens.web.staff_i18n import staff_locale

    base = {"user": who, "page": page, "query": "", "statuses": CASE_STATUSES, "priorities": PRIORITIES}
    base["now"] = utcnow()
    # stores and touchpoints by name (ids stay in forms, links and the JSON twins)
    base["names"] = display_names(state.workspace, staff_locale(request))
    return state.templates.TemplateResponse(request, template, {**base, **ctx})


@router.get("/app/cases", response_class=HTMLResponse, include_in_schema=False)
def cases_page(
    request: Request,
    state: State,
    who: PageUser,
    store_id: StoreQ = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """Cases in the caller's stores with filters, recent alerts, and a form to open a case."""
    stores = _scope(who, store_id)
    found = cs.list_cases(state.ops, stores=stores, status=_status(status), assignee=assignee or None)
    alerts = al.list_alerts(state.ops, stores=stores, limit=50)
    filters = {"store_id": store_id or "", "status": status or "", "assignee": assignee or ""}
    return _page(
        request, state, who, "app_cases.html.j2", "cases", cases=found, alerts=alerts, filters=filters
    )


@router.post("/app/cases", include_in_schema=False)
def open_case_form(
    state: State,
    who: PageUser,
    title: Annotated[str, Form(max_length=512)],
    csrf: Csrf = "",
    store_id: Annotated[str, Form(max_length=256)] = "",
    touchpoint: Annotated[str, Form(max_length=256)] = "",
    priority: Annotated[str, Form(max_length=16)] = "normal",
) -> Response:
    """Open a case by hand (store managers only for their stores)."""
    auth.check_csrf(who.csrf, csrf)
    if who.stores is not None:
        if not store_id:
            raise HTTPException(400, "choose one of your stores for the case")
        _scope(who, store_id)
    with _http_errors():
        case = cs.open_case(
            state.ops,
            title,
            store_id=store_id or None,
            touchpoint=touchpoint or None,
            priority=priority,
            routing=_routing(state),
            actor=who.username,
        )
    return RedirectResponse(f"/app/cases/{case.case_id}", status_code=303)


@router.post("/app/alerts/{id}/case", include_in_schema=False)
def case_from_alert_form(state: State, who: PageUser, id: RowId, csrf: Csrf = "") -> Response:
    """Open (or go to) the case of an alert in the caller's stores."""
    auth.check_csrf(who.csrf, csrf)
    scope = _scope_of(who)
    alert = al.get_alert(state.ops, id)
    if alert is None or (scope is not None and alert.store_id not in scope):
        raise HTTPException(404, f"no alert {id} in your stores")
    with _http_errors():
        case = cs.open_from_alert(state.ops, id, routing=_routing(state), actor=who.username)
    return RedirectResponse(f"/app/cases/{case.case_id}", status_code=303)


@router.get("/app/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
def case_page(
    request: Request, state: State, who: PageUser, case_id: RowId, error: str | None = None
) -> Response:
    """One case: details, the alert behind it, notes, and forms to work it."""
    with _http_errors():
        case = cs.get_case(state.ops, case_id, _scope_of(who))
    notes = cs.case_notes(state.ops, case_id)
    alert = al.get_alert(state.ops, case.alert_id) if case.alert_id is not None else None
    allowed = cs.TRANSITIONS[case.status]
    customer = _customer(state, alert.feedback_id if alert is not None else None)
    ctx = {
        "case": case,
        "notes": notes,
        "alert": alert,
        "allowed": allowed,
        "error": error,
        "customer": customer,
    }
    return _page(request, state, who, "app_case.html.j2", "cases", **ctx)


def _customer(state: State, feedback_id: str | None) -> dict[str, str] | None:
    """Who gave the feedback behind a case: their id and, where on file, their name (None when the
    feedback has no known customer)."""
    from cxlens import display

    if not feedback_id or not state.workspace.counts().get("feedback"):
        return None
    fb = state.workspace.table("feedback")
    found = fb.filter(fb.feedback_id == feedback_id).select("customer_id").limit(1).to_pandas()
    if found.empty or not isinstance(found["customer_id"][0], str):
        return None
    customer_id = str(found["customer_id"][0])
    return {
        "id": customer_id,
        "name": display.customer_names(state.workspace, [customer_id]).get(customer_id, ""),
    }


def _form_change(who: Principal, csrf: str, case_id: int, change: Callable[[], object]) -> Response:
    auth.check_csrf(who.csrf, csrf)
    with _http_errors():
        change()
    return RedirectResponse(f"/app/cases/{case_id}", status_code=303)


@router.post("/app/cases/{case_id}/status", include_in_schema=False)
def status_form(
    state: State, who: PageUser, case_id: RowId, status: Annotated[str, Form(max_length=32)], csrf: Csrf = ""
) -> Response:
    """Move the case to another status."""
    scope = _scope_of(who)
    return _form_change(
        who,
        csrf,
        case_id,
        lambda: cs.set_status(
            state.ops, case_id, status, actor=who.username, stores=scope, routing=_routing(state)
        ),
    )


@router.post("/app/cases/{case_id}/assign", include_in_schema=False)
def assign_form(
    state: State,
    who: PageUser,
    case_id: RowId,
    assignee: Annotated[str, Form(max_length=128)],
    csrf: Csrf = "",
) -> Response:
    """Give the case to someone."""
    scope = _scope_of(who)
    return _form_change(
        who, csrf, case_id, lambda: cs.assign(state.ops, case_id, assignee, actor=who.username, stores=scope)
    )


@router.post("/app/cases/{case_id}/note", include_in_schema=False)
def note_form(state: State, who: PageUser, case_id: RowId, text: Text, csrf: Csrf = "") -> Response:
    """Add a note."""
    scope = _scope_of(who)
    return _form_change(
        who, csrf, case_id, lambda: cs.add_note(state.ops, case_id, text, actor=who.username, stores=scope)
    )


@router.post("/app/cases/{case_id}/resolve", include_in_schema=False)
def resolve_form(
    state: State,
    who: PageUser,
    case_id: RowId,
    resolution: Text,
    root_causes: Annotated[str, Form(max_length=2000)] = "",
    csrf: Csrf = "",
) -> Response:
    """Resolve with the resolution and comma-separated root-cause tags."""
    scope = _scope_of(who)
    tags = [t for t in root_causes.split(",") if t.strip()]
    return _form_change(
        who,
        csrf,
        case_id,
        lambda: cs.resolve(
            state.ops, case_id, resolution, root_causes=tags, actor=who.username, stores=scope
        ),
    )


@router.post("/app/cases/{case_id}/follow-up", include_in_schema=False)
def follow_up_form(state: State, who: PageUser, case_id: RowId, notes: Text, csrf: Csrf = "") -> Response:
    """Record that the customer was contacted."""
    scope = _scope_of(who)
    return _form_change(
        who, csrf, case_id, lambda: cs.follow_up(state.ops, case_id, notes, actor=who.username, stores=scope)
    )


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


#: Why a store manager sees no effect: it compares with stores outside their access.
OUTSIDE_SCOPE = "the effect compares with stores outside your access; an analyst can see it"


def _measured(
    state: State, plan: Any, scope: list[str] | None = None
) -> tuple[dict[str, Any] | None, pd.DataFrame | None, str | None]:
    """A plan's effect and series, or the reason it cannot be measured (yet, or by this caller).

    A store manager (``scope``) sees the effect only when every plan store and every control
    store is theirs: a control group's means, or a shared plan's combined mean minus their own
    store's, would give away other stores' figures. Otherwise they get their own stores' series.
    """
    try:
        if scope is not None:
            control = pl.default_control(plan, state.workspace, state.ops)
            if not (set(plan.stores) <= set(scope) and control is not None and set(control) <= set(scope)):
                return None, _own_series(state, plan, scope), OUTSIDE_SCOPE
        effect = pl.measure(plan, state.workspace, ops=state.ops)
        series = pl.measure_series(plan, state.workspace, ops=state.ops)
    except (ValueError, KeyError) as exc:
        return None, None, str(exc)
    return {k: _finite(v) for k, v in effect.as_dict().items()}, series, None


def _own_series(state: State, plan: Any, scope: list[str]) -> pd.DataFrame | None:
    """The plan's treated series over the caller's own plan stores only (no other store's data)."""
    from cxlens.analyse.effects import did_series

    own = sorted(set(plan.stores) & set(scope))
    series = did_series(
        state.workspace,
        treated_stores=own,
        start=plan.start_date,
        metric=plan.metric,
        touchpoint=plan.touchpoint,
        end=plan.end_date,
    )
    return series[series["group"] == "treated"].reset_index(drop=True)


@router.get("/app/plans", response_class=HTMLResponse, include_in_schema=False)
def plans_page(request: Request, state: State, who: PageUser) -> Response:
    """Action plans with their measured effect (estimate, interval) and a before/after chart."""
    from cxlens.report.charts import trend_lines
    from cxlens.web.routes.dashboard import figure_json, fmt

    rows, charts = [], []
    scope = _scope_of(who)
    for plan in pl.list_plans(state.ops, stores=scope)[:20]:
        effect, series, problem = _measured(state, plan, scope)
        rows.append({"plan": plan, "effect": effect, "problem": problem})
        if series is not None and not series.empty:
            frame = series.rename(columns={"mean": "value"})
            fig = trend_lines(frame, "period", f"{plan.name}: {plan.metric} (mean)", series="group")
            fig.add_vline(x=plan.start_date.isoformat(), line_dash="dash", line_color="#6b7280")
            charts.append((f"plan-chart-{plan.plan_id}", figure_json(fig)))
    return _page(request, state, who, "app_plans.html.j2", "plans", rows=rows, charts=charts, fmt=fmt)


# -- REST API ---------------------------------------------------------------------------------------

api = APIRouter(prefix="/api/v1", tags=["act"])


@api.get("/cases", responses={200: {"content": {"text/csv": {}}}})
def api_cases(
    state: State,
    who: ApiUser,
    store_id: StoreQ = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    format: Format = "json",
) -> Response:
    """Cases in the caller's stores (newest first), as JSON or formula-safe CSV."""
    found = cs.list_cases(state.ops, stores=_scope(who, store_id), status=_status(status))
    rows = [cs.case_dict(c) for c in found]
    if format == "csv":
        return _csv("cases", [{**r, "root_causes": ",".join(r["root_causes"] or [])} for r in rows])
    return JSONResponse({"rows": rows})


@api.get("/cases/{case_id}")
def api_case(state: State, who: ApiUser, case_id: RowId) -> dict[str, Any]:
    """One case with its notes."""
    with _http_errors():
        case = cs.get_case(state.ops, case_id, _scope_of(who))
    notes = [
        {"at": n.created_at.isoformat(timespec="seconds"), "author": n.author, "text": n.text}
        for n in cs.case_notes(state.ops, case_id)
    ]
    return {**cs.case_dict(case), "notes": notes}


class CaseChange(BaseModel):
    """Changes to a case, applied in this order: assignee, status, note, follow-up, resolution."""

    assignee: str | None = Field(default=None, max_length=128)
    status: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=20_000)
    follow_up: str | None = Field(default=None, max_length=20_000)
    resolution: str | None = Field(default=None, max_length=20_000)
    root_causes: list[str] | None = None


def _check_change(case: Any, change: CaseChange) -> None:
    """Refuse a change that would fail half-way (the steps are separate transactions), before any
    step is applied: a status the lifecycle does not allow, or resolving without a resolution."""
    status = case.status
    if status == "closed" and change.model_dump(exclude_none=True):
        raise cs.CaseError(f"case {case.case_id} is closed")
    if change.status is not None and change.status not in CASE_STATUSES:
        raise cs.CaseError(f"unknown status {change.status!r}; choose one of {', '.join(CASE_STATUSES)}")
    if change.status is not None and change.status != "resolved":
        if change.status not in cs.TRANSITIONS[status]:
            raise cs.CaseError(f"case {case.case_id} cannot go from {status} to {change.status}")
        status = change.status
    if change.resolution is not None or change.status == "resolved":
        if "resolved" not in cs.TRANSITIONS[status]:
            raise cs.CaseError(f"case {case.case_id} cannot be resolved from {status}")
        if not (change.resolution or "").strip():
            raise cs.CaseError("resolving a case needs a resolution")


@api.patch("/cases/{case_id}")
def api_change_case(
    request: Request, state: State, who: ApiUser, case_id: RowId, change: CaseChange
) -> dict[str, Any]:
    """Change a case (a session needs the ``X-CSRF-Token`` header; API keys do not)."""
    if who.via == "session":
        auth.check_csrf(who.csrf, request.headers.get("x-csrf-token"))
    scope, actor = _scope_of(who), who.username
    with _http_errors():
        case = cs.get_case(state.ops, case_id, scope)
        _check_change(case, change)
        if change.assignee is not None:
            cs.assign(state.ops, case_id, change.assignee, actor=actor, stores=scope)
        if change.status is not None and change.status != "resolved":
            cs.set_status(
                state.ops, case_id, change.status, actor=actor, stores=scope, routing=_routing(state)
            )
        if change.note:
            cs.add_note(state.ops, case_id, change.note, actor=actor, stores=scope)
        if change.follow_up:
            cs.follow_up(state.ops, case_id, change.follow_up, actor=actor, stores=scope)
        if change.resolution is not None or change.status == "resolved":
            cs.resolve(
                state.ops,
                case_id,
                change.resolution or "",
                root_causes=change.root_causes,
                actor=actor,
                stores=scope,
            )
        elif change.root_causes is not None:
            cs.set_root_causes(state.ops, case_id, change.root_causes, actor=actor, stores=scope)
    return api_case(state, who, case_id)


@api.get("/alerts", responses={200: {"content": {"text/csv": {}}}})
def api_alerts(state: State, who: ApiUser, store_id: StoreQ = None, format: Format = "json") -> Response:
    """Recent alerts in the caller's stores."""
    rows = [al.alert_dict(a) for a in al.list_alerts(state.ops, stores=_scope(who, store_id))]
    if format == "csv":
        return _csv("alerts", [{**r, "detail": str(r["detail"])} for r in rows])
    return JSONResponse({"rows": rows})


@api.get("/plans")
def api_plans(state: State, who: ApiUser) -> dict[str, Any]:
    """Action plans touching the caller's stores."""
    return {"rows": [pl.plan_dict(p) for p in pl.list_plans(state.ops, stores=_scope_of(who))]}


@api.get("/plans/{plan_id}/effect")
def api_plan_effect(state: State, who: ApiUser, plan_id: RowId) -> dict[str, Any]:
    """A plan's difference-in-differences effect with its interval, and the before/after series."""
    from cxlens.web.figures import records

    with _http_errors():
        plan = pl.get_plan(state.ops, plan_id)
    scope = _scope_of(who)
    if scope is not None and not set(plan.stores or ()) & set(scope):
        raise HTTPException(403, "this plan is outside your stores")
    effect, series, problem = _measured(state, plan, scope)
    return {
        "plan": pl.plan_dict(plan),
        "effect": effect,
        "series": records(series) if series is not None else [],
        "problem": problem,
    }


router.include_router(api)
