"""Scoring a column of a file in batches, with machine output (CSV, JSON, JSON Lines) on stdout.

Reading is chunked (pandas), so a file of any size is scored in constant memory; the output is
written as plain data, never through the terminal formatting of the CLI.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np
import pandas as pd

from cxlens.text.aspects import TextAnalyser

FORMATS = ("csv", "json", "jsonl")


def aspect_strings(aspects: pd.DataFrame, n: int) -> list[str]:
    """``aspect/sub_aspect:label`` of each document, joined by ``; `` (empty when none)."""
    out = [""] * n
    if aspects.empty:
        return out
    tags = (aspects["aspect"] + "/" + aspects["sub_aspect"] + ":" + aspects["sentiment"].astype(str)).tolist()
    for doc, tag in zip(aspects["doc"].astype(int).tolist(), tags, strict=True):
        out[doc] = f"{out[doc]}; {tag}" if out[doc] else tag
    return out


def _chunks(source: str, input_format: str | None, batch_size: int) -> Iterator[pd.DataFrame]:
    name = "stdin" if source == "-" else source
    fmt = input_format or _format_of(name)
    handle: Any = sys.stdin if source == "-" else source
    if fmt == "jsonl":
        yield from pd.read_json(handle, lines=True, chunksize=batch_size, dtype=False)
    elif fmt in ("csv", "tsv"):
        yield from pd.read_csv(
            handle, sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False, chunksize=batch_size
        )
    else:
        raise ValueError(f"{name}: unknown format {fmt!r}; use --format csv, tsv or jsonl")


def _format_of(name: str) -> str:
    low = name.lower().removesuffix(".gz")
    if low.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if low.endswith((".tsv", ".tab")):
        return "tsv"
    return "csv"


def score_file(
    analyser: TextAnalyser,
    source: str,
    text_col: str,
    output: str = "csv",
    *,
    lang: str | None = None,
    lang_col: str = "language",
    keep: Sequence[str] = (),
    input_format: str | None = None,
    batch_size: int = 20_000,
    stream: IO[str] | None = None,
) -> int:
    """Score ``text_col`` of a CSV/TSV/JSONL file (``-``: stdin) batch by batch and write one row per
    input row to ``stream`` (stdout): kept columns, row number, language, sentiment, score, aspects.
    Returns the number of rows. A row's language comes from ``lang``, else ``lang_col`` when the file
    has it (a blank cell is detected), else detection."""
    if output not in FORMATS:
        raise ValueError(f"unknown output {output!r} for --file; choose {', '.join(FORMATS)}")
    stream = stream or sys.stdout
    rows = 0
    for k, chunk in enumerate(_chunks(source, input_format, batch_size)):
        missing = [c for c in (text_col, *keep) if c not in chunk.columns]
        if missing:
            cols = ", ".join(map(str, chunk.columns))
            raise ValueError(f"{source}: no column {missing[0]!r} (columns: {cols})")
        texts = [v if isinstance(v, str) else "" if v is None or v != v else str(v) for v in chunk[text_col]]
        if lang:
            langs: list[str | None] | None = [lang] * len(texts)
        elif lang_col in chunk.columns:
            langs = [v.strip() if isinstance(v, str) and v.strip() else None for v in chunk[lang_col]]
        else:
            langs = None
        res = analyser.analyse(texts, langs)
        frame = chunk[list(keep)].reset_index(drop=True)
        frame["row"] = np.arange(rows + 1, rows + len(texts) + 1)
        docs = res.documents
        frame["language"] = docs["language"].to_numpy()
        frame["sentiment"] = docs["sentiment"].to_numpy()
        frame["score"] = docs["score"].to_numpy()
        frame["aspects"] = aspect_strings(res.aspects, len(texts))
        _write(frame, output, stream, first=k == 0)
        rows += len(texts)
    if output == "json":
        stream.write("[]\n" if rows == 0 else "\n]\n")
    stream.flush()
    return rows


def _write(frame: pd.DataFrame, output: str, stream: IO[str], first: bool) -> None:
    if output == "csv":
        from cxlens.report.export import safe_csv

        text = safe_csv(frame)
        stream.write(text if first else text.split("\n", 1)[1])
        return
    records = json.loads(frame.to_json(orient="records", force_ascii=False))
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    if output == "jsonl":
        stream.write("".join(line + "\n" for line in lines))
    elif lines:
        stream.write(("[\n" if first else ",\n") + ",\n".join(lines))


_HANDLE = re.compile(r"@(\w+)")


def first_account(text: str) -> str | None:
    """The first @handle of a social post that names an account (anonymised numeric ids skipped)."""
    for handle in _HANDLE.findall(text or ""):
        if not handle.isdigit():
            return handle
    return None


def contacts_from_file(
    analyser: TextAnalyser,
    source: str,
    text_col: str,
    *,
    time_col: str | None = None,
    by: Sequence[str] = (),
    mentions: bool = False,
    where: Sequence[str] = (),
    grain: str | None = "month",
    input_format: str | None = None,
) -> pd.DataFrame:
    """Contact reasons (aspects) of transcripts or social posts in a file, by account and period,
    without a store or a products table: the file is analysed (customer turns only, for
    transcripts) and :func:`cxlens.text.insights.reasons` runs on it as an Ibis expression.

    ``by``: columns to group by; ``mentions``: group by the first named @handle of each post
    (``account``); ``where``: ``COLUMN=VALUE`` filters (e.g. ``inbound=True``); ``time_col``: the
    timestamp column for ``grain``.
    """
    import ibis

    from cxlens.text.insights import reasons
    from cxlens.text.transcripts import customer_text

    frame = pd.concat(list(_chunks(source, input_format, 100_000)), ignore_index=True)
    needed = [text_col, *by, *([time_col] if time_col else [])]
    for item in where:
        col, sep, _ = item.partition("=")
        if not sep:
            raise ValueError(f"bad filter {item!r}; use COLUMN=VALUE")
        needed.append(col)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source}: no column {missing[0]!r} (columns: {', '.join(map(str, frame.columns))})"
        )
    for item in where:
        col, _, value = item.partition("=")
        frame = frame[frame[col].astype(str) == value]
    texts = [customer_text(t) if isinstance(t, str) else "" for t in frame[text_col]]
    keys = list(by)
    contacts = pd.DataFrame({"contact_id": np.arange(len(frame))})
    for col in by:
        contacts[col] = frame[col].astype(str).to_numpy()
    if mentions:
        contacts["account"] = [first_account(t) or "(none)" for t in texts]
        keys.append("account")
    if grain is not None:
        if not time_col:
            raise ValueError("a time grain needs --time-col (or use --grain none)")
        stamps = pd.to_datetime(frame[time_col], errors="coerce", utc=True, format="mixed")
        contacts["submitted_at"] = stamps.dt.tz_localize(None).to_numpy()
    else:
        contacts["submitted_at"] = pd.Timestamp(0)
    res = analyser.analyse(texts)
    aspects = res.aspects.rename(columns={"doc": "contact_id"})[["contact_id", "aspect", "sentiment"]]
    aspects = aspects.astype({"contact_id": "int64", "aspect": str, "sentiment": str})
    con = ibis.duckdb.connect()
    table = reasons(con.create_table("contacts", contacts), con.create_table("aspects", aspects), keys, grain)
    return table.to_pandas()
