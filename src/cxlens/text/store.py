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


def analysis_version(
    model_path: str | Path = DEFAULT_MODEL, taxonomy_path: str | Path = DEFAULT_TAXONOMY
) -> str:
    """A short hash of the model file and the taxonomy text: it changes when either changes."""
    h = hashlib.sha256(Path(model_path).read_bytes())
    h.update(Path(taxonomy_path).read_bytes())
    return h.hexdigest()[:12]


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
) -> EnrichResult:
    """Analyse every feedback text not yet analysed at the current version; returns counts."""
    import ibis

    start = dt.datetime.now(dt.UTC)
    model_path = Path(model_path or DEFAULT_MODEL)
    taxonomy_path = Path(taxonomy_path or DEFAULT_TAXONOMY)
    version = analysis_version(model_path, taxonomy_path)
    analyser = TextAnalyser(SentimentModel.load(model_path), load_taxonomy(taxonomy_path, ws.journey_map))
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
