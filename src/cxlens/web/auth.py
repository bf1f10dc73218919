"""Staff access to the web app: users with argon2 passwords, signed session cookies with a CSRF
token, API keys, and the roles admin, analyst and store manager.

A session cookie holds ``{user id, expiry, csrf token}`` signed with HMAC-SHA256 under the app's
secret (``CXLENS_SECRET_KEY``, else a random key kept in ``<data_dir>/cxlens-secret.key``). Every
state-changing form carries the session's CSRF token. API keys (``cxk_...``) are sent as
``X-API-Key`` or ``Authorization: Bearer``; only their SHA-256 is stored. A store manager is
scoped to their stores everywhere through :meth:`Principal.scope_stores`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from sqlalchemy import delete, func, select, update

from cxlens.collect.inputs import printable, text_problem
from cxlens.ops import OpsStore, utcnow
from cxlens.ops.auth_models import ROLES, ApiKey, User
from cxlens.web.deps import State
from cxlens.web.settings import WebSettings, get_web_settings

MIN_PASSWORD = 8
#: The password hash of users who sign in only through the identity provider: never verifies.
NO_PASSWORD = "!oidc-only"
SESSION_COOKIE = "cxlens_session"
LOGIN_CSRF_COOKIE = "cxlens_login_csrf"
SESSION_SECONDS = 12 * 3600
SECRET_FILE = "cxlens-secret.key"
KEY_PREFIX = "cxk_"
_hasher = PasswordHasher()
# Verifying against this when a user does not exist keeps login time independent of the username.
_DUMMY_HASH = _hasher.hash("not a password")


class AuthError(ValueError):
    """A user-management request that cannot be done (unknown role, duplicate name, ...)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user through a session or an API key, with role and store scope."""

    user_id: int
    username: str
    role: str
    stores: tuple[str, ...] | None  # None: every store
    via: str  # "session" or "api_key"
    csrf: str = ""

    def scope_stores(self, requested: str | None) -> list[str] | None:
        """The store ids a query may see: ``requested`` if allowed (403 if not), else the scope."""
        if self.stores is None:
            return [requested] if requested else None
        if requested:
            if requested not in self.stores:
                raise HTTPException(403, "this store is outside your access")
            return [requested]
        if not self.stores:
            raise HTTPException(403, "no stores are assigned to this user")
        return list(self.stores)


# -- users and keys -----------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def safe_name(name: str) -> str:
    """A user-supplied name fit for the audit log: printable, control characters as ``?``."""
    return "".join("?" if text_problem(ch) else ch for ch in printable(name[:128]))


def _check_role(role: str, stores: list[str]) -> None:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if role == "store_manager" and not stores:
        raise AuthError("a store manager needs at least one store")
    if role != "store_manager" and stores:
        raise AuthError("only store managers are scoped to stores")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"a password needs at least {MIN_PASSWORD} characters")


def create_user(
    store: OpsStore,
    username: str,
    password: str | None,
    role: str,
    stores: list[str] | None = None,
    *,
    actor: str = "system",
    oidc_subject: str | None = None,
) -> User:
    """Add a user; a store manager needs at least one store, other roles take none. Without a
    password (``None``) the user can only sign in through the identity provider (OIDC)."""
    username = username.strip()
    if not username or len(username) > 128 or text_problem(username, identifier=True):
        raise AuthError("a username needs 1 to 128 characters and no control characters")
    if password is not None:
        _check_password(password)
    stores = [s for s in (stores or []) if s]
    _check_role(role, stores)
    secret = hash_password(password) if password is not None else NO_PASSWORD
    with store.session() as s:
        if s.scalar(select(User).where(User.username == username)) is not None:
            raise AuthError(f"user {username!r} already exists")
        user = User(
            username=username, password_hash=secret, role=role, stores=stores, oidc_subject=oidc_subject
        )
        s.add(user)
        s.flush()
        store.audit(s, "create", "user", username, actor=actor, role=role, stores=stores)
    return user


def _user(s: Any, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise AuthError(f"no user {username!r}")
    return user


def _other_admins(s: Any, user: User) -> int:
    query = (
        select(func.count())
        .select_from(User)
        .where(User.role == "admin", User.active.is_(True), User.user_id != user.user_id)
    )
    return int(s.scalar(query) or 0)


def set_password(store: OpsStore, username: str, password: str, *, actor: str = "system") -> None:
    """Change a user's password; every session of the user ends (audited)."""
    _check_password(password)
    with store.session() as s:
        user = _user(s, username)
        user.password_hash = hash_password(password)
        user.password_changed_at = utcnow()
        user.session_version = (user.session_version or 0) + 1
        store.audit(s, "password", "user", username, actor=actor)


def set_active(store: OpsStore, username: str, active: bool, *, actor: str = "system") -> None:
    """Enable or disable a user; disabling ends their sessions and stops their API keys."""
    with store.session() as s:
        user = _user(s, username)
        if not active and user.role == "admin" and user.active and not _other_admins(s, user):
            raise AuthError("cannot disable the last active admin")
        user.active = active
        if not active:
            user.session_version = (user.session_version or 0) + 1
        store.audit(s, "enable" if active else "disable", "user", username, actor=actor)


