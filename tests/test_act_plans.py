"""Action plans: stored and audited on SQLite and PostgreSQL; on the demo retailer the planted staff
training is measured as an effect whose interval excludes 0, and a placebo plan on other stores
shows an interval that contains 0."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from conftest import DemoStore
from cxlens.act import plans as pl
from cxlens.demo import PLANTED
from cxlens.ops import AuditEntry, OpsStore
from cxlens.storage.workspace import Workspace

PLACEBO = ["S001", "S010", "S020", "S030"]


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    root = tmp_path_factory.mktemp("plans")
    ws = demo_store(root / "store", customers=4_000, seed=7)
    return ws


def _training(
    ops: OpsStore, stores: list[str], name: str = "Staff training", metric: str = "csat_mean"
) -> object:
    return pl.create_plan(
        ops,
        name,
        stores=stores,
        start=PLANTED.training_date,
        metric=metric,
        touchpoint=PLANTED.training_touchpoint,
        driver="staff",
        owner="ops-lead",
        actor="alice",
    )


@pytest.mark.slow
def test_planted_training_is_measured_and_placebo_is_not(demo_ws: Workspace, ops: OpsStore) -> None:
    assert not set(PLACEBO) & set(PLANTED.training_stores)
    trained = _training(ops, list(PLANTED.training_stores))
    placebo = _training(ops, PLACEBO, "Placebo")
    effect = pl.measure(trained, demo_ws)  # type: ignore[arg-type]
    assert effect.ci_low > 0
    assert effect.ci_low < PLANTED.staff_csat_trained_mean - PLANTED.staff_csat_mean < effect.ci_high
    none = pl.measure(placebo, demo_ws, ops=ops)  # type: ignore[arg-type]
    assert none.ci_low < 0 < none.ci_high
    # the trained stores have a plan on the same metric: they are not the placebo's control
    assert not set(none.control_stores) & set(PLANTED.training_stores)
    assert set(none.control_stores) & {"S002", "S003"}
    unaware = pl.measure(placebo, demo_ws)  # type: ignore[arg-type]
    assert set(PLANTED.training_stores) <= set(unaware.control_stores)
    series = pl.measure_series(trained, demo_ws)  # type: ignore[arg-type]
    assert set(series["group"]) == {"treated", "control"}
    after = series[series["group"] == "treated"]
    late = after[pd.to_datetime(after["period"]) >= pd.Timestamp(PLANTED.training_date)]["mean"].mean()
    early = after[pd.to_datetime(after["period"]) < pd.Timestamp(PLANTED.training_date)]["mean"].mean()
    assert late - early > 0.4


def test_plans_are_stored_listed_and_audited(ops: OpsStore) -> None:
    plan = pl.create_plan(
        ops,
        "Faster queues",
        stores=["S2", "S1", "S1"],
        control_stores=["S9"],
        start="2026-01-15",
        metric="nps",
        touchpoint="checkout_queue",
        actor="alice",
    )
    assert plan.stores == ["S1", "S2"]
    assert pl.get_plan(ops, plan.plan_id).start_date == date(2026, 1, 15)
    pl.set_plan_status(ops, plan.plan_id, "done", actor="bob")
    other = pl.create_plan(ops, "Elsewhere", stores=["S7"], start="2026-02-01")
    assert [p.plan_id for p in pl.list_plans(ops)] == [other.plan_id, plan.plan_id]
    assert [p.plan_id for p in pl.list_plans(ops, stores=["S2"])] == [plan.plan_id]
    with ops.sessions() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.object_type == "action_plan")))
    assert [(e.actor, e.action) for e in entries] == [
        ("alice", "create"),
        ("bob", "status"),
        ("system", "create"),
    ]
    assert entries[1].detail == {"before": {"status": "active"}, "after": {"status": "done"}}
    assert entries[0].detail["after"]["stores"] == ["S1", "S2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stores": []}, "at least one store"),
        ({"metric": "revenue"}, "unknown metric"),
        ({"start": "July"}, "start must be a date"),
        ({"control_stores": ["S1"]}, "control stores must not be plan stores: S1"),
        ({"end": "2025-01-01"}, "end date must be after"),
    ],
)
def test_invalid_plans_are_refused(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with OpsStore(data_dir=tmp_path) as ops:
        args: dict[str, object] = {"stores": ["S1"], "start": "2025-07-01", **kwargs}
        with pytest.raises(pl.PlanError, match=message):
            pl.create_plan(ops, "x", **args)  # type: ignore[arg-type]


@pytest.mark.slow
def test_cli_measures_a_plan(demo_ws: Workspace) -> None:
    from typer.testing import CliRunner

    from cxlens.cli.main import app

    runner = CliRunner()
    demo_ws.close()  # the CLI opens the store itself (the fixture reconnects on next use)
    data = ["--data-dir", str(demo_ws.data_dir), "act", "plans"]
    stores = [a for s in PLANTED.training_stores for a in ("-s", s)]
    start = PLANTED.training_date.isoformat()
    added = runner.invoke(
        app, [*data, "add", "Training", *stores, "--start", start, "--touchpoint", "store_visit"]
    )
    assert added.exit_code == 0, added.output
    reply = runner.invoke(app, [*data, "measure", "1", "-o", "json"])
    assert reply.exit_code == 0, reply.output
    effect = json.loads(reply.output)
    assert effect["ci_low"] > 0
    assert effect["significant"]
    # the default metric is CSAT, the % of 4-5 answers: the effect is in percentage points
    assert effect["metric"] == "csat"
    assert effect["unit"].startswith("percentage points")
    assert effect["estimate"] > 10
    table = runner.invoke(app, [*data, "measure", "1"])
    assert "an effect (the interval excludes 0)" in table.output
    assert "percentage points" in table.output
