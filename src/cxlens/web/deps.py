"""The app's shared state and every ``Annotated`` dependency alias, in one place."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from cxlens.collect.outbox import Exporter
from cxlens.collect.responses import Collector
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web.ratelimit import RateLimiter
from cxlens.web.settings import WebSettings


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

    def base_url(self, request: Request) -> str:
        """The public base URL for links and QR codes (setting, else the request's own)."""
        return (self.settings.public_url or str(request.base_url)).rstrip("/")


async def get_state(request: Request) -> AppState:
    """The app state stored by :func:`cxlens.web.app.create_app` (async: no threadpool hop)."""
    state: AppState = request.app.state.cx
    return state


async def client_address(request: Request) -> str:
    """The client's address (the socket peer; proxies are not trusted)."""
    return request.client.host if request.client else "unknown"


async def rate_limit(request: Request, state: Annotated[AppState, Depends(get_state)]) -> None:
    """Refuse a client that sends more than the configured submissions per minute (429)."""
    wait = state.limiter.hit(await client_address(request))
    if wait is not None:
        raise HTTPException(
            429,
            "too many submissions; please wait a minute",
            headers={"Retry-After": str(int(wait) + 1)},
        )


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
ApiToken = Depends(require_api_token)