def delete_user(store: OpsStore, username: str, *, actor: str = "system") -> None:
    """Delete a user and their API keys (the audit log keeps their name)."""
    with store.session() as s:
        user = _user(s, username)
        if user.role == "admin" and not _other_admins(s, user):
            raise AuthError("cannot delete the last active admin")
        keys = s.execute(delete(ApiKey).where(ApiKey.user_id == user.user_id))
        s.delete(user)
        store.audit(s, "delete", "user", username, actor=actor, api_keys=getattr(keys, "rowcount", 0))


def set_access(
    store: OpsStore,
    username: str,
    *,
    role: str | None = None,
    stores: list[str] | None = None,
    actor: str = "system",
) -> User:
    """Change a user's role and/or a store manager's stores (audited with before and after);
    it applies to the user's next request."""
    with store.session() as s:
        user = _user(s, username)
        before = {"role": user.role, "stores": list(user.stores or [])}
        new_role = role or user.role
        new_stores = [x for x in (stores if stores is not None else user.stores or []) if x]
        if new_role != "store_manager" and stores is None:
            new_stores = []
        _check_role(new_role, new_stores)
        if user.role == "admin" and new_role != "admin" and not _other_admins(s, user):
            raise AuthError("cannot take the admin role from the last active admin")
        user.role, user.stores = new_role, new_stores
        after = {"role": new_role, "stores": new_stores}
        store.audit(s, "access", "user", username, actor=actor, before=before, after=after)
    return user


def list_users(store: OpsStore) -> list[User]:
    """Every user, by name."""
    with store.sessions() as s:
        return list(s.scalars(select(User).order_by(User.username)))


