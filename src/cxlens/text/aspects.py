"""Aspect detection and per-aspect sentiment, plus the batch pipeline (language, sentiment, aspects).

Aspects come from the taxonomy's keywords (no segmentation: substrings in CJK). Each aspect gets
the sentiment of the clauses that mention it, so "fast delivery but rude staff" scores delivery
positive and staff negative. Clauses end at sentence punctuation and at contrast words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cxlens.text import langid
from cxlens.text.batch import CLAUSE, TextBatch
from cxlens.text.features import lower_same_length
from cxlens.text.sentiment import LABELS, SentimentModel, default_model
from cxlens.text.taxonomy import Taxonomy, default_taxonomy

ASPECT_COLUMNS = ["doc", "aspect", "sub_aspect", "mentions", "sentiment", "score"]


def clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the clauses of ``text``."""
    spans, start = [], 0
    for m in CLAUSE.finditer(lower_same_length(text)):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def find_aspects(text: str, language: str, taxonomy: Taxonomy) -> list[tuple[str, int]]:
    """(``aspect/sub_aspect``, clause index) for every keyword hit in ``text``."""
    hits = taxonomy.matcher.find(text, language)
    if not hits:
        return []
    spans = clauses(text)
    starts = np.array([s for s, _ in spans])
    return [(h.label, int(np.searchsorted(starts, h.start, side="right") - 1)) for h in hits]


@dataclass
class Analysis:
    """Pipeline output: one row per document and one row per (document, sub-aspect)."""

    documents: pd.DataFrame
    aspects: pd.DataFrame


