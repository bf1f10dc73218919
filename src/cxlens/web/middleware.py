"""Response middleware: security headers on every answer, and an audit entry for every export.

Headers: a Content-Security-Policy that allows only the app's own scripts (plotly.js and htmx are
served from the app; chart data travels in JSON blocks that are never executed), no framing of
staff pages (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``) while the public survey pages
stay embeddable (the web-shop snippet puts them in an iframe), ``nosniff``, a strict referrer
policy, and HSTS when the request came over HTTPS or ``CXLENS_COOKIE_SECURE`` says a TLS proxy is
in front.

Exports: a response sent as an attachment (every CSV download of the API and pages) writes an
``export`` audit entry with the signed-in user (or API key owner), the path and the query.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxlens.ops import OpsStore

log = logging.getLogger(__name__)
#: Paths of the public survey pages, which web shops may frame (the embed snippet).
EMBEDDABLE = ("/s/", "/k/", "/t/", "/r/")
#: FastAPI's interactive API docs load Swagger UI's script and style from its CDN.
API_DOCS = "/api/docs"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com"
)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
)


class SecurityHeaders:
    """Add the security headers above to every HTTP response."""

    def __init__(self, app: ASGIApp, *, secure: bool = False) -> None:
        self.app, self.secure = app, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        embeddable = path.startswith(EMBEDDABLE)
        https = scope.get("scheme") == "https" or self.secure

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                frames = "*" if embeddable else "'none'"
                policy = DOCS_CSP if path.startswith(API_DOCS) else CSP
                headers.setdefault("Content-Security-Policy", f"{policy}; frame-ancestors {frames}")
                if not embeddable:
                    headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                if https:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
            await send(message)

        await self.app(scope, receive, with_headers)


class AuditExports:
    """Write an ``export`` audit entry for every attachment the app sends."""

    def __init__(self, app: ASGIApp, *, ops: OpsStore) -> None:
        self.app, self.ops = app, ops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exported: dict[str, Any] = {}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status", 500) < 400:
                headers = MutableHeaders(scope=message)
                if "attachment" in headers.get("content-disposition", ""):
                    exported["file"] = headers["content-disposition"]
            await send(message)

        await self.app(scope, receive, watch)
        if exported:
            who = scope.get("state", {}).get("cx_who")
            await run_in_threadpool(self._audit, scope, who, exported["file"])

    def _audit(self, scope: Scope, who: Any, disposition: str) -> None:
        try:
            with self.ops.session() as s:
                self.ops.audit(
                    s,
                    "export",
                    "api",
                    scope.get("path", ""),
                    actor=getattr(who, "username", "anonymous"),
                    query=scope.get("query_string", b"").decode("latin-1")[:1000],
                    file=disposition[:300],
                    via=getattr(who, "via", None),
                )
        except Exception:  # the download has been sent; a failed audit must be visible, not fatal
            log.exception("could not audit an export of %s", scope.get("path"))