def authenticate(store: OpsStore, username: str, password: str) -> User | None:
    """The active user with this name and password, or None (constant work either way)."""
    with store.sessions() as s:
        user = s.scalar(select(User).where(User.username == username.strip()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    with store.session() as s:
        row = s.get(User, user.user_id)
        if row is not None:
            row.last_login_at = utcnow()
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = hash_password(password)
    return user


def create_api_key(
    store: OpsStore,
    username: str,
    name: str = "",
    *,
    days: float | None = None,
    actor: str = "system",
) -> str:
    """A new API key for a user, returned once in clear (only its hash is kept); with ``days``
    it stops working after that many days."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days) if days is not None else None
    with store.session() as s:
        user = _user(s, username)
        s.add(
            ApiKey(
                key_hash=_sha256(key), prefix=key[:10], name=name, user_id=user.user_id, expires_at=expires
            )
        )
        store.audit(
            s, "create", "api_key", key[:10], actor=actor, user=username, name=name, expires=str(expires)
        )
    return key


def list_api_keys(store: OpsStore, username: str | None = None) -> list[tuple[ApiKey, str]]:
    """API keys (newest first) with their user's name; only a user's with ``username``."""
    with store.sessions() as s:
        query = select(ApiKey, User.username).join(User, User.user_id == ApiKey.user_id)
        if username is not None:
            query = query.where(User.username == username)
        return [(k, u) for k, u in s.execute(query.order_by(ApiKey.key_id.desc()))]


def revoke_api_key(store: OpsStore, prefix: str, *, actor: str = "system") -> int:
    """Revoke the keys whose shown prefix (``cxk_...``, as listed) is ``prefix``; how many."""
    if len(prefix) < 8:
        raise AuthError("give the key's prefix as listed (cxk_ and at least 4 more characters)")
    with store.session() as s:
        keys = list(s.scalars(select(ApiKey).where(ApiKey.prefix == prefix[:10], ApiKey.revoked.is_(False))))
        for key in keys:
            key.revoked, key.revoked_at = True, utcnow()
            store.audit(s, "revoke", "api_key", key.prefix, actor=actor, name=key.name)
    if not keys:
        raise AuthError(f"no active API key {prefix!r}")
    return len(keys)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _principal(user: User, via: str, csrf: str = "") -> Principal:
    stores = tuple(user.stores or ()) if user.role == "store_manager" else None
    return Principal(user.user_id, user.username, user.role, stores, via, csrf)


def principal_for_key(store: OpsStore, key: str) -> Principal | None:
    """The principal an API key acts as, or None for an unknown, revoked, expired or inactive one."""
    now = utcnow()
    with store.sessions() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_hash == _sha256(key), ApiKey.revoked.is_(False)))
        user = s.get(User, row.user_id) if row is not None else None
    if row is None or user is None or not user.active:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):  # one write a minute
        with store.session() as s:
            s.execute(update(ApiKey).where(ApiKey.key_id == row.key_id).values(last_used_at=now))
    return _principal(user, "api_key")


# -- signed session cookies ---------------------------------------------------------------------


class Signer:
    """HMAC-SHA256 signing of small JSON payloads with an expiry."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def dumps(self, payload: dict[str, object]) -> str:
        """``base64(json).base64(hmac)``."""
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
        return f"{body}.{self._mac(body)}"

    def loads(self, token: str | None) -> dict[str, object] | None:
        """The payload if the signature is right and ``exp`` has not passed, else None."""
        if not token or "." not in token:
            return None
        body, _, mac = token.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        exp = payload.get("exp") if isinstance(payload, dict) else None
        if not isinstance(exp, (int, float)) or exp < time.time():
            return None
        return payload

    def _mac(self, body: str) -> str:
        digest = hmac.new(self.secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def load_secret(data_dir: Path, settings: WebSettings | None = None) -> bytes:
    """``CXLENS_SECRET_KEY`` (typed settings), else a random key created once in the data
    directory (mode 0600)."""
    configured = (settings or get_web_settings()).secret_key
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def signer(request: Request) -> Signer:
    """The app's signer (made by :func:`cxlens.web.staff.install`)."""
    result: Signer = request.app.state.cx_signer
    return result


def new_session(request: Request, user: User) -> str:
    """A session cookie value for a user who just logged in (with a fresh CSRF token)."""
    payload = {
        "uid": user.user_id,
        "sv": user.session_version or 0,
        "csrf": secrets.token_urlsafe(24),
        "exp": time.time() + SESSION_SECONDS,
    }
    return signer(request).dumps(payload)


def check_csrf(expected: str, given: str | None) -> None:
    """403 unless the form's CSRF token matches the session's."""
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


# -- dependencies ---------------------------------------------------------------------------------


def _api_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer ") and auth[7:].startswith(KEY_PREFIX):
        key = auth[7:]
    return key


async def optional_principal(request: Request, state: State) -> Principal | None:
    """The caller from an API key or the session cookie, or None (kept on ``request.state.cx_who``
    for the export audit)."""
    who = await _find_principal(request, state)
    request.state.cx_who = who
    return who


async def _find_principal(request: Request, state: State) -> Principal | None:
    key = _api_key(request)
    if key:
        return principal_for_key(state.ops, key)
    payload = signer(request).loads(request.cookies.get(SESSION_COOKIE))
    if payload is None or not isinstance(payload.get("uid"), int):
        return None
    with state.ops.sessions() as s:
        user = s.get(User, payload["uid"])
    if user is None or not user.active or payload.get("sv") != (user.session_version or 0):
        return None
    return _principal(user, "session", str(payload.get("csrf", "")))


def end_sessions(store: OpsStore, user_id: int) -> None:
    """Invalidate every session cookie of a user (a signed cookie cannot be recalled otherwise)."""
    with store.session() as s:
        user = s.get(User, user_id)
        if user is not None:
            user.session_version = (user.session_version or 0) + 1
            store.audit(s, "logout", "user", str(user_id), actor=user.username)


async def api_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """The caller of a REST endpoint (401 without a valid key or session)."""
    if principal is None:
        raise HTTPException(
            401, "log in or send an API key (X-API-Key)", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


async def page_principal(
    request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Principal:
    """The user of a page; sends the browser to the login page without a session."""
    if principal is None or principal.via != "session":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "log in first", headers={"Location": login_url(target)})
    return principal


def login_url(next_path: str) -> str:
    """The login page, returning to ``next_path`` afterwards."""
    from urllib.parse import quote

    return f"/login?next={quote(next_path, safe='')}"


def safe_next(value: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/app"
    return value


async def admin_page_principal(principal: Annotated[Principal, Depends(page_principal)]) -> Principal:
    """Admins only (403 for others)."""
    if principal.role != "admin":
        raise HTTPException(403, "admins only")
    return principal


#: Roles that edit the alert rules, the routing and action plans (store managers only read).
EDITOR_ROLES = ("admin", "analyst")


async def editor_page_principal(principal: Annotated[Principal, Depends(page_principal)]) -> Principal:
    """Admins and analysts only (403 for store managers)."""
    if principal.role not in EDITOR_ROLES:
        raise HTTPException(403, "admins and analysts only")
    return principal


async def editor_api_principal(
    request: Request, principal: Annotated[Principal, Depends(api_principal)]
) -> Principal:
    """Admins and analysts, through an API key or a session (403 for store managers); a
    session's state-changing request must echo its CSRF token in ``X-CSRF-Token``."""
    if principal.role not in EDITOR_ROLES:
        raise HTTPException(403, "admins and analysts only")
    if principal.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(principal.csrf, request.headers.get("x-csrf-token"))
    return principal


async def admin_api_principal(
    request: Request, principal: Annotated[Principal, Depends(api_principal)]
) -> Principal:
    """Admins only, through an API key or a session (403 for others); a session's state-changing
    request must echo its CSRF token in ``X-CSRF-Token``."""
    if principal.role != "admin":
        raise HTTPException(403, "admins only")
    if principal.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(principal.csrf, request.headers.get("x-csrf-token"))
    return principal


ApiUser = Annotated[Principal, Depends(api_principal)]
AdminApiUser = Annotated[Principal, Depends(admin_api_principal)]
PageUser = Annotated[Principal, Depends(page_principal)]
AdminUser = Annotated[Principal, Depends(admin_page_principal)]
EditorUser = Annotated[Principal, Depends(editor_page_principal)]
EditorApiUser = Annotated[Principal, Depends(editor_api_principal)]
