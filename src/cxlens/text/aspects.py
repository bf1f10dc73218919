"""Aspect detection and per-aspect sentiment, plus the batch pipeline (language, sentiment, aspects).

Aspects come from the taxonomy's keywords (no segmentation: substrings in CJK). Each aspect gets
the sentiment of the clauses that mention it, so "fast delivery but rude staff" scores delivery
positive and staff negative. Clauses end at sentence punctuation and at contrast words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxlens.text import langid
from cxlens.text.sentiment import SentimentModel, default_model
from cxlens.text.taxonomy import Taxonomy, default_taxonomy

_CLAUSE = re.compile(
    r"[.!?;\n。！？；]+|\s+but\s+|\s+however\s+|但是|不过|しかし|けど|하지만|지만|\s+но\s+|,\s*но\s+|\s+mas\s+|,\s*mas\s+|\s+porém\s+",
    re.IGNORECASE,
)
ASPECT_COLUMNS = ["doc", "aspect", "sub_aspect", "mentions", "sentiment", "score"]


def clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the clauses of ``text``."""
    spans, start = [], 0
    for m in _CLAUSE.finditer(text):
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
    """Language id + document sentiment + aspects with their own sentiment, in batches."""

    def __init__(self, model: SentimentModel | None = None, taxonomy: Taxonomy | None = None) -> None:
        self.model = model
        self.taxonomy = taxonomy

    def _parts(self) -> tuple[SentimentModel, Taxonomy]:
        return self.model or default_model(), self.taxonomy or default_taxonomy()

    def analyse(self, texts: Sequence[str | None], languages: Sequence[str | None] | None = None) -> Analysis:
        """Analyse a batch; a given language is trusted, a missing one is detected."""
        model, taxonomy = self._parts()
        n = len(texts)
        given = list(languages) if languages is not None else [None] * n
        missing = [i for i, known in enumerate(given) if not known]
        found = dict(zip(missing, langid.detect_many([texts[i] for i in missing]), strict=True))
        lang = [given[i] or found[i][0] for i in range(n)]
        conf = [1.0 if given[i] else found[i][1] for i in range(n)]
        clean = [t or "" for t in texts]
        p = model.predict_proba(clean, lang)
        docs = pd.DataFrame(
            {
                "language": lang,
                "language_confidence": conf,
                "sentiment": model.labels(p, lang),
                "score": np.round(2 * p - 1, 4),
            }
        )
        empty = np.array([not t.strip() for t in clean])
        docs.loc[empty, ["sentiment", "score"]] = [None, np.nan]
        return Analysis(docs, self._aspects(clean, lang, model, taxonomy, p))

    def _aspects(
        self, texts: list[str], lang: list[str], model: SentimentModel, taxonomy: Taxonomy, doc_p: np.ndarray
    ) -> pd.DataFrame:
        rows: list[tuple[int, str, int]] = []  # doc, label, clause key
        clause_text: list[str] = []
        clause_lang: list[str] = []
        whole: dict[int, int] = {}  # clause key -> doc, for clauses that are the whole text
        for i, (text, code) in enumerate(zip(texts, lang, strict=True)):
            hits = taxonomy.matcher.find(text, code)
            if not hits:
                continue
            spans = clauses(text)
            starts = [s for s, _ in spans]
            keys: dict[int, int] = {}
            for h in hits:
                c = max(0, int(np.searchsorted(starts, h.start, side="right")) - 1)
                if c not in keys:
                    keys[c] = len(clause_text)
                    s, e = spans[c] if spans else (0, len(text))
                    if len(spans) <= 1:
                        whole[keys[c]] = i  # one clause: its sentiment is the document's
                    clause_text.append(text[s:e] if len(spans) > 1 else "")
                    clause_lang.append(code)
                rows.append((i, h.label, keys[c]))
        if not rows:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in ASPECT_COLUMNS})
        todo = [k for k in range(len(clause_text)) if k not in whole]
        p = np.empty(len(clause_text))
        if todo:
            p[todo] = model.predict_proba([clause_text[k] for k in todo], [clause_lang[k] for k in todo])
        for k, doc in whole.items():
            p[k] = doc_p[doc]
        df = pd.DataFrame(rows, columns=["doc", "label", "clause"])
        df["p"] = p[df["clause"].to_numpy()]
        out = (
            df.groupby(["doc", "label"], sort=True).agg(mentions=("p", "size"), p=("p", "mean")).reset_index()
        )
        out[["aspect", "sub_aspect"]] = out["label"].str.split("/", n=1, expand=True)
        out["lang"] = [lang[int(d)] for d in out["doc"]]
        out["sentiment"] = model.labels(out["p"].to_numpy(), out["lang"].tolist())
        out["score"] = np.round(2 * out["p"] - 1, 4)
        return out[ASPECT_COLUMNS]
