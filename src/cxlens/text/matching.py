"""Keyword matching without word segmentation: one compiled alternation per language.

CJK keywords match as plain substrings (no segmenter needed). In languages written with spaces a
keyword matches whole words only: "line" finds "line", never "lined" or "neckline" (list plurals).
A keyword ending in ``*`` is a stem and accepts any ending (``deliver*`` finds "delivery" and
"delivered"; Russian keywords are mostly stems). Longer keywords win over shorter ones they
contain (``不好`` before ``好``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cxlens.text.batch import CLAUSE
from cxlens.text.features import lower_same_length

if TYPE_CHECKING:
    from cxlens.text.batch import TextBatch

#: Languages written without spaces between words: keywords match as substrings.
UNSEGMENTED = frozenset({"zh", "ja", "ko"})


_WORD = re.compile(r"[\w']+")


def _alternation(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, factored as a trie (Python's re is slow on flat
    alternations); at each branch longer continuations are tried before the word ends."""
    trie: dict[str, Any] = {}
    for w in set(words):
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_regex(trie)


def _trie_regex(node: dict[str, Any]) -> str:
    branches = [re.escape(ch) + _trie_regex(child) for ch, child in sorted(node.items()) if ch]
    ends = "" in node
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


def compile_keywords(words: Iterable[str], language: str, ignore_case: bool = True) -> re.Pattern[str] | None:
    """A pattern that finds any of ``words`` the way ``language`` is written (case-insensitive, or
    for lower-cased text with ``ignore_case=False``, which Python's re scans about twice as fast)."""
    words = [w.strip().lower() for w in words if w and w.strip()]
    if not words:
        return None
    flags = re.IGNORECASE if ignore_case else 0
    if language in UNSEGMENTED:
        return re.compile(f"(?:{_alternation(w.rstrip('*') for w in words)})", flags)
    stems = [w.rstrip("*") for w in words if w.endswith("*")]
    whole = [w for w in words if not w.endswith("*")]
    parts = [rf"(?:{_alternation(whole)})(?!\w)"] if whole else []
    parts += [rf"(?:{_alternation(stems)})\w*"] if stems else []
    return re.compile(rf"(?<!\w)(?:{'|'.join(parts)})", flags)


@dataclass
class Hits:
    """Keyword hits of a whole batch as arrays: text, clause, start, label index, negated."""

    doc: np.ndarray
    clause: np.ndarray
    start: np.ndarray
    label: np.ndarray
    negated: np.ndarray


@dataclass(frozen=True)
class Hit:
    """One keyword found in a text: its label, span and whether a negator flips it."""

    label: str
    start: int
    end: int
    negated: bool = False


