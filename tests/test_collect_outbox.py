"""The exporter never blocks: rows that cannot be stored are held with a reason while the rest
reach the analytics store; unforeseen row failures are isolated by splitting the batch; store
failures hold nothing; unknown store ids wait for the stores table; the lag is measured, alerted
and served by /healthz; ``cxlens collect sync`` never ends in a traceback."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cxlens.cli.main import app as cli
from cxlens.collect import outbox
from cxlens.collect.surveys import template
from cxlens.ops import InboxEvent, OpsStore, Response, SurveyRecord, utcnow
from cxlens.ops.act_models import Alert
from cxlens.storage.workspace import Workspace
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings


def _survey(ops: OpsStore) -> None:
    from cxlens.collect.surveys import to_json

    with ops.session() as s:
        s.add(SurveyRecord(survey_id="in_store", version=1, definition=to_json(template("in_store"))))


def _response(ops: OpsStore, rid: str, answers: dict[str, Any], store: str | None = "S1", **kw: Any) -> None:
    now = utcnow()
    with ops.session() as s:
        s.add(
            Response(
                response_id=rid,
                survey_id="in_store",
                status="complete",
                answers=answers,
                store_id=store,
                started_at=now,
                updated_at=now,
                submitted_at=kw.get("submitted_at", now),
            )
        )


def _event(ops: OpsStore, eid: str, **fields: Any) -> None:
    payload = {
        "event_id": eid,
        "occurred_at": "2026-01-01 10:00:00",
        "anonymous_id": "a1",
        "channel": "web",
        "touchpoint": "product_page",
        "event_type": "page_view",
        **fields,
    }
    with ops.session() as s:
        s.add(InboxEvent(event_id=eid, payload=payload, received_at=utcnow()))


def _held(ops: OpsStore) -> dict[str, str | None]:
    with ops.sessions() as s:
        rows = [
            (r.response_id, r.export_hold) for r in s.query(Response).filter(Response.export_hold.isnot(None))
        ]
        rows += [
            (e.event_id, e.export_hold)
            for e in s.query(InboxEvent).filter(InboxEvent.export_hold.isnot(None))
        ]
    return dict(rows)


def test_a_lone_surrogate_or_nul_is_held_and_the_rest_still_flows(
    workspace: Workspace, ops: OpsStore
) -> None:
    """Rows stored before the door checks existed (or by another writer) cannot stop the export."""
    _survey(ops)
    _response(ops, "good", {"nps": 9, "comment": "fine"})
    _response(ops, "surrogate", {"nps": 3, "comment": "bad \ud800 text"})
    _event(ops, "ev-good")
    _event(ops, "ev-bad", properties={"note": "x\ud800"})
    done = outbox.export_all(ops, workspace)
    assert (done.feedback, done.events, done.held) == (1, 1, 2)
    assert workspace.con.execute("SELECT feedback_id FROM feedback").fetchall() == [("survey-good",)]
    assert workspace.con.execute("SELECT event_id FROM events").fetchall() == [("ev-good",)]
    assert _held(ops) == {"surrogate": "invalid", "ev-bad": "invalid"}
    again = outbox.export_all(ops, workspace)  # held rows are not tried again every second
    assert (again.feedback, again.events, again.held) == (0, 0, 0)
    _response(ops, "later", {"nps": 10})
    assert outbox.export_all(ops, workspace).feedback == 1


def test_clean_payloads_are_parsed_in_one_go_and_arrive_whole(
    workspace: Workspace, ops: OpsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Payloads as the door stores them skip the row-by-row checks; every value arrives, and the
    marking of many ids in several statements misses none."""
    _event(ops, "ev-1", properties=json.dumps({"page": "/caf\u00e9", "n": 2}), value=12.5, store_id="S1")
    _event(ops, "ev-2", customer_id="c-\u00e9", value=3)
    for i in range(5):
        _event(ops, f"ev-more-{i}")
    slow: list[int] = []
    real = outbox._check_payloads
    monkeypatch.setattr(outbox, "_check_payloads", lambda *a: slow.append(1) or real(*a))
    monkeypatch.setattr(outbox, "MARK_CHUNK", 2)
    done = outbox.export_all(ops, workspace)
    assert (done.events, done.held, slow) == (7, 0, [])
    rows = workspace.con.execute(
        "SELECT event_id, customer_id, store_id, value, properties, occurred_at FROM events "
        "WHERE event_id IN ('ev-1', 'ev-2') ORDER BY 1"
    ).fetchall()
    assert [r[:4] for r in rows] == [("ev-1", None, "S1", 12.5), ("ev-2", "c-\u00e9", None, 3.0)]
    assert json.loads(rows[0][4]) == {"page": "/caf\u00e9", "n": 2}
    assert str(rows[0][5]) == "2026-01-01 10:00:00"
    assert ops.count(InboxEvent, InboxEvent.exported_at.is_(None)) == 0


def test_a_suspect_payload_sends_its_batch_the_slow_way_and_only_it_is_held(
    workspace: Workspace, ops: OpsStore
) -> None:
    _event(ops, "ev-nul", customer_id="x\x00y")
    _event(ops, "ev-escaped", customer_id="back\\u0000slash")  # a backslash, then "u0000": fine
    _event(ops, "ev-extra", note="x")  # a field the door does not store: parsed alone, dropped
    done = outbox.export_all(ops, workspace)
    assert (done.events, done.held) == (2, 1)
    assert _held(ops) == {"ev-nul": "invalid"}
    got = dict(
        workspace.con.execute("SELECT event_id, coalesce(customer_id, anonymous_id) FROM events").fetchall()
    )
    assert got == {"ev-escaped": "back\\u0000slash", "ev-extra": "a1"}


