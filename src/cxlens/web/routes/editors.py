"""Editors for admins and analysts: the alert rules and the owner routing (YAML, validated on the
server, versioned, saved against the version they were read at) and action plans (create, edit).

Store managers get 403; analysts read the routing with its webhook URLs masked (scheme and host)
and may preview it, but only admins save it (page and API). Every form carries the session's CSRF
token; a validation error answers 400 with the page, the submitted text and one line per bad field;
a save on top of a newer version answers 409 with the submitted text kept beside the latest one.
Saves are audited (``act_config``, ``action_plan``) by the act layer, with the user's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi import Path as FPath
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from cxlens.act import config as cf
from cxlens.act import plans as pl
from cxlens.act.routing import mask_secrets
from cxlens.ops.act_models import PLAN_STATUSES
from cxlens.web import auth
from cxlens.web.auth import EditorApiUser, EditorUser, Principal
from cxlens.web.deps import State

router = APIRouter()
Csrf = Annotated[str, Form(max_length=128)]
Body = Annotated[str, Form(max_length=cf.MAX_BODY)]
RowId = Annotated[int, FPath(ge=1, le=2**31 - 1)]
Short = Annotated[str, Form(max_length=512)]
#: The page titles of the two configuration editors.
TITLES = {"rules": "Alert rules", "routing": "Routing"}


def _render(
    request: Request, state: State, who: Principal, template: str, page: str, status: int = 200, **ctx: Any
) -> Response:
    base = {"user": who, "page": page, "query": ""}
    response: Response = state.templates.TemplateResponse(
        request, template, {**base, **ctx}, status_code=status
    )
    return response


def _may_save(who: Principal, kind: str) -> bool:
    """Admins save both kinds; analysts save the rules only (the routing holds webhook URLs)."""
    return kind == "rules" or who.role == "admin"


def _shown(who: Principal, kind: str, body: str) -> str:
    """A text as this user may read it: the routing's URLs masked for anyone but an admin."""
    return body if who.role == "admin" or kind != "routing" else mask_secrets(body)


def _numbered(exc: cf.ConfigError) -> list[str]:
    """The problems of a text, each after the line it is on (``line 5: rules[1].threshold: ...``)."""
    return [
        f"line {pos[0]}: {line}" if pos is not None and not line.startswith("line ") else line
        for line, pos in zip(exc.errors, exc.positions, strict=True)
    ]


def _file(state: State, kind: str) -> Any:
    return state.settings.alert_rules_file if kind == "rules" else state.settings.routing_file


def _editor(
    request: Request,
    state: State,
    who: Principal,
    kind: Literal["rules", "routing"],
    *,
    body: str | None = None,
    show: int | None = None,
    errors: list[str] | None = None,
    conflict: str | None = None,
    saved: int | None = None,
    comment: str = "",
    preview: list[dict[str, Any]] | None = None,
    base: int | None = None,
    status: int = 200,
) -> Response:
    """The editor page: what is in force, the text to edit (the submitted text after an error, a
    stored version with ``show``), the version to save against (``base``, the one the submitted
    text was read at, kept through errors and previews; else the latest), the history; after a
    conflict, the latest stored text beside the submitted one."""
    current = cf.latest(state.ops, kind)  # read once: the text shown and its version agree
    try:
        found = cf.from_row(current) if current is not None else cf.resolve(None, kind, _file(state, kind))
        problem = None
    except (ValueError, OSError) as exc:  # the editor still opens: on the stored text, else the defaults
        if current is not None:
            found = cf.Resolved(kind, "stored", current.version, None, current.body, None)
        else:
            found = cf.Resolved(kind, "default", 0, None, cf.default_body(kind), None)
        problem = _shown(who, kind, str(exc))
    if body is None:
        body = found.body
        if show is not None:
            row = cf.get_version(state.ops, kind, show)
            if row is None:
                raise HTTPException(404, f"no stored {kind} version {show}")
            body = row.body
    ctx = {
        "kind": kind,
        "title": TITLES[kind],
        "found": found,
        "problem": problem,
        "body": _shown(who, kind, body),
        "may_save": _may_save(who, kind),
        "version": (current.version if current else 0) if base is None else base,
        "latest": current if conflict else None,
        "latest_body": _shown(who, kind, current.body) if conflict and current is not None else "",
        "show": show,
        "errors": errors or [],
        "conflict": conflict,
        "saved": saved,
        "comment": comment,
        "preview": preview,
        "preview_days": PREVIEW_DAYS,
        "history": [cf.version_dict(r) for r in cf.history(state.ops, kind)],
    }
    return _render(request, state, who, "app_editor.html.j2", kind, status=status, **ctx)


