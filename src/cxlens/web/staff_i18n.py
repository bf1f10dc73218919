"""UI text of the staff pages in en, zh, ja, ko and ru, gettext style.

Templates write ``{{ _("English text") }}``; each locale's catalogue maps the English text to its
translation. A locale's catalogue is the union of the JSON files in ``web/locales/<locale>/``
(one file per area of the app, so pages can be added without touching one shared file).
Missing entries fall back to English; ``tests/test_web_i18n.py`` checks that none are missing.
The locale comes from ``?lang=``, then the ``cxlens_lang`` cookie, then ``Accept-Language``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.templating import Jinja2Templates

STAFF_LOCALES = ("en", "zh", "ja", "ko", "ru")
LOCALE_NAMES = {"en": "English", "zh": "中文", "ja": "日本語", "ko": "한국어", "ru": "Русский"}
COOKIE = "cxlens_lang"
LOCALES_DIR = Path(__file__).parent / "locales"


@cache
def catalogue(locale: str) -> dict[str, str]:
    """English text -> translation for a locale (empty for English)."""
    merged: dict[str, str] = {}
    folder = LOCALES_DIR / locale
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        entries = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: expected a JSON object of English text -> translation")
        merged.update({str(k): str(v) for k, v in entries.items()})
    return merged


def translator(locale: str) -> Callable[..., str]:
    """``_(text, **values)``: the translation (English if missing), formatted with ``values``."""
    table = catalogue(locale) if locale in STAFF_LOCALES else {}

    def _(text: str, **values: Any) -> str:
        out = table.get(text) or text
        return out.format(**values) if values else out

    return _


def staff_locale(request: Request) -> str:
    """The locale for a staff page: ``?lang=``, then the cookie, then ``Accept-Language``, then en."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if candidate in STAFF_LOCALES:
            return str(candidate)
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in STAFF_LOCALES:
            return code
    return "en"


def template_context(request: Request) -> dict[str, Any]:
    """The staff template context: ``_``, ``locale`` and the locale names."""
    locale = staff_locale(request)
    return {"_": translator(locale), "locale": locale, "staff_locales": LOCALE_NAMES}


class StaffTemplates(Jinja2Templates):
    """Templates whose context gets :func:`template_context`'s entries unless the route set them (survey
    pages pass the respondent's own ``locale``, which a context processor would overwrite)."""

    def TemplateResponse(  # type: ignore[override]  # noqa: N802 (Starlette's name)
        self, request: Request, name: str, context: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Render ``name`` with the staff i18n entries added to ``context``."""
        full = dict(context or {})
        for key, value in template_context(request).items():
            full.setdefault(key, value)
        return super().TemplateResponse(request, name, full, **kwargs)
