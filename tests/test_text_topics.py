"""Topic discovery: TF-IDF + NMF separates clear themes (words for en, character n-grams for zh)."""

from __future__ import annotations

import pandas as pd

from cxlens.demo import texts as demo
from cxlens.text.topics import TopicModel, topic_trend


def _corpus(lang: str) -> tuple[list[str], list[str]]:
    texts, truth = [], []
    for aspect in ("delivery", "cleanliness"):
        for pol in (0, 1):
            for s in demo.SENTENCES[lang][aspect][pol]:
                texts += [s] * 4
                truth += [aspect] * 4
    return texts, truth


def _purity(model: TopicModel, truth: list[str]) -> float:
    df = model.topics_.assignments.assign(truth=truth)
    return float(df.groupby("topic").truth.agg(lambda s: s.value_counts().iloc[0]).sum() / len(df))


def test_two_themes_come_apart_in_english_and_in_chinese() -> None:
    for lang in ("en", "zh"):
        texts, truth = _corpus(lang)
        model = TopicModel(n_topics=4, language=lang).fit(texts)
        assert _purity(model, truth) >= 0.9, lang
        summary = model.topics_.summary
        assert summary.documents.sum() == len(texts)
        assert (model.topics_.examples.groupby("topic").size() <= 3).all()


def test_trend_counts_documents_per_topic_and_month() -> None:
    texts, _ = _corpus("en")
    dates = pd.date_range("2025-01-01", periods=len(texts), freq="D")
    model = TopicModel(n_topics=2, language="en").fit(texts, dates)
    trend = model.trend_
    assert trend.documents.sum() == len(texts)
    monthly = trend.groupby("period").share.sum()
    assert ((monthly - 1.0).abs() < 1e-9).all()
    assert topic_trend(model.topics_.assignments, dates).equals(trend)