#: Days of feedback the editor's preview evaluates (before the latest answer).
PREVIEW_DAYS = 7


def _preview(state: State, kind: str, config: Any) -> list[dict[str, Any]]:
    """Alerts per owner and day that the edited text would raise on recent data, with the other
    kind in force; nothing recorded or sent."""
    from cxlens.act.alerts import preview_alerts

    other = "routing" if kind == "rules" else "rules"
    in_force = cf.resolve(state.ops, other, _file(state, other)).config
    rules, routing = (config, in_force) if kind == "rules" else (in_force, config)
    frame = preview_alerts(state.workspace, rules, routing, PREVIEW_DAYS).volume()
    rows = frame.to_dict("records")
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows]


def _save(
    request: Request,
    state: State,
    who: Principal,
    kind: Literal["rules", "routing"],
    body: str,
    version: int,
    comment: str,
    csrf: str,
    action: str = "save",
) -> Response:
    auth.check_csrf(who.csrf, csrf)
    body = body.replace("\r\n", "\n")

    def invalid(exc: cf.ConfigError) -> Response:
        """The editor again with the numbered errors, still based on the version it was read at."""
        return _editor(
            request,
            state,
            who,
            kind,
            body=body,
            errors=_numbered(exc),
            comment=comment,
            base=version,
            status=400,
        )

    if action == "preview":
        try:
            config = cf.parse(kind, body)
        except cf.ConfigError as exc:
            return invalid(exc)
        rows = _preview(state, kind, config)
        return _editor(request, state, who, kind, body=body, comment=comment, preview=rows, base=version)
    if not _may_save(who, kind):
        raise HTTPException(403, "only admins save the routing")
    try:
        row = cf.save(
            state.ops, kind, body, author=who.username, expected_version=version, comment=comment or None
        )
    except cf.ConfigError as exc:
        return invalid(exc)
    except cf.StaleVersionError as exc:
        return _editor(request, state, who, kind, body=body, conflict=str(exc), comment=comment, status=409)
    return RedirectResponse(f"/app/{kind}?saved={row.version}", status_code=303)


Show = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Load this stored version.")]
Saved = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
VersionF = Annotated[int, Form(ge=0, le=2**31 - 1)]
Action = Annotated[Literal["save", "preview"], Form()]


@router.get("/app/rules", response_class=HTMLResponse, include_in_schema=False)
def rules_page(
    request: Request, state: State, who: EditorUser, version: Show = None, saved: Saved = None
) -> Response:
    """The alert rules in force, as YAML to edit, with their stored versions."""
    return _editor(request, state, who, "rules", show=version, saved=saved)


@router.post("/app/rules", include_in_schema=False)
def rules_save(
    request: Request,
    state: State,
    who: EditorUser,
    body: Body,
    version: VersionF,
    comment: Short = "",
    csrf: Csrf = "",
    action: Action = "save",
) -> Response:
    """Validate and store the rules as the next version (400 with field errors; 409 if stale);
    ``action=preview`` shows the alerts they would raise instead, storing nothing."""
    return _save(request, state, who, "rules", body, version, comment, csrf, action)


@router.get("/app/routing", response_class=HTMLResponse, include_in_schema=False)
def routing_page(
    request: Request, state: State, who: EditorUser, version: Show = None, saved: Saved = None
) -> Response:
    """The owner routing in force, as YAML to edit, with its stored versions."""
    return _editor(request, state, who, "routing", show=version, saved=saved)


@router.post("/app/routing", include_in_schema=False)
def routing_save(
    request: Request,
    state: State,
    who: EditorUser,
    body: Body,
    version: VersionF,
    comment: Short = "",
    csrf: Csrf = "",
    action: Action = "save",
) -> Response:
    """Validate and store the routing as the next version (400 with field errors; 409 if stale);
    ``action=preview`` shows where the alerts would go instead, storing nothing."""
    return _save(request, state, who, "routing", body, version, comment, csrf, action)


# -- action plans -------------------------------------------------------------------------------------