class KeywordMatcher:
    """Finds labelled keywords per language; optional negators flip hits they precede or follow."""

    def __init__(
        self,
        keywords: Mapping[str, Mapping[str, Iterable[str]]],
        negators: Mapping[str, Iterable[str]] | None = None,
        negators_after: Mapping[str, Iterable[str]] | None = None,
        window: int = 12,
    ) -> None:
        self.window = window
        self._label: dict[str, dict[str, str]] = {}
        self._pattern: dict[str, re.Pattern[str] | None] = {}
        self._lower_pattern: dict[str, re.Pattern[str] | None] = {}
        for lang, by_label in keywords.items():
            table: dict[str, str] = {}
            raw: list[str] = []
            for label, words in by_label.items():
                for w in words:
                    table.setdefault(w.strip().lower().rstrip("*"), label)
                    raw.append(w)
            self._label[lang] = table
            self._pattern[lang] = compile_keywords(raw, lang)
            self._lower_pattern[lang] = compile_keywords(raw, lang, ignore_case=False)
        self._before = {k: compile_keywords(v, k) for k, v in (negators or {}).items()}
        self._before_lower = {k: compile_keywords(v, k, False) for k, v in (negators or {}).items()}
        self._before_words = {k: frozenset(w.lower() for w in v) for k, v in (negators or {}).items()}
        self._after = {k: compile_keywords(v, k) for k, v in (negators_after or {}).items()}
        self._after_lower = {k: compile_keywords(v, k, False) for k, v in (negators_after or {}).items()}
        self._stem_cache: dict[str, dict[str, int]] = {}
        self.label_names = sorted({label for table in self._label.values() for label in table.values()})
        ids = {name: i for i, name in enumerate(self.label_names)}
        self._label_id = {lang: {w: ids[lab] for w, lab in t.items()} for lang, t in self._label.items()}

    @property
    def languages(self) -> list[str]:
        """Languages with keywords."""
        return sorted(self._label)

    def find(self, text: str, language: str) -> list[Hit]:
        """Every keyword hit in ``text`` for ``language`` (none for a language without keywords),
        one text at a time (:meth:`find_batch` is the fast path; both keep negators in a clause)."""
        pattern = self._pattern.get(language)
        if pattern is None or not text:
            return []
        table = self._label[language]
        before, after = self._before.get(language), self._after.get(language)
        bounds = [0, *(e for m in CLAUSE.finditer(lower_same_length(text)) for e in m.span()), len(text)]
        hits = []
        for m in pattern.finditer(text):
            word = m.group(0).lower()
            label = table.get(word) or self._stem_label(table, word)
            if label is None:
                continue
            k = bisect_right(bounds, m.start()) - 1
            lo, hi = bounds[k], bounds[min(k + 1, len(bounds) - 1)]  # the clause around the hit
            negated = False
            if before is not None:
                negated = self._negated_before(text[lo:], m.start() - lo, language)
            if after is not None and not negated:
                negated = bool(after.match(text[m.end() : min(m.end() + 4, hi)]))
            hits.append(Hit(label, m.start(), m.end(), negated))
        return hits

    def find_batch(self, batch: TextBatch) -> Hits:
        """Every keyword hit in a batch: each language's pattern runs once over its slice of the
        lower-cased joined text. Negators count only within the hit's own clause."""
        text = batch.lowered
        starts: list[int] = []
        labels: list[int] = []
        negated: list[bool] = []
        for lang, (a, b) in batch.slices().items():
            pattern = self._lower_pattern.get(lang)
            if pattern is None:
                continue
            found = [(m.start(), m.end(), m.group()) for m in pattern.finditer(text, a, b)]
            ids = self._label_ids(lang, [w for _, _, w in found])
            keep = [k for k, i in enumerate(ids) if i >= 0]
            starts.extend(found[k][0] for k in keep)
            labels.extend(ids[k] for k in keep)
            before, after = self._before_lower.get(lang), self._after_lower.get(lang)
            if before is None and after is None:
                negated.extend(False for _ in keep)
                continue
            clause_start, clause_end = batch.clause_bounds
            words = self._before_words.get(lang, frozenset())
            cjk = lang in UNSEGMENTED
            for k in keep:
                start, end, _ = found[k]
                c = bisect_right(clause_start, start) - 1
                lo, hi = clause_start[c], clause_end[c]
                neg = False
                if before is not None:
                    if cjk:
                        neg = before.search(text, max(lo, start - 2), start) is not None
                    else:
                        near = _WORD.findall(text, max(lo, start - 30), start)[-3:]
                        neg = any(w in words or w.endswith("n't") for w in near)
                if after is not None and not neg:
                    neg = after.match(text[end : min(end + 4, hi)]) is not None
                negated.append(neg)
        pos = np.asarray(starts, dtype=np.int64)
        return Hits(
            batch.text_of(pos),
            batch.clause_of(pos),
            pos,
            np.asarray(labels, dtype=np.int64),
            np.asarray(negated, dtype=bool),
        )

    def _label_ids(self, language: str, words: list[str]) -> list[int]:
        """Label index of each matched word (-1 for none), with a cache for stemmed words."""
        table = self._label_id[language]
        cache = self._stem_cache.setdefault(language, {})
        out = []
        for w in words:
            i = table.get(w)
            if i is None:
                i = cache.get(w)
                if i is None:
                    found = self._stem_label(table, w)
                    i = -1 if found is None else int(found)
                    if len(cache) < 200_000:
                        cache[w] = i
            out.append(i)
        return out

    def _negated_before(self, text: str, start: int, language: str) -> bool:
        if language in UNSEGMENTED:
            negator = self._before[language]
            return negator is not None and bool(negator.search(text[max(0, start - 2) : start]))
        words = _WORD.findall(text[max(0, start - 30) : start].lower())[-3:]
        negators = self._before_words[language]
        return any(w in negators or w.endswith("n't") for w in words)

    @staticmethod
    def _stem_label(table: Mapping[str, Any], word: str) -> Any:
        for n in range(len(word) - 1, 0, -1):
            label = table.get(word[:n])
            if label is not None:
                return label
        return None
