"""Small pages shared by the routers (messages in the respondent's language)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from cxlens.web.deps import AppState
from cxlens.web.i18n import direction, ui


def message_page(state: AppState, request: Request, code: str, status: int, locale: str) -> Response:
    """A small page with one message in the respondent's language (errors, 'already answered')."""
    texts = ui(locale)
    return state.templates.TemplateResponse(
        request,
        "message.html.j2",
        {
            "t": texts,
            "locale": locale,
            "dir": direction(locale),
            "message": texts.get(code, code),
            "code": code,
        },
        status_code=status,
    )
