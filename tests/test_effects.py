"""Action-plan effects: difference-in-differences recovers the demo's planted staff training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DemoStore
from cxlens.analyse.effects import did_effect, did_expr, did_series, did_series_expr
from cxlens.demo import PLANTED
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree

PLACEBO = ["S001", "S010", "S020", "S030"]
TRAINING = {
    "treated_stores": list(PLANTED.training_stores),
    "start": PLANTED.training_date,
    "touchpoint": PLANTED.training_touchpoint,
}


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    root = tmp_path_factory.mktemp("effects")
    ws = demo_store(root / "store", customers=10_000, seed=7)
    return ws


def _pandas_did(
    ws: Workspace, treated: list[str], start: str, touchpoint: str, metric: str = "csat_mean"
) -> float:
    """The difference in differences of a metric from raw answers, in the metric's own units."""
    column = {"csat_mean": "csat", "csat": "csat", "nps": "nps"}[metric]
    fb = ws.con.execute(
        f"SELECT store_id, submitted_at, {column} AS x FROM feedback "
        f"WHERE {column} IS NOT NULL AND brand IS NULL AND touchpoint = ? AND store_id IS NOT NULL",
        [touchpoint],
    ).df()
    fb["treated"] = fb["store_id"].isin(treated)
    fb["after"] = fb["submitted_at"] >= pd.Timestamp(start)

    def value(x: pd.Series) -> float:
        if metric == "csat":  # % of 4-5 answers
            return float(100 * (x >= 4).mean())
        if metric == "nps":  # % promoters - % detractors
            return float(100 * ((x >= 9).mean() - (x <= 6).mean()))
        return float(x.mean())

    m = fb.groupby(["treated", "after"])["x"].apply(value)
    return float((m[True, True] - m[True, False]) - (m[False, True] - m[False, False]))


@pytest.mark.slow
def test_planted_training_is_recovered(demo_ws: Workspace) -> None:
    e = did_effect(demo_ws, **TRAINING, metric="csat_mean")  # type: ignore[arg-type]
    assert e.ci_low > 0, e
    assert e.ci_low < PLANTED.training_csat_effect < e.ci_high
    assert abs(e.estimate - PLANTED.training_csat_effect) < 0.25
    assert e.p_value < 1e-6
    assert e.significant
    expected = _pandas_did(demo_ws, list(PLANTED.training_stores), "2025-07-01", "store_visit")
    assert e.estimate == pytest.approx(expected, rel=1e-9)
    assert e.unit == "points on the 1-5 scale"
    assert set(e.control_stores).isdisjoint(PLANTED.training_stores)
    assert e.n_treated_before > 100
    assert e.n_control_after > 1000
    assert abs(e.control_after - e.control_before) < 0.1
    d = e.as_dict()
    assert d["start"] == "2025-07-01"
    assert d["treated_stores"] == list(PLANTED.training_stores)


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["csat", "nps"])
def test_effects_are_in_the_metrics_own_units(demo_ws: Workspace, metric: str) -> None:
    """CSAT is the % of 4-5 answers (README "Metrics"), so its effect is in percentage points, not
    on the 1-5 mean; NPS in NPS points, not on the 0-10 answer."""
    e = did_effect(demo_ws, **TRAINING, metric=metric)  # type: ignore[arg-type]
    expected = _pandas_did(demo_ws, list(PLANTED.training_stores), "2025-07-01", "store_visit", metric)
    assert e.estimate == pytest.approx(expected, rel=1e-9)
    assert e.estimate > 10  # the planted +0.8 on the mean is tens of points here
    assert e.unit == {"csat": "percentage points (satisfied answers, 4-5)", "nps": "NPS points"}[metric]
    series = did_series(demo_ws, **TRAINING, metric=metric)  # type: ignore[arg-type]
    assert series["mean"].between(-100, 100).all()
    assert series.attrs["unit"] == e.unit


@pytest.mark.slow
def test_placebo_plan_shows_no_effect(demo_ws: Workspace) -> None:
    assert not set(PLACEBO) & set(PLANTED.training_stores)
    stores = set(demo_ws.table("stores").store_id.to_pandas())
    clean = sorted(stores - set(PLACEBO) - set(PLANTED.training_stores))
    e = did_effect(
        demo_ws,
        treated_stores=PLACEBO,
        start=PLANTED.training_date,
        touchpoint="store_visit",
        control_stores=clean,
    )
    assert e.ci_low < 0 < e.ci_high, e
    assert not e.significant
    # the default control (every other store) includes the trained stores, whose rise leaks in
    default = did_effect(
        demo_ws, treated_stores=PLACEBO, start=PLANTED.training_date, touchpoint="store_visit"
    )
    assert default.control_after - default.control_before > e.control_after - e.control_before
    assert default.estimate < e.estimate


@pytest.mark.slow
def test_other_touchpoints_do_not_move(demo_ws: Workspace) -> None:
    e = did_effect(
        demo_ws, treated_stores=list(PLANTED.training_stores), start="2025-07-01", touchpoint="checkout_queue"
    )
    assert e.ci_low < 0 < e.ci_high


