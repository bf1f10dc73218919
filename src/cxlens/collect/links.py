"""Public links to survey forms, the web-shop snippet and QR codes (no web framework needed)."""

from __future__ import annotations

import io
from urllib.parse import urlencode


def link(base: str, kind: str, key: str, **params: str | None) -> str:
    """A public URL: ``/s/<survey>`` (link), ``/k/<survey>`` (kiosk), ``/t/<token>`` (invitation)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{base}/{kind}/{key}" + (f"?{query}" if query else "")


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def snippet(base: str, survey_id: str, title: str, **params: str | None) -> str:
    """HTML to paste into a web shop: a script that embeds the form, and a link without JavaScript."""
    src = link(base, "embed", f"{survey_id}.js", **params)
    href = link(base, "s", survey_id, **params)
    script = f'<script src="{_attr(src)}" async></script>'
    return f'{script}\n<noscript><a href="{_attr(href)}">{_attr(title)}</a></noscript>'


def qr_bytes(url: str, fmt: str, scale: int = 8) -> bytes:
    """A QR code for ``url`` as PNG or SVG bytes (error correction M, quiet zone of 4 modules)."""
    try:
        import segno  # optional: the web extra
    except ImportError as exc:
        raise RuntimeError("QR codes need the web extra: pip install 'cxlens[web]'") from exc
    code = segno.make(url, error="m", micro=False)
    buf = io.BytesIO()
    code.save(buf, kind=fmt, scale=scale, border=4)
    return buf.getvalue()
