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

from cxlens.text.features import safe_text

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
#: Short feedback that py3langid cannot place ("ótimo", "joia", "love it"): common review words of
#: the Latin-script languages cxlens serves. A text of at most ``_SHORT_WORDS`` words whose model
#: confidence is too low takes the language most of its words belong to (ties: the model's order).
_SHORT_WORDS = 4
SHORT_TEXT_WORDS = {
    "pt": "ótimo ótima ótimos otimo otima joia jóia bom boa bons boas adorei amei gostei recomendo perfeito "
    "perfeita excelente maravilhoso maravilhosa lindo linda rápido rapido rápida rapida péssimo pessimo "
    "péssima ruim horrível horrivel obrigado obrigada produto entrega chegou muito tudo certo veio "
    "satisfeito satisfeita nota dez top legal bonito bonita demorou atrasado não nao sim recebi",
    "en": "great good nice love loved awesome excellent perfect amazing thanks thank terrible awful bad "
    "worst poor recommend happy fast slow broken late the it is was very product delivery item fine "
    "cool super lovely horrible disappointed disappointing rubbish brilliant best",
    "es": "bueno buena muy excelente perfecto perfecta genial malo mala gracias recomiendo rápido lento "
    "producto llegó todo bien encantó",
}
_WORD_LANGS: dict[str, list[str]] = {}
for _lang, _words in SHORT_TEXT_WORDS.items():
    for _w in _words.split():
        _WORD_LANGS.setdefault(_w, []).append(_lang)
_LETTERS = re.compile(r"[^\W\d_]+")
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|(?<![\w.+-])[\w.+-]{1,64}@\S+")
#: Characters of a text that decide its language (a megabyte of text is judged by its start).
_MAX_SCAN = 10_000


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
    text = safe_text(text[:_MAX_SCAN])
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
    clean = _NOISE.sub(" ", text[:_MAX_CHARS])
    lang, prob = _identifier().classify(clean)
    prob = float(prob) * share
    if prob < min_confidence:
        short = short_text_language(clean, [c for c, _ in _identifier().rank(clean)])
        return (short, round(min_confidence, 3)) if short else (UNKNOWN, round(prob, 3))
    return (lang if lang in KNOWN else OTHER), round(prob, 3)


def short_text_language(text: str, ranked: list[str] | None = None) -> str | None:
    """The language of a short text from ``SHORT_TEXT_WORDS`` (``None`` if too long or no word is
    known); ``ranked`` (the model's languages, best first) breaks ties."""
    words = _LETTERS.findall(text.lower())
    if not words or len(words) > _SHORT_WORDS:
        return None
    votes: dict[str, int] = {}
    for w in words:
        for lang in _WORD_LANGS.get(w, ()):
            votes[lang] = votes.get(lang, 0) + 1
    if not votes:
        return None
    top = max(votes.values())
    tied = [lang for lang, v in votes.items() if v == top]
    order = ranked or []
    return min(tied, key=lambda lang: order.index(lang) if lang in order else len(order))


def detect_many(texts: Iterable[str | None], **options: Any) -> list[tuple[str, float]]:
    """:func:`detect` over many texts, decided for the whole batch at once with numpy.

    Script counts come from one vectorised pass; Latin- and Arabic-script texts go through
    py3langid's own model in one batched walk (:class:`_BatchIdentifier`, same figures as its
    ``classify``); texts with URLs, handles or e-mails take the one-text path.
    """
    texts = [safe_text(t[:_MAX_SCAN]) if t else t for t in texts]
    min_letters = options.get("min_letters", 3)
    min_confidence = options.get("min_confidence", 0.6)
    n = len(texts)
    counts = _batch_script_counts(texts)
    hangul, kana, han, cyr, arabic, latin, not_ru = (counts[:, k] for k in range(7))
    cjk = 4 * (han + kana + hangul)
    groups = np.stack([cjk, cyr, latin, arabic], axis=1)
    total = groups.sum(axis=1)
    ranked = np.sort(groups, axis=1)
    top, second = ranked[:, -1], ranked[:, -2]
    main = groups.argmax(axis=1)
    share = top / np.maximum(total, 1)
    unknown = total < min_letters
    mixed = ~unknown & (second >= 0.35 * total)
    lang = np.where(
        hangul.astype(bool) & (hangul >= kana),
        "ko",
        np.where((kana >= 1) & (kana >= 0.05 * (kana + han)), "ja", "zh"),
    ).astype(object)
    lang[main == 1] = np.where(not_ru[main == 1] > 0, OTHER, "ru")
    conf = np.round(share, 3)
    lang[mixed], lang[unknown], conf[unknown] = MIXED, UNKNOWN, 0.0
    noisy = np.fromiter((_maybe_noise(t) for t in texts), dtype=np.bool_, count=n)
    model = np.flatnonzero(~unknown & ~mixed & (main >= 2) & ~noisy)
    if len(model):
        found, prob = _batch_identifier().classify([texts[i][:_MAX_CHARS] for i in model])  # type: ignore[index]
        prob = prob * share[model]
        known = np.isin(found, KNOWN)
        lang[model] = np.where(prob < min_confidence, UNKNOWN, np.where(known, found, OTHER))
        conf[model] = np.round(prob, 3)
        for i in model[prob < min_confidence].tolist():
            short = short_text_language(texts[i] or "")
            if short:
                by_model = [c for c, _ in _identifier().rank(texts[i])]
                lang[i], conf[i] = short_text_language(texts[i] or "", by_model), min_confidence
    out = list(zip(lang.tolist(), conf.tolist(), strict=True))
    for i in np.flatnonzero(noisy).tolist():
        out[i] = detect(texts[i], min_letters=min_letters, min_confidence=min_confidence)
    for i in range(n):
        if not texts[i]:
            out[i] = (UNKNOWN, 0.0)
    return out


