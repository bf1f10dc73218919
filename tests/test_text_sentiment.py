"""Sentiment: the shipped model loads offline and behaves; fitting, features and persistence."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from cxlens.text.datasets import map_labels, parse_label_map
from cxlens.text.features import hashed_dot, hashed_matrix
from cxlens.text.sentiment import DEFAULT_MODEL, SentimentModel, lexicon_counts, load_lexicon, macro_f1


@pytest.fixture(scope="module")
def shipped() -> SentimentModel:
    return SentimentModel.load(DEFAULT_MODEL)


def test_shipped_model_loads_and_predicts_with_networking_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    model = SentimentModel.load(DEFAULT_MODEL)
    labels, scores = model.predict(["Terrible quality, it broke after two days."], ["en"])
    assert labels == ["negative"]
    assert -1.0 <= scores[0] < 0
    assert DEFAULT_MODEL.stat().st_size < 5_000_000


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        ("Absolutely love this dress, fits perfectly and the fabric is beautiful.", "en", "positive"),
        ("Awful. The seams ripped the first time I wore it and they refused a refund.", "en", "negative"),
        ("质量很好，物流也快，非常满意", "zh", "positive"),
        ("太差了，用了两天就坏了，客服也不理人", "zh", "negative"),
        ("Produto excelente, chegou antes do prazo. Recomendo!", "pt", "positive"),
        ("Péssimo, o produto chegou quebrado e ninguém responde.", "pt", "negative"),
    ],
)
def test_shipped_model_on_clear_reviews_in_training_languages(
    shipped: SentimentModel, text: str, lang: str, label: str
) -> None:
    assert shipped.predict([text], [lang])[0] == [label]


def test_languages_without_training_data_use_the_lexicon_part(shipped: SentimentModel) -> None:
    assert set(shipped.languages_) == {"en", "pt", "zh"}
    good = [
        "とても満足です。配送も早くて丁寧でした。",
        "정말 만족해요. 배송도 빠르고 친절했어요.",
        "Отличный магазин, всё быстро и вежливо.",
    ]
    bad = [
        "最悪です。商品が壊れていて返金もされません。",
        "최악이에요. 배송이 늦고 불친절했어요.",
        "Ужасно, доставка опоздала, товар сломан.",
    ]
    p_good = shipped.predict_proba(good, ["ja", "ko", "ru"])
    p_bad = shipped.predict_proba(bad, ["ja", "ko", "ru"])
    assert (p_good > p_bad).all()
    assert (p_good > 0.5).all()
    assert (p_bad < 0.5).all()


def test_negation_flips_a_lexicon_hit() -> None:
    lex = load_lexicon()
    assert lexicon_counts("The staff were friendly", "en", lex) == (1, 0)
    assert lexicon_counts("The staff were not friendly", "en", lex) == (0, 1)
    assert lexicon_counts("不好", "zh", lex) == (0, 1)
    assert lexicon_counts("良い", "ja", lex) == (1, 0)


def test_hashed_dot_equals_the_matrix_product() -> None:
    texts = ["Fast delivery!", "配送が遅れました", "", "Доставка опоздала"]
    coef = np.random.default_rng(0).normal(size=2**12).astype(np.float32)
    dense = np.asarray(hashed_matrix(texts, (1, 3), 2**12) @ coef).ravel()
    np.testing.assert_allclose(hashed_dot(texts, (1, 3), coef), dense, rtol=1e-4, atol=1e-5)
    x = hashed_matrix(["abc"], (1, 2), 2**12)
    assert x.nnz == 5  # a, b, c, ab, bc
    assert np.isclose(x.power(2).sum(), 1.0)


def test_fit_save_load_round_trip(tmp_path: Path) -> None:
    pos = ["great product love it", "excellent fast delivery", "very good quality", "friendly staff great"]
    neg = ["terrible product hate it", "awful late delivery", "very bad quality", "rude staff awful"]
    neu = ["it is a product", "delivery happened"]
    texts = (pos + neg) * 5 + neu * 5
    labels = (["positive"] * 4 + ["negative"] * 4) * 5 + ["neutral"] * 10
    model = SentimentModel(n_features=2**12, epochs=5)
    assert model.fit(texts, labels, ["en"] * len(texts)) is model
    assert model.coef_.shape == (2**12,)
    path = model.save(tmp_path / "m.npz")
    again = SentimentModel.load(path)
    probe = ["love this great quality", "hate this awful quality"]
    p1, p2 = model.predict_proba(probe, ["en", "en"]), again.predict_proba(probe, ["en", "en"])
    np.testing.assert_allclose(p1, p2, atol=2e-3)  # weights are stored as float16
    assert p1[0] > 0.5 > p1[1]


def test_fit_rejects_unknown_labels() -> None:
    with pytest.raises(ValueError, match="labels must be"):
        SentimentModel(n_features=2**10).fit(["a", "b"], ["good", "bad"], ["en", "en"])


def test_label_maps_parse_ranges_and_values() -> None:
    assert parse_label_map("1-2=negative,3=neutral,4-5=positive") == {
        "1": "negative",
        "2": "negative",
        "3": "neutral",
        "4": "positive",
        "5": "positive",
    }
    import pandas as pd

    assert map_labels(pd.Series([0, 1, 1.0, 7]), parse_label_map("0=negative,1=positive")).tolist()[:3] == [
        "negative",
        "positive",
        "positive",
    ]
    with pytest.raises(ValueError, match="bad label mapping"):
        parse_label_map("1=great")


def test_macro_f1_matches_scikit_learn() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    truth, pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    assert macro_f1(truth, pred) == pytest.approx(f1_score(truth, pred, average="macro"))
