"""What a CX manager sees on the demo retailer holds together: every comparison's "significant"
agrees with its interval, and the default alert rules give each owner a day's work a team can do
(with the old defaults, one team got every alert and no case was opened)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from conftest import DemoStore
from cxlens.act import alerts as al
from cxlens.act.routing import Routing
from cxlens.analyse import metrics as m
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    from cxlens.text.store import enrich_feedback

    root = tmp_path_factory.mktemp("numbers")
    ws = demo_store(root / "store", customers=20_000, seed=7)
    enrich_feedback(ws)
    return ws


@pytest.mark.parametrize(
    ("grain", "by"), [("week", "store_id"), ("month", "store_id"), ("quarter", "region")]
)
def test_every_comparison_on_the_demo_agrees_with_its_interval(
    demo_ws: Workspace, grain: str, by: str
) -> None:
    metrics = ["nps", "csat", "csat_mean", "ces"]
    frames = [
        m.compare_periods(demo_ws, metrics, grain, by),  # type: ignore[arg-type]
        m.compare_segments(demo_ws, metrics, by),
    ]
    checked = 0
    for df in frames:
        tested = df[df["p_value"].notna()]
        excludes = (tested["diff_ci_low"] > 0) | (tested["diff_ci_high"] < 0)
        assert (tested["significant"] == excludes).all(), tested[tested["significant"] != excludes]
        assert df.loc[df["p_value"].isna(), "significant"].eq(False).all()
        checked += len(tested)
    assert checked > 20


def _old_defaults() -> al.RuleSet:
    """The rules and routing cxlens shipped before: every detractor high, every negative aspect."""
    return al.RuleSet(
        (
            al.DetractorRule(id="detractor", kind="detractor", priority="high"),
            al.KeywordRule(id="refund", kind="keyword", priority="high"),
            al.AspectRule(id="negative-aspect", kind="aspect"),
            al.MetricDropRule(id="nps-drop", kind="metric_drop", metric="nps", min_drop=5),
        )
    )


def test_default_alert_rules_give_each_owner_a_workable_day(
    demo_ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    week = datetime(2025, 12, 25)
    with OpsStore(data_dir=tmp_path_factory.mktemp("ops-first")) as ops:
        first = al.run_alerts(ops, demo_ws, send=False)  # no cursor, no --since
        assert first.evaluated > 50  # the last two days of feedback, not nothing
        assert first.cases_opened > 0  # the cases page has work on it
    with OpsStore(data_dir=tmp_path_factory.mktemp("ops-week")) as ops:
        run = al.run_alerts(ops, demo_ws, since=week, send=False)
        volume = run.volume()
        assert volume["owner"].nunique() >= 10  # spread over store, region and touchpoint teams
        assert volume["alerts"].max() <= 12  # alerts per owner and day
        assert volume["cases"].max() <= 6
        assert 0 < run.cases_opened < run.fired
    with OpsStore(data_dir=tmp_path_factory.mktemp("ops-old")) as ops:
        central = Routing.model_validate({"default": {"owner": "cx-team"}, "teams": []})
        old = al.run_alerts(ops, demo_ws, _old_defaults(), central, since=week, send=False)
        busiest = old.volume()
        assert busiest["owner"].unique().tolist() == ["cx-team"]
        assert busiest["alerts"].max() > 4 * volume["alerts"].max()
        assert old.cases_opened == 0


def test_first_run_window_follows_the_data_not_the_clock(
    demo_ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    fb = demo_ws.table("feedback")
    last = fb.filter(fb.brand.isnull()).submitted_at.max().to_pandas()
    rules = al.RuleSet((al.DetractorRule(id="d", kind="detractor"),), first_run=timedelta(days=1))
    with OpsStore(data_dir=tmp_path_factory.mktemp("ops-clock")) as ops:
        run = al.run_alerts(ops, demo_ws, rules, now=datetime(2030, 1, 1), send=False)
    frame = demo_ws.table("feedback").to_pandas()
    own = frame[frame["brand"].isna()]
    expected = (own["submitted_at"] > last - np.timedelta64(1, "D")).sum()
    assert run.evaluated == expected
