"""Redaction where personal data first lands is a workspace setting in the operational store (not
a per-process variable): once set, survey answers, event properties, sent invitations and files
loaded into the workspace keep no raw e-mail, from any process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cxlens.cli.main import app as cli
from cxlens.collect import privacy
from cxlens.collect.responses import Context
from cxlens.collect.sources import create_source
from cxlens.collect.surveys import template
from cxlens.collect.triggers import send_pending
from cxlens.ops import AuditEntry, InboxEvent, Invitation, OpsStore, Response, utcnow
from cxlens.storage.workspace import Workspace
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

MAIL = "jane.doe@example.com"


def test_redaction_is_a_shared_audited_workspace_setting(tmp_path: Path, smtp: Any) -> None:
    data = tmp_path / "data"
    run = CliRunner().invoke(cli, ["--data-dir", str(data), "privacy", "set", "--redact"])
    assert run.exit_code == 0, run.output
    assert "redact personal data where it lands: on" in run.output
    ws = Workspace(data)
    ops = OpsStore(data_dir=data)  # another process's view of the same store
    assert privacy.get_privacy(ops, fresh=True).redact
    with ops.sessions() as s:
        entry = s.query(AuditEntry).filter_by(action="settings", object_type="privacy").one()
    assert entry.actor.startswith("cli")
    app = create_app(WebSettings(warm_cache=False), ws, ops=ops, export=False)
    col = app.state.cx.collector
    col.save_survey(template("post_purchase"))
    key = create_source(ops, "web")
    with TestClient(app, headers={"X-Write-Key": key}) as client:
        r = client.post("/s/post_purchase", data={"q_nps": "3", "lang": "en"}, follow_redirects=False)
        page = r.headers["location"].split("?")[0]
        client.post(page, data={"page": "1", "q_improve": f"write to {MAIL} or call +1 415 555 2671"})
        client.post("/api/v1/surveys/post_purchase/responses", json={"answers": {"nps": 2, "improve": MAIL}})
        event = {
            "event_id": "e1",
            "occurred_at": "2026-01-01T10:00:00Z",
            "anonymous_id": "a",
            "channel": "web",
            "event_type": "page_view",
            "properties": {"form": {"email": MAIL}},
        }
        assert client.post("/api/v1/events", json=[event]).status_code == 202
    with ops.sessions() as s:
        stored = json.dumps([r.answers for r in s.query(Response)]) + json.dumps(
            [e.payload for e in s.query(InboxEvent)]
        )
    assert MAIL not in stored
    assert "write to [EMAIL] or call [PHONE]" in stored
    inv = col.invite("post_purchase", Context(customer_id="C1"), send_via="email", contact=MAIL)
    report = send_pending(col, "http://127.0.0.1:8000", utcnow())
    assert report.sent == 1
    assert len(smtp.messages) == 1  # sent to the address, which is then forgotten
    with ops.sessions() as s:
        assert s.get(Invitation, inv.token).contact is None
    ws.ingest(
        "feedback",
        pd.DataFrame(
            [
                {
                    "feedback_id": "f1",
                    "submitted_at": "2026-01-01",
                    "source": "review",
                    "nps": 3,
                    "text": f"mail {MAIL}",
                }
            ]
        ),
    )
    assert ws.con.execute("SELECT text FROM feedback").fetchall() == [("mail [EMAIL]",)]
    ops.close()
    ws.close()


def test_redaction_is_off_by_default(tmp_path: Path) -> None:
    ops = OpsStore(data_dir=tmp_path)
    try:
        assert privacy.get_privacy(ops, fresh=True) == privacy.Privacy()
        assert privacy.Privacy().text(MAIL) == MAIL
        assert privacy.Privacy(redact=True).json({"a": [MAIL, 1]}) == {"a": ["[EMAIL]", 1]}
    finally:
        ops.close()
