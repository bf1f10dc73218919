"""PII redaction: e-mails, phone numbers (phonenumbers), Luhn-valid card numbers, cued names."""

from __future__ import annotations

import pytest

from cxlens.collect.pii import luhn_ok, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail me at jane.doe+cx@example.co.uk please", "Mail me at [EMAIL] please"),
        ("Call +1 415 555 2671 tomorrow", "Call [PHONE] tomorrow"),
        ("我的电话是13812345678", "我的电话是[PHONE]"),
        ("Tel. +7 912 345-67-89", "Tel. [PHONE]"),
        ("fone (11) 91234-5678", "fone [PHONE]"),
        ("card 4111 1111 1111 1111 charged twice", "card [CARD] charged twice"),
        ("Hi, my name is John Smith.", "Hi, my name is [NAME]."),
        ("Меня зовут Иван.", "Меня зовут [NAME]."),
        ("王先生很好", "[NAME]先生很好"),
    ],
)
def test_redacts_personal_data(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Order 4111 1111 1111 1112 arrived",  # fails the Luhn check: an order number, not a card
        "Order 20250101 arrived on 2025-01-03",
        "I am Very happy with the staff",
        "The delivery was late",
    ],
)
def test_leaves_other_text_alone(text: str) -> None:
    assert redact(text) == text


def test_luhn_matches_known_numbers() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")


def test_none_and_empty_pass_through() -> None:
    assert redact(None) is None
    assert redact("") == ""
