"""Topic discovery for themes the taxonomy misses: TF-IDF + NMF per language, no hub models.

CJK text uses character 2-3-grams (no segmenter); other languages use words and word pairs. Each
topic gets its top terms, its most representative verbatims and, given dates, its monthly trend.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxlens.text.matching import UNSEGMENTED

_STOP = {
    "en": "the a an and or but is was were are be been it its this that to of in on for with at by from as "
    "i im "
    "dm dms us please hi hey thanks thank know let send via amp "
    "my me we our you your they them he she his her so very not no have has had do did just would will "
    "can could get got really all there here what when which who too also than then out up about one",
    "pt": "o a os as e ou mas é foi era são de do da dos das em no na nos nas um uma para por com que se "
    "não muito eu meu minha me nós você ele ela isso este esta esse essa ao aos já mais",
    "ru": "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне "
    "было вот от меня еще нет о из ему очень это",
}


#: Social-media noise that would otherwise become topic terms: links, @handles, e-mail addresses.
_NOISE = re.compile(r"https?://\S+|www\.\S+|(?<![\w.+-])[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+|@\w+")


def clean_for_topics(text: str | None) -> str:
    """Text as topics should see it: HTML entities decoded (``&amp;`` -> ``&``), links, @handles and
    e-mail addresses removed, ``#`` dropped from hashtags (the word stays)."""
    if not text:
        return ""
    return _NOISE.sub(" ", html.unescape(text)).replace("#", " ")


@dataclass
class Topics:
    """Discovered topics: per topic its terms and size, each document's topic, representative verbatims."""

    summary: pd.DataFrame
    assignments: pd.DataFrame
    examples: pd.DataFrame


class TopicModel:
    """TF-IDF + NMF topics for one language; ``fit`` on texts, results in ``topics_``."""

    def __init__(
        self, n_topics: int = 8, language: str = "en", n_terms: int = 8, n_examples: int = 3, seed: int = 0
    ) -> None:
        self.n_topics = n_topics
        self.language = language
        self.n_terms = n_terms
        self.n_examples = n_examples
        self.seed = seed

    def _vectorizer(self) -> object:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if self.language in UNSEGMENTED:
            return TfidfVectorizer(
                analyzer="char", ngram_range=(2, 3), min_df=2, max_df=0.5, max_features=20_000
            )
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop = _STOP.get(self.language, "").split()
        if self.language == "en":  # plus contractions split by the tokenizer (don't -> don)
            stop = sorted(
                {*stop, *ENGLISH_STOP_WORDS, "don", "isn", "doesn", "didn", "won", "ve", "ll", "ur", "ok"}
            )
        return TfidfVectorizer(
            ngram_range=(1, 2),
            min_df=2,
            max_df=0.5,
            max_features=20_000,
            stop_words=stop or None,
            token_pattern=r"(?u)\b\w\w+\b",
        )

    def fit(self, texts: Sequence[str], dates: Sequence[object] | None = None) -> TopicModel:
        """Find topics in ``texts`` (dates, if given, give each topic a monthly trend)."""
        from sklearn.decomposition import NMF

        texts = [t or "" for t in texts]
        vec = self._vectorizer()
        x = vec.fit_transform([clean_for_topics(t) for t in texts])  # type: ignore[attr-defined]
        k = max(1, min(self.n_topics, x.shape[0] - 1, x.shape[1] - 1))
        nmf = NMF(n_components=k, init="nndsvda", random_state=self.seed, max_iter=2000)
        w = nmf.fit_transform(x)
        terms = np.asarray(vec.get_feature_names_out())  # type: ignore[attr-defined]
        topic = w.argmax(axis=1)
        strength = w.max(axis=1)
        topic = np.where(strength > 0, topic, -1)
        rows, examples = [], []
        for t in range(k):
            top = terms[np.argsort(nmf.components_[t])[::-1][: self.n_terms]]
            members = np.flatnonzero(topic == t)
            rows.append(
                {
                    "topic": t,
                    # named by its top words, in the language of the texts
                    "label": " / ".join(top[:3]),
                    "terms": ", ".join(top),
                    "documents": len(members),
                    "share": len(members) / len(texts),
                }
            )
            best = members[np.argsort(w[members, t])[::-1][: self.n_examples]]
            examples += [{"topic": t, "rank": r + 1, "text": texts[i]} for r, i in enumerate(best)]
        self.topics_ = Topics(
            pd.DataFrame(rows),
            pd.DataFrame({"doc": np.arange(len(texts)), "topic": topic, "weight": np.round(strength, 4)}),
            pd.DataFrame(examples),
        )
        if dates is not None:
            self.trend_ = topic_trend(self.topics_.assignments, dates)
        return self


def topic_trend(assignments: pd.DataFrame, dates: Sequence[object], freq: str = "M") -> pd.DataFrame:
    """Documents per topic and period, with each topic's share of the period's documents."""
    df = assignments.assign(period=pd.to_datetime(pd.Series(list(dates))).dt.to_period(freq).dt.start_time)
    counts = df[df.topic >= 0].groupby(["period", "topic"]).size().rename("documents").reset_index()
    totals = df.groupby("period").size().rename("total")
    counts = counts.join(totals, on="period")
    counts["share"] = counts["documents"] / counts["total"]
    return counts


def discover(
    get: object,
    language: str,
    n_topics: int = 8,
    *,
    unmatched_only: bool = False,
    sources: Sequence[str] | None = None,
    limit: int = 50_000,
) -> TopicModel:
    """Topics of the store's analysed feedback in one language (``get`` from ``text_tables``).

    ``unmatched_only`` keeps texts where the taxonomy found no aspect: the themes it misses.
    """
    t = get("feedback_text")  # type: ignore[operator]
    fb = get("feedback")  # type: ignore[operator]
    j = t.filter(t.language == language).join(fb, "feedback_id")
    if sources:
        j = j.filter(j.source.isin(list(sources)))
    if unmatched_only:
        asp = get("feedback_aspects")  # type: ignore[operator]
        j = j.anti_join(asp, "feedback_id")
    frame = j.select("feedback_id", "submitted_at", "text").order_by("feedback_id").limit(limit).to_pandas()
    if len(frame) < 3:
        raise ValueError(f"too few analysed {language} texts for topics ({len(frame)})")
    return TopicModel(n_topics=n_topics, language=language).fit(
        frame["text"].tolist(), frame["submitted_at"].tolist()
    )
