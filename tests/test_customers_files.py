"""From a file straight to an answer: ``customers clv --out`` (per-customer values against lifetimes),
``customers rules --join`` on the real Complete Journey files (against mlxtend), real support
values in the table, why no rule passed, and machine-readable output straight to stdout."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import lifetimes
import lifetimes.utils
import mlxtend.frequent_patterns as mlxtend_fp
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxlens.cli.common import cell, write_json
from cxlens.cli.main import app

CDNOW = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_master.txt"
CJ = Path("/work/shared/datasets/completejourney_8451")
runner = CliRunner()


def _real(name: str) -> Path:
    path = CJ / name
    if not path.exists():
        pytest.fail(f"{path} is missing: CI runs beside shared/datasets")
    return path


@pytest.mark.slow  # fits lifetimes on 23,570 customers for reference
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_clv_out_writes_each_customers_value_as_lifetimes_predicts_it(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"values{suffix}"
    args = ["customers", "clv", str(CDNOW), "--customer-col", "customer_id", "--date-col", "date"]
    args += ["--value-col", "dollar_value", "--date-format", "%Y%m%d", "--calibration-end", "1997-09-30"]
    args += ["--observation-end", "1998-06-30", "--out", str(target), "--horizon", "30", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["holdout"]["mae"] > 0  # the summary stays on screen
    got = pd.read_parquet(target) if suffix == ".parquet" else pd.read_csv(target, dtype={"customer_id": str})
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    ref = lifetimes.utils.summary_data_from_transaction_data(
        raw, "customer_id", "date", monetary_value_col="dollar_value", observation_period_end="1998-06-30"
    )
    assert len(got) == len(ref) == raw["customer_id"].nunique()
    got = got.set_index("customer_id").loc[ref.index]
    bg = lifetimes.BetaGeoFitter().fit(ref["frequency"], ref["recency"], ref["T"])
    repeat = ref[(ref["frequency"] > 0) & (ref["monetary_value"] > 0)]
    gg = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    expected = pd.DataFrame(
        {
            "p_alive": bg.conditional_probability_alive(ref["frequency"], ref["recency"], ref["T"]),
            "expected_purchases": bg.conditional_expected_number_of_purchases_up_to_time(
                30, ref["frequency"], ref["recency"], ref["T"]
            ),
            "expected_spend": gg.conditional_expected_average_profit(ref["frequency"], ref["monetary_value"]),
        },
        index=ref.index,
    )
    for col in ("frequency", "recency", "T"):
        assert got[col].to_numpy() == pytest.approx(ref[col].to_numpy())
    for col in expected.columns:
        assert got[col].to_numpy() == pytest.approx(expected[col].to_numpy(), rel=5e-3, abs=1e-6), col
    assert got["clv"].to_numpy() == pytest.approx(
        (got["expected_purchases"] * got["expected_spend"]).to_numpy()
    )


def test_clv_out_refuses_other_file_types(tmp_path: Path) -> None:
    args = ["customers", "clv", str(CDNOW), "--customer-col", "customer_id", "--date-col", "date"]
    res = runner.invoke(app, [*args, "--calibration-end", "1997-09-30", "--out", str(tmp_path / "v.xlsx")])
    assert res.exit_code == 2
    assert ".csv or .parquet" in res.output


def _cj_joined() -> pd.DataFrame:
    tx = pd.read_csv(_real("transactions_sample.csv.gz"), dtype=str)
    products = pd.read_csv(_real("products.csv.gz"), dtype=str)
    return tx.merge(products, on="product_id", how="left")


@pytest.mark.slow  # mines the real grocery sample twice (cxlens and mlxtend)
def test_rules_on_a_category_column_of_a_joined_file_equal_mlxtend() -> None:
    args = ["customers", "rules", str(_real("transactions_sample.csv.gz")), "--basket-col", "household_id"]
    args += ["--item-col", "product_category", "--join", str(_real("products.csv.gz")), "--on", "product_id"]
    res = runner.invoke(app, [*args, "--min-support", "0.08", "--json"])
    assert res.exit_code == 0, res.output
    ours = pd.DataFrame(json.loads(res.stdout))
    joined = _cj_joined().dropna(subset=["product_category"])
    onehot = pd.crosstab(joined["household_id"], joined["product_category"]).gt(0)
    itemsets = mlxtend_fp.fpgrowth(onehot, min_support=0.08, use_colnames=True)
    ref = mlxtend_fp.association_rules(itemsets, metric="confidence", min_threshold=0.0)
    key = lambda a, c: (frozenset(a), frozenset(c))  # noqa: E731
    theirs = {
        key(a, c): s for a, c, s in zip(ref["antecedents"], ref["consequents"], ref["support"], strict=True)
    }
    mine = {
        key(a, c): s
        for a, c, s in zip(ours["antecedents"], ours["consequents"], ours["support"], strict=True)
    }
    assert len(mine) == len(theirs) > 1000
    assert mine.keys() == theirs.keys()
    assert all(mine[k] == pytest.approx(theirs[k]) for k in mine)
    assert min(mine.values()) >= 0.08


def test_small_supports_keep_their_digits_in_tables() -> None:
    assert cell(0.0042) == "0.0042"
    assert cell(0.08) == "0.08"
    assert cell(12345.678) == "12,345.68"
    assert cell(0.0) == "0.00"


@pytest.mark.slow
def test_when_no_rule_passes_it_says_why_and_what_would_pass() -> None:
    args = ["customers", "rules", str(_real("transactions_sample.csv.gz")), "--basket-col", "basket_id"]
    args += ["--item-col", "product_category", "--join", str(_real("products.csv.gz")), "--on", "product_id"]
    res = runner.invoke(app, [*args, "--min-support", "0.05", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == []
    why = " ".join(res.stderr.split())
    joined = (
        _cj_joined().dropna(subset=["product_category"])[["basket_id", "product_category"]].drop_duplicates()
    )
    per_basket = joined.groupby("basket_id").size()
    assert f"{len(per_basket):,} baskets hold {per_basket.mean():.2f} distinct items on average" in why
    top = joined["product_category"].value_counts()
    assert f"the most frequent item ({top.index[0]}) is in {top.iloc[0] / len(per_basket):.2%}" in why
    suggested = float(re.search(r"try --min-support ([0-9.e-]+)", why).group(1))  # type: ignore[union-attr]
    again = runner.invoke(app, [*args, "--min-support", str(suggested), "--json"])
    assert len(json.loads(again.stdout)) >= 20


def test_json_goes_straight_to_stdout() -> None:
    frame = pd.DataFrame({"a": [1.5, float("nan")], "b": ["x", "日本"]})
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        write_json(frame)
        write_json({"v": float("inf"), "w": [1, float("nan")]})
    first, second = buffer.getvalue().splitlines()
    assert json.loads(first) == [{"a": 1.5, "b": "x"}, {"a": None, "b": "日本"}]
    assert json.loads(second) == {"v": None, "w": [1, None]}
