"""Key drivers: the Shapley/relative-weights maths against brute force, the per-customer driver matrix
against pandas, and the demo's planted causes ranking first through the real load path."""

from __future__ import annotations

import itertools
from math import factorial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DemoStore
from cxlens.analyse.drivers import (
    QUADRANTS,
    KeyDriverModel,
    cost_of_inaction,
    driver_matrix_expr,
    key_drivers,
    quadrants,
    text_getter,
)
from cxlens.demo import PLANTED
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    a = np.column_stack([np.ones(len(y)), x])
    resid = y - a @ np.linalg.lstsq(a, y, rcond=None)[0]
    return float(1 - resid.var() / y.var())


def _brute_shapley(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = x.shape[1]
    out = np.zeros(p)
    for j in range(p):
        others = [k for k in range(p) if k != j]
        for size in range(p):
            for s in itertools.combinations(others, size):
                w = factorial(size) * factorial(p - size - 1) / factorial(p)
                with_j = _r2(x[:, [*s, j]], y)
                without = _r2(x[:, list(s)], y) if s else 0.0
                out[j] += w * (with_j - without)
    return out


@pytest.fixture
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    n = 3000
    a = rng.normal(size=n)
    b = 0.6 * a + 0.8 * rng.normal(size=n)  # correlated with a
    c = rng.normal(size=n)
    d = rng.normal(size=n)  # no effect
    y = 2.0 * a + 1.0 * b + 0.5 * c + rng.normal(size=n)
    return np.column_stack([a, b, c, d]), y


def test_shapley_matches_brute_force(synthetic: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = synthetic
    m = KeyDriverModel(method="shapley", n_boot=30, seed=3).fit(x, y)
    np.testing.assert_allclose(m.importance_, _brute_shapley(x, y), atol=1e-8)
    assert m.r2_ == pytest.approx(_r2(x, y), abs=1e-8)
    assert m.importance_[3] < 0.002 < m.importance_[2] < m.importance_[1] < m.importance_[0]
    assert (m.ci_low_[:3] < m.importance_[:3]).all()
    assert (m.importance_[:3] < m.ci_high_[:3]).all()
    assert m.ci_high_[3] < 0.002
    assert np.sign(m.coef_[:3]).tolist() == [1, 1, 1]


def test_relative_weights_sum_to_r2_and_track_shapley(synthetic: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = synthetic
    rw = KeyDriverModel(method="relative_weights", n_boot=30).fit(x, y)
    sh = KeyDriverModel(method="shapley", n_boot=30).fit(x, y)
    assert rw.importance_.sum() == pytest.approx(_r2(x, y), abs=1e-8)
    np.testing.assert_allclose(rw.importance_, sh.importance_, atol=0.02)
    assert list(np.argsort(-rw.importance_)) == list(np.argsort(-sh.importance_))


def test_auto_method_switches_and_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 13))
    y = x[:, 0] + rng.normal(size=400)
    assert KeyDriverModel(n_boot=5).fit(x, y).method_ == "relative_weights"
    assert KeyDriverModel(n_boot=5).fit(x[:, :12], y).method_ == "shapley"
    a = KeyDriverModel(n_boot=20, seed=5).fit(x[:, :3], y)
    b = KeyDriverModel(n_boot=20, seed=5).fit(x[:, :3], y)
    np.testing.assert_array_equal(a.ci_low_, b.ci_low_)
    with pytest.raises(ValueError, match="too few"):
        KeyDriverModel().fit(x[:5], y[:5])


def test_quadrants() -> None:
    imp = pd.Series([0.5, 0.4, 0.01, 0.02])
    perf = pd.Series([0.2, 0.9, 0.1, 0.95])
    assert quadrants(imp, perf) == list(QUADRANTS)


# -- the demo -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    """A 10k-customer demo loaded through ingest, with its texts analysed (aspects for text drivers)."""
    from cxlens.text.store import enrich_feedback

    root = tmp_path_factory.mktemp("drivers")
    ws = demo_store(root / "store", customers=10_000, seed=7)
    enrich_feedback(ws)
    return ws


@pytest.mark.slow
def test_driver_matrix_matches_pandas(demo: Workspace) -> None:
    df = driver_matrix_expr(demo, "nps", text=False).to_pandas().set_index("customer_id")
    fb = demo.con.execute(
        "SELECT customer_id, touchpoint, nps, csat, rating, ces FROM feedback "
        "WHERE brand IS NULL AND customer_id IS NOT NULL"
    ).df()
    nps = fb.dropna(subset=["nps"]).groupby("customer_id")["nps"].mean()
    assert set(df.index) == set(nps.index)
    pd.testing.assert_series_equal(
        df["outcome"].sort_index(), nps.astype(float).sort_index(), check_names=False
    )
    score = (
        fb["csat"]
        .astype(float)
        .fillna(fb["rating"].astype(float))
        .fillna(1 + (7 - fb["ces"].astype(float)) * 2 / 3)
    )
    delivery = fb.assign(score=score)[fb["touchpoint"] == "delivery"].groupby("customer_id")["score"].mean()
    got = df["tp:delivery"].dropna()
    np.testing.assert_allclose(got.to_numpy(), delivery.reindex(got.index).to_numpy(float))
    orders = demo.con.execute(
        "SELECT customer_id, delivered_at <= promised_delivery_at AS ok FROM orders "
        "WHERE fulfilment = 'delivery' AND delivered_at IS NOT NULL AND promised_delivery_at IS NOT NULL"
    ).df()
    on_time = orders.groupby("customer_id")["ok"].mean()
    got = df["op:delivery_on_time"].dropna()
    np.testing.assert_allclose(got.to_numpy(), on_time.reindex(got.index).to_numpy())


@pytest.mark.slow
def test_planted_causes_drive_nps(demo: Workspace) -> None:
    # NPS has two planted causes: late delivery (delivery surveys) and the staff score of store
    # visits (the generator sets the visit's NPS from it); nothing else moves NPS
    r = key_drivers(demo, "nps", text=False, n_boot=100)
    top = r.drivers.head(3)
    assert set(top["driver"]) == {"tp:store_visit", "op:delivery_on_time", "tp:delivery"}
    rest = r.drivers.iloc[3:]
    assert top["ci_low"].min() > rest["ci_high"].max()
    assert (top["direction"] == 1).all()
    assert r.method == "shapley"
    assert r.n_units > 3000
    assert sum(r.drivers["importance"]) == pytest.approx(r.r2)


@pytest.mark.slow
def test_queue_wait_drives_checkout_queue_csat(demo: Workspace) -> None:
    r = key_drivers(text_getter(demo), "csat", outcome_touchpoint="checkout_queue", n_boot=100)
    first = r.drivers.iloc[0]
    assert first["driver"] == "op:queue_wait"
    assert first["direction"] == -1  # longer waits, lower CSAT
    assert first["ci_low"] > r.drivers.iloc[1]["ci_high"]
    assert "tp:checkout_queue" not in set(r.drivers["driver"])  # the outcome is not its own driver
    assert any(d.startswith("aspect:") for d in r.drivers["driver"])


def test_csat_outcome_is_one_touchpoint_never_the_mean_of_its_own_drivers(demo: Workspace) -> None:
    with pytest.raises(ValueError, match="outcome_touchpoint"):
        driver_matrix_expr(demo, "csat", text=False)
    fb = demo.table("feedback").to_pandas()
    own = fb[fb["brand"].isna() & fb["csat"].notna() & fb["customer_id"].notna()]
    busiest = own["touchpoint"].value_counts().idxmax()
    r = key_drivers(demo, "csat", text=False, n_boot=10)
    assert r.outcome_touchpoint == busiest
    assert f"tp:{busiest}" not in set(r.drivers["driver"])


@pytest.mark.slow
def test_late_delivery_drives_repurchase(demo: Workspace) -> None:
    r = key_drivers(demo, "repurchase", text=False, n_boot=100)
    assert r.drivers.iloc[0]["driver"] == "op:delivery_on_time"
    assert r.drivers.iloc[0]["direction"] == 1


@pytest.mark.slow
def test_text_aspects_join_the_drivers(demo: Workspace) -> None:
    r = key_drivers(text_getter(demo), "nps", n_boot=50)
    assert r.method == "relative_weights"  # > 12 drivers with the aspects
    names = list(r.drivers["driver"])
    assert "aspect:delivery" in names[:5]
    assert names[0] == "tp:store_visit"


@pytest.mark.slow
def test_cost_of_inaction_is_detractor_spend(demo: Workspace) -> None:
    r = key_drivers(demo, "nps", text=False, n_boot=20, value="spend")
    units = driver_matrix_expr(demo, "nps", text=False).to_pandas()
    orders = demo.con.execute(
        "SELECT customer_id, ordered_at, total_amount FROM orders "
        "WHERE customer_id IS NOT NULL AND (status IS NULL OR status <> 'cancelled')"
    ).df()
    recent = orders[orders["ordered_at"] > orders["ordered_at"].max() - pd.Timedelta(days=365)]
    spend = recent.groupby("customer_id")["total_amount"].sum()
    detractors = units.loc[units["outcome"] <= 6, "customer_id"]
    expected = float(spend.reindex(detractors).fillna(0).sum())
    assert r.cost["revenue_at_risk"] == pytest.approx(expected, abs=0.01)
    assert r.cost["detractors"] == len(detractors)
    assert r.cost["basis"] == "trailing 12-month spend"
    assert 0 < r.cost["share_at_risk"] < 1
    visit = r.drivers.set_index("driver").loc["tp:store_visit", "revenue_at_risk"]
    assert 0 < visit < r.cost["revenue_at_risk"]
    summary, _ = cost_of_inaction(demo, units[["customer_id", "outcome"]], value="clv")
    assert summary["basis"] == "clv"
    assert summary["revenue_at_risk"] > 0


@pytest.mark.slow
def test_store_scope_and_errors(demo: Workspace) -> None:
    scoped = driver_matrix_expr(demo, "nps", text=False, stores=list(PLANTED.queue_stores)).to_pandas()
    full = driver_matrix_expr(demo, "nps", text=False).to_pandas()
    assert 0 < len(scoped) < len(full) / 5
    with pytest.raises(ValueError, match="unknown outcome"):
        key_drivers(demo, "joy")  # type: ignore[arg-type]


def test_no_feedback_is_a_clear_error(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(ValueError, match="no driver"):
        key_drivers(ws, "nps")
    ws.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    """A 1,500-customer demo: enough for every driver column, small enough for Spark."""
    root = tmp_path_factory.mktemp("drivers-small")
    ws = demo_store(root / "store", customers=1_500, seed=3)
    return ws


@pytest.mark.slow
@pytest.mark.spark
def test_driver_matrix_agrees_on_spark(small: Workspace, spark_session: object) -> None:
    # repurchase exercises every part of the matrix (touchpoints, operations) plus the time windows
    rep = assert_engines_agree(
        small, lambda t: driver_matrix_expr(t, "repurchase", text=False), sort_by=["customer_id"]
    )
    assert {"op:queue_wait", "op:delivery_on_time", "tp:delivery"} <= set(rep.columns)
    assert set(rep["outcome"]) == {0.0, 1.0}


@pytest.mark.slow
def test_cli_drivers(demo: Workspace) -> None:
    import json

    from typer.testing import CliRunner

    from cxlens.cli.main import app

    runner = CliRunner()
    base = ["--data-dir", str(demo.data_dir), "analyse", "drivers"]
    result = runner.invoke(app, [*base, "--no-text", "--boot", "30", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = key_drivers(demo, "nps", text=False, n_boot=30)
    assert [d["driver"] for d in data["drivers"]] == list(expected.drivers["driver"])
    assert data["drivers"][0]["importance"] == pytest.approx(expected.drivers["importance"].iloc[0])
    assert data["cost_of_inaction"]["detractors"] == expected.cost["detractors"]
    table = runner.invoke(app, [*base, "--outcome", "repurchase", "--boot", "20"])
    assert table.exit_code == 0
    assert "drivers of repurchase" in table.output
    bad = runner.invoke(app, [*base, "--outcome", "joy"])
    assert bad.exit_code == 2
    assert "unknown outcome 'joy'" in bad.output


@pytest.mark.slow
def test_report_section(demo: Workspace) -> None:
    from cxlens.report.drivers_section import drivers_section
    from cxlens.report.render import render_html

    section = drivers_section(text_getter(demo), n_boot=30)
    assert len(section.charts) == 3  # priority matrix, importance, benchmark heatmap
    assert "Store visit" in section.findings[0]  # by its name (the id stays in the data)
    assert [t.caption for t in section.tables] == [
        "Drivers of nps",
        "Competitor benchmark (difference = competitor - ours; * p < 0.05)",
    ]
    assert any(k.label == "Revenue at risk from detractors" for k in section.kpis)
    assert "Brightway" in section.tables[1].rows[0][1] or "Valora" in section.tables[1].rows[0][1]
    html = render_html("t", "s", [section])
    assert "Priority matrix" in html
    empty = drivers_section(Workspace(demo.data_dir.parent / "empty-report"))
    assert not empty.charts
    assert len(empty.notes) == 2
