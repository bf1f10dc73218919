"""Benchmark: customer analytics against their reference implementations, same data, same run.

1. CLV end to end from raw transactions (read + per-customer summary + BG/NBD and Gamma-Gamma
   fits): cxlens (DuckDB summary via Ibis, exact-gradient maximum likelihood) against lifetimes
   (``summary_data_from_transaction_data`` in pandas + ``BetaGeoFitter`` + ``GammaGammaFitter``),
   on transactions simulated from a BG/NBD process with known parameters for ``--customers``
   customers. Printed: seconds, the ratio, the parameters of both and their largest relative gap.
2. Association rules: cxlens ``frequent_itemsets`` against mlxtend's ``fpgrowth`` (from the
   same one-hot frame) and pyfim's ``fpgrowth`` (Borgelt's C code, when installed), on
   ``--baskets`` synthetic baskets over 2,000 items at 0.1% minimum support; itemsets compared.
3. Model quality on the real Complete Journey grocery sample (when present) and the demo: CLV
   holdout accuracy, recommendations against popularity (precision@10, recall@10), churn AUC.

Checks (the exit code is 1 if any fails): BG/NBD and Gamma-Gamma parameters within a relative
1e-3 of lifetimes'; the same itemsets with the same counts as mlxtend and pyfim. Imports are timed
apart, the same way for every library (``_common.timed_import``), after the shared numpy, pandas
and scipy.

    python bench/customers.py                                  # 1,000,000 customers, 500,000 baskets
    python bench/customers.py --customers 100000 --baskets 100000   # quick check
    python bench/customers.py --smoke                          # make bench-smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as bc

IMPORTS = {
    "shared (numpy, pandas, scipy)": bc.timed_import("numpy", "pandas", "scipy.sparse", "scipy.optimize"),
    "cxlens": bc.timed_import("cxlens.analyse.customers.clv", "cxlens.analyse.customers.baskets"),
}
import numpy as np  # noqa: E402 - after the timed imports
import pandas as pd  # noqa: E402

from cxlens.analyse.customers import baskets as bk  # noqa: E402
from cxlens.analyse.customers import churn, clv, prepare, recommend, rfm  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
REAL = Path("/work/shared/datasets/completejourney_8451/transactions_sample.csv.gz")
TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
#: Largest relative gap allowed between our fitted parameters and lifetimes' (same likelihood).
PARAM_TOLERANCE = 1e-3


def simulate(customers: int, weeks: float = 78.0, seed: int = 1) -> pd.DataFrame:
    """Transactions of a BG/NBD process (rates per week), each customer starting in the first 12 weeks."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], customers)
    p = rng.beta(TRUE["a"], TRUE["b"], customers)
    start = rng.uniform(0, 12, customers)
    ids, times = [np.arange(customers)], [start]
    t = start.copy()
    alive = np.ones(customers, dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        t[idx] += rng.exponential(1 / lam[idx])
        ok = t[idx] < weeks
        alive[idx[~ok]] = False
        buy = idx[ok]
        ids.append(buy)
        times.append(t[buy])
        dies = rng.random(len(buy)) < p[buy]
        alive[buy[dies]] = False
    cid = np.concatenate(ids)
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.concatenate(times) * 7, unit="D")
    spend = rng.gamma(6.0, 1 / rng.gamma(3.5, 1 / 15.0, customers)[cid])
    return pd.DataFrame({"customer_id": cid.astype(str), "date": when.floor("D"), "value": spend.round(2)})


def bench_clv(customers: int) -> dict[str, Any]:
    tx = simulate(customers)
    obs_end = tx["date"].max()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tx.parquet"
        tx.to_parquet(path)
        t0 = time.perf_counter()
        lines = prepare.read_transactions(path, prepare.Columns("customer_id", "date", "value"))
        s = rfm.summary(prepare.baskets(lines), obs_end, unit="weeks").to_pandas()
        t1 = time.perf_counter()
        bg = clv.BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
        gg = clv.GammaGammaModel().fit(s["frequency"], s["monetary_value"])
        t2 = time.perf_counter()

        IMPORTS["lifetimes"] = bc.timed_import("lifetimes", "lifetimes.utils")
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import summary_data_from_transaction_data

        t3 = time.perf_counter()
        raw = pd.read_parquet(path)
        ls = summary_data_from_transaction_data(
            raw, "customer_id", "date", "value", observation_period_end=obs_end, freq="D", freq_multiplier=7
        )
        t4 = time.perf_counter()
        lbg = BetaGeoFitter().fit(ls["frequency"], ls["recency"], ls["T"])
        rep = ls[(ls["frequency"] > 0) & (ls["monetary_value"] > 0)]
        lgg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        t5 = time.perf_counter()
    gap = max(abs(bg.params_[k] / lbg.params_[k] - 1) for k in bg.params_)
    gg_gap = max(abs(gg.params_[k] / lgg.params_[k] - 1) for k in gg.params_)
    return {
        "customers": customers,
        "transactions": len(tx),
        "cxlens_summary_s": t1 - t0,
        "cxlens_fit_s": t2 - t1,
        "cxlens_total_s": t2 - t0,
        "lifetimes_summary_s": t4 - t3,
        "lifetimes_fit_s": t5 - t4,
        "lifetimes_total_s": t5 - t3,
        "ratio_total": (t5 - t3) / (t2 - t0),
        "ratio_fit": (t5 - t4) / (t2 - t1),
        "cxlens_bgnbd": bg.params_,
        "lifetimes_bgnbd": lbg.params_.to_dict(),
        "cxlens_gamma_gamma": gg.params_,
        "lifetimes_gamma_gamma": lgg.params_.to_dict(),
        "true_bgnbd": TRUE,
        "bgnbd_max_rel_gap": gap,
        "gamma_gamma_max_rel_gap": gg_gap,
    }


