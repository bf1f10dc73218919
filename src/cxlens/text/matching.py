"""Keyword matching without word segmentation: one compiled alternation per language.

CJK keywords match as plain substrings (no segmenter needed); other languages match at a word start
and accept any ending, so a stem such as ``deliver`` finds "delivery" and "delivered". Longer
keywords win over shorter ones they contain (``不好`` before ``好``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


def compile_keywords(words: Iterable[str], language: str) -> re.Pattern[str] | None:
    """A case-insensitive pattern that finds any of ``words`` the way ``language`` is written."""
    words = [w.strip().lower() for w in words if w and w.strip()]
    if not words:
        return None
    body = _alternation(words)
    if language in UNSEGMENTED:
        return re.compile(f"(?:{body})", re.IGNORECASE)
    return re.compile(rf"(?<!\w)(?:{body})\w*", re.IGNORECASE)


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
        for lang, by_label in keywords.items():
            table: dict[str, str] = {}
            for label, words in by_label.items():
                for w in words:
                    table.setdefault(w.strip().lower(), label)
            self._label[lang] = table
            self._pattern[lang] = compile_keywords(table, lang)
        self._before = {k: compile_keywords(v, k) for k, v in (negators or {}).items()}
        self._before_words = {k: frozenset(w.lower() for w in v) for k, v in (negators or {}).items()}
        self._after = {k: compile_keywords(v, k) for k, v in (negators_after or {}).items()}

    @property
    def languages(self) -> list[str]:
        """Languages with keywords."""
        return sorted(self._label)

    def find(self, text: str, language: str) -> list[Hit]:
        """Every keyword hit in ``text`` for ``language`` (none for a language without keywords)."""
        pattern = self._pattern.get(language)
        if pattern is None or not text:
            return []
        table = self._label[language]
        before, after = self._before.get(language), self._after.get(language)
        hits = []
        for m in pattern.finditer(text):
            word = m.group(0).lower()
            label = table.get(word) or self._stem_label(table, word)
            if label is None:
                continue
            negated = False
            if before is not None:
                negated = self._negated_before(text, m.start(), language)
            if after is not None and not negated:
                tail = text[m.end() : m.end() + 4]
                negated = bool(after.match(tail))
            hits.append(Hit(label, m.start(), m.end(), negated))
        return hits

    def _negated_before(self, text: str, start: int, language: str) -> bool:
        if language in UNSEGMENTED:
            negator = self._before[language]
            return negator is not None and bool(negator.search(text[max(0, start - 2) : start]))
        words = _WORD.findall(text[max(0, start - 30) : start].lower())[-3:]
        negators = self._before_words[language]
        return any(w in negators or w.endswith("n't") for w in words)

    @staticmethod
    def _stem_label(table: Mapping[str, str], word: str) -> str | None:
        for n in range(len(word) - 1, 0, -1):
            label = table.get(word[:n])
            if label is not None:
                return label
        return None
