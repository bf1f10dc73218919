"""The operational store on SQLite and on a real PostgreSQL server: tables, one response per
invitation token under concurrent submits, idempotent event intake, partial responses, audit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cxlens.collect.events_api import accept_events
from cxlens.collect.responses import AlreadyAnsweredError, Collector, Context
from cxlens.collect.surveys import template
from cxlens.journey.map import load_journey_map
from cxlens.ops import AuditEntry, InboxEvent, Invitation, OpsStore, Response, default_url


@pytest.fixture
def collector(ops: OpsStore) -> Collector:
    col = Collector(ops, load_journey_map())
    col.save_survey(template("post_purchase"))
    return col


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'cxlens-ops.sqlite'}"
    monkeypatch.setenv("CXLENS_OPS_URL", "postgresql+psycopg://u@h:1/d")
    assert default_url(tmp_path) == "postgresql+psycopg://u@h:1/d"


def test_survey_versions_and_audit(collector: Collector) -> None:
    again = collector.save_survey(template("post_purchase"), actor="tester")
    assert again.version == 2
    assert collector.survey("post_purchase").version == 2
    actions = [a for a in collector.ops.sessions().query(AuditEntry.action, AuditEntry.actor)]
    assert actions == [("survey.create", "system"), ("survey.update", "tester")]


def test_one_response_per_token_under_concurrent_submits(collector: Collector) -> None:
    survey = collector.survey("post_purchase")
    inv = collector.invite("post_purchase", Context(customer_id="C1", store_id="S1"), language="pt")
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        try:
            collector.start(
                survey, Context(customer_id="C1"), {"q_nps": ["9"]}, language="pt", token=inv.token
            )
            outcomes.append("ok")
        except AlreadyAnsweredError:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7
    assert collector.ops.count(Response, Response.token == inv.token) == 1


def test_partial_response_is_saved_then_completed_once(collector: Collector) -> None:
    survey = collector.survey("post_purchase")
    inv = collector.invite("post_purchase", Context(customer_id="C2"))
    step = collector.start(
        survey, Context(customer_id="C2"), {"q_nps": ["3"]}, language="en", token=inv.token
    )
    assert not step.done
    assert step.response_id is not None
    row = collector.response(step.response_id)
    assert (row.status, row.page, row.answers) == ("partial", 1, {"nps": 3})
    assert collector.response_for_token(inv.token) is not None
    collector.invitation(inv.token)  # still open while partial
    bad = collector.submit_page(survey, step.response_id, 1, {"q_mattered": ["nope"]})
    assert bad.errors == {"mattered": "invalid_choice"}
    done = collector.submit_page(survey, step.response_id, 1, {"q_improve": ["Faster tills"]})
    assert done.done
    row = collector.response(step.response_id)
    assert (row.status, row.answers) == ("complete", {"nps": 3, "improve": "Faster tills"})
    with pytest.raises(AlreadyAnsweredError, match="already been answered"):
        collector.invitation(inv.token)
    with pytest.raises(AlreadyAnsweredError):
        collector.submit_page(survey, step.response_id, 1, {"q_improve": ["again"]})
    assert collector.ops.count(Invitation, Invitation.responded_at.is_not(None)) == 1


def _event(i: int) -> dict[str, object]:
    return {
        "event_id": f"e{i}",
        "occurred_at": "2026-11-20T10:00:00Z",
        "anonymous_id": "dev-1",
        "channel": "web",
        "event_type": "page_view",
    }


def test_event_intake_is_idempotent_under_concurrent_batches(ops: OpsStore) -> None:
    journey = load_journey_map()
    batch = [_event(i) for i in range(50)]
    results: list[list[str]] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait()
        results.append([r.status for r in accept_events(ops, journey, batch)])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = sum(r.count("accepted") for r in results)
    assert accepted == 50
    assert sum(r.count("duplicate") for r in results) == 150
    assert ops.count(InboxEvent) == 50


def test_read_then_write_sessions_of_two_stores_on_one_sqlite_file_do_not_lose_updates(
    tmp_path: Path,
) -> None:
    """Two OpsStore objects stand for two server workers sharing one SQLite file: a session that
    reads a value and writes it back incremented must not interleave with the other's."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    stores = [OpsStore(url), OpsStore(url)]
    with stores[0].session() as s:
        s.execute(text("CREATE TABLE counter (n INTEGER)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))

    def bump(store: OpsStore) -> None:
        for _ in range(100):
            with store.session() as s:
                n = s.execute(text("SELECT n FROM counter")).scalar_one()
                s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    threads = [threading.Thread(target=bump, args=(store,)) for store in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with stores[0].session() as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 200