def synthetic_baskets(n: int, items: int = 2000, seed: int = 2) -> pd.DataFrame:
    """Baskets of Zipf-popular items plus a few planted bundles, as (basket_id, item) rows."""
    rng = np.random.default_rng(seed)
    sizes = rng.poisson(4, n) + 1
    weights = 1 / np.arange(1, items + 1) ** 1.1
    weights /= weights.sum()
    basket = np.repeat(np.arange(n), sizes)
    item = rng.choice(items, sizes.sum(), p=weights)
    bundles = [(5, 17, 40), (8, 90), (300, 301, 302, 303)]
    extra_b, extra_i = [], []
    for bundle in bundles:
        who = np.flatnonzero(rng.random(n) < 0.01)
        for it in bundle:
            extra_b.append(who)
            extra_i.append(np.full(len(who), it))
    df = pd.DataFrame(
        {
            "basket_id": np.concatenate([basket, *extra_b]),
            "item": np.concatenate([item, *extra_i]).astype(str),
        }
    )
    return df.drop_duplicates()


def bench_rules(n: int, min_support: float = 0.001) -> dict[str, Any]:
    pairs = synthetic_baskets(n)
    t0 = time.perf_counter()
    m = bk.encode(pairs)
    ours = bk.frequent_itemsets(m, min_support)
    t1 = time.perf_counter()
    IMPORTS["mlxtend"] = bc.timed_import("mlxtend.frequent_patterns")
    from mlxtend.frequent_patterns import fpgrowth

    t2 = time.perf_counter()
    onehot = pd.DataFrame.sparse.from_spmatrix(
        m.matrix.astype(bool).astype(np.uint8), columns=m.items
    ).astype(bool)
    t3 = time.perf_counter()
    ref = fpgrowth(onehot, min_support=min_support, use_colnames=True)
    t4 = time.perf_counter()
    counts = dict(zip(ours["itemsets"], ours["count"], strict=True))
    n = m.n_baskets
    mlxtend_counts = {s: round(v * n) for s, v in zip(ref["itemsets"], ref["support"], strict=True)}
    out: dict[str, Any] = {
        "baskets": m.n_baskets,
        "items": len(m.items),
        "min_support": min_support,
        "itemsets": len(ours),
        "cxlens_s": t1 - t0,
        "mlxtend_fpgrowth_s": t4 - t3,
        "mlxtend_with_encoding_s": t4 - t2,
        "ratio_mlxtend": (t4 - t3) / (t1 - t0),
        "itemset_counts": counts,
        "mlxtend_itemset_counts": mlxtend_counts,
    }
    try:
        IMPORTS["pyfim"] = bc.timed_import("fim")
        import fim  # type: ignore[import-not-found]
    except ImportError:
        out["unavailable"] = "pyfim is not installed: pip install -e '.[bench]' (make bench-peers)"
        return out
    t5 = time.perf_counter()
    groups = pairs.groupby("basket_id")["item"].apply(list).tolist()
    t5b = time.perf_counter()
    fim_sets = fim.fpgrowth(groups, target="s", supp=min_support * 100, zmin=1, report="a")
    t6 = time.perf_counter()
    out["pyfim_s"] = t6 - t5b
    out["pyfim_with_lists_s"] = t6 - t5
    out["ratio_vs_pyfim"] = (t1 - t0) / (t6 - t5b)
    out["pyfim_itemsets"] = len(fim_sets)
    out["pyfim_itemset_counts"] = {frozenset(s): int(c) for s, c in fim_sets}
    return out


