"""The app's shared state and every ``Annotated`` dependency alias, in one place."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from cxlens.collect.outbox import Exporter
from cxlens.collect.responses import Collector
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web.ratelimit import RateLimiter
from cxlens.web.settings import WebSettings


@dataclass
class Limits:
    """The separate rate limits: survey forms, event batches, sign-ins and QR images."""

    forms: RateLimiter
    events: RateLimiter
    login: RateLimiter
    qr: RateLimiter

    @classmethod
    def shared(cls, settings: WebSettings, ops: OpsStore | None) -> Limits:
        """Limits whose counts live in the operational store (shared by every worker)."""
        return cls(
            forms=RateLimiter(settings.rate_limit, ops=ops, name="form"),
            events=RateLimiter(settings.events_rate_limit, ops=ops, name="events"),
            login=RateLimiter(settings.login_rate_limit, ops=ops, name="login"),
            qr=RateLimiter(settings.qr_rate_limit, ops=ops, name="qr"),
        )


#: Hosts that may build public links without CXLENS_PUBLIC_URL (a local server).
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass
class AppState:
    """What every route may use: settings, stores, the collector, the exporter, templates."""

    settings: WebSettings
    workspace: Workspace
    ops: OpsStore
    collector: Collector
    exporter: Exporter | None
    limiter: RateLimiter
    templates: Jinja2Templates
    limits: Limits | None = None

    def __post_init__(self) -> None:
        if self.limits is None:
            self.limits = Limits.shared(self.settings, self.ops)
            self.limits.forms = self.limiter

    def base_url(self, request: Request) -> str:
        """The public base URL for links and QR codes: ``CXLENS_PUBLIC_URL``, else the request's
        own when its host is local or allowed (``CXLENS_ALLOWED_HOSTS``); any other Host header is
        refused (400), so a forged one never ends up in a link, QR code or e-mail."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = (request.url.hostname or "").lower()
        if host in LOCAL_HOSTS or host in self.settings.host_names():
            return str(request.base_url).rstrip("/")
        raise HTTPException(
            400,
            f"links cannot be built for host {host!r}: set CXLENS_PUBLIC_URL (or list the host in "
            "CXLENS_ALLOWED_HOSTS)",
        )


async def get_state(request: Request) -> AppState:
    """The app state stored by :func:`cxlens.web.app.create_app` (async: no threadpool hop)."""
    state: AppState = request.app.state.cx
    return state


def peer_address(request: Request, settings: WebSettings) -> str:
    """The client's address: the socket peer, or, when the peer is a trusted proxy, the nearest
    address in ``X-Forwarded-For`` that is not a trusted proxy (anyone else's header is ignored)."""
    peer = request.client.host if request.client else "unknown"
    proxies = settings.proxy_networks()
    if not proxies or not _within(peer, proxies):
        return peer
    chain = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
    for address in reversed(chain):
        if not _within(address, proxies):
            return address if _valid_ip(address) else peer
    return chain[0] if chain and _valid_ip(chain[0]) else peer


def _valid_ip(address: str) -> bool:
    try:
        ip_address(address)
    except ValueError:
        return False
    return True


def _within(address: str, networks: list[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


async def client_address(request: Request, state: Annotated[AppState, Depends(get_state)]) -> str:
    """The client's address (see :func:`peer_address`)."""
    return peer_address(request, state.settings)


def too_many(wait: float, what: str = "submissions") -> HTTPException:
    """A 429 with Retry-After."""
    return HTTPException(
        429, f"too many {what}; please wait a minute", headers={"Retry-After": str(int(wait) + 1)}
    )


async def _hit(limiter: RateLimiter, key: str, what: str) -> None:
    if limiter.spend_leased(key):  # most hits: no thread, no store
        return
    wait = await run_in_threadpool(limiter.hit, key)
    if wait is not None:
        raise too_many(wait, what)


async def rate_limit(request: Request, state: Annotated[AppState, Depends(get_state)]) -> None:
    """Refuse a client that sends more than the configured submissions per minute (429)."""
    await _hit(state.limiter, peer_address(request, state.settings), "submissions")


async def login_rate_limit(request: Request, state: Annotated[AppState, Depends(get_state)]) -> None:
    """Refuse an address that tries to sign in too often (429)."""
    assert state.limits is not None
    await _hit(state.limits.login, peer_address(request, state.settings), "sign-in attempts")


async def qr_rate_limit(request: Request, state: Annotated[AppState, Depends(get_state)]) -> None:
    """Refuse an address that asks for too many QR images (429)."""
    assert state.limits is not None
    await _hit(state.limits.qr, peer_address(request, state.settings), "QR codes")


async def require_api_token(request: Request, state: Annotated[AppState, Depends(get_state)]) -> None:
    """Survey management needs ``Authorization: Bearer <CXLENS_API_TOKEN>`` (disabled when unset)."""
    token = state.settings.api_token
    if not token:
        raise HTTPException(403, "the management API is disabled; set CXLENS_API_TOKEN to enable it")
    if not hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}"):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


State = Annotated[AppState, Depends(get_state)]
ClientAddress = Annotated[str, Depends(client_address)]
RateLimited = Depends(rate_limit)
LoginLimited = Depends(login_rate_limit)
QrLimited = Depends(qr_rate_limit)
ApiToken = Depends(require_api_token)
