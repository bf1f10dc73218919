"""Call and chat transcripts: split turns by speaker and keep what the customer said.

A transcript is lines of ``Speaker: words`` (``：`` in CJK). Customer speaker labels are recognised
in the six languages; when no line carries a speaker label the whole text counts as the customer's.
"""

from __future__ import annotations

import re

CUSTOMER_LABELS = frozenset(
    {
        "customer",
        "client",
        "user",
        "caller",
        "顾客",
        "客户",
        "用户",
        "お客様",
        "顧客",
        "고객",
        "клиент",
        "cliente",
    }
)
AGENT_LABELS = frozenset(
    {
        "agent",
        "operator",
        "support",
        "advisor",
        "客服",
        "担当者",
        "オペレーター",
        "상담원",
        "оператор",
        "atendente",
    }
)
_TURN = re.compile(r"^\s*([^:：\n]{1,20})\s*[:：]\s*(.*)$")


def turns(text: str) -> list[tuple[str, str]]:
    """(speaker, words) per line; speaker is ``customer``, ``agent`` or the raw label lower-cased."""
    out = []
    for line in text.splitlines():
        m = _TURN.match(line)
        if not m:
            if line.strip():
                out.append(("", line.strip()))
            continue
        label = m.group(1).strip().lower()
        role = "customer" if label in CUSTOMER_LABELS else "agent" if label in AGENT_LABELS else label
        out.append((role, m.group(2).strip()))
    return out


def customer_text(text: str | None) -> str:
    """What the customer said (joined by newlines); the whole text if there are no speaker labels."""
    if not text:
        return ""
    parts = turns(text)
    if not any(role in ("customer", "agent") for role, _ in parts):
        return text
    return "\n".join(words for role, words in parts if role == "customer")


def opening_request(text: str | None) -> str:
    """The customer's first turn: usually the reason for the contact (the intent)."""
    for line in customer_text(text).splitlines():
        if line.strip():
            return line.strip()
    return ""
