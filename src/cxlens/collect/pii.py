"""Redaction of personal data in free text: e-mails, IBANs, street addresses, payment cards,
phone numbers and names.

IBANs must pass the ISO 13616 mod-97 check; card numbers the Luhn check (and a number written
``+<country code>...`` that is a valid phone number is a phone, not a card); phone numbers are
found by the ``phonenumbers`` library (libphonenumber's rules) for the regions given, except
digits that follow an order, invoice or ticket word or read as ``<year>-<sequence>``; street
addresses are caught by house-number-and-street patterns in English, Portuguese, Russian,
Chinese, Japanese and Korean; names after cue phrases ("my name is", "我叫", "Меня зовут",
"제 이름은", ...) and honorifics (Mr, Mrs, Sra., 씨, ...), which misses bare names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
NAME = "[NAME]"
IBAN = "[IBAN]"
ADDRESS = "[ADDRESS]"
DEFAULT_REGIONS = ("US", "GB", "CN", "JP", "KR", "RU", "BR", "PT")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"(?<![\d+])(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
#: Common Korean family names: after "저는" ("I am") only a name starting with one is redacted.
_KO_SURNAMES = (
    "(?:김|이|박|최|정|강|조|윤|장|임|한|오|서|신|권|황|안|송|류|유|전|홍|고|문|양|손|배|백|허|남|심|노"
    "|하|곽|성|차|주|우|구|민|진|나|지|엄|채|원|천|방|공|현|함|변|염|여|추|도|소|석|선|설|마|길|연|위|표|명"
    "|기|반|라|왕|금|옥|육|인|맹|모|탁|국|어|은|편|용|예|경|봉|사|부)"
)
_STREET_EN = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Way|Place|Pl|Square|Sq"
    r"|Terrace|Close)"
)
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][\w'-]*\s+){1,3}" + _STREET_EN + r"\b\.?"
    r"|\b(?:Rua|Avenida|Av\.|Travessa|Praça|Largo|Estrada|Alameda|Calle|Avda\.)\s+(?:[\w'-]+\s+){0,4}?"
    r"[\w'-]+,?\s*(?:n\.?º\s*)?\d{1,5}[A-Za-z]?\b"
    r"|(?i:\b(?:ул\.|улица|пр-т|проспект|пер\.|переулок|шоссе|бульвар|наб\.))\s*[А-ЯЁ][\w-]+(?:\s+[А-ЯЁ][\w-]+)?"
    r",?\s*(?i:д\.|дом)\s*\d{1,4}[а-я]?(?:,?\s*(?i:кв\.|квартира)\s*\d{1,4})?"
    r"|[\u4e00-\u9fff]{1,10}(?:路|街|大道|巷|胡同)\d{1,5}号(?:[\u4e00-\u9fff\d]{0,8}室)?"
    r"|[\u4e00-\u9fff\u3040-\u30ff]{1,12}[0-9０-９]{1,2}丁目[0-9０-９]{1,4}(?:[-ー－][0-9０-９]{1,4}){0,2}"
    r"|[가-힣]{1,10}(?:로|길)\s*\d{1,4}(?:-\d{1,4})?(?:번길\s*\d{1,4})?"
)
#: Words after which digits are an order, invoice or ticket number, not a phone number.
_ID_CUE = re.compile(
    r"(?i:order|invoice|ticket|ref(?:erence)?|tracking|receipt|pedido|encomenda|fatura|заказ|счёт|счет|"
    r"накладная|订单|单号|発注|注文|伝票|주문|송장)\W{0,3}(?:n[oº°]\.?|#|№|번호|号)?\s*$"
)
_YEAR_SEQUENCE = re.compile(r"^(?:19|20)\d{2}[-/]\d{3,}$")
_NAME_CUE = re.compile(
    r"(?P<cue>\b(?i:my name is|name's|meu nome é|me chamo|меня зовут|мое имя|моё имя)\s+)"
    r"(?P<name>[A-ZÀ-ÖØ-ÞА-ЯЁ][\w'-]+(?:\s+[A-ZÀ-ÖØ-ÞА-ЯЁ][\w'-]+)?)"
    r"|(?P<hon>\b(?:Mr|Mrs|Ms|Miss|Dr|Sr|Sra|Srta|Dona|Dom)\.?\s+)(?P<hname>[A-ZÀ-ÖØ-Þ][\w'-]+(?:\s+[A-ZÀ-ÖØ-Þ][\w'-]+)?)"
    r"|(?P<cjk>我叫|我的名字是|私の名前は)\s*"
    r"(?P<cname>[\u4e00-\u9fff\u3040-\u30ff]{2,4})"
    r"|(?P<kcue>(?:제|내)\s*이름은\s*)(?P<kname>[가-힣]{2,4}?)(?=입니다|이에요|예요|이고|이라고|라고|[\s.,!?]|$)"
    r"|(?P<kself>저는\s*)(?P<ksname>"
    + _KO_SURNAMES
    + r"[가-힣]{1,2}?)(?=입니다|이에요|예요|이고|이라고|라고|[\s.,!?]|$)"
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


def iban_ok(text: str) -> bool:
    """True when ``text`` (spaces allowed) passes the IBAN mod-97 check."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _ibans(text: str) -> str:
    return _IBAN.sub(lambda m: IBAN if iban_ok(m.group(0)) else m.group(0), text)


def _is_phone(digits: str) -> bool:
    """True when ``+digits`` is a valid international phone number."""
    import phonenumbers

    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse("+" + digits)))
    except phonenumbers.NumberParseException:
        return False


def _cards(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if not (13 <= len(digits) <= 19 and luhn_ok(digits)):
            return m.group(0)
        return m.group(0) if len(digits) <= 15 and _is_phone(digits) else CARD

    return _CARD.sub(repl, text)


def _phones(text: str, regions: Iterable[str]) -> str:
    import phonenumbers

    spans: list[tuple[int, int]] = []
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            raw = match.raw_string.strip()
            if _YEAR_SEQUENCE.match(raw) or _ID_CUE.search(text[max(0, match.start - 24) : match.start]):
                continue  # an order number or a year-sequence id, not a phone
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
        if m.group("kcue"):
            return m.group("kcue") + NAME
        if m.group("kself"):
            return m.group("kself") + NAME
        return NAME + m.group("suffix")

    return _NAME_CUE.sub(repl, text)


def redact(text: str | None, regions: Sequence[str] = DEFAULT_REGIONS, names: bool = True) -> str | None:
    """``text`` with e-mails, IBANs, street addresses, card numbers (Luhn-valid), phone numbers
    and cued names replaced."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL, text)
    text = _ibans(text)
    text = _ADDRESS.sub(ADDRESS, text)
    text = _cards(text)
    if any(ch.isdigit() for ch in text):
        text = _phones(text, regions)
    return _names(text) if names else text


def redact_many(texts: Iterable[str | None], regions: Sequence[str] = DEFAULT_REGIONS) -> list[str | None]:
    """:func:`redact` over many texts."""
    return [redact(t, regions) for t in texts]
