"""Benchmark: association rules on real grocery data, from the file to JSON, against mlxtend.

The case from issue #19: Complete Journey transactions joined to products, one basket per household,
items = product categories, minimum support 8% (9,714 rules). Timed in one run, on the same data:

1. reading and joining the files and selecting (basket, category) pairs (Ibis on DuckDB);
2. mining: cxlens ``frequent_itemsets`` + ``association_rules`` against mlxtend's ``fpgrowth`` +
   ``association_rules`` on the same one-hot frame (the rule sets are compared);
3. output: the rules as JSON written straight to stdout (``cli.common.write_json``, what
   ``cxlens customers rules -o json`` does now) against Rich's ``print_json`` (what it did before),
   both into a null device.

Checks (exit code 1 if any fails): the same rules as mlxtend with the same support, confidence
and lift, and the JSON written holds every rule.

    python bench/rules.py
    python bench/rules.py --smoke        # support 0.15 (make bench-smoke)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc

IMPORTS = {
    "shared (numpy, pandas, scipy)": bc.timed_import("numpy", "pandas", "scipy.sparse"),
    "cxlens": bc.timed_import("cxlens.analyse.customers.baskets", "cxlens.analyse.customers.prepare"),
    "mlxtend": bc.timed_import("mlxtend.frequent_patterns"),
    "rich": bc.timed_import("rich.console"),
}
import numpy as np  # noqa: E402 - after the timed imports
import pandas as pd  # noqa: E402

from cxlens.analyse.customers import baskets as bk  # noqa: E402
from cxlens.analyse.customers import prepare  # noqa: E402
from cxlens.cli.common import write_json  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
DATA = Path("/work/shared/datasets/completejourney_8451")
MIN_SUPPORT = 0.08


def _rule_keys(frame: pd.DataFrame) -> set[tuple[frozenset[str], frozenset[str]]]:
    return {
        (frozenset(map(str, a)), frozenset(map(str, c)))
        for a, c in zip(frame["antecedents"], frame["consequents"], strict=True)
    }


def _metrics(frame: pd.DataFrame) -> dict[tuple[frozenset[str], frozenset[str]], tuple[float, ...]]:
    """Support, confidence and lift of each rule, rounded to 9 digits."""
    keys = [
        (frozenset(map(str, a)), frozenset(map(str, c)))
        for a, c in zip(frame["antecedents"], frame["consequents"], strict=True)
    ]
    values = frame[["support", "confidence", "lift"]].to_numpy(float).round(9)
    return {k: tuple(v) for k, v in zip(keys, values, strict=True)}


def main() -> int:
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from rich.console import Console

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--min-support", type=float, default=MIN_SUPPORT)
    bc.add_arguments(ap)
    args = ap.parse_args()
    bc.apply_smoke(args, min_support=0.15)
    run = bc.Run("rules", args)
    min_support = args.min_support
    t0 = time.perf_counter()
    cols = prepare.Columns(customer=None, date=None, basket="household_id", item="product_category")
    lines = prepare.read_transactions(
        DATA / "transactions_sample.csv.gz",
        cols,
        baskets_only=True,
        join=DATA / "products.csv.gz",
        on="product_id",
    )
    pairs = lines.select(basket_id=lines.basket_id, item=lines.item_id)
    pairs = pairs.filter(pairs.item.notnull()).distinct().to_pandas()
    t1 = time.perf_counter()
    m = bk.encode(pairs)
    ours = bk.association_rules(bk.frequent_itemsets(m, min_support), "confidence", 0.0)
    t2 = time.perf_counter()
    onehot = pd.DataFrame(m.matrix.toarray().astype(bool), columns=m.items)
    t3 = time.perf_counter()
    ref_sets = fpgrowth(onehot, min_support=min_support, use_colnames=True)
    ref = association_rules(ref_sets, metric="confidence", min_threshold=0.0)
    t4 = time.perf_counter()
    ours["antecedents"] = ours["antecedents"].map(lambda s: sorted(map(str, s)))
    ours["consequents"] = ours["consequents"].map(lambda s: sorted(map(str, s)))
    records = ours.replace([np.inf], None)
    same_metrics = _metrics(ours) == _metrics(ref)
    with open(os.devnull, "w") as null, redirect_stdout(null):
        t5 = time.perf_counter()
        write_json(records)
        t6 = time.perf_counter()
    written = io.StringIO()
    with redirect_stdout(written):
        write_json(records)
    rich = Console(file=io.StringIO(), width=120)
    t7 = time.perf_counter()
    rich.print_json(records.to_json(orient="records"))
    t8 = time.perf_counter()
    same = _rule_keys(ours) == _rule_keys(ref)
    run.table(
        f"Association rules: {m.n_baskets:,} household baskets x {len(m.items):,} categories at support "
        f"{min_support:g}, {len(ours):,} rules (load average {run.load_before})",
        ["step", "seconds", "vs cxlens"],
        [
            ["read + join + pairs (Ibis on DuckDB)", t1 - t0, None],
            ["cxlens mining + rules", t2 - t1, 1.0],
            ["mlxtend fpgrowth + association_rules", t4 - t3, (t4 - t3) / (t2 - t1)],
            ["JSON straight to stdout (cxlens now)", t6 - t5, None],
            ["Rich print_json (cxlens before)", t8 - t7, (t8 - t7) / (t6 - t5)],
        ],
        note="The last column of the Rich row is Rich / stdout. Imports are timed apart.",
    )
    run.equal("rules = mlxtend's", same, True)
    run.check("support, confidence and lift = mlxtend's (9 digits)", same_metrics)
    run.equal("rules in the JSON written", len(json.loads(written.getvalue())), len(ours))
    result = {
        "baskets": m.n_baskets,
        "items": len(m.items),
        "min_support": min_support,
        "rules": len(ours),
        "mlxtend_rules": len(ref),
        "read_join_s": t1 - t0,
        "cxlens_mining_s": t2 - t1,
        "mlxtend_mining_s": t4 - t3,
        "json_stdout_s": t6 - t5,
        "rich_print_json_s": t8 - t7,
        "imports_s": IMPORTS,
    }
    return run.finish(result)


if __name__ == "__main__":
    sys.exit(main())
