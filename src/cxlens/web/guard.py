"""Checks every request passes before any route runs: no control characters in the URL, no body
over the size limit, and JSON bodies that are well nested valid Unicode without NUL (see
:mod:`cxlens.collect.inputs`). Field-level rules (control characters in answers and ids) stay
with the routes, which name the field."""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxlens.collect.inputs import InputError, parse_json, text_problem

#: Largest request body accepted by any route (the events API's batches are the largest).
MAX_BODY = 10 * 1024 * 1024
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
#: Key of ``request.state`` holding the body parsed and checked by the guard.
CHECKED_JSON = "cx_checked_json"


def url_problem(scope: Scope) -> str | None:
    """Why the request's path or query string cannot be accepted (None when it can)."""
    query = unquote_plus(scope.get("query_string", b"").decode("latin-1"), errors="replace")
    for part, text in (("path", scope.get("path", "")), ("query", query)):
        problem = text_problem(text.replace("\t", " "))
        if problem or any(ch in text for ch in "\n\r\t"):
            return f"the URL's {part} {problem or 'contains a control character'}"
    return None


class InputGuard:
    """ASGI middleware applying the checks above; refusals are JSON with a ``detail`` list."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = url_problem(scope)
        if problem:
            await _refuse(scope, receive, send, 400, problem, ["url"])
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"0")
        too_big = f"body larger than {self.max_body:,} bytes"
        if length.isdigit() and int(length) > self.max_body:
            await _refuse(scope, receive, send, 413, too_big, ["body"])
            return
        body, more = [], True
        size = 0
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _refuse(
                    scope, receive, send, 413, f"body larger than {self.max_body:,} bytes", ["body"]
                )
                return
            body.append(chunk)
            more = message.get("more_body", False)
        raw = b"".join(body)
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        if not ctype.startswith(_FORMS) and raw.lstrip()[:1] in (b"{", b"["):
            try:
                data = parse_json(raw)
            except InputError as exc:
                await _refuse(scope, receive, send, 422, str(exc), exc.loc)
                return
            scope.setdefault("state", {})[CHECKED_JSON] = data  # routes need not parse it again
        await self.app(scope, _replay(raw, receive), send)


def _replay(raw: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, msg: str, loc: list[str | int]
) -> None:
    await JSONResponse({"detail": [{"loc": loc, "msg": msg}]}, status)(scope, receive, send)
