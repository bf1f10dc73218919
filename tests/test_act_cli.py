"""``cxlens act``: alerts run/list, the case commands, the SLA sweep, plans and the audit log,
through the real CLI app with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxlens.cli.main import app
from cxlens.storage.workspace import Workspace

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    with Workspace(folder) as ws:
        ws.ingest(
            "stores", pd.DataFrame({"store_id": ["S1", "S2"], "name": ["One", "Two"], "region": ["N", "S"]})
        )
        fb = pd.DataFrame(
            {
                "feedback_id": ["f1", "f2", "f3"],
                "submitted_at": pd.to_datetime(["2026-11-19 10:00", "2026-11-19 11:00", "2026-11-19 12:00"]),
                "source": "survey",
                "store_id": ["S1", "S2", "S2"],
                "touchpoint": "store_visit",
                "nps": pd.array([2, 10, 9], dtype="Int64"),
                "text": ["bad", "I want a refund", "fine"],
            }
        )
        ws.ingest("feedback", fb)
    return folder


def act(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "act", *args])
    return result.exit_code, result.output


def test_alerts_run_and_list(data_dir: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {id: detractor, kind: detractor, open_case: true}\n  - {id: refund, kind: keyword}\n",
        encoding="utf-8",
    )
    routing = tmp_path / "routing.yaml"
    routing.write_text("routes:\n  - {match: {store_id: S1}, owner: alice}\n", encoding="utf-8")
    code, text = act(
        data_dir,
        "alerts",
        "run",
        "--rules",
        str(rules),
        "--routing",
        str(routing),
        "--since",
        "2026-11-01",
        "--no-send",
    )
    assert code == 0, text
    assert "evaluated 3 feedback rows: 2 new alerts, 0 duplicates, 1 cases opened" in text
    code, text = act(data_dir, "alerts", "list", "-o", "json")
    rows = json.loads(text)
    assert {(r["rule_id"], r["store_id"], r["owner"]) for r in rows} == {
        ("detractor", "S1", "alice"),
        ("refund", "S2", "store:S2"),  # no route: the store's team
    }
    code, text = act(data_dir, "cases", "list", "-o", "json")
    [case] = json.loads(text)
    assert (case["assignee"], case["store_id"], case["status"]) == ("alice", "S1", "open")
    refund = next(r["alert_id"] for r in rows if r["rule_id"] == "refund")
    code, text = act(data_dir, "cases", "open", "--alert", str(refund))
    assert code == 0, text
    assert "for store:S2" in text
    code, text = act(data_dir, "cases", "open")
    assert code == 1
    assert "give the case a title" in text


def test_alert_rule_errors_are_clear(data_dir: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: x, kind: detractor, threshold: 42}\n", encoding="utf-8")
    code, text = act(data_dir, "alerts", "run", "--rules", str(rules))
    assert code == 1
    assert f"{rules}:2: rules[0].threshold: must be less than or equal to 10" in " ".join(text.split())


def test_case_commands_and_audit(data_dir: Path) -> None:
    code, text = act(
        data_dir, "cases", "open", "Broken door", "--store", "S2", "--priority", "urgent", "--as", "bob"
    )
    assert code == 0, text
    assert "opened case 1 for store:S2" in text
    assert act(data_dir, "cases", "assign", "1", "carol", "--as", "bob")[0] == 0
    assert act(data_dir, "cases", "status", "1", "in_progress", "--as", "carol")[0] == 0
    assert act(data_dir, "cases", "note", "1", "Locksmith booked", "--as", "carol")[0] == 0
    code, text = act(data_dir, "cases", "status", "1", "resolved")
    assert code == 1
    assert "resolving a case needs a resolution" in text
    code, text = act(
        data_dir,
        "cases",
        "resolve",
        "1",
        "Door repaired",
        "-r",
        "facilities",
        "--follow-up",
        "Told the customer",
        "--as",
        "carol",
    )
    assert code == 0, text
    code, text = act(data_dir, "cases", "show", "1", "-o", "json")
    shown = json.loads(text)
    assert (shown["status"], shown["assignee"], shown["root_causes"]) == ("resolved", "carol", ["facilities"])
    assert shown["follow_up_notes"] == "Told the customer"
    assert shown["notes"][0]["text"] == "Locksmith booked"
    code, text = act(data_dir, "cases", "status", "99", "closed")
    assert code == 1
    assert "no case 99" in text
    code, text = act(data_dir, "audit", "--type", "case", "-o", "json")
    entries = json.loads(text)
    assert [(e["actor"], e["action"]) for e in entries][::-1][:4] == [
        ("bob", "open"),
        ("bob", "assign"),
        ("carol", "status"),
        ("carol", "note"),
    ]
    code, text = act(data_dir, "audit", "--type", "case")
    assert "store:S2 -> carol" in text


def test_escalation_sweep(data_dir: Path, tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text("escalation: [{owner: head}]\nsla_hours: {urgent: 1}\n", encoding="utf-8")
    act(
        data_dir,
        "cases",
        "open",
        "Refund",
        "--store",
        "S1",
        "--priority",
        "urgent",
        "--routing",
        str(routing),
    )
    code, text = act(data_dir, "cases", "escalate", "--routing", str(routing), "--now", "2099-01-01")
    assert code == 0, text
    assert "escalated 1 cases" in text
    assert "case 1 -> level 1, head" in text
    code, text = act(data_dir, "cases", "escalate", "--routing", str(routing), "--now", "2099-01-01")
    assert "escalated 0 cases" in text


def test_plans_add_list_and_errors(data_dir: Path) -> None:
    code, text = act(
        data_dir,
        "plans",
        "add",
        "Staff training",
        "-s",
        "S1,S2",
        "--start",
        "2026-07-01",
        "--touchpoint",
        "store_visit",
        "--metric",
        "CSAT",
    )
    assert code == 0, text
    code, text = act(data_dir, "plans", "list", "-o", "json")
    [plan] = json.loads(text)
    assert (plan["stores"], plan["start_date"], plan["metric"]) == ("S1,S2", "2026-07-01", "csat")
    code, text = act(data_dir, "plans", "add", "Typo", "-s", "S3", "--start", "2026-07-01")
    assert code == 1
    assert "--store S3: no such store in the stores table (2 stores)" in text
    code, text = act(data_dir, "plans", "add", "Typo", "-s", "S1", "-c", "s2", "--start", "2026-07-01")
    assert code == 1
    assert "--control s2: no such store" in text
    assert "did you mean S2?" in text
    code, text = act(data_dir, "plans", "add", "Bad", "-s", "S1", "--start", "soon")
    assert code == 1
    assert "start must be a date" in text
    code, text = act(data_dir, "plans", "measure", "7")
    assert code == 1
    assert "no action plan 7" in text
