"""Cases: opened from an alert or by hand, assigned, moved through their statuses, noted, resolved,
followed up with the customer, and escalated when their SLA is breached.

Lifecycle: ``open`` → ``in_progress`` → ``resolved`` → ``closed`` (``in_progress`` may go back to
``open``; a resolved case may be reopened to ``in_progress``; ``closed`` is final). The SLA due time
is set from the priority when the case opens (hours per priority in the routing file) and stops
counting once the case is resolved. :func:`escalate_overdue` escalates every open or in-progress
case past its due time: level + 1, reassigned to the escalation owner, notified, and a fresh SLA
from now, so sweeping again at the same time changes nothing. Every change is audited with the
values before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxlens.act.routing import Routing, notify
from cxlens.ops import OpsStore, utcnow
from cxlens.ops.act_models import CASE_STATUSES, PRIORITIES, Alert, Case, CaseNote

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("in_progress", "resolved", "closed"),
    "in_progress": ("open", "resolved", "closed"),
    "resolved": ("in_progress", "closed"),
    "closed": (),
}
ACTIVE = ("open", "in_progress")
_AUDITED = (
    "title",
    "status",
    "assignee",
    "priority",
    "sla_due_at",
    "escalation_level",
    "root_causes",
    "resolution",
    "follow_up_at",
    "follow_up_notes",
)


class CaseError(ValueError):
    """A case request that cannot be done (unknown case, invalid transition, bad value)."""


class CaseNotFoundError(CaseError):
    """No case with this id."""


class CaseAccessError(CaseError):
    """The case belongs to a store outside the caller's scope."""


