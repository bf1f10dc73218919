"""Journey-event triggers: due events invite customers by e-mail (a real local SMTP server) or
webhook, with frequency caps, quiet hours, idempotency per event, and retries after failures."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import Inbox, free_port
from cxlens.collect.responses import Collector, Context
from cxlens.collect.surveys import template
from cxlens.collect.triggers import Trigger, load_triggers, parse_duration, run_triggers
from cxlens.ops import Invitation, OpsStore, utcnow
from cxlens.storage.workspace import Workspace
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

NOW = datetime(2026, 11, 20, 12, 0)


@pytest.fixture
def setup(workspace: Workspace, tmp_path: Path) -> Iterator[tuple[Workspace, Collector]]:
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4", "C5", "C6", "C7"],
            "email": ["c1@x.test", "c2@x.test", "c3@x.test", None, "c5@x.test", "c6@x.test", "c7@x.test"],
            "language": ["pt", "en", "en", "en", "ja", "en", "en"],
        }
    )
    workspace.ingest("customers", customers)
    events = pd.DataFrame(
        {
            "event_id": ["d1", "d2", "d3", "d4", "d5a", "d5b", "d6", "s7"],
            "customer_id": ["C1", "C2", "C3", "C4", "C5", "C5", "C6", "C7"],
            "occurred_at": pd.to_datetime(
                [
                    "2026-11-18 10:00",
                    "2026-11-19 10:00",
                    "2026-11-01 10:00",
                    "2026-11-17 10:00",
                    "2026-11-17 10:00",
                    "2026-11-18 09:00",
                    "2026-11-17 10:00",
                    "2026-11-20 11:00",
                ]
            ),
            "channel": ["courier"] * 7 + ["call"],
            "event_type": ["delivered"] * 7 + ["support_call"],
        }
    )
    workspace.ingest("events", events)
    ops = OpsStore(data_dir=tmp_path)
    col = Collector(ops, workspace.journey_map)
    col.save_survey(template("post_delivery"))
    col.save_survey(template("post_support"))
    yield workspace, col
    ops.close()


DELIVERY = Trigger.model_validate(
    {
        "id": "after_delivery",
        "survey_id": "post_delivery",
        "event_types": ["delivered"],
        "delay": "2d",
        "window": "7d",
        "cap_days": 30,
        "quiet_hours": "21-8",
        "timezone": "UTC",
    }
)


def test_durations_and_trigger_file(tmp_path: Path) -> None:
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration(3600) == timedelta(hours=1)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("two days")
    path = tmp_path / "t.yaml"
    path.write_text("triggers:\n  - {id: a, survey_id: s, event_types: [delivered], send_via: webhook}\n")
    with pytest.raises(ValueError, match=r"triggers\.0: .*webhook_url"):
        load_triggers(path)
    path.write_text("triggers:\n  - {id: a, survey_id: s, event_types: [delivered], delay: 6h}\n")
    assert load_triggers(path)[0].delay == timedelta(hours=6)


def test_quiet_hours_in_the_local_time_zone() -> None:
    tokyo = DELIVERY.model_copy(update={"timezone": "Asia/Tokyo"})
    assert DELIVERY.send_time(NOW) == NOW
    assert DELIVERY.send_time(datetime(2026, 11, 20, 23, 0)) == datetime(2026, 11, 21, 8, 0)
    assert DELIVERY.send_time(datetime(2026, 11, 21, 3, 0)) == datetime(2026, 11, 21, 8, 0)
    # 12:00 UTC is 21:00 in Tokyo: held until 08:00 Tokyo = 23:00 UTC
    assert tokyo.send_time(NOW) == datetime(2026, 11, 20, 23, 0)


def test_due_deliveries_invite_by_email_with_caps(setup: tuple[Workspace, Collector], smtp: Inbox) -> None:
    ws, col = setup
    col.invite("post_delivery", Context(customer_id="C6"), now=NOW - timedelta(days=10))  # recently surveyed
    report = run_triggers(col, ws, [DELIVERY], "https://cx.example", NOW)
    # C1 and C5 (once, though two deliveries) are due; C2 too recent, C3 too old, C4 no e-mail, C6 capped
    assert (report.invited, report.sent, report.no_contact, report.capped) == (2, 2, 1, 2)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["c1@x.test", "c5@x.test"]
    mails = {
        m.rcpt_tos[0]: email.message_from_bytes(m.content, policy=email.policy.default) for m in smtp.messages
    }
    assert mails["c1@x.test"]["Subject"] == "Como correu a entrega?"  # the customer's language
    assert mails["c5@x.test"]["Subject"] == "配送はいかがでしたか？"
    text = mails["c1@x.test"].get_body(("plain",)).get_content()
    token = text.split("https://cx.example/t/")[1].split()[0]
    inv = col.invitation(token)
    assert (inv.customer_id, inv.language, inv.event_id, inv.survey_id) == ("C1", "pt", "d1", "post_delivery")
    again = run_triggers(col, ws, [DELIVERY], "https://cx.example", NOW + timedelta(hours=1))
    assert (again.invited, again.sent) == (0, 0)
    assert len(smtp.messages) == 2


def test_quiet_hours_hold_the_email_until_morning(setup: tuple[Workspace, Collector], smtp: Inbox) -> None:
    ws, col = setup
    night = datetime(2026, 11, 20, 22, 30)
    report = run_triggers(col, ws, [DELIVERY], "https://cx.example", night)
    assert (report.invited, report.sent, report.deferred) == (3, 0, 3)  # C2 is due by now as well
    assert smtp.messages == []
    morning = run_triggers(col, ws, [DELIVERY], "https://cx.example", datetime(2026, 11, 21, 8, 5))
    assert (morning.invited, morning.sent) == (0, 3)


def test_support_contact_invites_by_webhook(
    setup: tuple[Workspace, Collector], webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    ws, col = setup
    url, received = webhook
    support = Trigger(
        id="after_support",
        survey_id="post_support",
        event_types=("support_call",),
        send_via="webhook",
        webhook_url=url,
        quiet_hours=None,
    )
    report = run_triggers(col, ws, [support], "https://cx.example", NOW)
    assert (report.invited, report.sent) == (1, 1)
    assert received[0]["customer_id"] == "C7"
    assert received[0]["url"] == f"https://cx.example/t/{received[0]['token']}"
    assert received[0]["survey_id"] == "post_support"


def test_failed_sends_are_recorded_and_retried(
    setup: tuple[Workspace, Collector], monkeypatch: pytest.MonkeyPatch, smtp: Inbox
) -> None:
    ws, col = setup
    monkeypatch.setenv("CXLENS_SMTP_PORT", str(free_port()))  # nothing listens there
    report = run_triggers(col, ws, [DELIVERY], "https://cx.example", NOW)
    assert (report.invited, report.sent, report.failed) == (3, 0, 3)
    assert col.ops.count(Invitation, Invitation.send_error.is_not(None)) == 3
    monkeypatch.setenv("CXLENS_SMTP_PORT", str(smtp.port))
    retry = run_triggers(col, ws, [DELIVERY], "https://cx.example", NOW + timedelta(minutes=5))
    assert (retry.invited, retry.sent) == (0, 3)


def test_the_server_runs_triggers_on_its_exporter_thread(
    setup: tuple[Workspace, Collector], webhook: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    ws, col = setup
    url, received = webhook
    recent = pd.Timestamp(utcnow()) - pd.Timedelta(hours=1)
    ws.ingest(
        "events",
        pd.DataFrame(
            {
                "event_id": ["s-now"],
                "customer_id": ["C1"],
                "occurred_at": [recent],
                "channel": ["chat"],
                "event_type": ["support_chat"],
            }
        ),
    )
    path = tmp_path / "triggers.yaml"
    path.write_text(
        "triggers:\n"
        f"  - {{id: support, survey_id: post_support, event_types: [support_chat], send_via: webhook,\n"
        f"     webhook_url: '{url}', quiet_hours: null}}\n"
    )
    settings = WebSettings(
        triggers_file=path, triggers_every=60, export_interval=0.05, public_url="https://cx.example"
    )
    with TestClient(create_app(settings, ws, ops=col.ops)):
        deadline = time.monotonic() + 10
        while not received:
            assert time.monotonic() < deadline, "the server did not run the trigger"
            time.sleep(0.05)
    assert [r["customer_id"] for r in received] == ["C1"]
    assert received[0]["url"].startswith("https://cx.example/t/")
