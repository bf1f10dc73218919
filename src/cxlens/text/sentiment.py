"""Document sentiment (negative / neutral / positive with a score in [-1, 1]) that ships with cxlens.

The default model is linear over hashed character n-grams (binary, unit L2 norm per text and per
clause; no vocabulary to store, no segmenter) plus two language-independent features from a
hand-written polarity lexicon
(``lexicon.yaml``). Languages seen in training use the full model; others (ja, ko, ru by default)
use the lexicon part, whose weights were learned on the training languages. Neutral is a band of
the positive probability, tuned on 3-star reviews.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import sparse

from cxlens.text.batch import TextBatch
from cxlens.text.features import binary_matrix, cps_hashes, hashed_matrix, span_dots
from cxlens.text.matching import KeywordMatcher

LABELS = ("negative", "neutral", "positive")
LEXICON_PATH = Path(__file__).with_name("lexicon.yaml")
MODELS_DIR = Path(__file__).with_name("models")
DEFAULT_MODEL = MODELS_DIR / "sentiment.npz"


@lru_cache(maxsize=4)
def load_lexicon(path: str | Path = LEXICON_PATH) -> KeywordMatcher:
    """The polarity lexicon as a keyword matcher (labels ``positive``/``negative``)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of language -> lists")
    keywords = {
        lang: {"positive": v.get("positive", []), "negative": v.get("negative", [])}
        for lang, v in raw.items()
    }
    return KeywordMatcher(
        keywords,
        negators={lang: v.get("negators", []) for lang, v in raw.items()},
        negators_after={lang: v["negators_after"] for lang, v in raw.items() if v.get("negators_after")},
    )


def lexicon_counts(text: str, language: str, matcher: KeywordMatcher) -> tuple[int, int]:
    """Positive and negative lexicon hits in ``text`` (a negated hit counts for the other side)."""
    pos = neg = 0
    for hit in matcher.find(text, language):
        if (hit.label == "positive") != hit.negated:
            pos += 1
        else:
            neg += 1
    return pos, neg


def lexicon_features(texts: Sequence[str], languages: Sequence[str], matcher: KeywordMatcher) -> np.ndarray:
    """``log1p`` of the positive and negative hit counts, one row per text."""
    batch = TextBatch.build(texts, languages)
    out = np.empty((len(texts), 2), dtype=np.float32)
    out[batch.order] = batch_lexicon(batch, matcher)[0]
    return out


def batch_lexicon(batch: TextBatch, matcher: KeywordMatcher) -> tuple[np.ndarray, np.ndarray]:
    """``log1p`` of positive and negative hit counts per text and per clause of a batch (a negated
    hit counts for the other side)."""
    hits = matcher.find_batch(batch)
    positive = matcher.label_names.index("positive") if "positive" in matcher.label_names else -1
    side = ((hits.label == positive) != hits.negated).astype(np.int64)  # 1 positive, 0 negative
    n_clauses = len(batch.clauses[0])
    docs = np.zeros((len(batch), 2), dtype=np.float32)
    clauses = np.zeros((n_clauses, 2), dtype=np.float32)
    for col, which in ((0, 1), (1, 0)):
        docs[:, col] = np.bincount(hits.doc[side == which], minlength=len(batch))
        clauses[:, col] = np.bincount(hits.clause[side == which], minlength=n_clauses)
    return np.log1p(docs), np.log1p(clauses)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


def balanced_weights(labels: Sequence[str], groups: Sequence[str]) -> np.ndarray:
    """Sample weights giving every (group, label) cell the same total weight."""
    keys = np.array([f"{g}\x00{y}" for g, y in zip(groups, labels, strict=True)])
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    w = (len(keys) / (len(uniq) * counts))[inverse]
    return np.asarray(w, dtype=np.float64)


