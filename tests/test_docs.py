"""Docs that fail the build when stale: data model, settings and CLI commands are documented."""

from __future__ import annotations

from pathlib import Path

from cxlens.cli.main import app
from cxlens.config import Settings
from cxlens.model.docs import render_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_data_model_doc_is_generated_from_the_schema() -> None:
    doc = (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), "regenerate: python -m cxlens.model.docs > docs/data-model.md"


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`CXLENS_{name.upper()}`" in readme, name


def test_every_top_level_command_is_in_the_readme_or_architecture() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8") + (ROOT / "docs" / "ARCHITECTURE.md").read_text(
        encoding="utf-8"
    )
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    names += [g.name or "" for g in app.registered_groups]
    for name in names:
        assert f"cxlens {name}" in text, name