PLAN_FIELDS = (
    "name",
    "stores",
    "control_stores",
    "start",
    "end",
    "metric",
    "touchpoint",
    "driver",
    "owner",
    "notes",
    "status",
)


def _split(text: str) -> list[str]:
    return [s.strip() for s in text.replace(";", ",").split(",") if s.strip()]


def _plan_values(plan: Any) -> dict[str, str]:
    return {
        "name": plan.name,
        "stores": ", ".join(plan.stores or []),
        "control_stores": ", ".join(plan.control_stores or []),
        "start": plan.start_date.isoformat(),
        "end": plan.end_date.isoformat() if plan.end_date else "",
        "metric": plan.metric,
        "touchpoint": plan.touchpoint or "",
        "driver": plan.driver or "",
        "owner": plan.owner or "",
        "notes": plan.notes or "",
        "status": plan.status,
    }


def _plan_form(
    request: Request,
    state: State,
    who: Principal,
    values: dict[str, str],
    *,
    plan_id: int | None = None,
    updated: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    ctx = {
        "values": values,
        "plan_id": plan_id,
        "updated": updated,
        "error": error,
        "metrics": pl.PLAN_METRICS,
        "plan_statuses": PLAN_STATUSES,
    }
    return _render(request, state, who, "app_plan_form.html.j2", "plans", status=status, **ctx)


class PlanForm:
    """The plan form's fields (text as typed; the act layer validates)."""

    def __init__(
        self,
        name: Annotated[str, Form(max_length=256)] = "",
        stores: Annotated[str, Form(max_length=4096)] = "",
        control_stores: Annotated[str, Form(max_length=4096)] = "",
        start: Annotated[str, Form(max_length=32)] = "",
        end: Annotated[str, Form(max_length=32)] = "",
        metric: Annotated[str, Form(max_length=32)] = "csat",
        touchpoint: Annotated[str, Form(max_length=256)] = "",
        driver: Annotated[str, Form(max_length=128)] = "",
        owner: Annotated[str, Form(max_length=128)] = "",
        notes: Annotated[str, Form(max_length=20_000)] = "",
        status: Annotated[str, Form(max_length=16)] = "",
    ) -> None:
        self.values = {
            "name": name,
            "stores": stores,
            "control_stores": control_stores,
            "start": start,
            "end": end,
            "metric": metric,
            "touchpoint": touchpoint,
            "driver": driver,
            "owner": owner,
            "notes": notes,
            "status": status,
        }

    def kwargs(self) -> dict[str, Any]:
        v = self.values
        return {
            "stores": _split(v["stores"]),
            "control_stores": _split(v["control_stores"]) or None,
            "start": v["start"] or None,
            "end": v["end"] or None,
            "metric": v["metric"],
            "touchpoint": v["touchpoint"].strip() or None,
            "driver": v["driver"].strip() or None,
            "owner": v["owner"].strip() or None,
            "notes": v["notes"].strip() or None,
        }


def _unknown_stores(state: State, form: PlanForm) -> list[str]:
    """Store ids of the form that the workspace's stores table does not hold (none if it is empty)."""
    named = set(_split(form.values["stores"])) | set(_split(form.values["control_stores"]))
    if not named:
        return []
    try:
        known = set(state.workspace.table("stores").store_id.execute().dropna().astype(str))
    except Exception:  # no stores table yet: nothing to check against
        return []
    return sorted(named - known) if known else []


def _check_stores(state: State, form: PlanForm) -> None:
    unknown = _unknown_stores(state, form)
    if unknown:
        raise pl.PlanError(f"unknown store ids: {', '.join(unknown)}")


@router.get("/app/plans/new", response_class=HTMLResponse, include_in_schema=False)
def new_plan_page(request: Request, state: State, who: EditorUser) -> Response:
    """A form for a new action plan."""
    values = dict.fromkeys(PLAN_FIELDS, "")
    values["metric"] = "csat"
    return _plan_form(request, state, who, values)


@router.post("/app/plans/new", include_in_schema=False)
def new_plan_save(
    request: Request, state: State, who: EditorUser, form: Annotated[PlanForm, Depends()], csrf: Csrf = ""
) -> Response:
    """Record the plan (400 with the form and the problem if it is not valid)."""
    auth.check_csrf(who.csrf, csrf)
    try:
        _check_stores(state, form)
        kwargs = form.kwargs()
        plan = pl.create_plan(state.ops, form.values["name"], actor=who.username, **kwargs)
    except pl.PlanError as exc:
        return _plan_form(request, state, who, form.values, error=str(exc), status=400)
    return RedirectResponse(f"/app/plans#plan-{plan.plan_id}", status_code=303)


def _get_plan(state: State, plan_id: int) -> Any:
    try:
        return pl.get_plan(state.ops, plan_id)
    except pl.PlanError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/app/plans/{plan_id}/edit", response_class=HTMLResponse, include_in_schema=False)
def edit_plan_page(request: Request, state: State, who: EditorUser, plan_id: RowId) -> Response:
    """A form to change a plan, with the time it was last changed (for the stale check)."""
    plan = _get_plan(state, plan_id)
    updated = plan.updated_at.isoformat()
    return _plan_form(request, state, who, _plan_values(plan), plan_id=plan_id, updated=updated)


@router.post("/app/plans/{plan_id}/edit", include_in_schema=False)
def edit_plan_save(
    request: Request,
    state: State,
    who: EditorUser,
    plan_id: RowId,
    form: Annotated[PlanForm, Depends()],
    updated: Annotated[str, Form(max_length=64)] = "",
    csrf: Csrf = "",
) -> Response:
    """Change the plan (400 if not valid, 409 if someone changed it since the form was opened)."""
    auth.check_csrf(who.csrf, csrf)
    _get_plan(state, plan_id)
    try:
        expected = datetime.fromisoformat(updated) if updated else None
    except ValueError:
        raise HTTPException(400, "the form's version stamp is not valid; reload the page") from None
    try:
        _check_stores(state, form)
        pl.update_plan(
            state.ops,
            plan_id,
            form.values["name"],
            status=form.values["status"] or None,
            expected_updated_at=expected,
            actor=who.username,
            **form.kwargs(),
        )
    except pl.StalePlanError as exc:
        return _plan_form(
            request, state, who, form.values, plan_id=plan_id, updated=updated, error=str(exc), status=409
        )
    except pl.PlanNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except pl.PlanError as exc:
        return _plan_form(
            request, state, who, form.values, plan_id=plan_id, updated=updated, error=str(exc), status=400
        )
    return RedirectResponse(f"/app/plans#plan-{plan_id}", status_code=303)


# -- JSON API -----------------------------------------------------------------------------------------

api = APIRouter(prefix="/api/v1", tags=["act"])
KindP = Annotated[Literal["rules", "routing"], FPath(description="rules or routing")]


class ConfigChange(BaseModel):
    """A new version: the YAML text and the version it was edited from (0: none stored yet)."""

    body: str = Field(max_length=cf.MAX_BODY)
    version: int = Field(ge=0, le=2**31 - 1)
    comment: str | None = Field(default=None, max_length=512)


def _config_json(state: State, who: Principal, kind: str) -> dict[str, Any]:
    found = cf.resolve(state.ops, kind, _file(state, kind))
    history = [cf.version_dict(r) for r in cf.history(state.ops, kind)]
    return {**found.as_dict(), "body": _shown(who, kind, found.body), "history": history}


@api.get("/config/{kind}")
def api_config(state: State, who: EditorApiUser, kind: KindP) -> dict[str, Any]:
    """The alert rules or routing in force (where from, version, YAML; the routing's webhook URLs
    masked for analysts) and the stored versions."""
    return _config_json(state, who, kind)


@api.put("/config/{kind}", responses={400: {}, 409: {}})
def api_save_config(state: State, who: EditorApiUser, kind: KindP, change: ConfigChange) -> Response:
    """Validate and store a new version: 400 with ``errors`` (one line per field), 409 when the
    stored version is no longer ``version`` (a session also sends ``X-CSRF-Token``); the routing
    is saved by admins only (403)."""
    if not _may_save(who, kind):
        raise HTTPException(403, "only admins save the routing")
    try:
        cf.save(
            state.ops,
            kind,
            change.body.replace("\r\n", "\n"),
            author=who.username,
            expected_version=change.version,
            comment=change.comment,
        )
    except cf.ConfigError as exc:
        return JSONResponse({"detail": str(exc), "errors": exc.errors}, 400)
    except cf.StaleVersionError as exc:
        return JSONResponse({"detail": str(exc), "current_version": exc.current}, 409)
    return JSONResponse(_config_json(state, who, kind))


router.include_router(api)
