"""A batch of events checked a column at a time gives each event exactly the verdict and messages
of the one-event checks, whatever mix of good and bad events it holds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cxlens.collect.events_api import validate_event, validate_events
from cxlens.journey.map import load_journey_map

JOURNEY = load_journey_map()
GOOD: dict[str, Any] = {
    "event_id": "e1",
    "occurred_at": "2026-11-24T10:00:00Z",
    "anonymous_id": "dev-1",
    "channel": "web",
    "event_type": "page_view",
}
#: Values that pass or fail some column's checks: control characters, surrogates, bidi marks,
#: numbers for text, text for numbers, values outside the journey map, overlong text, bad JSON.
TRICKY: list[Any] = [
    None,
    "",
    "ok",
    "web",
    "store",
    "page_view",
    "product_page",
    "a\x00b",
    "a\x07b",
    "x\ud800",
    "id\u202e",
    "caf\u00e9",
    "x" * 300,
    7,
    2.5,
    float("nan"),
    True,
    -1,
    10**30,
    "2026-11-24 10:00:00",
    "2026-13-40",
    "2026-11-24T10:00:00+02:00",
    '{"a": 1}',
    '{"a": "\\u0000"}',
    "[1]",
    {"k": "v"},
    {"k": "v\x01"},
    ["l"],
]
COLUMNS = [
    "event_id",
    "occurred_at",
    "customer_id",
    "anonymous_id",
    "channel",
    "touchpoint",
    "event_type",
    "store_id",
    "value",
    "properties",
    "unknown_field",
]


def _one_by_one(events: list[Any]) -> list[tuple[dict[str, Any] | None, dict[str, str]]]:
    out = []
    for raw in events:
        row, errors = validate_event(raw, JOURNEY)
        out.append(({k: v for k, v in row.items() if v is not None} if row else None, errors))
    return out


def test_a_clean_batch_and_a_mixed_one_get_the_one_event_verdicts() -> None:
    events: list[Any] = [{**GOOD, "event_id": f"e{i}", "value": i, "properties": {"i": i}} for i in range(5)]
    events += [
        {**GOOD, "channel": "fax"},
        {**GOOD, "event_id": "bad\x1b"},
        {**GOOD, "touchpoint": ""},
        {**GOOD, "event_type": "no_such_type"},
        {**GOOD, "anonymous_id": None},
        {**GOOD, "occurred_at": 5},
        {**GOOD, "event_id": 42},
        "not an object",
        {**GOOD, "extra": 1},
    ]
    assert validate_events(events, JOURNEY) == _one_by_one(events)
    assert [row is not None for row, _ in validate_events(events[:5], JOURNEY)] == [True] * 5


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(COLUMNS), st.sampled_from(TRICKY), max_size=6),
        min_size=1,
        max_size=8,
    )
)
def test_any_batch_gets_the_one_event_verdicts(changes: list[dict[str, Any]]) -> None:
    events = [{**GOOD, "event_id": f"e{i}", **change} for i, change in enumerate(changes)]
    assert validate_events(events, JOURNEY) == _one_by_one(events)