def _snapshot(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _AUDITED:
        value = getattr(case, name)
        out[name] = value.isoformat(timespec="seconds") if isinstance(value, datetime) else value
    return out


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def check_scope(case: Case, stores: Sequence[str] | None) -> None:
    """Raise :class:`CaseAccessError` unless ``stores`` is None (all) or holds the case's store."""
    if stores is not None and (case.store_id is None or case.store_id not in stores):
        raise CaseAccessError(f"case {case.case_id} belongs to a store outside your access")


def sla_due(routing: Routing, priority: str, start: datetime) -> datetime:
    """When a case of ``priority`` opened at ``start`` breaches its SLA."""
    return start + timedelta(hours=routing.sla_hours[priority])


def _priority(value: str) -> str:
    if value not in PRIORITIES:
        raise CaseError(f"unknown priority {value!r}; choose one of {', '.join(PRIORITIES)}")
    return value


def open_case(
    ops: OpsStore,
    title: str,
    *,
    store_id: str | None = None,
    region: str | None = None,
    touchpoint: str | None = None,
    priority: str = "normal",
    assignee: str | None = None,
    alert_id: int | None = None,
    feedback_id: str | None = None,
    customer_id: str | None = None,
    routing: Routing | None = None,
    actor: str = "system",
    now: datetime | None = None,
) -> Case:
    """Open a case; without an assignee it goes to the routed owner of its store/region/touchpoint."""
    routing = routing or Routing()
    now = now or utcnow()
    title = title.strip()
    if not title:
        raise CaseError("a case needs a title")
    priority = _priority(priority)
    owner = assignee or routing.owner_for(store_id, region, touchpoint).owner
    case = Case(
        title=title[:512],
        alert_id=alert_id,
        feedback_id=feedback_id,
        customer_id=customer_id,
        store_id=store_id,
        region=region,
        touchpoint=touchpoint,
        status="open",
        assignee=owner,
        priority=priority,
        sla_due_at=sla_due(routing, priority, now),
        escalation_level=0,
        root_causes=[],
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    with ops.session() as s:
        if alert_id is not None:
            # lock the alert row (PostgreSQL; SQLite writers are serialised anyway) and re-check:
            # a double click or the periodic job racing the button must not open two cases
            alert = s.get(Alert, alert_id, with_for_update=True)
            if alert is not None and alert.case_id:
                existing = s.get(Case, alert.case_id)
                if existing is not None:
                    return existing
        s.add(case)
        s.flush()
        if alert_id is not None and alert is not None:
            alert.case_id, alert.status = case.case_id, "case_opened"
        ops.audit(s, "open", "case", str(case.case_id), actor=actor, before={}, after=_snapshot(case))
    return case


def open_from_alert(
    ops: OpsStore,
    alert_id: int,
    *,
    routing: Routing | None = None,
    actor: str = "system",
    now: datetime | None = None,
) -> Case:
    """Open a case for an alert (once: an alert that has a case returns that case)."""
    with ops.sessions() as s:
        alert = s.get(Alert, alert_id)
        existing = s.get(Case, alert.case_id) if alert is not None and alert.case_id else None
    if alert is None:
        raise CaseNotFoundError(f"no alert {alert_id}")
    if existing is not None:
        return existing
    return open_case(
        ops,
        alert.title,
        store_id=alert.store_id,
        region=alert.region,
        touchpoint=alert.touchpoint,
        priority=alert.priority,
        assignee=alert.owner,
        alert_id=alert.alert_id,
        feedback_id=alert.feedback_id,
        customer_id=(alert.detail or {}).get("customer_id"),
        routing=routing,
        actor=actor,
        now=now,
    )


def get_case(ops: OpsStore, case_id: int, stores: Sequence[str] | None = None) -> Case:
    """The case (CaseNotFoundError if none; CaseAccessError outside ``stores``)."""
    with ops.sessions() as s:
        case = s.get(Case, case_id)
    if case is None:
        raise CaseNotFoundError(f"no case {case_id}")
    check_scope(case, stores)
    return case


def list_cases(
    ops: OpsStore,
    *,
    stores: Sequence[str] | None = None,
    status: str | None = None,
    store_id: str | None = None,
    assignee: str | None = None,
    limit: int = 500,
) -> list[Case]:
    """Cases, newest first, limited to ``stores`` (None: all) and the given filters."""
    query = select(Case).order_by(Case.created_at.desc(), Case.case_id.desc()).limit(limit)
    if stores is not None:
        query = query.where(Case.store_id.in_(list(stores)))
    if status:
        query = query.where(Case.status == status)
    if store_id:
        query = query.where(Case.store_id == store_id)
    if assignee:
        query = query.where(Case.assignee == assignee)
    with ops.sessions() as s:
        return list(s.scalars(query))


def case_notes(ops: OpsStore, case_id: int) -> list[CaseNote]:
    """The notes of a case, oldest first."""
    with ops.sessions() as s:
        return list(s.scalars(select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.note_id)))


def _change(
    ops: OpsStore,
    case_id: int,
    action: str,
    mutate: Callable[[Case, Session], None],
    *,
    actor: str,
    stores: Sequence[str] | None,
    now: datetime | None,
) -> Case:
    """Load a case in a transaction, check the scope, apply ``mutate`` and audit before/after."""
    with ops.session() as s:
        case = s.get(Case, case_id)
        if case is None:
            raise CaseNotFoundError(f"no case {case_id}")
        check_scope(case, stores)
        before = _snapshot(case)
        mutate(case, s)
        case.updated_at = now or utcnow()
        old, new = _diff(before, _snapshot(case))
        ops.audit(s, action, "case", str(case_id), actor=actor, before=old, after=new)
    return case


def assign(
    ops: OpsStore,
    case_id: int,
    assignee: str,
    *,
    actor: str = "system",
    stores: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Case:
    """Give the case to someone."""
    name = assignee.strip()
    if not name:
        raise CaseError("an assignee needs a name")

    def mutate(case: Case, _s: Session) -> None:
        if case.status == "closed":
            raise CaseError(f"case {case_id} is closed")
        case.assignee = name[:128]

    return _change(ops, case_id, "assign", mutate, actor=actor, stores=stores, now=now)


def set_status(
    ops: OpsStore,
    case_id: int,
    status: str,
    *,
    actor: str = "system",
    stores: Sequence[str] | None = None,
    routing: Routing | None = None,
    now: datetime | None = None,
) -> Case:
    """Move a case to ``status`` if the lifecycle allows it. Resolving goes through
    :func:`resolve` (it needs a resolution); reopening a resolved case clears the resolution and
    restarts its SLA from now."""
    if status not in CASE_STATUSES:
        raise CaseError(f"unknown status {status!r}; choose one of {', '.join(CASE_STATUSES)}")
    if status == "resolved":
        raise CaseError("resolving a case needs a resolution: use resolve")
    when = now or utcnow()

    def mutate(case: Case, _s: Session) -> None:
        allowed = TRANSITIONS[case.status]
        if status not in allowed:
            options = ", ".join(allowed) or "none (closed is final)"
            raise CaseError(f"case {case_id} cannot go from {case.status} to {status}; allowed: {options}")
        if case.status == "resolved" and status in ACTIVE:
            case.resolution, case.resolved_at = None, None
            case.sla_due_at = sla_due(routing or Routing(), case.priority, when)
        case.status = status

    return _change(ops, case_id, "status", mutate, actor=actor, stores=stores, now=when)


def resolve(
    ops: OpsStore,
    case_id: int,
    resolution: str,
    *,
    root_causes: Sequence[str] | None = None,
    actor: str = "system",
    stores: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Case:
    """Resolve a case with what was done (and optionally its root-cause tags)."""
    text = resolution.strip()
    if not text:
        raise CaseError("a resolution needs some text: what was done?")
    when = now or utcnow()

    def mutate(case: Case, _s: Session) -> None:
        if "resolved" not in TRANSITIONS[case.status]:
            raise CaseError(f"case {case_id} cannot go from {case.status} to resolved")
        case.status, case.resolution, case.resolved_at = "resolved", text, when
        if root_causes is not None:
            case.root_causes = _tags(root_causes)

    return _change(ops, case_id, "resolve", mutate, actor=actor, stores=stores, now=when)


def _tags(tags: Sequence[str]) -> list[str]:
    return sorted({t.strip().lower()[:64] for t in tags if t and t.strip()})


def set_root_causes(
    ops: OpsStore,
    case_id: int,
    tags: Sequence[str],
    *,
    actor: str = "system",
    stores: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Case:
    """Replace the root-cause tags (lower-cased, unique)."""

    def mutate(case: Case, _s: Session) -> None:
        if case.status == "closed":
            raise CaseError(f"case {case_id} is closed")
        case.root_causes = _tags(tags)

    return _change(ops, case_id, "root_causes", mutate, actor=actor, stores=stores, now=now)


def follow_up(
    ops: OpsStore,
    case_id: int,
    notes: str,
    *,
    at: datetime | None = None,
    actor: str = "system",
    stores: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Case:
    """Record that the customer was contacted (when, and what was said or agreed)."""
    when = at or now or utcnow()

    def mutate(case: Case, _s: Session) -> None:
        if case.status == "closed":
            raise CaseError(f"case {case_id} is closed")
        case.follow_up_at, case.follow_up_notes = when, notes.strip() or None

    return _change(ops, case_id, "follow_up", mutate, actor=actor, stores=stores, now=now)


def add_note(
    ops: OpsStore,
    case_id: int,
    text: str,
    *,
    actor: str = "system",
    stores: Sequence[str] | None = None,
    now: datetime | None = None,
) -> CaseNote:
    """Add a note to a case."""
    body = text.strip()
    if not body:
        raise CaseError("a note needs some text")
    note = CaseNote(case_id=case_id, author=actor, text=body[:20_000], created_at=now or utcnow())

    def mutate(case: Case, s: Session) -> None:
        s.add(note)

    _change(ops, case_id, "note", mutate, actor=actor, stores=stores, now=now)
    return note


@dataclass
class Escalation:
    """One escalated case: its new level and owner, and any notification errors."""

    case_id: int
    level: int
    owner: str
    errors: list[str]


def escalate_overdue(
    ops: OpsStore, routing: Routing, now: datetime | None = None, *, base_url: str = "http://127.0.0.1:8000"
) -> list[Escalation]:
    """Escalate every active case past its SLA (idempotent for a given ``now``): level + 1,
    reassign to the escalation owner, restart the SLA from ``now``, notify the new owner."""
    now = now or utcnow()
    with ops.sessions() as s:
        due = list(
            s.scalars(
                select(Case.case_id)
                .where(Case.status.in_(ACTIVE), Case.sla_due_at.is_not(None), Case.sla_due_at <= now)
                .order_by(Case.case_id)
            )
        )
    done = []
    for case_id in due:
        with ops.session() as s:
            case = s.get(Case, case_id, with_for_update=True)
            if case is None or case.status not in ACTIVE or case.sla_due_at is None or case.sla_due_at > now:
                continue  # another sweep got there first
            before = _snapshot(case)
            level = (case.escalation_level or 0) + 1
            contact = routing.escalation_for(level, case.store_id, case.region, case.touchpoint)
            case.escalation_level, case.escalated_at, case.assignee = level, now, contact.owner
            case.sla_due_at = sla_due(routing, case.priority, now)
            case.updated_at = now
            old, new = _diff(before, _snapshot(case))
            ops.audit(s, "escalate", "case", str(case_id), actor="sla-sweep", before=old, after=new)
            title, priority = case.title, case.priority
        link = f"{base_url.rstrip('/')}/app/cases/{case_id}"
        payload = {"type": "case.escalated", "case_id": case_id, "level": level, "owner": contact.owner}
        payload["priority"] = priority
        errors = notify(
            contact, f"[cxlens] Escalated case #{case_id} (level {level}): {title}", link, payload
        )
        done.append(Escalation(case_id, level, contact.owner, errors))
    return done


def case_dict(case: Case) -> dict[str, Any]:
    """A case as plain JSON-ready values (for the API and the CLI)."""
    out: dict[str, Any] = {}
    for col in Case.__table__.columns:
        value = getattr(case, col.name)
        out[col.name] = value.isoformat(timespec="seconds") if isinstance(value, datetime) else value
    return out
