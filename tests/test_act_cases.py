"""Cases: lifecycle with clear errors for invalid transitions, notes, root causes, follow-up, SLA
escalation with an injected clock (idempotent sweeps, notification to a local webhook), store
scoping, and audit entries with before/after values; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cxlens.act import cases as cs
from cxlens.act.routing import Routing
from cxlens.ops import AuditEntry, OpsStore

T0 = datetime(2026, 11, 20, 9, 0)


def _audit(ops: OpsStore, case_id: int) -> list[AuditEntry]:
    with ops.sessions() as s:
        query = select(AuditEntry).where(
            AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id)
        )
        return list(s.scalars(query.order_by(AuditEntry.id)))


def test_lifecycle_with_notes_root_causes_follow_up_and_audit(ops: OpsStore) -> None:
    routing = Routing.model_validate({"routes": [{"match": {"store_id": "S1"}, "owner": "alice"}]})
    case = cs.open_case(
        ops, "Rude staff", store_id="S1", priority="high", routing=routing, actor="bob", now=T0
    )
    assert case.assignee == "alice"
    assert case.sla_due_at == T0 + timedelta(hours=24)
    cs.assign(ops, case.case_id, "carol", actor="alice", now=T0)
    cs.set_status(ops, case.case_id, "in_progress", actor="carol", now=T0)
    cs.add_note(ops, case.case_id, "Called the store manager", actor="carol", now=T0)
    cs.follow_up(ops, case.case_id, "Apologised; voucher sent", actor="carol", now=T0 + timedelta(hours=2))
    cs.resolve(
        ops, case.case_id, "Coaching session held", root_causes=["Staff ", "training", "staff"], actor="carol"
    )
    cs.set_status(ops, case.case_id, "closed", actor="alice")
    final = cs.get_case(ops, case.case_id)
    assert final.status == "closed"
    assert final.root_causes == ["staff", "training"]
    assert final.resolution == "Coaching session held"
    assert final.follow_up_at == T0 + timedelta(hours=2)
    assert [n.text for n in cs.case_notes(ops, case.case_id)] == ["Called the store manager"]
    entries = _audit(ops, case.case_id)
    assert [(e.actor, e.action) for e in entries] == [
        ("bob", "open"),
        ("alice", "assign"),
        ("carol", "status"),
        ("carol", "note"),
        ("carol", "follow_up"),
        ("carol", "resolve"),
        ("alice", "status"),
    ]
    assign = entries[1].detail
    assert assign["before"] == {"assignee": "alice"}
    assert assign["after"] == {"assignee": "carol"}
    assert entries[-1].detail == {"before": {"status": "resolved"}, "after": {"status": "closed"}}


def test_invalid_transitions_are_refused_clearly(ops: OpsStore) -> None:
    case = cs.open_case(ops, "Broken card reader", store_id="S1", now=T0)
    with pytest.raises(cs.CaseError, match="resolving a case needs a resolution"):
        cs.set_status(ops, case.case_id, "resolved")
    with pytest.raises(cs.CaseError, match="unknown status 'done'"):
        cs.set_status(ops, case.case_id, "done")
    with pytest.raises(cs.CaseError, match="a resolution needs some text"):
        cs.resolve(ops, case.case_id, "  ")
    cs.set_status(ops, case.case_id, "closed")
    with pytest.raises(cs.CaseError, match="cannot go from closed to open; allowed: none"):
        cs.set_status(ops, case.case_id, "open")
    with pytest.raises(cs.CaseNotFoundError, match="no case 999"):
        cs.assign(ops, 999, "x")
    with pytest.raises(cs.CaseError, match="unknown priority"):
        cs.open_case(ops, "x", priority="asap")
    assert cs.get_case(ops, case.case_id).status == "closed"
    assert len(_audit(ops, case.case_id)) == 2  # open and close; refused changes leave no trace


def test_store_scope_is_enforced(ops: OpsStore) -> None:
    mine = cs.open_case(ops, "Mine", store_id="S1", now=T0)
    theirs = cs.open_case(ops, "Theirs", store_id="S2", now=T0)
    cs.open_case(ops, "No store", now=T0)
    assert [c.case_id for c in cs.list_cases(ops, stores=["S1"])] == [mine.case_id]
    assert len(cs.list_cases(ops)) == 3
    with pytest.raises(cs.CaseAccessError):
        cs.get_case(ops, theirs.case_id, stores=["S1"])
    with pytest.raises(cs.CaseAccessError):
        cs.add_note(ops, theirs.case_id, "sneaky", stores=["S1"])
    assert cs.case_notes(ops, theirs.case_id) == []


def test_sla_breach_escalates_once_per_breach(
    ops: OpsStore, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    routing = Routing.model_validate(
        {
            "sla_hours": {"urgent": 2},
            "escalation": [{"owner": "head-of-cx"}],
            "routes": [
                {
                    "match": {"region": "North"},
                    "owner": "alice",
                    "escalation": [{"owner": "north-lead", "webhook": url}, {"owner": "coo", "webhook": url}],
                }
            ],
        }
    )
    north = cs.open_case(
        ops, "Refund request", store_id="S1", region="North", priority="urgent", routing=routing, now=T0
    )
    south = cs.open_case(
        ops, "Cold coffee", store_id="S3", region="South", priority="low", routing=routing, now=T0
    )
    done = cs.open_case(
        ops, "Done", store_id="S1", region="North", priority="urgent", routing=routing, now=T0
    )
    cs.resolve(ops, done.case_id, "fixed", now=T0)

    assert cs.escalate_overdue(ops, routing, T0 + timedelta(hours=1)) == []  # not yet due
    first = cs.escalate_overdue(ops, routing, T0 + timedelta(hours=3))
    assert [(e.case_id, e.level, e.owner, e.errors) for e in first] == [(north.case_id, 1, "north-lead", [])]
    assert cs.escalate_overdue(ops, routing, T0 + timedelta(hours=3)) == []  # idempotent
    assert cs.escalate_overdue(ops, routing, T0 + timedelta(hours=4)) == []  # fresh SLA from the escalation
    case = cs.get_case(ops, north.case_id)
    assert (case.escalation_level, case.assignee) == (1, "north-lead")
    assert case.escalated_at == T0 + timedelta(hours=3)
    assert case.sla_due_at == T0 + timedelta(hours=5)
    [hook] = received
    assert (hook["type"], hook["case_id"], hook["level"], hook["owner"]) == (
        "case.escalated",
        north.case_id,
        1,
        "north-lead",
    )

    second = cs.escalate_overdue(ops, routing, T0 + timedelta(hours=5))  # breached again -> next level
    assert [(e.level, e.owner) for e in second] == [(2, "coo")]
    late = cs.escalate_overdue(ops, routing, T0 + timedelta(days=8))
    assert {(e.case_id, e.level, e.owner) for e in late} == {
        (north.case_id, 3, "coo"),
        (south.case_id, 1, "head-of-cx"),
    }
    entries = [e for e in _audit(ops, north.case_id) if e.action == "escalate"]
    assert [e.actor for e in entries] == ["sla-sweep"] * 3
    assert entries[0].detail["before"]["assignee"] == "alice"
    assert entries[0].detail["after"]["escalation_level"] == 1


def test_case_from_alert_is_opened_once(ops: OpsStore) -> None:
    from cxlens.ops.act_models import Alert

    with ops.session() as s:
        alert = Alert(
            rule_id="detractor",
            kind="detractor",
            subject="feedback_id=f1",
            feedback_id="f1",
            store_id="S1",
            owner="alice",
            priority="high",
            title="Detractor: NPS 2",
            detail={"customer_id": "C1"},
            dedup_key="k1",
        )
        s.add(alert)
        s.flush()
        alert_id = alert.alert_id
    case = cs.open_from_alert(ops, alert_id, now=T0)
    again = cs.open_from_alert(ops, alert_id, now=T0)
    assert again.case_id == case.case_id
    assert (case.title, case.assignee, case.customer_id, case.priority) == (
        "Detractor: NPS 2",
        "alice",
        "C1",
        "high",
    )
    with ops.sessions() as s:
        assert s.get(Alert, alert_id).case_id == case.case_id  # type: ignore[union-attr]


def test_reopening_restarts_the_sla_and_clears_the_resolution(ops: OpsStore) -> None:
    routing = Routing.model_validate({"sla_hours": {"high": 4}})
    case = cs.open_case(ops, "Wrong size", store_id="S1", priority="high", routing=routing, now=T0)
    cs.resolve(ops, case.case_id, "exchanged", now=T0 + timedelta(hours=1))
    later = T0 + timedelta(days=10)
    reopened = cs.set_status(ops, case.case_id, "in_progress", routing=routing, now=later)
    assert reopened.sla_due_at == later + timedelta(hours=4)
    assert (reopened.resolution, reopened.resolved_at) == (None, None)
    assert cs.escalate_overdue(ops, routing, later + timedelta(minutes=1)) == []
    with pytest.raises(cs.CaseError, match="needs a resolution"):
        cs.set_status(ops, case.case_id, "resolved")


def test_sla_hours_must_be_positive() -> None:
    with pytest.raises(ValueError, match="more than 0"):
        Routing.model_validate({"sla_hours": {"urgent": 0}})
