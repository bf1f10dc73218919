"""Event collection: batches of JSON events from web, app and POS, validated one by one against
the ``events`` table of the data model, and stored idempotently by ``event_id``.

Each event gets its own verdict (accepted, duplicate or rejected with field errors), so one bad
event never loses the rest of the batch. Accepted events wait in the operational store's inbox
and reach the analytics store through :mod:`cxlens.collect.outbox`.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cxlens.collect.inputs import ID_REFUSED, printable, text_problem
from cxlens.collect.privacy import get_privacy
from cxlens.collect.sources import scoped_id
from cxlens.journey.map import JourneyMap
from cxlens.model.schema import MAX_ID_CHARS, ColumnType, get_table
from cxlens.ops import InboxEvent, OpsStore, utcnow

MAX_BATCH = 1000
Status = Literal["accepted", "duplicate", "rejected"]
_COLUMNS = frozenset(get_table("events").column_names)


@dataclass
class EventResult:
    """The verdict on one event of a batch."""

    index: int
    event_id: str | None
    status: Status
    errors: dict[str, str] = field(default_factory=dict)


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 timestamp string")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _value(kind: ColumnType, value: Any) -> Any:
    """The value converted to the column's type, or ValueError with the reason."""
    if kind == ColumnType.STRING:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError("expected a string")
        problem = text_problem(str(value), identifier=True)
        if problem:
            raise ValueError(f"expected a string without control characters: {problem}")
        return str(value)
    if kind == ColumnType.TIMESTAMP:
        return _timestamp(value).isoformat(sep=" ")
    if kind in (ColumnType.INT, ColumnType.FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        if kind == ColumnType.INT and not float(value).is_integer():
            raise ValueError("expected a whole number")
        return int(value) if kind == ColumnType.INT else float(value)
    if kind == ColumnType.JSON:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        _check_strings(value)
        return json.dumps(value, ensure_ascii=False)
    raise ValueError(f"unsupported type {kind}")


@dataclass(frozen=True)
class _Rule:
    """One column of the ``events`` table as the checks need it (worked out once per journey map)."""

    name: str
    kind: ColumnType
    required: bool
    limit: int | None
    min: float | None
    max: float | None
    #: Allowed values from the journey map, and the list's name for the message.
    allowed: frozenset[str] | None
    allowed_from: str | None


_rules_cache: dict[int, tuple[JourneyMap, tuple[_Rule, ...]]] = {}


def _rules(journey: JourneyMap) -> tuple[_Rule, ...]:
    cached = _rules_cache.get(id(journey))
    if cached is not None and cached[0] is journey:
        return cached[1]
    rules = tuple(
        _Rule(
            c.name,
            c.type,
            c.required,
            c.string_limit,
            c.min,
            c.max,
            frozenset(journey.allowed(c.allowed_from_journey)) if c.allowed_from_journey else None,
            c.allowed_from_journey,
        )
        for c in get_table("events").columns
    )
    if len(_rules_cache) > 16:
        _rules_cache.clear()
    _rules_cache[id(journey)] = (journey, rules)
    return rules


def _check_strings(value: Any) -> None:
    """Refuse control characters anywhere in a JSON value (keys included), without recursion."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, str) and (problem := text_problem(item)):
            raise ValueError(f"expected a JSON object without control characters: {problem}")


def validate_event(raw: Any, journey: JourneyMap) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Check one event against the data model; return (clean row, errors by field)."""
    if not isinstance(raw, dict):
        return None, {"(event)": "expected a JSON object"}
    rules = _rules(journey)
    spec = get_table("events")
    errors: dict[str, str] = {}
    if len(raw) > len(rules) or not raw.keys() <= _COLUMNS:
        for key in raw:
            if key not in _COLUMNS:
                errors[printable(str(key)[:64])] = "unknown field"
    row: dict[str, Any] = {}
    for rule in rules:
        name = rule.name
        value = raw.get(name)
        if value is None or value == "":
            if name == "touchpoint" and isinstance(raw.get("event_type"), str):
                value = journey.touchpoint_of_event_type.get(raw["event_type"])
            if value is None:
                if rule.required:
                    errors[name] = (
                        "required (no touchpoint maps to this event_type)"
                        if name == "touchpoint" and raw.get("event_type")
                        else "required"
                    )
                row[name] = None
                continue
        try:
            clean = _value(rule.kind, value)
        except (ValueError, TypeError, OverflowError) as exc:
            msg = str(exc) if "expected" in str(exc) else f"invalid {rule.kind.value}: {exc}"
            errors[name] = printable(msg)
            continue
        if isinstance(clean, str):
            if rule.limit is not None and len(clean) > rule.limit:
                errors[name] = f"longer than {rule.limit:,} characters"
            elif rule.allowed is not None and clean not in rule.allowed:
                errors[name] = f"not a {(rule.allowed_from or 's')[:-1]} of the journey map"
        elif rule.min is not None and clean < rule.min:
            errors[name] = f"below the minimum {rule.min:g}"
        elif rule.max is not None and clean > rule.max:
            errors[name] = f"above the maximum {rule.max:g}"
        row[name] = clean
    for row_rule in spec.row_rules:
        if all(row.get(c) is None for c in row_rule.any_of):
            errors.setdefault(row_rule.any_of[0], row_rule.description)
    return (None, errors) if errors else (row, {})


def validate_events(
    events: Sequence[Any], journey: JourneyMap
) -> list[tuple[dict[str, Any] | None, dict[str, str]]]:
    """:func:`validate_event` for every event of a batch, with the clean rows' empty fields left
    out. The batch is checked a column at a time (one search for control characters per column,
    one set comparison for the journey map's values); an event any check flags is checked again
    on its own, so its verdict and messages are exactly :func:`validate_event`'s."""
    rules = _rules(journey)
    spec = get_table("events")
    flagged: set[int] = set()
    candidates = []
    for i, raw in enumerate(events):
        if type(raw) is dict and raw.keys() <= _COLUMNS:
            candidates.append(i)
        else:
            flagged.add(i)
    rows: dict[int, dict[str, Any]] = {i: {} for i in candidates}
    touchpoints = journey.touchpoint_of_event_type
    for rule in rules:
        name = rule.name
        values: list[tuple[int, Any]] = []
        for i in candidates:
            value = events[i].get(name)
            if value is None or value == "":
                if name == "touchpoint" and type(events[i].get("event_type")) is str:
                    value = touchpoints.get(events[i]["event_type"])
                if value is None:
                    if rule.required:
                        flagged.add(i)
                    continue
            values.append((i, value))
        if rule.kind == ColumnType.STRING:
            clean = _strings(rule, values, flagged)
        else:
            clean = _others(rule, values, flagged)
        for i, value in clean:
            rows[i][name] = value
    for row_rule in spec.row_rules:
        for i in candidates:
            if not any(c in rows[i] for c in row_rule.any_of):
                flagged.add(i)
    results: list[tuple[dict[str, Any] | None, dict[str, str]]] = []
    for i, raw in enumerate(events):
        if i in flagged:
            row, errors = validate_event(raw, journey)
            results.append(({k: v for k, v in row.items() if v is not None} if row else None, errors))
        else:
            results.append((rows[i], {}))
    return results


def _strings(rule: _Rule, values: list[tuple[int, Any]], flagged: set[int]) -> list[tuple[int, str]]:
    """The text values of a string column that pass its checks; the others' events flagged."""
    texts = [(i, v) for i, v in values if type(v) is str]
    if len(texts) < len(values):  # numbers (kept as text) and wrong types: checked one by one
        flagged.update(i for i, v in values if type(v) is not str)
    joined = "".join(v for _, v in texts)
    limit = rule.limit
    if (
        ID_REFUSED.search(joined) is None
        and (limit is None or max((len(v) for _, v in texts), default=0) <= limit)
        and (rule.allowed is None or {v for _, v in texts} <= rule.allowed)
    ):
        return texts
    good = []
    for i, v in texts:
        if (
            ID_REFUSED.search(v)
            or (limit is not None and len(v) > limit)
            or (rule.allowed is not None and v not in rule.allowed)
        ):
            flagged.add(i)
        else:
            good.append((i, v))
    return good


def _others(rule: _Rule, values: list[tuple[int, Any]], flagged: set[int]) -> list[tuple[int, Any]]:
    """The converted values of a timestamp, number or JSON column; failing events flagged."""
    good: list[tuple[int, Any]] = []
    seen: dict[Any, Any] = {}  # timestamps repeat within a batch: each distinct one parsed once
    kind, limit = rule.kind, rule.limit
    for i, value in values:
        try:
            if kind == ColumnType.TIMESTAMP and type(value) is str:
                clean = seen.get(value)
                if clean is None:
                    clean = seen[value] = _value(kind, value)
            else:
                clean = _value(kind, value)
        except (ValueError, TypeError, OverflowError):
            flagged.add(i)
            continue
        if isinstance(clean, str):
            if (limit is not None and len(clean) > limit) or (
                rule.allowed is not None and clean not in rule.allowed
            ):
                flagged.add(i)
                continue
        elif (rule.min is not None and clean < rule.min) or (rule.max is not None and clean > rule.max):
            flagged.add(i)
            continue
        good.append((i, clean))
    return good


def accept_events(
    ops: OpsStore, journey: JourneyMap, events: Sequence[Any], source_id: str | None = None
) -> list[EventResult]:
    """Validate a batch and store the new events in the inbox; repeated ids come back as
    duplicates. With ``source_id`` every id is scoped by the source (``<source>:<id>``, also in
    the analytics store), so sources cannot collide; results show the ids as sent. Returns once
    the new events are committed."""
    results, fresh = _check_batch(ops, journey, events, source_id)
    if fresh:
        _mark_duplicates(results, fresh, _store(ops, fresh, source_id).result())
    return results


async def accept_events_async(
    ops: OpsStore, journey: JourneyMap, events: Sequence[Any], source_id: str | None = None
) -> list[EventResult]:
    """:func:`accept_events` for an event loop: waits for the group commit without a thread."""
    results, fresh = _check_batch(ops, journey, events, source_id)
    if fresh:
        _mark_duplicates(results, fresh, await asyncio.wrap_future(_store(ops, fresh, source_id)))
    return results


def _check_batch(
    ops: OpsStore, journey: JourneyMap, events: Sequence[Any], source_id: str | None
) -> tuple[list[EventResult], dict[str, tuple[int, dict[str, Any]]]]:
    """The verdict on each event, and the new ones by stored id (with their index)."""
    results: list[EventResult] = []
    fresh: dict[str, tuple[int, dict[str, Any]]] = {}
    privacy = get_privacy(ops)
    for index, (raw, (row, errors)) in enumerate(zip(events, validate_events(events, journey), strict=True)):
        if row is None:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            eid = printable(str(event_id)[:256]) if isinstance(event_id, str | int) else None
            results.append(EventResult(index, eid, "rejected", errors))
            continue
        event_id = row["event_id"]
        key = scoped_id(source_id, event_id)
        if len(key) > MAX_ID_CHARS:
            results.append(
                EventResult(
                    index,
                    printable(event_id[:256]),
                    "rejected",
                    {"event_id": "too long with its source prefix"},
                )
            )
        elif key in fresh:
            results.append(EventResult(index, event_id, "duplicate"))
        else:
            if privacy.redact and row.get("properties"):
                row["properties"] = json.dumps(
                    privacy.json(json.loads(row["properties"])), ensure_ascii=False
                )
            # Empty fields are left out of the stored payload (the exporter reads them as null).
            row["event_id"] = key
            fresh[key] = (index, row)
            results.append(EventResult(index, event_id, "accepted"))
    return results, fresh


def _store(
    ops: OpsStore, fresh: dict[str, tuple[int, dict[str, Any]]], source_id: str | None
) -> Future[set[Any] | None]:
    """Queue the new events for the group commit, skipping ids already stored."""
    now = utcnow()
    rows = [
        {
            "event_id": key,
            "payload": payload,
            "received_at": now,
            "source_id": source_id,
        }
        for key, (_, payload) in fresh.items()
    ]
    return ops.writer.insert(InboxEvent, rows, skip_existing="event_id")


def _mark_duplicates(
    results: list[EventResult], fresh: dict[str, tuple[int, dict[str, Any]]], inserted: set[Any] | None
) -> None:
    """Events another request stored first are duplicates, not accepted."""
    stored = inserted or set()
    duplicates = {index for key, (index, _) in fresh.items() if key not in stored}
    for result in results:
        if result.status == "accepted" and result.index in duplicates:
            result.status = "duplicate"
