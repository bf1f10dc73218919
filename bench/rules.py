"""Benchmark: association rules on real grocery data, from the file to JSON, against mlxtend.

The case from issue #19: Complete Journey transactions joined to products, one basket per household,
items = product categories, minimum support 8% (9,714 rules). Timed in one run, on the same data:

1. reading and joining the files and selecting (basket, category) pairs (Ibis on DuckDB);
2. mining: cxlens ``frequent_itemsets`` + ``association_rules`` against mlxtend's ``fpgrowth`` +
   ``association_rules`` on the same one-hot frame (the rule sets are compared);
3. output: the rules as JSON written straight to stdout (``cli.common.write_json``, what
   ``cxlens customers rules --json`` does now) against Rich's ``print_json`` (what it did before),
   both into a null device.

    python bench/rules.py
"""

from __future__ import annotations

import io
import json
import os
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd

from cxlens.analyse.customers import baskets as bk
from cxlens.analyse.customers import prepare
from cxlens.cli.common import write_json

warnings.filterwarnings("ignore", category=DeprecationWarning)
DATA = Path("/work/shared/datasets/completejourney_8451")
MIN_SUPPORT = 0.08
RESULTS = Path(__file__).resolve().parent / "results"


def _rule_keys(frame: pd.DataFrame) -> set[tuple[frozenset[str], frozenset[str]]]:
    return {
        (frozenset(map(str, a)), frozenset(map(str, c)))
        for a, c in zip(frame["antecedents"], frame["consequents"], strict=True)
    }


def main() -> None:
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from rich.console import Console

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
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
    ours = bk.association_rules(bk.frequent_itemsets(m, MIN_SUPPORT), "confidence", 0.0)
    t2 = time.perf_counter()
    onehot = pd.DataFrame(m.matrix.toarray().astype(bool), columns=m.items)
    t3 = time.perf_counter()
    ref_sets = fpgrowth(onehot, min_support=MIN_SUPPORT, use_colnames=True)
    ref = association_rules(ref_sets, metric="confidence", min_threshold=0.0)
    t4 = time.perf_counter()
    ours["antecedents"] = ours["antecedents"].map(lambda s: sorted(map(str, s)))
    ours["consequents"] = ours["consequents"].map(lambda s: sorted(map(str, s)))
    records = ours.replace([np.inf], None)
    with open(os.devnull, "w") as null, redirect_stdout(null):
        t5 = time.perf_counter()
        write_json(records)
        t6 = time.perf_counter()
    rich = Console(file=io.StringIO(), width=120)
    t7 = time.perf_counter()
    rich.print_json(records.to_json(orient="records"))
    t8 = time.perf_counter()
    same = _rule_keys(ours) == _rule_keys(ref)
    print(
        f"{m.n_baskets:,} household baskets x {len(m.items):,} categories at support {MIN_SUPPORT:g}: "
        f"{len(ours):,} rules (mlxtend {len(ref):,}, same rules: {same})"
    )
    print(f"  read + join + pairs       {t1 - t0:6.2f} s")
    print(f"  cxlens mining + rules     {t2 - t1:6.2f} s")
    print(f"  mlxtend fpgrowth + rules  {t4 - t3:6.2f} s  (mlxtend/cxlens = {(t4 - t3) / (t2 - t1):.1f}x)")
    print(f"  JSON to stdout            {t6 - t5:6.2f} s")
    print(f"  Rich print_json (before)  {t8 - t7:6.2f} s  (Rich/stdout = {(t8 - t7) / (t6 - t5):.0f}x)")
    result = {
        "baskets": m.n_baskets,
        "items": len(m.items),
        "min_support": MIN_SUPPORT,
        "rules": len(ours),
        "same_rules_as_mlxtend": same,
        "read_join_s": t1 - t0,
        "cxlens_mining_s": t2 - t1,
        "mlxtend_mining_s": t4 - t3,
        "json_stdout_s": t6 - t5,
        "rich_print_json_s": t8 - t7,
        "load_average": os.getloadavg()[0],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rules.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