@pytest.mark.slow
def test_interval_is_the_standard_error_of_four_means(demo_ws: Workspace) -> None:
    e = did_effect(demo_ws, **TRAINING, metric="csat_mean", confidence=0.9)  # type: ignore[arg-type]
    fb = demo_ws.con.execute(
        "SELECT store_id, submitted_at, csat FROM feedback WHERE touchpoint = 'store_visit' "
        "AND csat IS NOT NULL AND brand IS NULL AND store_id IS NOT NULL"
    ).df()
    fb["g"] = fb["store_id"].isin(PLANTED.training_stores)
    fb["a"] = fb["submitted_at"] >= pd.Timestamp(PLANTED.training_date)
    v = fb.groupby(["g", "a"])["csat"].agg(["var", "count"])
    se = float(np.sqrt((v["var"] / v["count"]).sum()))
    assert e.ci_high - e.ci_low == pytest.approx(2 * 1.6448536 * se, rel=1e-6)


@pytest.mark.slow
def test_series_shows_the_step(demo_ws: Workspace) -> None:
    s = did_series(demo_ws, **TRAINING, metric="csat_mean")  # type: ignore[arg-type]
    assert list(s.columns) == ["group", "period", "mean", "n", "ci_low", "ci_high", "after"]
    assert set(s["group"]) == {"treated", "control"}
    assert len(s) == 24
    treated = s[s["group"] == "treated"]
    gap = treated[treated["after"]]["mean"].mean() - treated[~treated["after"]]["mean"].mean()
    assert gap > 0.5
    control = s[s["group"] == "control"]
    assert control["mean"].max() - control["mean"].min() < 0.3
    assert s.attrs["start"] == "2025-07-01"
    assert (s["ci_low"] < s["mean"]).all()
    assert (s["mean"] < s["ci_high"]).all()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"treated_stores": ["S999"], "start": "2025-07-01"}, "unknown store 'S999'"),
        ({"treated_stores": ["S005"], "start": "2030-01-01"}, "outside the data"),
        ({"treated_stores": ["S005"], "start": "nonsense"}, "not a date"),
        ({"treated_stores": ["S005"], "start": "2025-07-01", "metric": "joy"}, "unknown metric"),
        ({"treated_stores": ["S005"], "start": "2025-07-01", "touchpoint": "nowhere"}, "fewer than 2"),
        (
            {"treated_stores": ["S005"], "start": "2025-07-01", "control_stores": ["S005"]},
            "both treated and control",
        ),
    ],
)
def test_clear_errors(demo_ws: Workspace, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        did_effect(demo_ws, **kwargs)  # type: ignore[arg-type]


def test_empty_workspace_says_so(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.ingest("stores", pd.DataFrame({"store_id": ["S1", "S2"], "name": ["One", "Two"]}))
    with pytest.raises(ValueError, match="no feedback"):
        did_effect(ws, treated_stores=["S1"], start="2025-07-01")
    ws.close()


@pytest.mark.slow
@pytest.mark.spark
def test_effect_aggregations_agree_on_spark(demo_ws: Workspace, spark_session: object) -> None:
    kwargs = {
        "treated_stores": list(PLANTED.training_stores),
        "start": "2025-07-01",
        "touchpoint": "store_visit",
    }
    df = assert_engines_agree(demo_ws, lambda t: did_expr(t, **kwargs), sort_by=["group", "after"])  # type: ignore[arg-type]
    assert len(df) == 4
    series = assert_engines_agree(
        demo_ws,
        lambda t: did_series_expr(t, **kwargs),
        sort_by=["group", "period"],  # type: ignore[arg-type]
    )
    assert len(series) == 24


@pytest.mark.slow
def test_cli_effect(demo_ws: Workspace) -> None:
    import json

    from typer.testing import CliRunner

    from cxlens.cli.main import app

    runner = CliRunner()
    base = ["--data-dir", str(demo_ws.data_dir), "analyse", "effect"]
    stores = ",".join(PLANTED.training_stores)
    result = runner.invoke(
        app, [*base, "--stores", stores, "--start", "2025-07-01", "--touchpoint", "store_visit", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = did_effect(demo_ws, **TRAINING)  # type: ignore[arg-type]
    assert data["estimate"] == pytest.approx(expected.estimate)
    assert data["significant"] is True
    table = runner.invoke(
        app, [*base, "--stores", stores, "--start", "2025-07-01", "--touchpoint", "store_visit"]
    )
    assert table.exit_code == 0
    assert "significant" in table.output
    assert "treated" in table.output
    bad = runner.invoke(app, [*base, "--stores", "S005,S999", "--start", "2025-07-01"])
    assert bad.exit_code == 2
    assert "unknown store 'S999'" in bad.output
    late = runner.invoke(app, [*base, "--stores", "S005", "--start", "2031-01-01"])
    assert late.exit_code == 2
    assert "outside the data" in late.output
