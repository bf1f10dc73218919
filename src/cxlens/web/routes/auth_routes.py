"""Login, logout and user administration pages (forms with CSRF tokens)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cxlens.ops.auth_models import ROLES
from cxlens.web import auth
from cxlens.web.auth import AdminUser, PageUser
from cxlens.web.deps import AppState, RateLimited, State

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
        {"csrf": token, "next": auth.safe_next(next), "error": None, "user": None},
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


@router.post("/login", dependencies=[RateLimited])
def login(
    request: Request,
    state: State,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/app",
) -> Response:
    """Check the password; on success start a session and go to ``next``."""
    auth.check_csrf(request.cookies.get(auth.LOGIN_CSRF_COOKIE, ""), csrf)
    user = auth.authenticate(state.ops, username, password)
    if user is None:
        ctx = {
            "csrf": csrf,
            "next": auth.safe_next(next),
            "error": "Wrong username or password.",
            "user": None,
        }
        return state.templates.TemplateResponse(request, "app_login.html.j2", ctx, status_code=401)
    reply = RedirectResponse(auth.safe_next(next), status_code=303)
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
        auth.create_user(state.ops, username, password, role, [s.strip() for s in stores.split(",")])
    except auth.AuthError as exc:
        raise HTTPException(400, str(exc)) from exc
    return RedirectResponse("/app/users", status_code=303)
