"""Every text step is safe for any string: NUL (the batch separator), lone surrogates, RTL
overrides, megabyte texts, and arbitrary Unicode (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxlens.text import langid
from cxlens.text.aspects import TextAnalyser
from cxlens.text.sentiment import default_model

LANGS = ["en", "zh", "ja", "ko", "ru", "pt", None]


def _check(texts: list[str], langs: list[str | None] | None) -> None:
    res = TextAnalyser(default_model()).analyse(texts, langs)
    docs = res.documents
    assert len(docs) == len(texts)
    scored = docs["score"].notna().to_numpy()
    assert ((docs["score"][scored] >= -1) & (docs["score"][scored] <= 1)).all()
    assert set(docs["sentiment"].dropna()) <= {"negative", "neutral", "positive"}
    if len(res.aspects):
        assert res.aspects["doc"].between(0, len(texts) - 1).all()
    assert len(langid.detect_many(texts)) == len(texts)


def test_nul_inside_a_text_does_not_shift_the_others() -> None:
    texts = ["rude\x00", "ok", "bad"]
    res = TextAnalyser(default_model()).analyse(texts, ["en"] * 3)
    alone = TextAnalyser(default_model()).analyse(["rude ", "ok", "bad"], ["en"] * 3)
    assert res.documents["score"].tolist() == alone.documents["score"].tolist()
    with_nul = TextAnalyser(default_model()).analyse(["The staff\x00 were rude", "fast delivery"], ["en"] * 2)
    assert set(with_nul.aspects["doc"]) == {0, 1}


@pytest.mark.parametrize(
    "text",
    [
        "\ud800 lone surrogate",
        "\udfff",
        "\u202eevil\u202c order",
        "\u200f\u200e\u2066mixed\u2069",
        "\x00\x00\x00",
        "🙂" * 50,
    ],
)
def test_odd_strings(text: str) -> None:
    _check([text, "good", text + " rude staff"], None)
    _check([text], ["en"])


@pytest.mark.parametrize(
    "big",
    [" " * 1_000_000, "a" * 1_000_000, ("x" * 1000 + "@") * 1000, "not " * 250_000, "好" * 1_000_000],
    ids=["spaces", "one-word", "at-signs", "negators", "han"],
)
def test_megabyte_texts(big: str) -> None:
    _check([big, "fine"], None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.text(alphabet=st.characters(exclude_categories=[]), max_size=80), min_size=1, max_size=8),
    st.data(),
)
def test_any_unicode(texts: list[str], data: st.DataObject) -> None:
    n = len(texts)
    langs = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(LANGS), min_size=n, max_size=n)))
    _check(texts, langs)
