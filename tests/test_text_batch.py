"""The batched pipeline gives the same figures as scoring text by text (the independent, slow path)."""

from __future__ import annotations

import numpy as np
import pytest

from cxlens.text import langid
from cxlens.text.aspects import TextAnalyser, clauses
from cxlens.text.batch import TextBatch
from cxlens.text.features import binary_matrix, cps_hashes
from cxlens.text.sentiment import SentimentModel, batch_lexicon, default_model, lexicon_counts
from cxlens.text.taxonomy import default_taxonomy
from cxlens.text.train import demo_texts

MIXED = [
    "The delivery was late and nobody told me why.",
    "A entrega atrasou e ninguém me avisou. Mas o produto é ótimo!",
    "Доставка опоздала на три дня, но курьер был вежлив.",
    "配送が三日も遅れました。しかし店員さんは親切でした。",
    "배송이 사흘이나 늦었어요. 하지만 직원은 친절했어요.",
    "快递晚了三天才到，不过便宜，客服态度很好。",
    "GREAT STAFF, TERRIBLE QUEUE AT CHECKOUT!",
    "@AmazonHelp https://t.co/abcdef my parcel never arrived",
    "",
    "ok",
    "İstanbul mağazası çok güzel ama kasa kuyruğu uzun",
    "Доставка запізнилася і кур'єр не прийшов",
    "我很喜欢 this product very much",
    "Not good. Great fit though, but the fabric is not soft",
]


def test_batched_language_id_equals_one_text_at_a_time() -> None:
    texts = MIXED + demo_texts()["text"].tolist()[:60]
    assert langid.detect_many(texts) == [langid.detect(t) for t in texts]


def test_batched_py3langid_gives_its_own_classify_figures() -> None:
    latin = [t for t in MIXED if t and langid.script_counts(t)["latin"] > 5]
    batched = langid._batch_identifier()
    assert isinstance(batched, langid._BatchIdentifier)  # the installed py3langid is the layout we batch
    found, prob = batched.classify(latin)
    assert langid._OneByOne(langid._identifier()).classify(latin)[0].tolist() == found.tolist()
    for text, lang, p in zip(latin, found, prob, strict=True):
        ref_lang, ref_p = langid._identifier().classify(text)
        assert (lang, round(float(p), 5)) == (ref_lang, round(float(ref_p), 5))


def _one_by_one(model: SentimentModel, texts: list[str], langs: list[str]) -> np.ndarray:
    """P(positive) the slow way: each text hashed and lexicon-matched on its own."""
    dots = np.zeros(len(texts))
    for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
        one = TextBatch.build([text], [lang])  # negation scopes marked as the batch marks them
        cols, rows = cps_hashes(model._code_points(one), one.code_points[1], model._ngrams, model.n_features)
        x = binary_matrix(rows, cols, 1, model.n_features)
        dots[i] = float((x @ model.coef_[model.block_of([lang])[0]].astype(np.float64))[0])
    lex = np.log1p(
        np.array([lexicon_counts(t, g, model._matcher()) for t, g in zip(texts, langs, strict=True)])
    )
    return model._proba(dots, lex.astype(np.float32), langs)


def test_clause_scores_equal_scoring_each_clause_on_its_own() -> None:
    model = default_model()
    langs = [langid.detect(t)[0] for t in MIXED]
    batch = TextBatch.build(MIXED, langs)
    doc_p, clause_p = model.batch_proba(batch)
    start, end, owner = batch.clauses
    clause_texts = [batch.joined[s:e] for s, e in zip(start, end, strict=True)]
    clause_langs = [batch.languages[d] for d in owner]
    np.testing.assert_allclose(clause_p, _one_by_one(model, clause_texts, clause_langs), atol=1e-9)
    np.testing.assert_allclose(doc_p, _one_by_one(model, batch.texts, batch.languages), atol=1e-9)
    back = np.empty(len(MIXED))
    back[batch.order] = doc_p
    np.testing.assert_allclose(model.predict_proba(MIXED, langs), back, atol=1e-12)
    # clauses of each text are those of the one-text splitter
    for k, text in enumerate(batch.texts):
        mine = [
            (s - batch.starts[k], e - batch.starts[k])
            for s, e, d in zip(start, end, owner, strict=True)
            if d == k
        ]
        assert mine == clauses(text)


def test_batched_keyword_hits_equal_per_text_hits() -> None:
    tax = default_taxonomy()
    demo = demo_texts()
    texts, langs = (
        demo["text"].tolist() + MIXED[:7],
        [*demo["language"].tolist(), "en", "pt", "ru", "ja", "ko", "zh", "en"],
    )
    batch = TextBatch.build(texts, langs)
    hits = tax.matcher.find_batch(batch)
    got = sorted(
        (int(batch.order[d]), int(s - batch.starts[d]), tax.matcher.label_names[lab])
        for d, s, lab in zip(hits.doc, hits.start, hits.label, strict=True)
    )
    want = sorted(
        (i, h.start, h.label)
        for i, (t, lang) in enumerate(zip(texts, langs, strict=True))
        for h in tax.matcher.find(t, lang)
    )
    assert got == want


@pytest.mark.parametrize(
    ("text", "lang", "counts"),
    [
        ("The staff were not friendly", "en", (0, 1)),
        # "not" flips "bad" (a positive hit) but not "great" in the next sentence
        ("Not bad. Great fit", "en", (2, 0)),
        ("苹果不大，不过便宜", "zh", (1, 0)),  # 不过 is "but", not a negation of 便宜
        ("不好", "zh", (0, 1)),
        ("届かない。良い", "ja", (1, 1)),
    ],
)
def test_negation_stays_within_its_clause(text: str, lang: str, counts: tuple[int, int]) -> None:
    model = default_model()
    batch = TextBatch.build([text], [lang])
    docs, _ = batch_lexicon(batch, model._matcher())
    assert tuple(np.expm1(docs[0]).round().astype(int)) == counts
    # each clause alone, scored text by text, gives the same total
    per_clause = [lexicon_counts(text[s:e], lang, model._matcher()) for s, e in clauses(text)]
    assert tuple(np.sum(per_clause, axis=0)) == counts


def test_long_batches_are_cut_into_chunks_with_the_same_result() -> None:
    texts = demo_texts()["text"].tolist()
    whole = TextAnalyser().analyse(texts)
    small = TextAnalyser()
    small.chunk_chars = 500
    cut = small.analyse(texts)
    assert whole.documents.equals(cut.documents)
    assert whole.aspects.reset_index(drop=True).equals(cut.aspects.reset_index(drop=True))
