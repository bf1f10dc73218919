"""The demo's planted causes are recovered by the cxlens metrics, through the real load path.

Tolerances: each recovered effect must be within 0.25 of the planted one on its answer scale
(standard errors at this size are about 0.05-0.08) and significant where an effect exists; the
placebo (untrained stores) must show no significant change.
"""

from __future__ import annotations

import pytest

from conftest import DemoStore
from cxlens.analyse import metrics as m
from cxlens.demo import PLANTED
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree

pytestmark = pytest.mark.slow
TOLERANCE = 0.25


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    root = tmp_path_factory.mktemp("planted")
    ws = demo_store(root / "store", customers=20_000, seed=7)
    return ws


def _mean(ws: Workspace, score: str, **kwargs: object) -> dict[object, tuple[float, int]]:
    """Mean answer and n per group, from the engine-side moments of metric_expr."""
    df = m.metric_expr(ws, score, **kwargs).to_pandas()  # type: ignore[arg-type]
    by = [c for c in df.columns if not c.startswith(f"{score}_")]
    return {
        tuple(r[c] for c in by) if len(by) > 1 else (r[by[0]] if by else None): (
            r[f"{score}_sum"] / r[f"{score}_n"],
            int(r[f"{score}_n"]),
        )
        for _, r in df.iterrows()
    }


def test_late_delivery_lowers_nps(demo_ws: Workspace) -> None:
    means = _mean(demo_ws, "nps", by=["late_delivery"], filters={"touchpoint": "delivery"})
    (late, n_late), (on_time, n_on_time) = means[True], means[False]
    assert n_late > 300
    assert n_on_time > 1000
    planted = PLANTED.nps_late_mean - PLANTED.nps_on_time_mean
    assert abs((late - on_time) - planted) < TOLERANCE, (late, on_time)
    cmp = m.compare_segments(
        demo_ws, "nps", "late_delivery", a=True, b=False, filters={"touchpoint": "delivery"}
    )
    [row] = cmp.to_dict("records")
    assert row["significant"]
    assert row["diff"] < -20  # NPS points: many late customers turn into detractors


def test_queue_stores_have_the_lowest_checkout_csat(demo_ws: Workspace) -> None:
    table = m.metric_table(demo_ws, "csat_mean", by=["store_id"], filters={"touchpoint": "checkout_queue"})
    ranked = table[~table["small_n"]].sort_values("value")
    assert set(ranked["store_id"].head(len(PLANTED.queue_stores))) == set(PLANTED.queue_stores)
    means = _mean(demo_ws, "csat", by=["store_id"], filters={"touchpoint": "checkout_queue"})
    queue = [v for k, v in means.items() if k in PLANTED.queue_stores]
    other = [v for k, v in means.items() if k not in PLANTED.queue_stores]
    pooled = lambda xs: sum(v * n for v, n in xs) / sum(n for _, n in xs)  # noqa: E731
    planted = PLANTED.queue_checkout_csat_mean - PLANTED.checkout_csat_mean
    assert abs((pooled(queue) - pooled(other)) - planted) < TOLERANCE


def _diff_in_diff(ws: Workspace, treated: list[str]) -> tuple[float, float]:
    """(treated change - control change) in staff CSAT across the training date; control change."""
    when = PLANTED.training_date.isoformat()
    touchpoint = {"touchpoint": PLANTED.training_touchpoint}
    stores = m.metric_table(ws, "csat_mean", by=["store_id"], filters=touchpoint)["store_id"].dropna()
    control = sorted(set(stores) - set(treated) - set(PLANTED.training_stores))

    def change(group: list[str]) -> float:
        filters = {**touchpoint, "store_id": group}
        before = m.metric_table(ws, "csat_mean", end=when, filters=filters)["value"].iloc[0]
        after = m.metric_table(ws, "csat_mean", start=when, filters=filters)["value"].iloc[0]
        return float(after - before)

    control_change = change(control)
    return change(treated) - control_change, control_change


def test_staff_training_shows_as_difference_in_differences(demo_ws: Workspace) -> None:
    did, control_change = _diff_in_diff(demo_ws, list(PLANTED.training_stores))
    planted = PLANTED.staff_csat_trained_mean - PLANTED.staff_csat_mean
    assert abs(did - planted) < TOLERANCE, did
    assert abs(control_change) < 0.1  # the control stores do not move


def test_placebo_stores_show_no_training_effect(demo_ws: Workspace) -> None:
    placebo = ["S001", "S010", "S020", "S030"]
    assert not set(placebo) & set(PLANTED.training_stores)
    did, _ = _diff_in_diff(demo_ws, placebo)
    assert abs(did) < 0.15, did


def test_late_delivery_share_is_as_planted(demo_ws: Workspace) -> None:
    orders = demo_ws.table("orders")
    delivered = orders.filter(orders.fulfilment == "delivery", orders.delivered_at.notnull())
    late = delivered.filter(delivered.delivered_at > delivered.promised_delivery_at).count().execute()
    share = late / delivered.count().execute()
    assert PLANTED.late_share - 0.02 < share < PLANTED.late_share_peak


@pytest.mark.spark
def test_order_dimensions_agree_on_spark(demo_ws: Workspace, spark_session: object) -> None:
    df = assert_engines_agree(
        demo_ws,
        lambda t: m.metric_table(
            t, "nps", by=["late_delivery", "order_channel"], filters={"touchpoint": "delivery"}
        ),
        sort_by=["late_delivery", "order_channel", "metric"],
    )
    assert set(df["late_delivery"].dropna()) == {True, False}