def test_an_unforeseen_row_failure_is_isolated_by_splitting(
    workspace: Workspace, ops: OpsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _survey(ops)
    for i in range(9):
        _response(ops, f"r{i}", {"nps": i})
    real = workspace.ingest

    def picky(table: str, frame: pd.DataFrame, **kw: Any) -> Any:
        if "survey-r5" in set(frame["feedback_id"]):
            raise ValueError("a row the checks did not foresee")
        return real(table, frame, **kw)

    monkeypatch.setattr(workspace, "ingest", picky)
    done = outbox.export_all(ops, workspace)
    assert (done.feedback, done.held) == (8, 1)
    assert _held(ops) == {"r5": "invalid"}
    assert workspace.con.execute("SELECT count(*) FROM feedback").fetchall() == [(8,)]
    with ops.sessions() as s:
        assert "ValueError: a row the checks did not foresee" in s.get(Response, "r5").export_error


def test_a_failing_store_holds_nothing_and_keeps_rows_waiting(
    workspace: Workspace, ops: OpsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _survey(ops)
    _response(ops, "r1", {"nps": 9})

    def full_disk(*_a: Any, **_k: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(workspace, "ingest", full_disk)
    exporter = outbox.Exporter(ops, workspace)
    assert exporter.flush().feedback == 0
    assert exporter.failures == 1
    assert "No space left" in (exporter.last_error or "")
    assert _held(ops) == {}
    assert ops.count(Response, Response.exported_at.is_(None)) == 1
    monkeypatch.undo()
    assert exporter.flush().feedback == 1
    assert (exporter.failures, exporter.last_error) == (0, None)


def test_unknown_stores_wait_for_the_stores_table(workspace: Workspace, ops: OpsStore) -> None:
    workspace.ingest("stores", pd.DataFrame({"store_id": ["S1"], "name": ["One"]}))
    _survey(ops)
    _response(ops, "known", {"nps": 9}, store="S1")
    _response(ops, "invented", {"nps": 0}, store="<a href=x>FAKE</a>")
    _event(ops, "ev-invented", store_id="S404")
    _event(ops, "ev-no-store")  # no store id: nothing to check, exported
    _event(ops, "ev-known", store_id="S1")
    known = outbox.KnownStores()
    done = outbox.export_all(ops, workspace, known)
    assert (done.feedback, done.events, done.held) == (1, 2, 2)
    assert _held(ops) == {"invented": "unknown_store", "ev-invented": "unknown_store"}
    assert workspace.con.execute("SELECT DISTINCT store_id FROM feedback").fetchall() == [("S1",)]
    workspace.ingest("stores", pd.DataFrame({"store_id": ["S404"], "name": ["New store"]}))
    done = outbox.export_all(ops, workspace, known)  # the stores table changed: tried again
    assert (done.events, done.held) == (1, 1)
    assert _held(ops) == {"invented": "unknown_store"}


def test_lag_is_measured_alerted_once_an_hour_and_served_by_healthz(
    workspace: Workspace, ops: OpsStore
) -> None:
    _survey(ops)
    _response(ops, "old", {"nps": 9}, submitted_at=utcnow() - timedelta(minutes=3))
    lag = outbox.export_lag(ops)
    assert lag.responses_waiting == 1
    assert lag.oldest_seconds > 170
    assert lag.late
    assert outbox.lag_alert(ops, lag) is True
    assert outbox.lag_alert(ops, lag) is False
    assert ops.count(Alert, Alert.rule_id == "export_lag") == 1
    app = create_app(WebSettings(warm_cache=False), workspace, ops=ops, export=False)
    with TestClient(app) as client:
        late = client.get("/healthz")
        assert late.status_code == 503
        assert late.json()["status"] == "late"
        assert late.json()["export"]["responses_waiting"] == 1
        outbox.export_all(ops, workspace)
        ok = client.get("/healthz")
        assert ok.status_code == 200
        assert ok.json()["status"] == "ok"


def test_collect_sync_reports_held_rows_and_never_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    ops = OpsStore(data_dir=data)
    _survey(ops)
    _response(ops, "good", {"nps": 9})
    _response(ops, "bad", {"nps": 1, "comment": "\ud800"})
    ops.close()
    run = CliRunner()
    synced = run.invoke(cli, ["--data-dir", str(data), "collect", "sync"])
    assert synced.exit_code == 0, synced.output
    assert "exported 1 responses" in synced.output
    assert "1 held back" in synced.output
    status = run.invoke(cli, ["--data-dir", str(data), "collect", "status"])
    assert "responses bad: invalid: answers.comment: invalid Unicode" in status.output
    released = run.invoke(cli, ["--data-dir", str(data), "collect", "retry"])
    assert "released 1 held rows" in released.output

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("the analytics store broke")

    monkeypatch.setattr(outbox, "export_feedback", broken)
    failed = run.invoke(cli, ["--data-dir", str(data), "collect", "sync"])
    assert failed.exit_code == 1
    assert (
        "export failed, nothing was marked exported (RuntimeError: the analytics store broke)"
        in failed.output
    )
    assert "Traceback" not in failed.output
