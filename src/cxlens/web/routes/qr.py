"""QR codes (PNG and SVG) for receipts, posters and kiosks, pointing at the public form links."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cxlens.collect.links import link, qr_bytes
from cxlens.collect.responses import Context
from cxlens.web.deps import QrLimited, State

router = APIRouter(prefix="/qr", tags=["qr"])
Fmt = Literal["png", "svg"]
MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


@router.get(
    "/{kind}/{key}.{fmt}",
    summary="QR code of a survey link (s), kiosk (k) or invitation (t)",
    dependencies=[QrLimited],
)
def qr(
    state: State,
    request: Request,
    kind: Literal["s", "k", "t"],
    key: str,
    fmt: Fmt,
    store: Annotated[str | None, Query(max_length=256)] = None,
    tp: Annotated[str | None, Query(max_length=256)] = None,
    ch: Annotated[str | None, Query(max_length=64)] = None,
    lang: Annotated[str | None, Query(max_length=16)] = None,
    scale: Annotated[int, Query(ge=1, le=40)] = 8,
) -> Response:
    """The QR image; the survey, kiosk or invitation must exist and the context must be valid."""
    if kind == "t":
        state.collector.invitation(key)
        url = link(state.base_url(request), kind, key, lang=lang)
    else:
        state.collector.survey(key)
        Context(store_id=store, touchpoint=tp, channel=ch).check(state.collector.journey)
        url = link(state.base_url(request), kind, key, store=store, tp=tp, ch=ch, lang=lang)
    headers = {"Cache-Control": "public, max-age=3600", "X-Survey-Url": url}
    return Response(qr_bytes(url, fmt, scale), media_type=MEDIA[fmt], headers=headers)
