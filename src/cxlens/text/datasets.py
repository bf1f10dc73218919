"""Readers for labelled text files: the shared public datasets and any CSV/TSV/JSONL (gzip too).

Labels are mapped to negative/neutral/positive by a small spec (``0=negative,1=positive`` or
``1-2=negative,3=neutral,4-5=positive``). Train/test folds come from a hash of the text, so the
held-out part is the same in every run and for every command.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

#: Default location of the shared public datasets (override with --datasets).
SHARED = Path("/work/shared/datasets")
TEST_FOLD, N_FOLDS = 0, 5


def parse_label_map(spec: str) -> dict[str, str]:
    """``"1-2=negative,3=neutral,4-5=positive"`` -> {"1": "negative", "2": "negative", ...}."""
    mapping: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, label = item.partition("=")
        label = label.strip().lower()
        if not sep or label not in ("negative", "neutral", "positive"):
            raise ValueError(f"bad label mapping {item!r}; use e.g. 0=negative,1=positive or 1-2=negative")
        lo, dash, hi = key.strip().partition("-")
        if dash and lo.lstrip("-").isdigit() and hi.isdigit():
            for v in range(int(lo), int(hi) + 1):
                mapping[str(v)] = label
        else:
            mapping[key.strip()] = label
    return mapping


def map_labels(values: pd.Series, mapping: dict[str, str] | None) -> pd.Series:
    """Map raw labels through ``mapping`` (numbers compared as integers when whole); unmapped -> NA."""

    def norm(v: object) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    keys = values.map(norm)
    if mapping is None:
        return keys.str.lower().where(keys.str.lower().isin(["negative", "neutral", "positive"]))
    return keys.map(mapping)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV, TSV or JSONL file (optionally ``.gz``) as a DataFrame of strings."""
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return pd.read_json(path, lines=not name.endswith(".json"), dtype=False)
    sep = "\t" if name.endswith((".tsv", ".tab")) else ","
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])


def fold_of(texts: pd.Series) -> np.ndarray:
    """Stable fold number (0..4) of each text, from an MD5 of its content."""
    return np.array(
        [int(hashlib.md5(t.encode("utf-8")).hexdigest()[:8], 16) % N_FOLDS for t in texts], dtype=np.int64
    )


def _frame(
    text: pd.Series, label: pd.Series, language: str, dataset: str, domain: pd.Series | str
) -> pd.DataFrame:
    df = pd.DataFrame({"text": text.astype(str).str.strip().str.lstrip("\ufeff"), "label": label})
    df["language"], df["dataset"], df["domain"] = language, dataset, domain
    df = df[df["label"].notna() & (df["text"].str.len() > 0)].drop_duplicates("text")
    df["split"] = np.where(fold_of(df["text"]) == TEST_FOLD, "test", "train")
    return df.reset_index(drop=True)


def load_zh(root: Path = SHARED) -> pd.DataFrame:
    """zh_online_shopping_10_cats: label 0/1 -> negative/positive; domain = product category."""
    raw = read_table(root / "zh_online_shopping_10_cats" / "online_shopping_10_cats.csv.gz")
    raw = raw[raw["review"].notna()]
    label = map_labels(raw["label"], {"0": "negative", "1": "positive"})
    return _frame(raw["review"], label, "zh", "zh_online_shopping_10_cats", raw["cat"])


STARS = "1-2=negative,3=neutral,4-5=positive"


def load_en(root: Path = SHARED) -> pd.DataFrame:
    """en_womens_clothing_reviews: review text, rating 1-2/3/4-5 -> negative/neutral/positive."""
    raw = read_table(root / "en_womens_clothing_reviews" / "womens_clothing_ecommerce_reviews.csv.gz")
    raw = raw[raw["Review Text"].notna()]
    label = map_labels(raw["Rating"], parse_label_map(STARS))
    return _frame(
        raw["Review Text"],
        label,
        "en",
        "en_womens_clothing_reviews",
        raw["Department Name"].fillna("unknown"),
    )


def load_pt(root: Path = SHARED) -> pd.DataFrame:
    """Olist hand-classified reviews (score 1-5 -> sentiment); domain = the annotators' problem class."""
    raw = read_table(
        root / "olist_brazilian_ecommerce" / "classified_reviews" / "olist_classified_public_dataset.csv.gz"
    )
    raw = raw[raw["review_comment_message"].notna()]
    label = map_labels(raw["review_score"], parse_label_map(STARS))
    return _frame(
        raw["review_comment_message"],
        label,
        "pt",
        "olist_classified_reviews",
        raw["most_voted_class"].fillna("tie"),
    )


def load_shared(root: str | Path = SHARED) -> pd.DataFrame:
    """All labelled shared datasets: text, label, language, dataset, domain, split (train/test)."""
    root = Path(root)
    return pd.concat([load_zh(root), load_en(root), load_pt(root)], ignore_index=True)