class TextAnalyser:
    """Language id + document sentiment + aspects with their own sentiment, in batches.

    The batch is joined once (:class:`~cxlens.text.batch.TextBatch`); language id, keyword matching,
    clause splitting and n-gram scoring each make one vectorised pass over it. With ``tier`` (any
    object with ``predict(texts, languages) -> (labels, scores)``, such as the e5 or ONNX tier) that
    model scores the documents and the clauses that mention an aspect instead of the fast model.
    """

    #: Characters per internal chunk: bounds the memory of the per-position arrays.
    chunk_chars = 2_000_000

    def __init__(
        self, model: SentimentModel | None = None, taxonomy: Taxonomy | None = None, tier: Any = None
    ) -> None:
        self.model = model
        self.taxonomy = taxonomy
        self.tier = tier

    def _parts(self) -> tuple[SentimentModel, Taxonomy]:
        return self.model or default_model(), self.taxonomy or default_taxonomy()

    def analyse(self, texts: Sequence[str | None], languages: Sequence[str | None] | None = None) -> Analysis:
        """Analyse a batch; a given language is trusted, a missing one is detected."""
        n = len(texts)
        given = list(languages) if languages is not None else [None] * n
        missing = [i for i, known in enumerate(given) if not known]
        found = dict(zip(missing, langid.detect_many([texts[i] for i in missing]), strict=True))
        lang = [given[i] or found[i][0] for i in range(n)]
        conf = [1.0 if given[i] else found[i][1] for i in range(n)]
        clean = [t or "" for t in texts]
        labels: list[str] = []
        scores, parts = np.empty(n), []
        for lo, hi in _chunks(clean, self.chunk_chars):
            chunk_labels, scores[lo:hi], asp = self._chunk(clean[lo:hi], lang[lo:hi])
            labels.extend(chunk_labels)
            parts.append(asp.assign(doc=asp["doc"] + lo) if lo else asp)
        docs = pd.DataFrame(
            {"language": lang, "language_confidence": conf, "sentiment": labels, "score": scores}
        )
        empty = np.array([not t.strip() for t in clean], dtype=bool)
        docs.loc[empty, ["sentiment", "score"]] = [None, np.nan]
        aspects = (
            pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts else _no_aspects()
        )
        return Analysis(docs, aspects)

    def _chunk(self, texts: list[str], lang: list[str]) -> tuple[list[str], np.ndarray, pd.DataFrame]:
        """Document labels and scores (caller's order) and the aspect rows of one chunk."""
        model, taxonomy = self._parts()
        batch = TextBatch.build(texts, lang)
        hits = taxonomy.matcher.find_batch(batch)
        # a text of one clause takes the document's sentiment, otherwise each hit its clause's
        whole = batch.clause_counts[hits.doc] <= 1
        clause = np.maximum(hits.clause, 0)
        first = np.searchsorted(batch.clauses[2], hits.doc)  # the text's first clause
        clause = np.where(
            batch.clauses[2][np.minimum(clause, len(batch.clauses[2]) - 1)] == hits.doc, clause, first
        )
        if self.tier is None:
            doc_p, clause_p = model.batch_proba(batch)
            doc_score = 2 * doc_p - 1
            hit_score = np.where(
                whole, doc_score[hits.doc], 2 * clause_p[np.minimum(clause, len(clause_p) - 1)] - 1
            )
            doc_labels = np.asarray(model.labels(doc_p, batch.languages), dtype=object)
            hit_labels = None
        else:
            doc_labels, doc_score = self._tier_predict(batch.texts, batch.languages)
            need = np.unique(clause[~whole])
            start, end, owner = batch.clauses
            langs = np.asarray(batch.languages, dtype=object)
            clause_labels, clause_score = self._tier_predict(
                [batch.joined[start[c] : end[c]] for c in need.tolist()], langs[owner[need]].tolist()
            )
            at = np.searchsorted(need, clause)
            inner = np.minimum(at, max(len(need) - 1, 0))
            hit_score = np.where(whole, doc_score[hits.doc], clause_score[inner] if len(need) else 0.0)
            hit_labels = np.where(whole, doc_labels[hits.doc], clause_labels[inner] if len(need) else "")
        labels = np.empty(len(texts), dtype=object)
        labels[batch.order] = doc_labels
        scores = np.empty(len(texts))
        scores[batch.order] = np.round(doc_score, 4)
        if not len(hits.doc):
            return labels.tolist(), scores, _no_aspects()
        doc = batch.order[hits.doc]
        names = np.asarray(taxonomy.matcher.label_names, dtype=object)
        key = doc * len(names) + hits.label
        uniq, inverse, mentions = np.unique(key, return_inverse=True, return_counts=True)
        mean = np.bincount(inverse, weights=hit_score) / mentions
        out_doc, out_label = uniq // len(names), names[uniq % len(names)]
        if hit_labels is None:
            out_lang = [lang[d] for d in out_doc.tolist()]
            sentiment = model.labels((mean + 1) / 2, out_lang)
        else:
            sentiment = _vote(inverse, hit_labels, mean)
        split = [str(label).split("/", 1) for label in out_label]
        return (
            labels.tolist(),
            scores,
            pd.DataFrame(
                {
                    "doc": out_doc,
                    "aspect": [a for a, _ in split],
                    "sub_aspect": [b for _, b in split],
                    "mentions": mentions,
                    "sentiment": sentiment,
                    "score": np.round(mean, 4),
                }
            ),
        )

    def _tier_predict(self, texts: list[str], languages: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if not texts:
            return np.zeros(0, dtype=object), np.zeros(0)
        labels, scores = self.tier.predict(texts, languages)
        return np.asarray(labels, dtype=object), np.asarray(scores, dtype=np.float64)


def _vote(group: np.ndarray, labels: np.ndarray, mean: np.ndarray) -> list[str]:
    """The most frequent label of each group's mentions; ties go to the label nearest the mean score."""
    code = np.searchsorted(np.array(LABELS), labels.astype(str))
    counts = np.zeros((len(mean), 3))
    np.add.at(counts, (group, code), 1.0)
    nearness = -np.abs(mean[:, None] - np.array([-1.0, 0.0, 1.0])[None, :])  # in [-2, 0]: a tie-break
    return [LABELS[i] for i in (counts * 10 + nearness).argmax(axis=1)]


def _no_aspects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ASPECT_COLUMNS})


def _chunks(texts: list[str], max_chars: int) -> list[tuple[int, int]]:
    """(start, end) ranges of consecutive texts holding about ``max_chars`` characters each."""
    bounds, lo, size = [], 0, 0
    for i, t in enumerate(texts):
        size += len(t) + 1
        if size >= max_chars:
            bounds.append((lo, i + 1))
            lo, size = i + 1, 0
    if lo < len(texts) or not bounds:
        bounds.append((lo, len(texts)))
    return bounds