class SentimentModel:
    """Hashed char n-gram + lexicon logistic model; ``fit`` on (text, label, language) triples."""

    meta_: dict[str, Any]  # metadata of a loaded model file (training data, recipe)
    coef_: np.ndarray  # n-gram weights, one row (block) per language with its own, row 0 pooled
    intercepts_: np.ndarray  # per block
    lexicon_in_full_: np.ndarray  # per block: weights of the two lexicon features
    lexicon_coef_: np.ndarray  # the lexicon-only part (languages the model was not trained on)
    lexicon_intercept_: float

    def __init__(
        self,
        n_features: int = 2**18,
        ngram_range: tuple[int, int] = (1, 4),
        alpha: float = 1e-5,
        epochs: int = 15,
        lexicon_weight: float = 1.0,
        blend: float = 0.7,
        lexicon_scale: float = 1.0,
        lexicon_path: str | Path | None = None,
        binary: bool = True,
        negation: bool = True,
        per_language: bool = True,
    ) -> None:
        self.n_features = n_features
        self.ngram_range = ngram_range
        self.alpha = alpha
        self.epochs = epochs
        self.lexicon_weight = lexicon_weight
        self.blend = blend
        self.lexicon_scale = lexicon_scale
        self.lexicon_path = lexicon_path
        self.binary = binary
        self.negation = negation
        self.per_language = per_language
        self.block_languages_: list[str] = ["*"]
        self.bands_: dict[str, tuple[float, float]] = {}

    # -- features ------------------------------------------------------------------------
    def _matcher(self) -> KeywordMatcher:
        return load_lexicon(self.lexicon_path or LEXICON_PATH)

    def _features(self, texts: Sequence[str], languages: Sequence[str]) -> tuple[Any, np.ndarray]:
        if not (self.binary and self.negation):
            grams = hashed_matrix(texts, self._ngrams, self.n_features, binary=self.binary)
            return grams, lexicon_features(texts, languages, self._matcher())
        batch = TextBatch.build(texts, languages)
        cols, rows = cps_hashes(self._code_points(batch), batch.code_points[1], self._ngrams, self.n_features)
        inverse = np.empty(len(texts), dtype=np.int64)
        inverse[batch.order] = np.arange(len(texts))
        grams = binary_matrix(rows, cols, len(texts), self.n_features)[inverse]
        return grams, batch_lexicon(batch, self._matcher())[0][inverse]

    def _code_points(self, batch: TextBatch) -> np.ndarray:
        return batch.negated_code_points if self.negation else batch.code_points[0]

    @property
    def _ngrams(self) -> tuple[int, int]:
        lo, hi = self.ngram_range
        return int(lo), int(hi)

    def _stack(self, grams: Any, lex: np.ndarray) -> Any:
        return sparse.hstack([grams, sparse.csr_matrix(lex * self.lexicon_weight)], format="csr")

    # -- fitting -------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[str], languages: Sequence[str]) -> SentimentModel:
        """Fit on labelled texts; neutral rows only tune the neutral band (needs some of them)."""
        y = np.asarray(labels)
        langs = np.asarray(languages)
        unknown = set(np.unique(y)) - set(LABELS)
        if unknown:
            raise ValueError(f"labels must be {LABELS}, got {sorted(unknown)}")
        grams, lex = self._features(texts, list(langs))
        self._fit_part(grams, lex, y, langs)
        if self.per_language:
            self._fit_blocks(grams, lex, y, langs)
        return self

    #: A language gets its own weights with at least this many positive and negative rows.
    MIN_BLOCK_ROWS = 500

    def _fit_blocks(self, grams: Any, lex: np.ndarray, y: np.ndarray, langs: np.ndarray) -> None:
        """One weight block per training language, fitted on that language alone (the pooled
        weights stay as block 0, for other languages): languages do not share or blur n-gram
        weights, and each gets its own intercept and neutral band."""
        blocks, intercepts, lexw, names = (
            [self.coef_[0]],
            [self.intercepts_[0]],
            [self.lexicon_in_full_[0]],
            ["*"],
        )
        for lang in sorted(set(langs.tolist())):
            mine = langs == lang
            polar = y[mine] != "neutral"
            counts = np.unique(y[mine][polar], return_counts=True)[1]
            if len(counts) < 2 or counts.min() < self.MIN_BLOCK_ROWS:
                continue
            sub = SentimentModel(**{**self._params(), "per_language": False})
            sub._fit_part(grams[mine], lex[mine], y[mine], langs[mine])
            blocks.append(sub.coef_[0])
            intercepts.append(sub.intercepts_[0])
            lexw.append(sub.lexicon_in_full_[0])
            names.append(str(lang))
            self.bands_[str(lang)] = sub.band_
        self.coef_ = np.vstack(blocks).astype(np.float32)
        self.intercepts_ = np.asarray(intercepts, dtype=np.float64)
        self.lexicon_in_full_ = np.vstack(lexw).astype(np.float32)
        self.block_languages_ = names

    def _params(self) -> dict[str, Any]:
        keys = ("n_features", "ngram_range", "alpha", "epochs", "lexicon_weight", "blend", "lexicon_scale")
        return {k: getattr(self, k) for k in keys} | {
            "lexicon_path": self.lexicon_path,
            "binary": self.binary,
            "negation": self.negation,
        }

    def _fit_part(self, grams: Any, lex: np.ndarray, y: np.ndarray, langs: np.ndarray) -> None:
        """Pooled weights (one block) and the neutral bands, on these rows."""
        self.band_ = self.lexicon_band_ = (0.5, 0.5)
        self.bands_ = {}
        # tune the neutral bands on every fifth row, predicted by a model fitted without them
        held = np.arange(len(y)) % 5 == 0
        self._fit_linear(grams[~held], lex[~held], y[~held], langs[~held])
        p = self._proba(grams[held], lex[held], list(langs[held]))
        self.band_ = tune_band(p, y[held], langs[held])
        self.bands_ = {
            str(lang): tune_band(
                p[langs[held] == lang], y[held][langs[held] == lang], langs[held][langs[held] == lang]
            )
            for lang in np.unique(langs[held])
        }
        p_lex = _sigmoid(lex[held] @ self.lexicon_coef_ + self.lexicon_intercept_)
        self.lexicon_band_ = tune_band(p_lex, y[held], langs[held])
        self._fit_linear(grams, lex, y, langs)

    def _fit_linear(self, grams: Any, lex: np.ndarray, y: np.ndarray, langs: np.ndarray) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, SGDClassifier

        polar = y != "neutral"
        weights = balanced_weights(list(y[polar]), list(langs[polar]))
        target = (y[polar] == "positive").astype(int)
        if len(set(target.tolist())) < 2:
            raise ValueError("training data needs both positive and negative texts")
        clf = SGDClassifier(
            loss="log_loss", alpha=self.alpha, max_iter=self.epochs, tol=None, average=True, random_state=0
        )
        with warnings.catch_warnings():
            # a fixed number of epochs is the point (same model in every run), not a failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(self._stack(grams[polar], lex[polar]), target, sample_weight=weights)
        self.coef_ = clf.coef_.ravel()[None, : self.n_features].astype(np.float32)
        self.lexicon_in_full_ = clf.coef_.ravel()[None, self.n_features :].astype(np.float32)
        self.intercepts_ = np.asarray([float(clf.intercept_[0])])
        self.block_languages_ = ["*"]
        # no intercept: a text with no lexicon hit scores exactly 0.5 (neutral), not the class prior
        lexclf = LogisticRegression(C=10.0, fit_intercept=False)
        lexclf.fit(lex[polar], target, sample_weight=weights)
        self.lexicon_coef_ = lexclf.coef_.ravel().astype(np.float32)
        self.lexicon_intercept_ = float(lexclf.intercept_[0])
        self.languages_ = sorted(set(langs[polar].tolist()))

    # -- prediction ----------------------------------------------------------------------
    def block_of(self, languages: Sequence[str]) -> np.ndarray:
        """The weight block of each language (0: the pooled weights, for languages without one)."""
        index = {lang: k for k, lang in enumerate(self.block_languages_) if k}
        return np.fromiter((index.get(lang, 0) for lang in languages), dtype=np.int64, count=len(languages))

    def _proba(self, grams: Any, lex: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        block = self.block_of(languages)
        if not isinstance(grams, np.ndarray):
            grams = np.asarray(grams @ self.coef_[0]).ravel()  # while fitting: one block
        lex_part = np.einsum("ij,ij->i", lex, self.lexicon_in_full_[block]) * self.lexicon_weight
        full = grams + lex_part + self.intercepts_[block]
        lexical = lex @ self.lexicon_coef_ + self.lexicon_intercept_
        # blending in the lexicon keeps the n-grams' domain habits in check (see docs/text.md)
        blended = _sigmoid(self.blend * full + (1 - self.blend) * self.lexicon_scale * lexical)
        return np.where(self.seen(languages), blended, _sigmoid(lexical))

    def seen(self, languages: Sequence[str]) -> np.ndarray:
        """Whether the full model scores each text: its language was in the training data, or the
        lexicon does not know it either (``unknown``, ``mixed``, other languages: the n-grams are
        the better guess). A lexicon language the model was not trained on gets the lexicon part."""
        langs = np.asarray(languages, dtype=object)
        return np.isin(langs, self.languages_) | ~np.isin(langs, self._matcher().languages)

    def labels(self, p: np.ndarray, languages: Sequence[str]) -> list[str]:
        """Labels from probabilities, with the band of the text's language (calibrated on held-out
        rows of that language), else of the part that scored it."""
        langs = np.asarray(languages, dtype=object)
        lo = np.where(self.seen(languages), self.band_[0], self.lexicon_band_[0])
        hi = np.where(self.seen(languages), self.band_[1], self.lexicon_band_[1])
        for lang, (a, b) in self.bands_.items():
            mine = langs == lang
            lo[mine], hi[mine] = a, b
        return np.where(p < lo, "negative", np.where(p > hi, "positive", "neutral")).tolist()

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str]) -> np.ndarray:
        """Probability that each text is positive rather than negative."""
        batch = TextBatch.build(texts, languages)
        out = np.empty(len(texts))
        out[batch.order] = self.batch_proba(batch)[0]
        return out

    def batch_proba(self, batch: TextBatch) -> tuple[np.ndarray, np.ndarray]:
        """P(positive) of every text and of every clause of a prepared batch (batch order), from one
        hashing pass and one lexicon pass; a clause scores as if it were a text of its own."""
        lex_doc, lex_clause = batch_lexicon(batch, self._matcher())
        cps, doc = batch.code_points
        start, end, _ = batch.clauses
        clause_of, room = batch.span_of
        doc_block = self.block_of(batch.languages)
        dots, clause_dots = span_dots(
            self._code_points(batch) if self.binary else cps,
            doc,
            len(batch),
            self._ngrams,
            self.coef_ if self.binary else self.coef_[0],
            clause_of,
            end - start,
            room,
            self.binary,
            block=doc_block[doc] if len(self.coef_) > 1 else None,
        )
        langs = np.asarray(batch.languages, dtype=object)
        return (
            self._proba(dots, lex_doc, batch.languages),
            self._proba(clause_dots, lex_clause, langs[batch.clauses[2]].tolist()),
        )

    def predict(self, texts: Sequence[str], languages: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Labels (negative/neutral/positive) and scores in [-1, 1] (``2p - 1``)."""
        p = self.predict_proba(texts, languages)
        return self.labels(p, languages), np.round(2 * p - 1, 4)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path, **meta: Any) -> Path:
        """Write the fitted model as a compressed ``.npz`` (float16 weights) with JSON metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        info = {
            "n_features": self.n_features,
            "ngram_range": list(self.ngram_range),
            "alpha": self.alpha,
            "epochs": self.epochs,
            "lexicon_weight": self.lexicon_weight,
            "intercepts": self.intercepts_.tolist(),
            "lexicon_in_full": self.lexicon_in_full_.tolist(),
            "block_languages": self.block_languages_,
            "lexicon_coef": self.lexicon_coef_.tolist(),
            "lexicon_intercept": self.lexicon_intercept_,
            "languages": self.languages_,
            "band": list(self.band_),
            "lexicon_band": list(self.lexicon_band_),
            "blend": self.blend,
            "lexicon_scale": self.lexicon_scale,
            "binary": self.binary,
            "negation": self.negation,
            "bands": {k: list(v) for k, v in sorted(self.bands_.items())},
            **meta,
        }
        write_npz(path, coef=self.coef_.astype(np.float16), meta=np.array(json.dumps(info, sort_keys=True)))
        return path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL, lexicon_path: str | Path | None = None) -> SentimentModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            info = json.loads(str(data["meta"]))
            coef = data["coef"].astype(np.float32)
        model = cls(
            n_features=info["n_features"],
            ngram_range=tuple(info["ngram_range"]),
            alpha=info["alpha"],
            epochs=info["epochs"],
            lexicon_weight=info["lexicon_weight"],
            blend=info["blend"],
            lexicon_scale=info["lexicon_scale"],
            lexicon_path=lexicon_path,
            binary=bool(info.get("binary", False)),  # files from before binary features: counts
            negation=bool(info.get("negation", False)),  # files from before negation scopes
            per_language=len(info.get("block_languages", ["*"])) > 1,
        )
        # files from before per-language blocks hold one weight vector
        model.coef_ = coef.reshape(-1, info["n_features"])
        model.intercepts_ = np.asarray(info.get("intercepts", [info.get("intercept", 0.0)]), dtype=np.float64)
        model.lexicon_in_full_ = np.asarray(info["lexicon_in_full"], dtype=np.float32).reshape(
            len(model.coef_), -1
        )
        model.block_languages_ = list(info.get("block_languages", ["*"]))
        model.lexicon_coef_ = np.asarray(info["lexicon_coef"], dtype=np.float32)
        model.lexicon_intercept_ = float(info["lexicon_intercept"])
        model.languages_ = list(info["languages"])
        model.band_ = (float(info["band"][0]), float(info["band"][1]))
        model.lexicon_band_ = (float(info["lexicon_band"][0]), float(info["lexicon_band"][1]))
        model.bands_ = {k: (float(v[0]), float(v[1])) for k, v in info.get("bands", {}).items()}
        model.meta_ = info
        return model


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so the same model gives the same bytes
    (``cxlens text train`` reproduces the shipped file byte for byte with the same library versions)."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def label_from_proba(p: np.ndarray, band: tuple[float, float]) -> list[str]:
    """negative below the band, positive above it, neutral inside."""
    lo, hi = band
    return np.where(p < lo, "negative", np.where(p > hi, "positive", "neutral")).tolist()


