"""Language identification: script rules + py3langid, with explicit unknown and mixed answers."""

from __future__ import annotations

import pytest

from cxlens.text.langid import detect, detect_many


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The delivery was late and nobody told me why.", "en"),
        ("A entrega atrasou e ninguém me avisou.", "pt"),
        ("Доставка опоздала на три дня.", "ru"),
        ("配送が三日も遅れました。", "ja"),
        ("배송이 사흘이나 늦었어요.", "ko"),
        ("快递晚了三天才到。", "zh"),
        ("iPhone 很好用，物流也快", "zh"),
        ("Harbor Lane 배송이 늦었어요", "ko"),
    ],
)
def test_detects_the_six_languages(text: str, lang: str) -> None:
    assert detect(text)[0] == lang


def test_kanji_only_japanese_is_not_confused_with_korean_or_chinese_when_kana_present() -> None:
    assert detect("東京の店舗で購入しました")[0] == "ja"


@pytest.mark.parametrize("text", ["", None, "ok", "!!", "12345", "xyzzy"])
def test_too_short_or_empty_is_unknown(text: str | None) -> None:
    assert detect(text)[0] == "unknown"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("ótimo", "pt"),
        ("joia", "pt"),
        ("Adorei", "pt"),
        ("good", "en"),
        ("love it", "en"),
        ("muito bom", "pt"),
    ],
)
def test_short_review_words_get_their_language(text: str, lang: str) -> None:
    assert detect(text)[0] == lang
    assert detect_many([text, "ok"])[0][0] == lang


def test_two_scripts_in_similar_amounts_are_mixed() -> None:
    assert detect("我很喜欢 this product very much")[0] == "mixed"


def test_cyrillic_with_ukrainian_letters_is_other_not_russian() -> None:
    assert detect("Доставка запізнилася і кур'єр не прийшов")[0] == "other"


def test_urls_and_handles_do_not_count_as_english() -> None:
    assert detect("@AmazonHelp https://t.co/abcdef 配送が遅れています")[0] == "ja"


def test_demo_sentences_in_six_languages_are_identified() -> None:
    from cxlens.text.train import demo_texts

    demo = demo_texts()
    found = [detect(t)[0] for t in demo.text]
    assert sum(f == lang for f, lang in zip(found, demo.language, strict=True)) / len(demo) >= 0.98
