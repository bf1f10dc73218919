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
    figures = {r["language"]: r for r in json.loads(res.stdout)}
    assert figures["en"]["n"] == 6
    assert "scored all 6 labelled rows" in res.stderr
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
    figures = {r["language"]: r for r in json.loads(res.stdout)}
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


def test_eval_scores_only_the_held_out_fold_of_a_training_file(tmp_path: Path) -> None:
    from cxlens.text.datasets import TEST_FOLD, file_digest, fold_of, read_labelled

    path = tmp_path / "train.csv"
    texts = [f"review number {i} was {'great' if i % 2 else 'awful'}" for i in range(60)]
    pd.DataFrame({"text": texts, "y": [i % 2 for i in range(60)]}).to_csv(path, index=False)
    held = int((fold_of(pd.Series(texts)) == TEST_FOLD).sum())
    assert 0 < held < 60
    known = {"some/train.csv": file_digest(path)}
    data, said = read_labelled([path], "text", "y", "0=negative,1=positive", training_files=known)
    assert len(data) == held
    assert "held-out fold" in said[0]
    assert "some/train.csv" in said[0]
    data, said = read_labelled([path], "text", "y", "0=negative,1=positive", training_files={})
    assert len(data) == 60
    assert "all 60" in said[0]
    data, _ = read_labelled([path], "text", "y", "0=negative,1=positive", split="all", training_files=known)
    assert len(data) == 60


def test_eval_help_explains_the_figures() -> None:
    res = runner.invoke(text_app, ["eval", "--help"])
    for word in ("accuracy", "macro_f1", "polar_accuracy", "binary_f1", "neutral answer counts as wrong"):
        assert word in " ".join(res.output.split()), word


def test_sentiment_scores_a_file_column_to_csv_and_json(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    pd.DataFrame(
        {"id": ["a", "b", "c"], "body": ["Fast delivery but the staff were rude.", "=1+1", "配送很快"]}
    ).to_csv(path, index=False)
    res = runner.invoke(text_app, ["sentiment", "--file", str(path), "--text-col", "body", "--keep", "id"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stdout.splitlines() if line]
    assert lines[0] == "id,row,language,sentiment,score,aspects"
    assert lines[1].startswith("a,1,en,")
    assert "staff/friendliness:negative" in lines[1]
    assert lines[3].startswith("c,3,zh,")
    res = runner.invoke(
        text_app, ["sentiment", "--file", str(path), "--text-col", "body", "-o", "json", "--batch-size", "2"]
    )
    rows = json.loads(res.stdout)
    assert [r["row"] for r in rows] == [1, 2, 3]
    res = runner.invoke(text_app, ["sentiment", "--file", str(path), "--text-col", "nope"])
    assert res.exit_code == 2
    assert "nope" in res.output


def test_sentiment_reads_stdin_and_honours_a_language_column() -> None:
    data = "text,language\nótimo,pt\nok,\n"
    res = runner.invoke(text_app, ["sentiment", "--file", "-", "-o", "jsonl"], input=data)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert [r["language"] for r in rows] == ["pt", "unknown"]


def test_contacts_from_social_posts_without_a_store(tmp_path: Path) -> None:
    path = tmp_path / "tweets.csv"
    pd.DataFrame(
        {
            "text": [
                "@ShopHelp my delivery is late again &amp; nobody answers",
                "@ShopHelp @12345 where is my refund???",
                "@OtherCo the app keeps crashing https://t.co/x",
                "@ShopHelp we are sorry, please DM us",
            ],
            "inbound": ["True", "True", "True", "False"],
            "created_at": ["Wed Oct 04 13:59:33 +0000 2017"] * 2 + ["Fri Nov 06 18:29:06 +0000 2017"] * 2,
        }
    ).to_csv(path, index=False)
    args = [
        "contacts",
        "--file",
        str(path),
        "--mentions",
        "--where",
        "inbound=True",
        "--time-col",
        "created_at",
    ]
    res = runner.invoke(text_app, [*args, "-o", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    got = {(r["account"], r["aspect"]): r for r in rows}
    assert got[("ShopHelp", "delivery")]["contacts"] == 2
    assert got[("ShopHelp", "returns_after_sales")]["mentions"] == 1
    assert ("OtherCo", "digital") in got
    assert all(r["account"] != "12345" for r in rows)
    res = runner.invoke(text_app, [*args[:3], "--grain", "month"])
    assert res.exit_code == 2
    assert "--time-col" in res.output


def test_topics_drop_links_handles_and_entities() -> None:
    from cxlens.text.topics import TopicModel, clean_for_topics

    assert clean_for_topics("@AmazonHelp late &amp; broken https://t.co/x #fail").split() == [
        "late",
        "&",
        "broken",
        "fail",
    ]
    texts = [f"@Help{i} my parcel is late &amp; lost https://t.co/{i}" for i in range(10)] + [
        f"@Help{i} the app crashes at login &amp; freezes" for i in range(10)
    ]
    model = TopicModel(n_topics=2, language="en").fit(texts)
    terms = " ".join(model.topics_.summary["terms"])
    assert "amp" not in terms.split(", ")
    assert "https" not in terms
    assert "help" not in terms
    assert all(" / " in label for label in model.topics_.summary["label"])