#: How much binary macro-F1 (positive vs negative, a neutral answer counting as wrong) a neutral
#: band may cost on held-out rows: with neutral rows to learn from, and without.
BAND_TOLERANCE = {"three_class": 0.01, "binary": 0.005}


def tune_band(p: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """The (low, high) band on P(positive) for the neutral label, around 0.5.

    A binary task must not be failed by abstaining: only bands that keep the mean per-group binary
    macro-F1 within ``BAND_TOLERANCE`` of the best are allowed; among them the one with the best
    three-class macro-F1 where there are neutral rows, else the widest (abstain where unsure).
    """
    truth = np.searchsorted(np.array(LABELS), y)
    masks = [groups == g for g in np.unique(groups)]
    has_neutral = bool((y == "neutral").any())
    grid = np.round(np.arange(0.1, 0.91, 0.025), 3)
    rows = []
    for lo in grid[grid <= 0.5]:
        for hi in grid[grid >= 0.5]:
            pred = np.where(p < lo, 0, np.where(p > hi, 2, 1))
            binary = float(
                np.mean([macro_f1(truth[m & (truth != 1)], pred[m & (truth != 1)]) for m in masks])
            )
            three = float(np.mean([macro_f1(truth[m], pred[m]) for m in masks])) if has_neutral else 0.0
            rows.append((binary, three, hi - lo, float(lo), float(hi)))
    best = max(r[0] for r in rows)
    allowed = [r for r in rows if r[0] >= best - BAND_TOLERANCE["three_class" if has_neutral else "binary"]]
    choice = max(allowed, key=lambda r: (r[1], -r[2]) if has_neutral else (r[2], r[0]))
    return choice[3], choice[4]


def macro_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """Macro-averaged F1 over the classes present in ``truth`` (integer codes)."""
    scores = []
    for c in np.unique(truth):
        tp = float(np.sum((pred == c) & (truth == c)))
        fp, fn = float(np.sum((pred == c) & (truth != c))), float(np.sum((pred != c) & (truth == c)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


@lru_cache(maxsize=2)
def default_model(path: str | Path = DEFAULT_MODEL) -> SentimentModel:
    """The shipped model (loaded once per process; no network involved)."""
    return SentimentModel.load(path)
