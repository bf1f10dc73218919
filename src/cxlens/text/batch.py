"""A batch of texts prepared once for every step of the pipeline: joined, grouped by language,
split into clauses, with the code points that the n-gram features hash.

Working on one joined string instead of text by text removes most per-document Python work: each
language's keyword pattern runs once over its contiguous slice, clause boundaries come from one
regex pass, and n-gram scores for documents and clauses come from one hashing pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cxlens.text.features import lower_same_length, safe_text

SEP = "\x00"
#: Clause boundaries: sentence punctuation, contrast words, and the separator between texts.
#: It runs on lower-cased text (case-insensitive matching is about twice as slow in Python's re).
CLAUSE = re.compile(
    r"[.!?;\n\x00。！？；]+|(?<!\s)\s+(?:but|however|но|mas|porém)\s+|,\s*(?:но|mas)\s+|但是|不过|しかし|けど|하지만|지만"
)

#: Negation scope in languages written with spaces: up to three words after a negator, stopping at
#: punctuation and contrast words. Their letters are hashed apart (``NEGATED``), so "bad" after
#: "not" is a different feature from "bad" ("not bad" can learn to be mild praise).
_SCOPE = r"((?:(?!(?:but|however|но|а|mas|porém|e)\b)[\w']+[ \t]*){1,3})"
NEGATION = {
    "en": re.compile(r"(?<!\w)(?:not|no|never|nothing|\w+n't|cannot|without)[ \t]+" + _SCOPE),
    "pt": re.compile(r"(?<!\w)(?:não|nao|nunca|nem|sem|nada)[ \t]+" + _SCOPE),
    "ru": re.compile(r"(?<!\w)(?:не|нет|ни|без|никогда)[ \t]+" + _SCOPE),
}
#: Added to the code points in a negation scope (beyond Unicode, so no real letter collides).
NEGATED = np.uint64(0x110000)


@dataclass
class TextBatch:
    """Texts sorted by language (``order[k]`` is the caller's index of text ``k``) and joined by NUL."""

    texts: list[str]
    languages: list[str]
    order: np.ndarray
    joined: str
    starts: np.ndarray  # offset of each text in ``joined`` (one more entry: the end)

    @classmethod
    def build(cls, texts: Sequence[str | None], languages: Sequence[str | None]) -> TextBatch:
        """Sort by language (stable) and join."""
        langs = np.asarray([lang or "" for lang in languages], dtype=object)  # sortable: no None
        order = np.argsort(langs, kind="stable") if len(langs) else np.zeros(0, dtype=np.int64)
        sorted_texts = [safe_text(texts[i]) for i in order.tolist()]
        lens = np.fromiter((len(t) + 1 for t in sorted_texts), dtype=np.int64, count=len(sorted_texts))
        starts = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        return cls(sorted_texts, langs[order].tolist(), order, SEP.join(sorted_texts), starts)

    def __len__(self) -> int:
        return len(self.texts)

    def slices(self) -> dict[str, tuple[int, int]]:
        """The ``joined`` range of each language's texts."""
        out: dict[str, tuple[int, int]] = {}
        first = 0
        for k in range(1, len(self.languages) + 1):
            if k == len(self.languages) or self.languages[k] != self.languages[first]:
                out[self.languages[first]] = (int(self.starts[first]), int(self.starts[k] - 1))
                first = k
        return out

    @cached_property
    def clauses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start, end and text of every clause (non-empty runs between boundaries), in order."""
        bounds = np.array([m.span() for m in CLAUSE.finditer(self.lowered)], dtype=np.int64).reshape(-1, 2)
        start = np.concatenate([[0], bounds[:, 1]])
        end = np.concatenate([bounds[:, 0], [len(self.joined)]])
        keep = end > start
        start, end = start[keep], end[keep]
        return start, end, np.searchsorted(self.starts, start, side="right") - 1

    @cached_property
    def clause_counts(self) -> np.ndarray:
        """Number of clauses of each text."""
        return np.bincount(self.clauses[2], minlength=len(self))

    @cached_property
    def span_of(self) -> tuple[np.ndarray, np.ndarray]:
        """Clause index of every position of ``joined`` (-1 on boundaries) and the characters left
        in its clause from there (0 on boundaries)."""
        start, end, _ = self.clauses
        clause = np.full(len(self.joined), -1, dtype=np.int64)
        room = np.zeros(len(self.joined), dtype=np.int64)
        lengths = end - start
        ids = np.repeat(np.arange(len(start)), lengths)
        where = np.repeat(start - np.cumsum(np.concatenate([[0], lengths[:-1]])), lengths) + np.arange(
            len(ids)
        )
        clause[where] = ids
        room[where] = end[ids] - where
        return clause, room

    @cached_property
    def lowered(self) -> str:
        """``joined`` in lower case (same length, so every offset holds)."""
        return SEP.join(lower_same_length(t) for t in self.texts)

    @cached_property
    def clause_bounds(self) -> tuple[list[int], list[int]]:
        """Clause starts and ends as lists (for ``bisect`` in per-hit loops)."""
        return self.clauses[0].tolist(), self.clauses[1].tolist()

    @cached_property
    def code_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower-cased code points of ``joined`` and the text of each position."""
        cps = np.frombuffer(self.lowered.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        return cps, np.cumsum(cps == 0).astype(np.int64)

    @cached_property
    def negated_code_points(self) -> np.ndarray:
        """``code_points`` with the letters inside a negation scope (``NEGATION``) moved by ``NEGATED``."""
        cps = self.code_points[0]
        spans = [
            m.span(1)
            for lang, (a, b) in self.slices().items()
            if lang in NEGATION
            for m in NEGATION[lang].finditer(self.lowered, a, b)
        ]
        if not spans:
            return cps
        edges = np.zeros(len(cps) + 1, dtype=np.int64)
        bounds = np.asarray(spans, dtype=np.int64)
        np.add.at(edges, bounds[:, 0], 1)
        np.add.at(edges, bounds[:, 1], -1)
        inside = np.cumsum(edges[:-1]) > 0
        return np.where(inside & (cps != 0), cps + NEGATED, cps)

    def clause_of(self, positions: np.ndarray) -> np.ndarray:
        """Clause index of each position."""
        return np.searchsorted(self.clauses[0], positions, side="right") - 1

    def text_of(self, positions: np.ndarray) -> np.ndarray:
        """Batch index of the text holding each position."""
        return np.searchsorted(self.starts, positions, side="right") - 1