def real_quality() -> dict[str, Any]:
    if not REAL.exists():
        return {"real": "not present"}
    cols = prepare.Columns(
        customer="household_id",
        date="transaction_timestamp",
        value="sales_value",
        basket="basket_id",
        item="product_id",
    )
    lines = prepare.read_transactions(REAL, cols)
    b = prepare.baskets(lines)
    res = clv.fit_clv(b, "2017-09-30", "2017-12-31")
    out: dict[str, Any] = {"clv": res.as_dict()}
    for split in ("2017-07-01", "2017-10-01"):
        scores = recommend.evaluate(lines, split, k=10)
        out[f"recommend_{split}"] = {k: vars(v) for k, v in scores.items()}
    train = churn.behaviour_features(b, "2017-06-30", 92).to_pandas()
    test = churn.behaviour_features(b, "2017-09-30", 92).to_pandas()
    out["churn"] = churn.time_split_validation(train, test).as_dict()
    items = bk.frequent_itemsets(bk.encode(bk.basket_items(lines).to_pandas()), 0.0005)
    out["rules_itemsets_at_0.05pct"] = len(items)
    return out


def checks(run: bc.Run, c: dict[str, Any], r: dict[str, Any]) -> None:
    """cxlens against lifetimes, mlxtend and pyfim: parameters, itemsets and their counts."""
    for name, ours, peer in (
        ("BG/NBD", c["cxlens_bgnbd"], c["lifetimes_bgnbd"]),
        ("Gamma-Gamma", c["cxlens_gamma_gamma"], c["lifetimes_gamma_gamma"]),
    ):
        for k in ours:
            run.close(f"{name} {k} = lifetimes'", ours[k], peer[k], rel=PARAM_TOLERANCE)
    ours = r["itemset_counts"]
    run.equal("itemsets = mlxtend fpgrowth's", set(ours), set(r["mlxtend_itemset_counts"]))
    run.equal("itemset counts = mlxtend's", ours, r["mlxtend_itemset_counts"])
    run.ran("pyfim", r)
    if "pyfim_itemset_counts" in r:
        run.equal("itemsets = pyfim fpgrowth's", set(ours), set(r["pyfim_itemset_counts"]))
        run.equal("itemset counts = pyfim's", ours, r["pyfim_itemset_counts"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--baskets", type=int, default=500_000)
    ap.add_argument("--skip-real", action="store_true")
    bc.add_arguments(ap)
    args = ap.parse_args()
    bc.apply_smoke(args, customers=20_000, baskets=20_000, skip_real=True)
    run = bc.Run("customers", args)
    result: dict[str, Any] = {}
    c = result["clv"] = bench_clv(args.customers)
    run.table(
        f"CLV end to end: {c['customers']:,} customers, {c['transactions']:,} transactions "
        f"(load average {run.load_before})",
        ["side", "summary s", "fit s", "total s", "peer / cxlens"],
        [
            [
                "cxlens (DuckDB summary, exact-gradient fit)",
                c["cxlens_summary_s"],
                c["cxlens_fit_s"],
                c["cxlens_total_s"],
                1.0,
            ],
            [
                "lifetimes",
                c["lifetimes_summary_s"],
                c["lifetimes_fit_s"],
                c["lifetimes_total_s"],
                c["ratio_total"],
            ],
        ],
        note=f"BG/NBD largest relative parameter gap {c['bgnbd_max_rel_gap']:.1e}, Gamma-Gamma "
        f"{c['gamma_gamma_max_rel_gap']:.1e}; cxlens BG/NBD "
        + ", ".join(f"{k} {v:.4f}" for k, v in c["cxlens_bgnbd"].items())
        + " (simulated from "
        + ", ".join(f"{k} {v}" for k, v in TRUE.items())
        + ").",
    )
    r = result["rules"] = bench_rules(args.baskets)
    rows = [
        ["cxlens frequent_itemsets (with encoding)", r["cxlens_s"], 1.0],
        ["mlxtend fpgrowth (one-hot frame given)", r["mlxtend_fpgrowth_s"], r["ratio_mlxtend"]],
    ]
    if "pyfim_s" in r:
        rows.append(["pyfim fpgrowth (basket lists given)", r["pyfim_s"], r["pyfim_s"] / r["cxlens_s"]])
        rows.append(
            [
                "pyfim, building its basket lists too",
                r["pyfim_with_lists_s"],
                r["pyfim_with_lists_s"] / r["cxlens_s"],
            ]
        )
    run.table(
        f"Frequent itemsets: {r['baskets']:,} baskets x {r['items']:,} items at {r['min_support']:.1%} "
        f"support, {r['itemsets']:,} itemsets",
        ["side", "seconds", "peer / cxlens"],
        rows,
    )
    run.table(
        "Imports (timed apart, not in the figures above)",
        ["library", "seconds"],
        [[k, v] for k, v in IMPORTS.items()],
    )
    checks(run, c, r)
    if not args.skip_real:
        q = result["real"] = real_quality()
        print("Real Complete Journey sample:", json.dumps(q, default=str, indent=1))
    for key in ("itemset_counts", "mlxtend_itemset_counts", "pyfim_itemset_counts"):
        r.pop(key, None)
    result["imports_s"] = IMPORTS
    return run.finish(result)


if __name__ == "__main__":
    sys.exit(main())
