"""Precision of the taxonomy on hand-labelled real sentences (tests/fixtures/text_aspects).

Each fixture line is a real review or tweet sentence with the aspects the taxonomy found in it
when it was labelled, each marked right or wrong by a person. ``precision`` re-runs the taxonomy
and scores its hits against those labels, per language and pooled per aspect; hits the labels do
not cover (the taxonomy has changed since) are counted as ``unlabelled`` so they can be labelled.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cxlens.text.taxonomy import Taxonomy, default_taxonomy


def read_fixtures(folder: str | Path) -> pd.DataFrame:
    """Every labelled sentence: language (the file name), text, source, aspects (label -> right)."""
    rows = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append({"language": path.stem, **json.loads(line)})
    return pd.DataFrame(rows)


def precision(fixtures: pd.DataFrame, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """Per language and aspect (and ``all`` languages pooled): hits, right, wrong, unlabelled and
    precision (right / labelled hits) of the taxonomy's hits on the fixture sentences."""
    taxonomy = taxonomy or default_taxonomy()
    hits = []
    for text, language, labels in zip(
        fixtures["text"], fixtures["language"], fixtures["aspects"], strict=True
    ):
        found = {h.label for h in taxonomy.matcher.find(str(text), str(language))}
        for label in found:
            right = dict(labels).get(label)
            hits.append({"language": language, "aspect": label.split("/")[0], "right": right})
    frame = pd.DataFrame(hits, columns=["language", "aspect", "right"])
    both = pd.concat([frame, frame.assign(language="all")], ignore_index=True)
    out = both.groupby(["language", "aspect"]).agg(
        hits=("right", "size"),
        right=("right", lambda s: int((s == True).sum())),  # noqa: E712 - None means unlabelled
        wrong=("right", lambda s: int((s == False).sum())),  # noqa: E712
    )
    out["unlabelled"] = out["hits"] - out["right"] - out["wrong"]
    out["precision"] = (out["right"] / (out["right"] + out["wrong"]).where(lambda n: n > 0)).round(3)
    return out.reset_index()
