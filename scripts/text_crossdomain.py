"""Cross-domain sentiment figures of the fast tier (the table in docs/text.md).

For each held-out part of ``cxlens.text.train.CROSS_DOMAIN`` a model is fitted without it and scored
on all of it, languages detected as in the pipeline. ``--recipe baseline`` is the recipe shipped
before issue #14 (zh/en/pt only, the old settings); ``--recipe default`` is what `cxlens text train`
fits now.

    python scripts/text_crossdomain.py --recipe default [--only ja] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from cxlens.text.datasets import SHARED, load_shared
from cxlens.text.sentiment import SentimentModel
from cxlens.text.train import CROSS_DOMAIN, cross_domain_report, fit_recipe


def _baseline(train: pd.DataFrame) -> SentimentModel:
    """The model shipped before #14: zh/en/pt only (other languages get the lexicon part)."""
    old = train[train["language"].isin(["zh", "en", "pt"]) & (train["split"] == "train")]
    return SentimentModel(
        alpha=1e-5, blend=0.7, lexicon_scale=1.0, n_features=2**18, negation=False, per_language=False
    ).fit(old["text"].tolist(), old["label"].tolist(), old["language"].tolist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, default=SHARED)
    ap.add_argument("--recipe", choices=["baseline", "default"], default="default")
    ap.add_argument("--only", action="append", help="language(s) to report")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--param", action="append", default=[], help="model parameter NAME=VALUE (default recipe)"
    )
    args = ap.parse_args()
    data = load_shared(args.datasets)
    holdouts = [h for h in CROSS_DOMAIN if not args.only or h[0] in args.only]
    params = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    if args.recipe == "baseline":
        # the old model was one pooled fit over zh/en/pt: give it all of them, not one language
        full = data

        def fit(train: pd.DataFrame) -> SentimentModel:
            held = ~full.index.isin(train.index) & (full["language"] == train["language"].iloc[0])
            return _baseline(full[~held])
    else:

        def fit(train: pd.DataFrame) -> SentimentModel:
            return fit_recipe(train, **params)

    table = cross_domain_report(data, fit, holdouts)
    cols = [
        "language",
        "held_out",
        "n",
        "n_train",
        "binary_f1",
        "sign_f1",
        "neutral_share",
        "auc",
        "accuracy",
    ]
    print(table[cols].to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps(table.to_dict(orient="records"), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
