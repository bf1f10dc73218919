"""Pluggable backend for larger local models: a sentiment classifier exported to ONNX in a folder.

The folder holds ``model.onnx`` (inputs named like a Hugging Face export: ``input_ids`` and, if the
graph declares them, ``attention_mask`` / ``token_type_ids``; output: logits per class),
``tokenizer.json`` (the ``tokenizers`` format) and ``config.json`` whose ``id2label`` names the
classes (negative/neutral/positive, or star ratings such as "1 star" .. "5 stars"). Everything is
read from the folder; nothing is downloaded. Needs ``onnxruntime`` and ``tokenizers``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cxlens.text.sentiment import LABELS


def _sentiment_of(name: str, n_classes: int, index: int) -> str:
    """negative/neutral/positive for a class name (or a star rating)."""
    low = name.strip().lower()
    for label in LABELS:
        if label in low or low == label[:3]:
            return label
    stars = re.match(r"^(\d)\s*star", low)
    if stars:
        v = int(stars.group(1))
        return "negative" if v <= 2 else "neutral" if v == 3 else "positive"
    raise ValueError(f"cannot map class {index} ({name!r}) of {n_classes} to negative/neutral/positive")


class OnnxSentiment:
    """A local ONNX text classifier with the same ``predict`` contract as the other tiers."""

    def __init__(self, folder: str | Path, max_length: int = 256, batch_size: int = 32) -> None:
        self.folder = folder
        self.max_length = max_length
        self.batch_size = batch_size

    def load(self) -> OnnxSentiment:
        """Open the session, the tokenizer and the label map (learned state ends in ``_``)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(self.folder)
        for name in ("model.onnx", "tokenizer.json", "config.json"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder}: missing {name}")
        self.session_ = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        self.inputs_ = [i.name for i in self.session_.get_inputs()]
        if "input_ids" not in self.inputs_:
            raise ValueError(f"{folder}/model.onnx: expected an input named input_ids, got {self.inputs_}")
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.enable_truncation(self.max_length)
        tok.enable_padding()
        self.tokenizer_ = tok
        id2label = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("id2label") or {}
        n = len(id2label)
        self.classes_ = [_sentiment_of(str(id2label[k]), n, int(k)) for k in sorted(id2label, key=int)]
        return self

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities (softmax of the logits), one row per text."""
        if not hasattr(self, "session_"):
            self.load()
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer_.encode_batch([t or "" for t in texts[i : i + self.batch_size]])
            feed: dict[str, Any] = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64)}
            if "attention_mask" in self.inputs_:
                feed["attention_mask"] = np.array([e.attention_mask for e in enc], dtype=np.int64)
            if "token_type_ids" in self.inputs_:
                feed["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
            logits = np.asarray(self.session_.run(None, feed)[0], dtype=np.float64)
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            out.append(z / z.sum(axis=1, keepdims=True))
        return np.vstack(out) if out else np.zeros((0, len(self.classes_)))

    def predict(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Labels and scores in [-1, 1] (P(positive) - P(negative), classes pooled by sentiment)."""
        prob = self.proba(texts)
        classes = np.array(self.classes_)
        pooled = np.stack([prob[:, classes == lab].sum(axis=1) for lab in LABELS], axis=1)
        labels = [LABELS[i] for i in pooled.argmax(axis=1)]
        return labels, np.round(pooled[:, 2] - pooled[:, 0], 4)
