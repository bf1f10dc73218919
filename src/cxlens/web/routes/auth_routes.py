"""Login, logout and user administration pages (forms with CSRF tokens)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cxlens.ops import utcnow
from cxlens.ops.auth_models import ROLES
from cxlens.web import auth, oidc
from cxlens.web.auth import AdminUser, PageUser
from cxlens.web.deps import AppState, LoginLimited, State, peer_address, too_many
from cxlens.web.ratelimit import login_failed, login_succeeded, login_wait

router = APIRouter(include_in_schema=False)


def _secure(request: Request, state: AppState) -> bool:
    """Secure cookies over HTTPS, and always when ``CXLENS_COOKIE_SECURE`` is set (TLS proxy)."""
    return state.settings.cookie_secure or request.url.scheme == "https"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, state: State, next: str = "/app") -> Response:
    """The login page; sets a short-lived cookie the form's CSRF token must match."""
    token = secrets.token_urlsafe(24)
    page = state.templates.TemplateResponse(
        request,
        "app_login.html.j2",
        {
            "csrf": token,
            "next": auth.safe_next(next),
            "error": None,
            "user": None,
            "oidc": bool(state.settings.oidc_issuer),
        },
    )
    page.set_cookie(
        auth.LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request, state),
    )
    return page


def _audit(state: AppState, action: str, username: str, actor: str, **detail: Any) -> None:
    with state.ops.session() as s:
        state.ops.audit(s, action, "user", auth.safe_name(username), actor=auth.safe_name(actor), **detail)


@router.post("/login", dependencies=[LoginLimited])
def login(
    request: Request,
    state: State,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/app",
) -> Response:
    """Check the password (after the per-account backoff); on success start a session and go to
    ``next``. Successes, failures and refusals are audited with the address."""
    auth.check_csrf(request.cookies.get(auth.LOGIN_CSRF_COOKIE, ""), csrf)
    address = peer_address(request, state.settings)
    wait = login_wait(state.ops, username)
    if wait is not None:
        _audit(state, "login.locked", username, username, address=address)
        raise too_many(wait, "failed sign-ins for this user")
    user = auth.authenticate(state.ops, username, password)
    if user is None:
        lock = login_failed(state.ops, username, state.settings.login_free_failures)
        _audit(state, "login.failed", username, username, address=address, locked_seconds=lock)
        ctx = {
            "csrf": csrf,
            "next": auth.safe_next(next),
            "error": "Wrong username or password.",
            "user": None,
            "oidc": bool(state.settings.oidc_issuer),
        }
        return state.templates.TemplateResponse(request, "app_login.html.j2", ctx, status_code=401)
    login_succeeded(state.ops, username)
    _audit(state, "login", user.username, user.username, address=address, via="password")
    return start_session(request, state, user, next)


def start_session(request: Request, state: AppState, user: Any, next_path: str) -> Response:
    """Redirect to ``next_path`` with a new session cookie (password and OIDC sign-ins)."""
    reply = RedirectResponse(auth.safe_next(next_path), status_code=303)
    reply.set_cookie(
        auth.SESSION_COOKIE,
        auth.new_session(request, user),
        max_age=auth.SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=_secure(request, state),
    )
    reply.delete_cookie(auth.LOGIN_CSRF_COOKIE)
    return reply


