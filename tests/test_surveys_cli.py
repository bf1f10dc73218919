"""``cxlens collect …`` commands, run through Typer's test runner on a collect-only app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from cxlens.cli.collect import collect_app
from cxlens.cli.common import state
from cxlens.storage.workspace import Workspace

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    state.data_dir = tmp_path / "data"
    state.journey_map = None
    yield state.data_dir
    state.data_dir = None


def cli(*args: str) -> str:
    app = typer.Typer()
    app.add_typer(collect_app, name="collect")
    result = runner.invoke(app, ["collect", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_survey_add_list_link_qr_invite(data_dir: Path, tmp_path: Path) -> None:
    out = cli("survey", "add", "--template", "in_store", "--id", "shop")
    assert "survey shop version 1: 4 questions in 1 page(s), locales en, zh, ja, ko, ru, pt" in out
    assert "shop" in cli("survey", "list")
    assert '"type": "nps"' in cli("survey", "show", "shop")
    link = cli("survey", "link", "shop", "--store", "S1", "--touchpoint", "store_visit")
    assert "http://127.0.0.1:8000/s/shop?store=S1&tp=store_visit" in link
    assert "<noscript>" in link
    svg = tmp_path / "poster.svg"
    assert "/k/shop?store=S1" in cli("survey", "qr", "shop", "--store", "S1", "--kiosk", "--out", str(svg))
    assert "<svg" in svg.read_text()
    assert "http://127.0.0.1:8000/t/" in cli("invite", "shop", "--customer", "C1")
    assert "invitations: 1" in cli("status")


def test_errors_are_clear(data_dir: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.add_typer(collect_app, name="collect")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: {en: x}\nquestions: [{id: q, type: stars, text: {en: q}}]\n")
    result = runner.invoke(app, ["collect", "survey", "add", str(bad)])
    assert result.exit_code == 1
    assert "questions.0.type" in result.output
    result = runner.invoke(app, ["collect", "survey", "link", "nope"])
    assert "there is no survey 'nope'" in result.output
    cli("survey", "add", "--template", "in_store")
    result = runner.invoke(app, ["collect", "survey", "link", "in_store", "--touchpoint", "moon"])
    assert result.exit_code == 1
    assert "touchpoint: unknown touchpoint 'moon'" in result.output


def test_sync_and_triggers_run(data_dir: Path, tmp_path: Path) -> None:
    cli("survey", "add", "--template", "post_delivery")
    ws = Workspace(data_dir)
    ws.ingest("customers", pd.DataFrame({"customer_id": ["C1"], "email": [None]}))
    ws.ingest(
        "events",
        pd.DataFrame(
            {
                "event_id": ["d1"],
                "customer_id": ["C1"],
                "occurred_at": [pd.Timestamp("2026-11-18")],
                "channel": ["courier"],
                "event_type": ["delivered"],
            }
        ),
    )
    ws.close()
    triggers = tmp_path / "triggers.yaml"
    triggers.write_text(
        "triggers:\n  - {id: d, survey_id: post_delivery, event_types: [delivered], delay: 2d,\n"
        "     quiet_hours: null}\n"
    )
    out = cli("triggers", "run", str(triggers), "--now", "2026-11-20T12:00:00")
    assert "invited 0, capped 0, no contact 1" in out
    assert "exported 0 responses and 0 events" in cli("sync")


def test_every_collect_setting_and_command_is_documented() -> None:
    from cxlens.web.settings import WebSettings

    doc = (Path(__file__).resolve().parents[1] / "docs" / "collect.md").read_text(encoding="utf-8")
    for name in WebSettings.model_fields:
        assert f"CXLENS_{name.upper()}" in doc, name
    commands = [f"cxlens collect {c.name}" for c in collect_app.registered_commands]
    for group in collect_app.registered_groups:
        assert group.typer_instance is not None
        commands += [
            f"cxlens collect {group.name} {c.name}" for c in group.typer_instance.registered_commands
        ]
    for command in commands:
        assert command in doc, command
