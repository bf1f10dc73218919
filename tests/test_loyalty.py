"""Loyalty analytics on small stores whose answers are worked out by hand, and the
``cxlens loyalty`` and ``cxlens promo`` commands on a small demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import DemoStore
from cxlens.analyse import loyalty as ly
from cxlens.analyse import loyalty_effects as le
from cxlens.cli.main import app
from cxlens.storage.workspace import Workspace

T = pd.Timestamp
runner = CliRunner()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace(tmp_path_factory.mktemp("loyalty") / "ws")
    customers = [f"C{i}" for i in range(1, 7)]
    w.ingest("customers", pd.DataFrame({"customer_id": customers, "created_at": T("2024-01-01")}))
    w.ingest(
        "loyalty_members",
        pd.DataFrame(
            {
                "customer_id": ["C1", "C2", "C3", "C4"],
                "enrolled_at": [T("2024-05-01"), T("2024-06-01"), T("2025-02-10"), T("2024-01-01")],
                "tier": ["silver", "gold", "bronze", "bronze"],
                "left_at": [None, None, None, T("2025-03-15")],
            }
        ),
    )
    w.ingest(
        "tier_history",
        pd.DataFrame(
            {
                "customer_id": ["C1", "C2", "C3", "C4"],
                "changed_at": [T("2025-02-01"), T("2025-02-01"), T("2025-02-10"), T("2025-02-01")],
                "from_tier": ["bronze", "gold", None, "bronze"],
                "to_tier": ["silver", "gold", "bronze", "bronze"],
                "reason": ["review", "review", "enrolment", "review"],
                "qualifying_value": [1200.0, 800.0, None, 100.0],
            }
        ),
    )
    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5", "O6"],
            "customer_id": ["C1", "C1", "C2", "C3", "C5", "C4"],
            "ordered_at": [
                T("2025-01-05"),
                T("2025-02-07"),
                T("2025-02-20"),
                T("2025-02-21"),
                T("2025-01-09"),
                T("2025-03-20"),
            ],
            "channel": "store",
            "total_amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        }
    )
    w.ingest("orders", orders)
    w.ingest(
        "points_ledger",
        pd.DataFrame(
            {
                "entry_id": [f"L{i}" for i in range(1, 8)],
                "customer_id": ["C1", "C1", "C1", "C2", "C2", "C2", "C3"],
                "occurred_at": [
                    T("2025-01-01"),
                    T("2025-01-05"),
                    T("2025-01-20"),
                    T("2025-01-01"),
                    T("2025-02-01"),
                    T("2025-02-20"),
                    T("2025-02-21"),
                ],
                "kind": ["adjust", "earn", "burn", "adjust", "expire", "earn", "earn"],
                # C2's expiry is recorded as a positive number: it still counts as points leaving
                "points": [500.0, 100.0, -200.0, 300.0, 300.0, 50.0, 40.0],
                "value": [5.0, 1.0, 2.0, 3.0, 3.0, 0.5, 0.4],
            }
        ),
    )
    w.ingest(
        "feedback",
        pd.DataFrame(
            {
                "feedback_id": ["F1", "F2", "F3", "F4"],
                "submitted_at": [T("2025-02-03"), T("2025-01-25"), T("2025-02-05"), T("2025-02-06")],
                "source": "email",
                "customer_id": ["C2", "C2", "C1", "C5"],
                "touchpoint": ["loyalty_points", "loyalty_points", "checkout", "loyalty_points"],
                "nps": [2, 3, 10, 9],
            }
        ),
    )
    yield w
    w.close()


def test_members_and_active_members(ws: Workspace) -> None:
    series = ly.members_series(ws).set_index("period")
    assert list(series.index.strftime("%Y-%m")) == ["2025-01", "2025-02", "2025-03"]
    assert series["members"].tolist() == [3, 4, 3]  # C3 joins in February, C4 leaves in March
    assert series["active_members"].tolist() == [1, 3, 0]  # C5 is no member; C4 bought after leaving
    assert series.loc["2025-02-01", "active_share"] == pytest.approx(3 / 4)


def test_tier_at_a_time_and_migration(ws: Workspace) -> None:
    at = ly.tier_at_expr(ws, "2025-01-15").to_pandas().set_index("customer_id")["tier"].to_dict()
    assert at == {"C1": "bronze", "C2": "gold", "C4": "bronze"}  # before the review: its from_tier
    migration = ly.tier_migration(ws, "2025-01-15", "2025-03-31")
    matrix = ly.migration_matrix(migration)
    assert matrix.loc["bronze", "silver"] == 1
    assert matrix.loc["gold", "gold"] == 1
    assert matrix.loc[ly.JOINED, "bronze"] == 1
    assert matrix.loc["bronze", ly.LEFT] == 1
    assert migration["share"].groupby(migration["from_tier"]).sum().round(9).eq(1).all()


def test_points_by_hand(ws: Workspace) -> None:
    p = ly.points_summary(ws)
    assert (p.earned, p.adjusted_in, p.burned, p.expired) == (190.0, 800.0, 200.0, 300.0)
    assert p.balance == 800 + 190 - 200 - 300
    assert p.point_value == pytest.approx(0.01)
    assert p.liability == pytest.approx(4.9)
    assert p.redemption_rate == pytest.approx(200 / 990)
    assert p.breakage_rate == pytest.approx(300 / 500)
    assert ly.points_summary(ws, as_of="2025-01-10").balance == 500 + 100 + 300
    series = ly.points_series(ws)
    assert series["balance"].iloc[-1] == p.balance


def test_experience_by_member_tier(ws: Workspace) -> None:
    table = ly.cx_by_tier(ws, ["nps"], min_n=1).set_index("loyalty_tier")
    assert table.loc["gold", "n"] == 2  # C2's tier comes from loyalty_members
    assert table.loc["none", "n"] == 1  # C5 is no member
    versus = ly.cx_members_vs_others(ws, ["nps"], min_n=1)
    assert (versus["n_a"].iloc[0], versus["n_b"].iloc[0]) == (3, 1)
    assert ly.sentiment_by_tier(ws).empty  # texts not analysed


def test_expiry_complaints_by_hand(ws: Workspace) -> None:
    out = le.expiry_complaints(ws, window_days=10)
    assert out["expiry_day"] == "2025-02-01"
    # C2's points expired and C2 complained on 2025-02-03; C1 and C4 (members since before the
    # window) did not; C5 complained but is no member. Before: C2 complained on 2025-01-25.
    assert (out["members_expired"], out["members_not_expired"]) == (1, 2)
    assert out["after_expired_share"] == 1.0
    assert out["after_not_expired_share"] == 0.0
    assert out["before_difference"] == 1.0


def test_discontinuity_of_a_line_with_a_jump(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    q = np.round(rng.uniform(500, 1500, 3000))
    up = q >= 1000
    visits = rng.poisson(1 + 0.002 * q) + 2 * up  # visits rise smoothly with q and jump by 2 at 1000
    with Workspace(tmp_path / "rd") as w:
        ids = [f"C{i}" for i in range(len(q))]
        w.ingest("customers", pd.DataFrame({"customer_id": ids}))
        w.ingest(
            "tier_history",
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "changed_at": T("2025-07-01"),
                    "from_tier": "silver",
                    "to_tier": np.where(up, "gold", "silver"),
                    "reason": "review",
                    "qualifying_value": q,
                }
            ),
        )
        rows = [
            (f"O{i}-{k}", cid, T("2025-07-02") + pd.Timedelta(hours=k))
            for i, (cid, n) in enumerate(zip(ids, visits, strict=True))
            for k in range(n)
        ]
        rows.append(("END", "X", T("2025-12-31")))  # the data run to the end of the year
        orders = pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at"])
        w.ingest("orders", orders.assign(channel="store", total_amount=1.0))
        rd, bins = le.tier_rd(w, bandwidth=300)
        assert rd.threshold == 1000
        assert rd.fuzzy_share == 0
        assert rd.horizon_days == 184
        assert rd.ci_low < 2 < rd.ci_high
        assert rd.p_value < 1e-6
        assert bins["n"].sum() == int((np.abs(q - 1000) < 600).sum())
        assert set(bins["side"]) == {"upgraded", "not upgraded"}
        with pytest.raises(ValueError, match="outcome"):
            le.tier_rd(w, outcome="smiles")


# -- the commands on a small demo -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Path:
    root = tmp_path_factory.mktemp("loyalty-cli") / "store"
    demo_store(root, customers=3_000, seed=5).close()
    return root


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "keys"),
    [
        (["loyalty", "members"], {"period", "members", "active_members", "active_share"}),
        (["loyalty", "tiers"], {"from_tier", "to_tier", "members", "share"}),
        (["loyalty", "points"], {"balance", "liability", "breakage_rate", "redemption_rate"}),
        (["loyalty", "cx"], {"by_tier", "members_vs_non_members", "sentiment_by_tier"}),
        (["loyalty", "enrolment"], {"metric", "estimate", "ci_low", "ci_high"}),
        (["loyalty", "rd"], {"estimate", "ci_low", "ci_high", "threshold", "bins"}),
        (["loyalty", "expiry"], {"after_difference", "after_ci_low", "before_difference"}),
        (
            ["promo", "campaigns"],
            {"campaign_id", "households_targeted", "redemption_rate", "uplift_per_household"},
        ),
        (["promo", "display"], {"feature", "units_uplift", "baskets_uplift"}),
        (["promo", "prices"], {"comparison", "units_ratio"}),
        (["promo", "dip"], {"promotion_id", "during_ratio", "after_ratio", "daily"}),
        (["promo", "bundle"], {"product_id", "period", "attach_rate"}),
        (["promo", "stacked"], {"offers", "mean_value"}),
        (["promo", "cx"], {"measure", "difference"}),
        (["promo", "experiment", "CMP01", "--metric", "visits"], {"srm_p_value", "difference", "warnings"}),
    ],
)
def test_commands_print_json_for_machines(demo_dir: Path, command: list[str], keys: set[str]) -> None:
    result = runner.invoke(app, ["--data-dir", str(demo_dir), *command, "-o", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    first = data[0] if isinstance(data, list) else data
    assert keys <= set(first), sorted(first)
    table = runner.invoke(app, ["--data-dir", str(demo_dir), *command])
    assert table.exit_code == 0, table.output
    assert table.stdout.strip()


@pytest.mark.slow
def test_command_errors_are_messages(demo_dir: Path) -> None:
    unknown = runner.invoke(app, ["--data-dir", str(demo_dir), "promo", "experiment", "NOPE"])
    assert unknown.exit_code == 1
    assert "unknown campaign 'NOPE'" in unknown.output
    no_holdout = runner.invoke(app, ["--data-dir", str(demo_dir), "promo", "experiment", "CMP03"])
    assert "no holdout" in no_holdout.output
    bad = runner.invoke(app, ["--data-dir", str(demo_dir), "loyalty", "members", "--grain", "fortnight"])
    assert bad.exit_code == 1
    assert "unknown grain" in bad.output
