"""Sentiment: the shipped model loads offline and behaves; fitting, features and persistence."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from cxlens.text.batch import TextBatch
from cxlens.text.datasets import map_labels, parse_label_map
from cxlens.text.features import _binary_span_dots, _first_of_each, hashed_dot, hashed_matrix, ngram_hashes
from cxlens.text.sentiment import (
    DEFAULT_MODEL,
    SentimentModel,
    default_model,
    lexicon_counts,
    load_lexicon,
    macro_f1,
)


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


def test_the_shipped_model_has_weights_of_its_own_for_each_language(shipped: SentimentModel) -> None:
    assert shipped.block_languages_ == ["*", "en", "ja", "ko", "pt", "ru", "zh"]
    assert set(shipped.bands_) == {"en", "ja", "ko", "pt", "ru", "zh"}
    for lo, hi in shipped.bands_.values():
        assert lo <= 0.5 <= hi
    assert shipped.meta_["training_files"]  # how `text eval` recognises a training file


def test_languages_without_training_data_use_the_lexicon_part() -> None:
    en = ["great product love it", "excellent and fast", "awful product", "terrible and slow"] * 5
    model = SentimentModel(n_features=2**12, epochs=5).fit(
        en, (["positive"] * 2 + ["negative"] * 2) * 5, ["en"] * 20
    )
    assert not model.seen(["ja", "ko", "ru"]).any()
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
    p_good = model.predict_proba(good, ["ja", "ko", "ru"])
    p_bad = model.predict_proba(bad, ["ja", "ko", "ru"])
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
    for binary in (True, False):
        dense = np.asarray(hashed_matrix(texts, (1, 3), 2**12, binary=binary) @ coef).ravel()
        np.testing.assert_allclose(hashed_dot(texts, (1, 3), coef, binary), dense, rtol=1e-4, atol=1e-5)
    x = hashed_matrix(["abc"], (1, 2), 2**12)
    assert x.nnz == 5  # a, b, c, ab, bc
    assert np.isclose(x.power(2).sum(), 1.0)


def test_binary_features_are_distinct_buckets_with_unit_norm() -> None:
    """As HashingVectorizer(binary=True, norm='l2'): a repeated n-gram counts once, each row has norm 1."""
    texts = ["aaaa aaaa", "so so good, so so good", "好好好"]
    x = hashed_matrix(texts, (1, 4), 2**12)
    np.testing.assert_allclose(np.asarray(x.power(2).sum(axis=1)).ravel(), 1.0, rtol=1e-6)
    cols, rows = ngram_hashes(texts, (1, 4), 2**12)
    for i in range(len(texts)):
        distinct = sorted(set(cols[rows == i].tolist()))
        assert x[i].indices.tolist() == distinct
        np.testing.assert_allclose(x[i].data, 1 / np.sqrt(len(distinct)), rtol=1e-6)
    # the old count features give a long repetitive text a norm above 1
    counts = hashed_matrix(texts, (1, 4), 2**12, binary=False)
    assert np.asarray(counts.power(2).sum(axis=1)).ravel()[0] > 1.5


def test_batched_binary_dots_equal_text_by_text_however_the_batch_is_chunked() -> None:
    texts = [
        "",
        "Fast delivery. Rude staff!",
        "no boundary here " * 30,
        "配送が遅れました。しかし親切でした",
        "",
    ]
    batch = TextBatch.build(texts, ["en"] * len(texts))
    coef = np.random.default_rng(2).normal(size=2**12).astype(np.float32)
    cps, doc = batch.code_points
    start, end, _ = batch.clauses
    span_of, room = batch.span_of
    clause_texts = [batch.joined[s:e] for s, e in zip(start, end, strict=True)]
    for chunk in (16, 100, 1 << 15):  # chunks end at a text boundary, or hold one long text
        d, c = _binary_span_dots(cps, doc, len(batch), (1, 4), coef, span_of, len(start), room, chunk)
        np.testing.assert_allclose(d, hashed_dot(batch.texts, (1, 4), coef), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c, hashed_dot(clause_texts, (1, 4), coef), rtol=1e-5, atol=1e-6)


def test_first_of_each_survives_hash_collisions() -> None:
    keys = np.random.default_rng(3).integers(0, 50, 400).astype(np.int64)
    chosen = _first_of_each(keys, np.zeros(8, dtype=np.int64))  # 8 slots for 50 keys: collisions
    assert sorted(keys[chosen].tolist()) == sorted(set(keys.tolist()))


# Plain sentences, none of them in the training data (and not the demo's templates): the polarity
# must be right and the score graded, not saturated at +-1 as the over-fitted model was.
PLAIN = [
    ("The product is well made and exactly as described.", "en", "positive"),
    ("Good value for money, cheaper than other shops.", "en", "positive"),
    ("The staff were friendly and really knew the products.", "en", "positive"),
    ("Great quality and quick delivery, very happy.", "en", "positive"),
    ("The delivery was late and the box was damaged.", "en", "negative"),
    ("Terrible service, the staff were rude and unhelpful.", "en", "negative"),
    ("Poor quality, it broke after a week.", "en", "negative"),
    ("O produto é muito bom e chegou rápido.", "pt", "positive"),
    ("Ótimo atendimento, recomendo a loja.", "pt", "positive"),
    ("O produto veio com defeito e o atendimento foi péssimo.", "pt", "negative"),
    ("Não recebi o pedido e ninguém responde.", "pt", "negative"),
    ("质量很好，价格也便宜，很满意。", "zh", "positive"),
    ("服务态度好，发货很快。", "zh", "positive"),
    ("质量太差了，非常失望。", "zh", "negative"),
    ("发货太慢，客服态度很差。", "zh", "negative"),
    ("店員さんがとても親切でした。", "ja", "positive"),
    ("品質が悪くて残念です。", "ja", "negative"),
    ("직원이 정말 친절했어요.", "ko", "positive"),
    ("품질이 너무 나빠요.", "ko", "negative"),
    ("Отличное качество, очень доволен.", "ru", "positive"),
    ("Ужасное обслуживание, очень плохо.", "ru", "negative"),
]


def test_plain_sentences_get_the_right_polarity_with_graded_scores(shipped: SentimentModel) -> None:
    texts, langs, gold = (list(c) for c in zip(*PLAIN, strict=True))
    labels, scores = shipped.predict(texts, langs)
    sign = np.where(np.asarray(gold) == "positive", 1, -1)
    wrong = {t for t, s, g in zip(texts, scores, sign, strict=True) if np.sign(s) != g}
    # the English n-grams come from clothing reviews only; these two still lean the wrong way
    # (graded: about -0.2 and -0.1; the over-fitted model said -1.00), see docs/text.md
    assert wrong <= {
        "The product is well made and exactly as described.",
        "The staff were friendly and really knew the products.",
    }
    assert np.mean(np.asarray(labels) == np.asarray(gold)) >= 0.85  # a few may fall in the neutral band
    assert np.mean(np.abs(scores) < 0.999) >= 0.9
    # a bare "ok" is weak evidence either way, not a certain positive
    assert abs(shipped.predict(["ok"], ["en"])[1][0]) < 0.9


def test_a_sentence_scores_the_same_as_a_document_and_as_a_clause(shipped: SentimentModel) -> None:
    """Documents and clauses are normalised the same way, so a clause alone equals the clause inside."""
    first, second = "Fast delivery and friendly staff", " The checkout queue was far too long"
    batch = TextBatch.build([f"{first}.{second}!", first, second], ["en", "en", "en"])
    doc_p, clause_p = shipped.batch_proba(batch)
    start, _, owner = batch.clauses
    whole = doc_p[batch.order.tolist().index(0)]
    inside = [clause_p[k] for k in range(len(start)) if batch.order[owner[k]] == 0]
    alone = [doc_p[batch.order.tolist().index(1)], doc_p[batch.order.tolist().index(2)]]
    np.testing.assert_allclose(inside, alone, atol=1e-9)
    assert inside[0] > 0.5 > inside[1]
    assert min(alone) < whole < max(alone)


def test_models_saved_before_binary_features_load_with_count_features(tmp_path: Path) -> None:
    texts = ["great product", "awful product", "great staff", "awful staff"] * 3
    labels = ["positive", "negative"] * 6
    model = SentimentModel(n_features=2**10, binary=False).fit(texts, labels, ["en"] * 12)
    path = model.save(tmp_path / "old.npz")
    with np.load(path) as data:
        coef, meta = data["coef"], str(data["meta"])
    info = json.loads(meta)
    del info["binary"], info["negation"], info["bands"]
    np.savez_compressed(path, coef=coef, meta=np.array(json.dumps(info)))
    again = SentimentModel.load(path)
    assert again.binary is False
    np.testing.assert_allclose(
        again.predict_proba(texts, ["en"] * 12), model.predict_proba(texts, ["en"] * 12), atol=2e-3
    )


def test_fit_save_load_round_trip(tmp_path: Path) -> None:
    pos = ["great product love it", "excellent fast delivery", "very good quality", "friendly staff great"]
    neg = ["terrible product hate it", "awful late delivery", "very bad quality", "rude staff awful"]
    neu = ["it is a product", "delivery happened"]
    texts = (pos + neg) * 5 + neu * 5
    labels = (["positive"] * 4 + ["negative"] * 4) * 5 + ["neutral"] * 10
    model = SentimentModel(n_features=2**12, epochs=5)
    assert model.fit(texts, labels, ["en"] * len(texts)) is model
    assert model.coef_.shape == (1, 2**12)  # one pooled block: no language has 500 rows
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


def test_negation_scope_marks_the_words_after_a_negator_within_punctuation() -> None:
    batch = TextBatch.build(
        ["Not bad at all, would buy again", "не понравилось. Хорошо", "good"], ["en", "ru", "en"]
    )
    plain, marked = batch.code_points[0], batch.negated_code_points
    moved = "".join(batch.joined[i] for i in np.flatnonzero(marked != plain))
    assert moved.replace(" ", "") == "badatallпонравилось"


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        pytest.param(
            "Not bad at all, would buy again",
            "en",
            "positive",
            # "not bad" alone now scores +0.62, but short "would buy again" still leans negative
            # in the clothing-review n-grams: a known failure case in the model card
            marks=pytest.mark.xfail(strict=True, reason="short English praise: see docs/text.md"),
        ),
        ("Really good quality for the price, I would buy it again", "en", "positive"),
        ("配送が遅すぎる", "ja", "negative"),
        ("할인이 적용되지 않아서 정가를 다 냈어요", "ko", "negative"),
        ("Ótimo produto, chegou rápido", "pt", "positive"),
    ],
)
def test_sentences_tried_by_hand_in_issue_14(text: str, lang: str, label: str) -> None:
    """The sentences that scored wrong or neutral before: −0.86, neutral, neutral, neutral."""
    from cxlens.text.aspects import TextAnalyser

    res = TextAnalyser(default_model()).analyse([text])  # language detected, as a user would
    assert res.documents["language"].iloc[0] == lang
    assert res.documents["sentiment"].iloc[0] == label
    if lang == "ja":
        delivery = res.aspects[res.aspects["aspect"] == "delivery"]
        assert delivery["sentiment"].tolist() == ["negative"]


@pytest.mark.slow
def _close(got: object, want: object, where: str = "meta") -> None:
    """Nested JSON values equal, floats to 1e-5 relative (float32 rounding differs between
    numpy/scikit-learn releases); a differing key, string, count or shape fails with its path."""
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        assert sorted(got) == sorted(want), where
        for key in want:
            _close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list), where
        assert len(got) == len(want), where
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, f"{where}[{k}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), where
    else:
        assert got == want, where


def test_text_train_reproduces_the_shipped_model(tmp_path: Path) -> None:
    """`cxlens text train` on the shared datasets writes the shipped file byte for byte with the
    numpy, scipy and scikit-learn it was trained with (recorded in it); with other releases, the same
    float16 weights to one step and the same metadata to float rounding (numpy 2.4.6 with
    scikit-learn 1.9.1 moved four lexicon weights by 2 float32 ulps)."""
    from cxlens.text.datasets import SHARED, TRAINING_FILES
    from cxlens.text.train import library_versions, train_default

    if not all((SHARED / name).exists() for name in TRAINING_FILES):
        pytest.skip(f"the shared datasets are not at {SHARED}")
    out = tmp_path / "sentiment.npz"
    train_default(SHARED, out)
    with np.load(out, allow_pickle=False) as got, np.load(DEFAULT_MODEL, allow_pickle=False) as want:
        meta, shipped = json.loads(str(got["meta"])), json.loads(str(want["meta"]))
        if shipped.get("trained_with") == library_versions():
            assert out.read_bytes() == DEFAULT_MODEL.read_bytes()
            return
        assert sorted(got.files) == sorted(want.files)
        g, w = got["coef"], want["coef"]
        assert g.dtype == w.dtype
        assert g.shape == w.shape
        steps = np.abs(g.view(np.int16).astype(np.int32) - w.view(np.int16).astype(np.int32))
        assert int(steps.max()) <= 1, f"{int((steps > 1).sum())} weights differ by more than one step"
        assert int((steps > 0).sum()) <= g.size // 1000
        meta.pop("trained_with")
        shipped.pop("trained_with", None)
        _close(meta, shipped)


def test_each_language_gets_its_own_weight_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Languages with enough rows get their own n-gram weights, intercept and band; others the
    pooled block; the batched scorer picks each text's block, and the blocks survive save/load."""
    monkeypatch.setattr(SentimentModel, "MIN_BLOCK_ROWS", 5)
    en_pos, en_neg = (
        ["great product love it", "excellent fast delivery"],
        ["awful product", "terrible delivery"],
    )
    pt_pos, pt_neg = ["ótimo produto adorei", "entrega rápida"], ["produto péssimo", "entrega atrasada"]
    texts = (en_pos + en_neg) * 5 + (pt_pos + pt_neg) * 5 + ["it is a product", "chegou"] * 3
    labels = (["positive"] * 2 + ["negative"] * 2) * 10 + ["neutral"] * 6
    langs = ["en"] * 20 + ["pt"] * 20 + ["en", "pt"] * 3
    model = SentimentModel(n_features=2**12, epochs=5).fit(texts, labels, langs)
    assert model.block_languages_ == ["*", "en", "pt"]
    assert model.coef_.shape == (3, 2**12)
    assert set(model.bands_) == {"en", "pt"}
    probe, probe_langs = ["love it, great", "péssimo produto", "great", "great"], ["en", "pt", "pt", "fr"]
    p = model.predict_proba(probe, probe_langs)
    assert p[0] > 0.5 > p[1]
    assert (
        len({round(float(x), 6) for x in p[2:]}) == 2
    )  # "great" scores by the pt block, and by the pooled one
    again = SentimentModel.load(model.save(tmp_path / "blocks.npz"))
    assert again.block_languages_ == model.block_languages_
    np.testing.assert_allclose(again.predict_proba(probe, probe_langs), p, atol=2e-3)
