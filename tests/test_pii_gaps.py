"""Redaction gaps and false positives found in the security review (issue #18): Korean cued names
with a space, IBANs, street addresses; order numbers and +86 mobiles were mislabelled."""

from __future__ import annotations

import pytest

from cxlens.collect.pii import iban_ok, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("제 이름은 김민수 입니다", "제 이름은 [NAME] 입니다"),
        ("제 이름은 김민수입니다. 배송이 늦었어요", "제 이름은 [NAME]입니다. 배송이 늦었어요"),
        ("저는 김민수입니다", "저는 [NAME]입니다"),
        ("IBAN DE89 3704 0044 0532 0130 00 please refund", "IBAN [IBAN] please refund"),
        ("pay to GB82WEST12345698765432", "pay to [IBAN]"),
        ("I live at 221B Baker Street, London", "I live at [ADDRESS], London"),
        ("deliver to 12 Church Rd. tomorrow", "deliver to [ADDRESS] tomorrow"),
        ("moro na Rua Augusta 1234, Lisboa", "moro na [ADDRESS], Lisboa"),
        ("адрес: ул. Тверская, д. 7, кв. 12", "адрес: [ADDRESS]"),
        ("北京市朝阳区建国路88号", "[ADDRESS]"),
        ("東京都千代田区丸の内1丁目9-1に届けて", "[ADDRESS]に届けて"),
        ("서울 세종대로 110 으로 보내주세요", "서울 [ADDRESS] 으로 보내주세요"),
        ("call +86 138 1234 5678 please", "call [PHONE] please"),
        ("手机 +8613812345678", "手机 [PHONE]"),
    ],
)
def test_closes_the_measured_gaps(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 2025-000123 arrived late",
        "pedido nº 123456789 atrasado",
        "заказ № 4567890123 не пришёл",
        "订单号 202501030001",
        "저는 학생입니다",
        "저는 만족합니다",
        "GB82WEST12345698765431 is not an IBAN",  # fails mod-97
        "I waited 10 minutes",
    ],
)
def test_stops_the_false_positives(text: str) -> None:
    assert redact(text) == text


def test_cards_and_phones_still_found() -> None:
    assert redact("card 4111 1111 1111 1111 charged twice") == "card [CARD] charged twice"
    assert redact("Call +1 415 555 2671 tomorrow") == "Call [PHONE] tomorrow"
    assert iban_ok("DE89 3704 0044 0532 0130 00")
    assert not iban_ok("DE89 3704 0044 0532 0130 01")
