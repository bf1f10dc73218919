"""The ONNX backend loads a real model folder (a tiny classifier built here) and classifies with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("CI"):  # CI installs the text-accurate extra: a missing package is a failure
    import onnx
    import onnxruntime  # noqa: F401
    import tokenizers
else:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    tokenizers = pytest.importorskip("tokenizers")

from cxlens.text.onnx_backend import OnnxSentiment

VOCAB = {"[UNK]": 0, "[PAD]": 1, "great": 2, "love": 3, "awful": 4, "broken": 5, "the": 6, "okay": 7}


def _build(folder: Path, id2label: dict[str, str]) -> Path:
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder.mkdir()
    tok = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.enable_padding(pad_id=1, pad_token="[PAD]")
    tok.save(str(folder / "tokenizer.json"))
    # embedding of each token into 3 logits (negative, neutral, positive), summed over the text
    emb = np.zeros((len(VOCAB), 3), dtype=np.float32)
    emb[VOCAB["great"], 2] = emb[VOCAB["love"], 2] = 4.0
    emb[VOCAB["awful"], 0] = emb[VOCAB["broken"], 0] = 4.0
    emb[VOCAB["okay"], 1] = 4.0
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["E", "input_ids"], ["g"]),
            helper.make_node("ReduceSum", ["g", "axes"], ["logits"], keepdims=0),
        ],
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 3])],
        initializer=[
            numpy_helper.from_array(emb, "E"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "config.json").write_text(json.dumps({"id2label": id2label}), encoding="utf-8")
    return folder


def test_loads_a_model_folder_and_classifies(tmp_path: Path) -> None:
    folder = _build(tmp_path / "m", {"0": "NEGATIVE", "1": "NEUTRAL", "2": "POSITIVE"})
    model = OnnxSentiment(folder).load()
    labels, scores = model.predict(["great love", "the awful broken thing", "okay", "the"])
    assert labels[:3] == ["positive", "negative", "neutral"]
    assert scores[0] > 0.9 > -0.9 > scores[1]
    assert abs(scores[3]) < 1e-6  # no known word: equal logits


def test_star_rating_labels_are_pooled(tmp_path: Path) -> None:
    folder = _build(tmp_path / "m", {"0": "1 star", "1": "3 stars", "2": "5 stars"})
    labels, _ = OnnxSentiment(folder).predict(["awful", "love"])
    assert labels == ["negative", "positive"]


def test_missing_files_and_unknown_labels_are_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing model\.onnx"):
        OnnxSentiment(tmp_path).load()
    folder = _build(tmp_path / "m", {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"})
    with pytest.raises(ValueError, match="cannot map class 0"):
        OnnxSentiment(folder).load()


def test_eval_command_runs_the_onnx_tier(tmp_path: Path) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from cxlens.cli.text import text_app

    folder = _build(tmp_path / "m", {"0": "negative", "1": "neutral", "2": "positive"})
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": ["great", "awful", "love it", "broken"], "label": ["p", "n", "p", "n"]}).to_csv(
        data, index=False
    )
    res = CliRunner().invoke(
        text_app,
        [
            "eval",
            str(data),
            "--labels",
            "n=negative,p=positive",
            "--lang",
            "en",
            "--tier",
            "onnx",
            "--model",
            str(folder),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["accuracy"] == 1.0


def test_analyser_with_the_onnx_tier_scores_documents_and_aspect_clauses(tmp_path: Path) -> None:
    from cxlens.text.aspects import TextAnalyser

    model = OnnxSentiment(_build(tmp_path / "m", {"0": "negative", "1": "neutral", "2": "positive"})).load()
    texts = ["the delivery was great. the staff awful", "love the staff", "okay"]
    res = TextAnalyser(tier=model).analyse(texts, ["en"] * 3)
    # documents: the tier's own labels and scores for the whole text
    labels, scores = model.predict(texts)
    assert res.documents["sentiment"].tolist() == labels
    np.testing.assert_allclose(res.documents["score"], np.round(scores, 4))
    # aspects: each clause scored by the tier on its own (independent of the fast model)
    asp = {(r.doc, r.aspect): (r.sentiment, r.score) for r in res.aspects.itertuples()}
    clause_labels, clause_scores = model.predict(["the delivery was great", " the staff awful"])
    assert asp[(0, "delivery")] == (clause_labels[0], round(float(clause_scores[0]), 4))
    assert asp[(0, "staff")] == ("negative", round(float(clause_scores[1]), 4))
    assert asp[(1, "staff")][0] == "positive"  # one clause: the document's sentiment


def test_analyse_command_enriches_the_store_with_the_onnx_tier(tmp_path: Path) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from cxlens.cli.common import state
    from cxlens.cli.text import text_app
    from cxlens.storage.workspace import Workspace

    folder = _build(tmp_path / "m", {"0": "negative", "1": "neutral", "2": "positive"})
    ws = Workspace(tmp_path / "ws")
    fb = pd.DataFrame(
        {
            "feedback_id": ["f1", "f2", "f3"],
            "submitted_at": ["2025-01-05", "2025-01-06", "2025-02-01"],
            "source": ["review", "review", "survey"],
            # "awful" and "great" are words the fast model reads the other way round in context
            "text": ["great, the delivery was late", "the staff awful", "okay"],
        }
    )
    ws.ingest("feedback", fb)
    ws.close()
    state.data_dir = tmp_path / "ws"
    runner = CliRunner()
    try:
        res = runner.invoke(text_app, ["analyse", "--tier", "onnx"])
        assert res.exit_code == 2  # a folder is required
        res = runner.invoke(text_app, ["analyse", "--tier", "onnx", "--model-dir", str(folder)])
        assert res.exit_code == 0, res.output
        assert "analysed 3 texts" in res.output
        assert "tier onnx" in res.output
        ws = Workspace(tmp_path / "ws")
        got = ws.con.execute("SELECT feedback_id, sentiment, score FROM feedback_text ORDER BY 1").df()
        ws.close()
        labels, scores = OnnxSentiment(folder).predict(fb["text"].tolist())
        assert got["sentiment"].tolist() == labels
        np.testing.assert_allclose(got["score"], np.round(scores, 4))
        # same tier and folder: nothing new; the fast tier is another version: everything again
        res = runner.invoke(text_app, ["analyse", "--tier", "onnx", "--model-dir", str(folder)])
        assert "analysed 0 texts" in res.output
        res = runner.invoke(text_app, ["analyse"])
        assert "analysed 3 texts" in res.output
    finally:
        state.data_dir = None