@router.post("/logout")
def logout(who: PageUser, state: State, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    """End the session (the form carries the CSRF token); copies of the cookie stop working too."""
    auth.check_csrf(who.csrf, csrf)
    auth.end_sessions(state.ops, who.user_id)
    reply = RedirectResponse("/login", status_code=303)
    reply.delete_cookie(auth.SESSION_COOKIE)
    return reply


@router.get("/app/users", response_class=HTMLResponse)
def users_page(request: Request, state: State, who: AdminUser, message: str | None = None) -> Response:
    """Users and their roles, with a form to add one (admins only)."""
    ctx = {
        "user": who,
        "users": auth.list_users(state.ops),
        "keys": auth.list_api_keys(state.ops),
        "now": utcnow(),
        "roles": ROLES,
        "message": message,
        "page": "users",
    }
    return state.templates.TemplateResponse(request, "app_users.html.j2", ctx)


@router.post("/app/users")
def add_user(
    state: State,
    who: AdminUser,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form(max_length=32)],
    stores: Annotated[str, Form(max_length=4096)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Create a user from the form (store ids comma-separated for store managers)."""
    auth.check_csrf(who.csrf, csrf)
    try:
        auth.create_user(state.ops, username, password, role, _stores(stores), actor=who.username)
    except auth.AuthError as exc:
        raise HTTPException(400, str(exc)) from exc
    return RedirectResponse("/app/users", status_code=303)


def _stores(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


@router.post("/app/users/manage")
def manage_user(
    state: State,
    who: AdminUser,
    username: Annotated[str, Form(max_length=128)],
    action: Annotated[Literal["disable", "enable", "delete", "password", "access"], Form()],
    password: Annotated[str, Form(max_length=1024)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    stores: Annotated[str, Form(max_length=4096)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Disable, enable or delete a user, set their password, or change their role and stores
    (audited with the admin's name; an admin cannot lock themselves out this way)."""
    auth.check_csrf(who.csrf, csrf)
    if username == who.username and action in ("disable", "delete", "access"):
        raise HTTPException(400, "change your own account from another admin's session or the CLI")
    try:
        if action in ("disable", "enable"):
            auth.set_active(state.ops, username, action == "enable", actor=who.username)
        elif action == "delete":
            auth.delete_user(state.ops, username, actor=who.username)
        elif action == "password":
            auth.set_password(state.ops, username, password, actor=who.username)
        else:
            auth.set_access(
                state.ops, username, role=role or None, stores=_stores(stores), actor=who.username
            )
    except auth.AuthError as exc:
        raise HTTPException(400, str(exc)) from exc
    return RedirectResponse("/app/users", status_code=303)


@router.post("/app/keys/revoke")
def revoke_key(
    state: State,
    who: AdminUser,
    prefix: Annotated[str, Form(max_length=16)],
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Revoke an API key by its listed prefix (audited)."""
    auth.check_csrf(who.csrf, csrf)
    try:
        auth.revoke_api_key(state.ops, prefix, actor=who.username)
    except auth.AuthError as exc:
        raise HTTPException(400, str(exc)) from exc
    return RedirectResponse("/app/users", status_code=303)


def _provider(request: Request, state: AppState) -> oidc.Provider:
    provider: oidc.Provider | None = getattr(request.app.state, "cx_oidc", None)
    if provider is None:
        provider = oidc.Provider.from_settings(state.settings)
        if provider is None:
            raise HTTPException(404, "single sign-on is not configured (CXLENS_OIDC_ISSUER)")
        request.app.state.cx_oidc = provider
    return provider


def _redirect_uri(request: Request, state: AppState) -> str:
    return f"{state.base_url(request)}/login/oidc/callback"


@router.get("/login/oidc", dependencies=[LoginLimited])
def oidc_start(
    request: Request, state: State, next: Annotated[str, Query(max_length=2048)] = "/app"
) -> Response:
    """Send the browser to the identity provider."""
    provider = _provider(request, state)
    flow = oidc.new_flow(next)
    try:
        target = provider.authorize_url(_redirect_uri(request, state), flow)
    except oidc.OidcError as exc:
        raise HTTPException(502, str(exc)) from None
    reply = RedirectResponse(target, status_code=303)
    reply.set_cookie(
        oidc.FLOW_COOKIE,
        auth.signer(request).dumps(flow),
        max_age=oidc.FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        secure=_secure(request, state),
        path="/login/oidc",
    )
    return reply


@router.get("/login/oidc/callback", dependencies=[LoginLimited])
def oidc_callback(
    request: Request,
    state: State,
    code: Annotated[str, Query(max_length=4096)] = "",
    flow_state: Annotated[str, Query(alias="state", max_length=256)] = "",
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Finish the sign-in: check the flow's state, verify the ID token, start a session."""
    provider = _provider(request, state)
    flow = auth.signer(request).loads(request.cookies.get(oidc.FLOW_COOKIE))
    address = peer_address(request, state.settings)
    problem = None
    if error:
        problem = f"the identity provider refused the sign-in: {auth.safe_name(error)}"
    elif flow is None or not secrets.compare_digest(str(flow.get("state", "")), flow_state) or not code:
        problem = "this sign-in link is not valid or has expired; start again"
    if problem is None and flow is not None:
        try:
            claims = provider.claims(
                code, _redirect_uri(request, state), {k: str(v) for k, v in flow.items()}
            )
            user = oidc.user_for(state.ops, state.settings, claims)
        except oidc.OidcError as exc:
            problem = str(exc)
    if problem is not None or flow is None:
        _audit(state, "login.failed", "oidc", "oidc", address=address, via="oidc", reason=problem)
        raise HTTPException(403, problem or "sign-in failed")
    _audit(state, "login", user.username, user.username, address=address, via="oidc")
    reply = start_session(request, state, user, str(flow.get("next", "/app")))
    reply.delete_cookie(oidc.FLOW_COOKIE, path="/login/oidc")
    return reply
