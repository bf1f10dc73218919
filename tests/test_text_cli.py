"""``cxlens text`` commands: eval on labelled files (CSV/JSONL, gzip), langid, sentiment, redact, analyse."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxlens.cli.common import state
from cxlens.cli.text import text_app
from cxlens.text.sentiment import default_model

runner = CliRunner()

ROWS = [
    ("Love it, great quality and fast delivery", 5),
    ("Excellent, fits perfectly", 4),
    ("It is okay, nothing special", 3),
    ("Terrible, broke after one day", 1),
    ("Awful fabric, returned it", 2),
    ("Horrible customer service and late delivery", 1),
]


def test_eval_prints_per_language_figures_as_json(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    pd.DataFrame(ROWS, columns=["body", "stars"]).to_csv(path, index=False)
    res = runner.invoke(
        text_app,
        [
            "eval",
            str(path),
            "--text-col",
            "body",
            "--label-col",
            "stars",
            "--labels",
            "1-2=negative,3=neutral,4-5=positive",
            "--lang",
            "en",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    figures = {r["language"]: r for r in json.loads(res.output)}
    assert figures["en"]["n"] == 6
    gold = np.array(["positive", "positive", "neutral", "negative", "negative", "negative"])
    pred, _ = default_model().predict([t for t, _ in ROWS], ["en"] * 6)
    assert figures["en"]["accuracy"] == pytest.approx(np.mean(np.array(pred) == gold), abs=1e-4)
    assert figures["all"]["docs_per_s"] > 0


def test_eval_reads_gzipped_jsonl_and_detects_languages(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl.gz"
    rows = [
        {"text": "质量很好，非常满意", "y": 1},
        {"text": "太差了，用了两天就坏了", "y": 0},
        {"text": "Produto excelente, chegou antes do prazo, recomendo", "y": 1},
        {"text": "Péssimo, o produto chegou quebrado e ninguém responde", "y": 0},
    ]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    res = runner.invoke(
        text_app, ["eval", str(path), "--label-col", "y", "--labels", "0=negative,1=positive", "--json"]
    )
    assert res.exit_code == 0, res.output
    figures = {r["language"]: r for r in json.loads(res.output)}
    assert figures["zh"]["n"] == 2
    assert figures["pt"]["n"] == 2


def test_eval_reports_a_bad_label_map_and_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    pd.DataFrame(ROWS, columns=["text", "stars"]).to_csv(path, index=False)
    res = runner.invoke(text_app, ["eval", str(path), "--label-col", "stars", "--labels", "1=awful"])
    assert res.exit_code == 2
    res = runner.invoke(text_app, ["eval", str(path), "--label-col", "nope"])
    assert res.exit_code == 2


def test_langid_sentiment_and_redact_commands() -> None:
    res = runner.invoke(text_app, ["langid", "배송이 늦었어요", "Доставка опоздала", "ok", "-o", "json"])
    assert [r["language"] for r in json.loads(res.output)] == ["ko", "ru", "unknown"]
    res = runner.invoke(text_app, ["sentiment", "Fast delivery but the staff were rude.", "-o", "json"])
    row = json.loads(res.output)[0]
    assert "delivery/speed:" in row["aspects"]
    assert "staff/friendliness:negative" in row["aspects"]
    res = runner.invoke(text_app, ["redact", "mail bob@example.com"])
    assert res.output.strip() == "mail [EMAIL]"


def test_analyse_and_summary_on_an_ingested_store(tmp_path: Path) -> None:
    from cxlens.storage.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    fb = pd.DataFrame(
        {
            "feedback_id": ["f1", "f2", "f3"],
            "submitted_at": ["2025-01-05", "2025-01-06", "2025-02-01"],
            "source": ["review", "survey", "chat"],
            "text": [
                "Delivery was late again.",
                "配送很快",
                "Customer: my refund is still missing, terrible\nAgent: sorry about that",
            ],
        }
    )
    ws.ingest("feedback", fb)
    ws.close()
    state.data_dir = tmp_path / "ws"
    try:
        res = runner.invoke(text_app, ["analyse"])
        assert res.exit_code == 0, res.output
        assert "analysed 3 texts" in res.output
        res = runner.invoke(text_app, ["summary", "-o", "json"])
        rows = {r["aspect"]: r for r in json.loads(res.output)}
        assert rows["delivery"]["mentions"] == 2
        assert rows["returns_after_sales"]["negative"] == 1
    finally:
        state.data_dir = None
