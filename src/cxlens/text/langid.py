"""Language identification: script rules first, then py3langid's shipped model for the rest.

Hangul, kana, Han and Cyrillic settle most Asian and Russian texts without a model; Latin-script
text goes to py3langid (its model ships inside the wheel; nothing is downloaded). Texts too short
to judge are ``unknown``, texts split between scripts are ``mixed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np

#: Languages the data model knows (ISO 639-1); anything else is reported as ``other``.
KNOWN = ("en", "zh", "ja", "ko", "ru", "pt", "es", "fr", "de", "it", "nl", "ar")
UNKNOWN, MIXED, OTHER = "unknown", "mixed", "other"
#: Languages py3langid chooses between for Latin and Arabic script text (Galician is left out: it
#: splits the probability of short Portuguese texts).
_CANDIDATES = (*KNOWN, "ca", "ro", "pl", "sv", "da", "no", "tr", "id", "cs", "hu", "fi")

_SCRIPTS = {
    "hangul": re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
    "kana": re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]"),
    "han": re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]"),
    "cyrillic": re.compile(r"[\u0400-\u04ff]"),
    "arabic": re.compile(r"[\u0600-\u06ff]"),
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f]"),
}
_NOT_RUSSIAN = re.compile(
    r"[\u0404\u0406\u0407\u0490\u0454\u0456\u0457\u0491\u040e\u045e\u0402\u0452\u0408\u0458\u0409\u0459\u040a\u045a\u040b\u045b\u040f\u045f\u04d8\u04d9\u0492\u0493\u049a\u049b\u04a2\u04a3\u04e8\u04e9\u04ae\u04af\u04b0\u04b1]"
)
_MAX_CHARS = 200
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\S+@\S+")


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True, langs=list(_CANDIDATES))


def script_counts(text: str) -> dict[str, int]:
    """Number of letters of each script in ``text`` (URLs, handles and e-mails left out)."""
    clean = _NOISE.sub(" ", text)
    return {name: len(rx.findall(clean)) for name, rx in _SCRIPTS.items()}


def detect(text: str | None, *, min_letters: int = 3, min_confidence: float = 0.6) -> tuple[str, float]:
    """The language of one text and a confidence in [0, 1]; ``unknown`` or ``mixed`` when unclear."""
    if not text:
        return UNKNOWN, 0.0
    return _decide(text, script_counts(text), min_letters, min_confidence)


def _decide(text: str, counts: dict[str, int], min_letters: int, min_confidence: float) -> tuple[str, float]:
    # a CJK character carries about as much as a short word, so weigh them up
    weighted = {k: v * (4 if k in ("han", "kana", "hangul") else 1) for k, v in counts.items()}
    total = sum(weighted.values())
    if total < min_letters:
        return UNKNOWN, 0.0
    cjk = weighted["han"] + weighted["kana"] + weighted["hangul"]
    groups = {
        "cjk": cjk,
        "cyrillic": weighted["cyrillic"],
        "latin": weighted["latin"],
        "arabic": weighted["arabic"],
    }
    top, second = sorted(groups.values(), reverse=True)[:2]
    if second >= 0.35 * total:
        return MIXED, round(top / total, 3)
    main = max(groups, key=lambda k: groups[k])
    share = top / total
    if main == "cjk":
        if counts["hangul"] and counts["hangul"] >= counts["kana"]:
            return "ko", round(share, 3)
        if counts["kana"] >= 1 and counts["kana"] >= 0.05 * (counts["kana"] + counts["han"]):
            return "ja", round(share, 3)
        return "zh", round(share, 3)
    if main == "cyrillic":
        # Russian unless letters that Russian does not use say otherwise (uk, be, sr, mk, kk, ...)
        other = len(_NOT_RUSSIAN.findall(text))
        return (OTHER if other else "ru"), round(share, 3)
    # the first few hundred characters settle the language; py3langid's cost grows with length
    lang, prob = _identifier().classify(_NOISE.sub(" ", text[:_MAX_CHARS]))
    prob = float(prob) * share
    if prob < min_confidence:
        return UNKNOWN, round(prob, 3)
    return (lang if lang in KNOWN else OTHER), round(prob, 3)


def detect_many(texts: Iterable[str | None], **options: Any) -> list[tuple[str, float]]:
    """:func:`detect` over many texts; texts in one script only are settled in one numpy pass."""
    texts = list(texts)
    min_letters = options.get("min_letters", 3)
    min_confidence = options.get("min_confidence", 0.6)
    out: list[tuple[str, float]] = []
    names = list(_SCRIPTS)
    for text, row in zip(texts, _batch_script_counts(texts), strict=True):
        if not text or _NOISE.search(text):
            out.append(detect(text, **options))
        else:
            out.append(
                _decide(text, dict(zip(names, row.tolist(), strict=True)), min_letters, min_confidence)
            )
    return out


# code point ranges of each script, in the order of _SCRIPTS (hangul, kana, han, cyrillic, arabic, latin)
_RANGES = (
    ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F)),
    ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)),
    ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF)),
    ((0x0400, 0x04FF),),
    ((0x0600, 0x06FF),),
    ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F)),
)


def _batch_script_counts(texts: list[str | None]) -> np.ndarray:
    """Letters of each script per text (rows) for a whole batch, in one vectorised pass."""
    from cxlens.text.features import code_points

    cps, doc = code_points([t or "" for t in texts])
    counts = np.zeros((len(texts), len(_RANGES)), dtype=np.int64)
    for k, ranges in enumerate(_RANGES):
        hit = np.zeros(len(cps), dtype=bool)
        for lo, hi in ranges:
            hit |= (cps >= lo) & (cps <= hi)
        counts[:, k] = np.bincount(doc[hit], minlength=len(texts))
    return counts