def _maybe_noise(text: str | None) -> bool:
    """Whether ``_NOISE`` can match (a cheap test first: its regex is slow on long texts)."""
    if not text:
        return False
    if "@" in text or "#" in text or "://" in text or "www." in text:
        return _NOISE.search(text) is not None
    return False


class _BatchIdentifier:
    """py3langid's classifier run over a batch: the byte DFA is stepped for all texts at once."""

    def __init__(self, ident: Any) -> None:
        self.ident = ident
        self.nextmove = np.frombuffer(ident.tk_nextmove, dtype=np.uint32).astype(np.int64)
        self.rowbase = np.asarray(ident.tk_row, dtype=np.int64) << 8
        self.output = np.asarray(ident.tk_output, dtype=np.int64)
        self.ptc = np.asarray(ident.nb_ptc, dtype=np.float32)
        self.pc = np.asarray(ident.nb_pc, dtype=np.float32)
        self.classes = np.array(ident.nb_classes, dtype=object)

    def classify(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Language and normalised probability of each text, as ``classify`` gives them."""
        from scipy import sparse

        enc = [self.ident._encode(t) for t in texts]
        n = len(enc)
        lens = np.fromiter((len(b) for b in enc), dtype=np.int64, count=n)
        order = np.argsort(-lens, kind="stable")
        lens_sorted = lens[order]
        width = int(lens_sorted[0]) if n else 0
        buf = np.zeros((n, width), dtype=np.int64)
        flat = np.frombuffer(b"".join(enc[i] for i in order), dtype=np.uint8)
        rows = np.repeat(np.arange(n), lens_sorted)
        buf[rows, np.arange(len(flat)) - np.repeat(np.cumsum(lens_sorted) - lens_sorted, lens_sorted)] = flat
        state = np.zeros(n, dtype=np.int64)
        docs, feats = [], []
        for t in range(width):
            k = int(np.searchsorted(-lens_sorted, -t, side="left"))  # texts longer than t come first
            step = self.nextmove[self.rowbase[state[:k]] + buf[:k, t]]
            state[:k] = step
            f = self.output[step]
            hit = f >= 0
            docs.append(order[:k][hit])
            feats.append(f[hit])
        d = np.concatenate(docs) if docs else np.zeros(0, np.int64)
        f = np.concatenate(feats) if feats else np.zeros(0, np.int64)
        m = sparse.csr_matrix((np.ones(len(d), np.float32), (d, f)), shape=(n, self.ptc.shape[0]))
        m.sum_duplicates()
        m.data = np.log1p(m.data)
        scores = np.asarray(m @ self.ptc) + self.pc
        scores[np.diff(m.indptr) == 0] = 0.0  # no feature: uniform, as py3langid does
        scores *= (1.0 / np.sqrt(np.maximum(lens, 1)))[:, None]
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.ident._alias_pairs:
            scores[:, i] += scores[:, j]
            scores[:, j] = 0.0
        best = scores.argmax(axis=1)
        return self.classes[best], scores[np.arange(n), best]


class _OneByOne:
    """py3langid's own ``classify`` text by text (if its model layout is not the one we batch)."""

    def __init__(self, ident: Any) -> None:
        self.ident = ident

    def classify(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        found = [self.ident.classify(t) for t in texts]
        return np.array([c for c, _ in found], dtype=object), np.array([p for _, p in found], dtype=float)


@lru_cache(maxsize=1)
def _batch_identifier() -> _BatchIdentifier | _OneByOne:
    ident = _identifier()
    try:
        return _BatchIdentifier(ident)
    except (AttributeError, TypeError, ValueError):
        return _OneByOne(ident)


# code point ranges of each script, in the order of _SCRIPTS (hangul, kana, han, cyrillic, arabic,
# latin), then the Cyrillic letters Russian does not use
_RANGES = (
    ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F)),
    ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)),
    ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF)),
    ((0x0400, 0x04FF),),
    ((0x0600, 0x06FF),),
    ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F)),
)
_NOT_RUSSIAN_CODES = np.array(
    [ord(c) for c in _NOT_RUSSIAN.pattern.strip("[]").encode().decode("unicode_escape")], dtype=np.uint64
)


def _batch_script_counts(texts: list[str | None]) -> np.ndarray:
    """Letters of each script per text (rows) for a whole batch in one vectorised pass, plus a
    last column counting Cyrillic letters that Russian does not use."""
    from cxlens.text.features import code_points

    cps, doc = code_points([t or "" for t in texts], lower=False)
    counts = np.zeros((len(texts), len(_RANGES) + 1), dtype=np.int64)
    for k, ranges in enumerate(_RANGES):
        hit = np.zeros(len(cps), dtype=bool)
        for lo, hi in ranges:
            hit |= (cps >= lo) & (cps <= hi)
        counts[:, k] = np.bincount(doc[hit], minlength=len(texts))
    cyr = (cps >= 0x0400) & (cps <= 0x04FF)
    odd = np.zeros(len(cps), dtype=bool)
    odd[cyr] = np.isin(cps[cyr], _NOT_RUSSIAN_CODES)
    counts[:, -1] = np.bincount(doc[odd], minlength=len(texts))
    return counts
