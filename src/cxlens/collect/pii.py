"""Redaction of personal data in free text: e-mails, phone numbers, payment cards, names.

Phone numbers are found by the ``phonenumbers`` library (libphonenumber's rules) for the regions
given; card numbers must pass the Luhn check; names are caught after cue phrases ("my name is",
"我叫", "Меня зовут", ...) and honorifics (Mr, Mrs, Sra., ...), which misses bare names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
NAME = "[NAME]"
DEFAULT_REGIONS = ("US", "GB", "CN", "JP", "KR", "RU", "BR", "PT")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_NAME_CUE = re.compile(
    r"(?P<cue>\b(?i:my name is|name's|meu nome é|me chamo|меня зовут|мое имя|моё имя)\s+)"
    r"(?P<name>[A-ZÀ-ÖØ-ÞА-ЯЁ][\w'-]+(?:\s+[A-ZÀ-ÖØ-ÞА-ЯЁ][\w'-]+)?)"
    r"|(?P<hon>\b(?:Mr|Mrs|Ms|Miss|Dr|Sr|Sra|Srta|Dona|Dom)\.?\s+)(?P<hname>[A-ZÀ-ÖØ-Þ][\w'-]+(?:\s+[A-ZÀ-ÖØ-Þ][\w'-]+)?)"
    r"|(?P<cjk>我叫|我的名字是|私の名前は|저는|제 이름은)"
    r"(?P<cname>[\u4e00-\u9fff\u3040-\u30ff\uac00-\ud7af]{2,4})"
    r"|(?P<sname>[\u4e00-\u9fff]{1,2})(?P<suffix>先生|女士|小姐|さん|様|씨|님)",
)


def luhn_ok(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum (as card numbers do)."""
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _cards(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return CARD if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group(0)

    return _CARD.sub(repl, text)


def _phones(text: str, regions: Iterable[str]) -> str:
    import phonenumbers

    spans: list[tuple[int, int]] = []
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            spans.append((match.start, match.end))
    if not spans:
        return text
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out.append(text[last:start] + PHONE)
        last = end
    return "".join(out) + text[last:]


def _names(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group("cue"):
            return m.group("cue") + NAME
        if m.group("hon"):
            return m.group("hon") + NAME
        if m.group("cjk"):
            return m.group("cjk") + NAME
        return NAME + m.group("suffix")

    return _NAME_CUE.sub(repl, text)


def redact(text: str | None, regions: Sequence[str] = DEFAULT_REGIONS, names: bool = True) -> str | None:
    """``text`` with e-mails, card numbers (Luhn-valid), phone numbers and cued names replaced."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL, text)
    text = _cards(text)
    if any(ch.isdigit() for ch in text):
        text = _phones(text, regions)
    return _names(text) if names else text


def redact_many(texts: Iterable[str | None], regions: Sequence[str] = DEFAULT_REGIONS) -> list[str | None]:
    """:func:`redact` over many texts."""
    return [redact(t, regions) for t in texts]
