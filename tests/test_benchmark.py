"""Competitor benchmark: counts and tests against pandas, and the demo competitors' profiles recovered.

The demo writes competitor reviews with these profiles (cxlens/demo/_feedback.py): Brightway has a
mean rating of 3.5 and 80% negative delivery comments; Valora 3.9, 20% negative delivery comments and
75% negative price comments; our own mean rating is about 4.0.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from conftest import DemoStore
from cxlens.analyse.benchmark import COLUMNS, OURS, benchmark, benchmark_expr, benchmark_matrix
from cxlens.analyse.common import TableGetter
from cxlens.analyse.drivers import text_getter
from cxlens.demo import PLANTED
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    from cxlens.text.store import enrich_feedback

    root = tmp_path_factory.mktemp("benchmark")
    ws = demo_store(root / "store", customers=8_000, seed=11)
    enrich_feedback(ws)
    return ws


def _row(df: pd.DataFrame, indicator: str, brand: str) -> pd.Series:
    return df[(df["indicator"] == indicator) & (df["brand"] == brand)].iloc[0]


def test_rating_against_pandas(demo: Workspace) -> None:
    df = benchmark(demo)  # no text tables through a plain workspace: rating only
    assert list(df.columns) == list(COLUMNS)
    assert set(df["indicator"]) == {"rating"}
    assert list(df["brand"]) == [OURS, *sorted(PLANTED.competitor_brands)]
    fb = demo.con.execute(
        "SELECT coalesce(brand, '(ours)') AS brand, rating FROM feedback WHERE rating IS NOT NULL"
    ).df()
    ours = fb.loc[fb["brand"] == OURS, "rating"].astype(float)
    for brand in PLANTED.competitor_brands:
        theirs = fb.loc[fb["brand"] == brand, "rating"].astype(float)
        row = _row(df, "rating", brand)
        assert row["n"] == len(theirs)
        assert row["mean"] == pytest.approx(theirs.mean())
        assert row["share_positive"] == pytest.approx((theirs >= 4).mean())
        welch = st.ttest_ind(theirs, ours, equal_var=False)
        assert row["p_mean"] == pytest.approx(welch.pvalue, rel=1e-6)
        assert row["diff_mean"] == pytest.approx(theirs.mean() - ours.mean())
    assert np.isnan(_row(df, "rating", OURS)["diff_mean"])


def test_competitor_profiles_are_recovered(demo: Workspace) -> None:
    df = benchmark(text_getter(demo))
    bright, valora = _row(df, "rating", "Brightway"), _row(df, "rating", "Valora")
    assert bright["significant"]
    assert bright["diff_mean_ci_high"] < -0.2
    assert abs(valora["diff_mean"]) < 0.3
    d_bright, d_valora = _row(df, "delivery", "Brightway"), _row(df, "delivery", "Valora")
    assert d_bright["diff_share_ci_high"] < 0 < d_valora["diff_share_ci_low"]
    assert d_bright["p_share"] < 0.001
    assert d_valora["p_share"] < 0.001
    price = _row(df, "price_promotions", "Valora")
    assert price["diff_share_ci_high"] < 0
    assert price["significant"]
    matrix = benchmark_matrix(df)
    assert set(matrix.columns) == set(PLANTED.competitor_brands)
    assert matrix.loc["delivery", "Brightway"] < 0 < matrix.loc["delivery", "Valora"]
    small = df[(df["brand"] != OURS) & df["small_n"]]
    assert not small.empty
    assert all(pd.isna(matrix.loc[r.indicator, r.brand]) for r in small.itertuples())


def test_store_scope_keeps_competitors(demo: Workspace) -> None:
    df = benchmark(text_getter(demo), stores=["S001"])
    full = benchmark(text_getter(demo))
    assert _row(df, "rating", "Brightway")["n"] == _row(full, "rating", "Brightway")["n"]
    assert OURS not in set(df.loc[df["indicator"] == "rating", "brand"])  # reviews name no store
    assert 0 < _row(df, "staff", OURS)["n"] < _row(full, "staff", OURS)["n"] / 20


def test_one_store_against_competitors_is_never_better_or_worse(demo: Workspace) -> None:
    """A store manager's own store (a handful of answers per aspect) against competitors
    chain-wide: every competitor row is small-n and says so instead of "worse than us"."""
    df = benchmark(text_getter(demo), stores=["S001"], start="2025-12-01")
    comp = df[df["brand"] != OURS]
    assert comp["small_n"].all()
    assert (comp["verdict"] == "too few answers").all()
    assert comp["significant"].any()  # a test alone would have said "better" or "worse"
    assert df.loc[df["brand"] == OURS, "verdict"].isna().all()
    full = benchmark(text_getter(demo))
    sig = full[(full["brand"] != OURS) & ~full["small_n"]]
    expected = np.where(
        ~sig["significant"],
        "no significant difference",
        np.where(sig["diff_share"].where(sig["p_share"] < 0.05, sig["diff_mean"]) > 0, "better", "worse"),
    )
    mixed = sig["verdict"] == "mixed"
    assert (sig.loc[~mixed, "verdict"].to_numpy() == expected[~mixed.to_numpy()]).all()
    assert _row(full, "rating", "Brightway")["verdict"] == "worse"


def test_a_competitor_with_identical_ratings_is_not_infinitely_significant(tmp_path: Path) -> None:
    """Three 5-star reviews of a competitor have no spread: Welch treated their mean as exact
    (p about 1e-24 against our ratings); the pooled-variance t gives an honest p and a verdict
    that says there are too few answers."""
    rng = np.random.default_rng(3)
    ours = rng.integers(1, 6, 400)
    rows = [
        {"feedback_id": f"o{i}", "submitted_at": "2025-03-01", "source": "review", "rating": int(r)}
        for i, r in enumerate(ours)
    ]
    rows += [
        {
            "feedback_id": f"z{i}",
            "submitted_at": "2025-03-01",
            "source": "review",
            "rating": 5,
            "brand": "Zed",
        }
        for i in range(3)
    ]
    ws = Workspace(tmp_path / "ws")
    ws.ingest("feedback", pd.DataFrame(rows))
    row = _row(benchmark(ws), "rating", "Zed")
    theirs = np.full(3, 5.0)
    with warnings.catch_warnings():  # scipy warns that the three 5s have no spread: the point here
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = st.ttest_ind(theirs, ours.astype(float), equal_var=True)
    assert row["p_mean"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert row["p_mean"] > 1e-3
    assert row["verdict"] == "too few answers"
    ws.close()


def test_empty_store_gives_empty_frame(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    df = benchmark(ws)
    assert df.empty
    assert list(df.columns) == list(COLUMNS)
    ws.close()


@pytest.mark.spark
def test_benchmark_agrees_on_spark(demo: Workspace, spark_session: object) -> None:
    def with_text(t: TableGetter) -> TableGetter:
        """The same engine's getter, plus the text tables (the harness's getter has only the model's)."""
        return text_getter(demo, "spark" if t("feedback").get_backend().name == "pyspark" else "duckdb")

    df = assert_engines_agree(demo, lambda t: benchmark_expr(with_text(t)), sort_by=["indicator", "brand"])
    assert {"rating", "delivery"} <= set(df["indicator"])


def test_cli_benchmark(demo: Workspace) -> None:
    import json

    from typer.testing import CliRunner

    from cxlens.cli.main import app

    runner = CliRunner()
    result = runner.invoke(app, ["--data-dir", str(demo.data_dir), "analyse", "benchmark", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    expected = benchmark(text_getter(demo))
    assert len(rows) == len(expected)
    got = {(r["indicator"], r["brand"]): r for r in rows}
    assert got[("delivery", "Brightway")]["diff_share"] == pytest.approx(
        _row(expected, "delivery", "Brightway")["diff_share"]
    )
    csv = runner.invoke(app, ["--data-dir", str(demo.data_dir), "analyse", "benchmark", "-o", "csv"])
    assert csv.exit_code == 0
    assert csv.output.startswith("indicator,kind,brand,n,")
