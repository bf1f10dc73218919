"""The demo's loyalty programme, campaigns and promotion calendar are recovered by the analytics,
through the real load path (generate, validated ingest, Ibis on DuckDB; Spark parity at the end).

Each planted effect must lie inside the analytic's own interval, computed at 99.9% confidence
(so that a change of random stream in the generator fails a check by chance 1 time in 1,000,
not 1 in 20), and each real effect must also be significant at 95%. Where nothing was planted
(the newsletter campaign, joining the programme, complaints before the expiry), the 99.9%
interval must hold zero.
"""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd
import pytest

from conftest import DemoStore
from cxlens.analyse import campaigns as cm
from cxlens.analyse import experiments as ex
from cxlens.analyse import loyalty as ly
from cxlens.analyse import loyalty_effects as le
from cxlens.analyse import promo_cx
from cxlens.analyse import promotions as pm
from cxlens.demo import PLANTED
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree

pytestmark = pytest.mark.slow
LP = PLANTED.loyalty
STRICT = 0.999


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    return demo_store(tmp_path_factory.mktemp("loyalty") / "store", customers=20_000, seed=7)


@pytest.fixture(scope="module")
def campaigns(demo_ws: Workspace) -> dict[str, dict[str, Any]]:
    strict = cm.campaign_effects(demo_ws, confidence=STRICT).set_index("campaign_id")
    usual = cm.campaign_effects(demo_ws).set_index("campaign_id")
    return {
        cid: {"strict": strict.loc[cid].to_dict(), "usual": usual.loc[cid].to_dict()} for cid in usual.index
    }


def inside(value: float, low: float, high: float) -> bool:
    return bool(low <= value <= high)


def campaign_id(key: str) -> str:
    return LP.campaign(key).campaign_id


# -- campaigns and experiments --------------------------------------------------------------------


def test_winback_campaign_against_its_holdout(campaigns: dict[str, dict[str, Any]]) -> None:
    c = LP.campaign("winback")
    row, usual = campaigns[c.campaign_id]["strict"], campaigns[c.campaign_id]["usual"]
    assert row["method"] == "holdout, CUPED"
    assert inside(c.extra_visits, row["visits_ci_low"], row["visits_ci_high"]), row
    assert usual["ci_low"] > 0  # incremental spend is significant
    assert inside(0.0, row["after_ci_low"], row["after_ci_high"])  # nothing lasts after it
    assert row["households_holdout"] / (
        row["households_holdout"] + row["households_targeted"]
    ) == pytest.approx(c.holdout_share, abs=0.03)
    assert 0.5 < row["redemption_rate"] < 0.8  # every extra visit used the coupon, some others too


def test_newsletter_campaign_does_nothing_although_coupons_are_used(
    campaigns: dict[str, dict[str, Any]],
) -> None:
    row = campaigns[campaign_id("newsletter")]["strict"]
    assert row["redemptions"] > 0
    for low, high in (
        ("ci_low", "ci_high"),
        ("visits_ci_low", "visits_ci_high"),
        ("after_ci_low", "after_ci_high"),
    ):
        assert inside(0.0, row[low], row[high]), (low, row)


def test_campaign_without_holdout_is_measured_against_matched_customers(
    demo_ws: Workspace, campaigns: dict[str, dict[str, Any]]
) -> None:
    c = LP.campaign("frequent")
    row = campaigns[c.campaign_id]["strict"]
    assert row["method"].startswith("matched")
    assert row["matched_share"] > 0.95
    assert inside(c.extra_visits, row["visits_ci_low"], row["visits_ci_high"]), row
    assert inside(0.0, row["after_ci_low"], row["after_ci_high"]), row
    # the naive comparison (targeted against everyone else during the campaign) is far off:
    # the campaign chose the most frequent shoppers
    naive = row["spend_per_household"] - campaigns[campaign_id("newsletter")]["strict"]["spend_per_household"]
    assert naive > row["uplift_per_household"]


def test_ab_readout_checks_the_split_adjusts_and_warns_when_peeking(demo_ws: Workspace) -> None:
    c = LP.campaign("winback")
    full = ex.experiment_readout(demo_ws, c.campaign_id, metric="visits", confidence=STRICT)
    assert full.srm_ok
    assert full.srm_p_value > 0.001
    assert inside(c.extra_visits, full.ci_low, full.ci_high)
    assert full.information_fraction == 1.0
    assert not full.warnings
    early = ex.experiment_readout(demo_ws, c.campaign_id, metric="visits", as_of="2025-03-24")
    assert early.information_fraction == pytest.approx(14 / 42, abs=0.01)
    assert early.interim_boundary > 3.0
    assert any("interim look" in w for w in early.warnings)
    null = ex.experiment_readout(demo_ws, campaign_id("newsletter"), metric="spend", confidence=STRICT)
    assert inside(0.0, null.ci_low, null.ci_high)
    assert not null.significant
    with pytest.raises(ValueError, match="no holdout"):
        ex.experiment_readout(demo_ws, campaign_id("frequent"))


# -- promotions and prices ------------------------------------------------------------------------


def test_display_and_mailer_uplift(demo_ws: Workspace) -> None:
    rows = pm.feature_uplift(demo_ws, confidence=STRICT).set_index("feature")
    planted = {
        "display": LP.display_lift,
        "mailer": LP.mailer_lift,
        "display and mailer": (1 + LP.display_lift) * (1 + LP.mailer_lift) - 1,
    }
    for feature, lift in planted.items():
        r = rows.loc[feature]
        assert inside(lift, r["units_ci_low"], r["units_ci_high"]), (feature, r.to_dict())
        assert r["baskets_ci_low"] > 0  # more baskets hold the product, not only more units


def test_charm_prices_sell_more_than_round_ones(demo_ws: Workspace) -> None:
    rows = pm.price_endings(demo_ws, confidence=STRICT).set_index("comparison")
    charm = rows.loc["charm vs round"]
    assert charm["products"] == len(LP.charm_products)
    assert inside(1 + LP.charm_lift, charm["ci_low"], charm["ci_high"]), charm.to_dict()
    assert -0.03 < charm["price_difference"] < 0  # ten cents cheaper, yet a fifth more sold


def test_flash_sale_pulls_demand_forward(demo_ws: Workspace) -> None:
    flash = pm.promotion_products(demo_ws, "PR023")
    assert len(flash) == 24
    summary, daily = pm.promotion_dip(demo_ws, "PR023", post_days=LP.dip_days, confidence=STRICT)
    assert summary["start"] == LP.flash_start.isoformat()
    assert inside(LP.flash_multiplier, summary["during_ci_low"], summary["during_ci_high"]), summary
    assert inside(LP.dip_multiplier, summary["after_ci_low"], summary["after_ci_high"]), summary
    assert summary["after_ci_high"] < 1  # the dip is real
    assert set(daily["period"]) == {"before", "during", "after"}


def test_bundle_lifts_the_launched_yoghurt(demo_ws: Workspace) -> None:
    rows = pm.bundle_attach(demo_ws, "PR024", confidence=STRICT)
    launched = rows[rows["product_id"] == LP.launched_product].set_index("period")
    for period, rate in (
        ("before", LP.bundle_attach_before),
        ("during", LP.bundle_attach_during),
        ("after", LP.bundle_attach_after),
    ):
        r = launched.loc[period]
        assert inside(rate, r["ci_low"], r["ci_high"]), (period, r.to_dict())
    assert launched["lift_ci_low"].iloc[0] > 0


def test_stacked_offers_and_promoted_periods(demo_ws: Workspace) -> None:
    stacked = pm.stacked_offers(demo_ws).set_index("offers")
    assert {"none", "promotion", "coupon"} <= set(stacked.index)
    assert stacked.loc["promotion", "mean_discount"] > stacked.loc["none", "mean_discount"]
    cx = promo_cx.promo_cx(demo_ws, confidence=STRICT).set_index("measure")
    assert 0 < cx.attrs["promoted_days"] < 300
    assert inside(0.0, cx.loc["nps", "ci_low"], cx.loc["nps", "ci_high"])  # nothing planted


# -- the loyalty programme ------------------------------------------------------------------------


def test_tier_upgrade_raises_visits_at_the_threshold(demo_ws: Workspace) -> None:
    rd, bins = le.tier_rd(demo_ws, confidence=STRICT)
    assert rd.review_date == LP.tier_review_date.isoformat()
    assert rd.threshold == LP.tier_threshold
    assert rd.fuzzy_share == 0.0
    days_after = (PLANTED.end - LP.tier_review_date).days
    planted = LP.upgrade_extra_visits_per_year * days_after / 365
    assert inside(planted, rd.ci_low, rd.ci_high), rd
    assert rd.p_value < 0.001
    assert set(bins["side"]) == {"upgraded", "not upgraded"}


def test_joining_changes_nothing(demo_ws: Workspace) -> None:
    rows = le.enrolment_effect(demo_ws, confidence=STRICT).set_index("metric")
    assert set(rows.index) == {"spend", "visits", "active"}
    assert rows["members"].min() > 1000
    for metric, r in rows.iterrows():
        assert inside(LP.enrolment_spend_effect, r["ci_low"], r["ci_high"]), (metric, r.to_dict())
    # while members simply buy more than non-members (who joins is not random)
    versus = ly.cx_members_vs_others(demo_ws, ["csat"])
    assert len(versus) == 1


def test_points_expiry_brings_complaints(demo_ws: Workspace) -> None:
    out = le.expiry_complaints(demo_ws, window_days=LP.complaint_window_days, confidence=STRICT)
    assert out["expiry_day"] == LP.points_expiry_date.isoformat()
    assert inside(LP.expiry_complaint_share, out["after_ci_low"], out["after_ci_high"]), out
    assert inside(0.0, out["before_ci_low"], out["before_ci_high"]), out


def test_points_liability_and_breakage(demo_ws: Workspace) -> None:
    p = ly.points_summary(demo_ws)
    led = demo_ws.table("points_ledger").to_pandas()
    signed = led["points"].where(~led["kind"].isin(["burn", "expire"]), -led["points"].abs())
    assert p.balance == pytest.approx(signed.sum())
    assert p.point_value == pytest.approx(LP.point_value)
    assert p.liability == pytest.approx(p.balance * LP.point_value)
    assert p.breakage_rate == pytest.approx(p.expired / (p.expired + p.burned))
    assert 0 < p.redemption_rate < 1
    assert p.balance > 0
    before = ly.points_summary(demo_ws, as_of=LP.points_expiry_date)
    assert before.expired == 0
    assert before.balance < p.balance + p.expired


def test_tier_migration_moves_up_one_step_at_most(demo_ws: Workspace) -> None:
    start, end = PLANTED.start.isoformat(), "2025-12-31"
    migration = ly.tier_migration(demo_ws, start, end)
    matrix = ly.migration_matrix(migration)
    tiers = ["bronze", "silver", "gold", "platinum"]
    for i, a in enumerate(tiers):
        for j, b in enumerate(tiers):
            if a in matrix.index and b in matrix.columns and (j < i or j > i + 1):
                assert matrix.loc[a, b] == 0, (a, b)
    upgraded = sum(matrix.loc[a, b] for a, b in itertools.pairwise(tiers))
    th = demo_ws.table("tier_history").to_pandas()
    review = th[th["reason"] == "review"]
    assert upgraded == int((review["from_tier"] != review["to_tier"]).sum())
    members = ly.members_series(demo_ws)
    assert members["members"].iloc[-1] == demo_ws.counts()["loyalty_members"]
    assert (members["active_share"] <= 1).all()


def test_experience_by_tier(demo_ws: Workspace) -> None:
    table = ly.cx_by_tier(demo_ws, ["nps"])
    assert {"none", "bronze", "silver", "gold", "platinum"} <= set(table["loyalty_tier"].dropna())


# -- both engines ---------------------------------------------------------------------------------


def row(result: Any) -> pd.DataFrame:
    """A one-row frame of a result's plain values (lists left out)."""
    values = result if isinstance(result, dict) else result.as_dict()
    return pd.DataFrame([{k: v for k, v in values.items() if not isinstance(v, (list, tuple))}])


@pytest.mark.spark
def test_campaigns_and_experiments_agree_on_spark(demo_ws: Workspace, spark_session: object) -> None:
    assert_engines_agree(demo_ws, cm.campaign_effects, sort_by=["campaign_id"])
    assert_engines_agree(demo_ws, lambda t: row(ex.experiment_readout(t, "CMP01", metric="visits")))


@pytest.mark.spark
def test_promotion_analytics_agree_on_spark(demo_ws: Workspace, spark_session: object) -> None:
    assert_engines_agree(demo_ws, pm.feature_uplift, sort_by=["feature"])
    assert_engines_agree(demo_ws, pm.price_endings, sort_by=["comparison"])
    assert_engines_agree(demo_ws, lambda t: pm.promotion_dip(t, "PR023")[1], sort_by=["day"])
    assert_engines_agree(demo_ws, lambda t: pm.bundle_attach(t, "PR024"), sort_by=["product_id", "period"])
    assert_engines_agree(demo_ws, pm.stacked_offers, sort_by=["offers"])
    assert_engines_agree(demo_ws, promo_cx.promo_cx, sort_by=["measure"])


@pytest.mark.spark
def test_loyalty_analytics_agree_on_spark(demo_ws: Workspace, spark_session: object) -> None:
    assert_engines_agree(demo_ws, ly.members_series, sort_by=["period"])
    migration = lambda t: ly.tier_migration(t, "2025-01-01", "2025-12-31")  # noqa: E731
    assert_engines_agree(demo_ws, migration, sort_by=["from_tier", "to_tier"])
    assert_engines_agree(demo_ws, lambda t: row(ly.points_summary(t)))
    assert_engines_agree(demo_ws, ly.points_series, sort_by=["period"])
    assert_engines_agree(demo_ws, lambda t: ly.cx_by_tier(t, ["nps"]), sort_by=["metric", "loyalty_tier"])
    assert_engines_agree(demo_ws, le.enrolment_effect, sort_by=["metric"])
    assert_engines_agree(demo_ws, lambda t: le.tier_rd(t)[1], sort_by=["bin"])
    assert_engines_agree(demo_ws, lambda t: row(le.expiry_complaints(t)))
    assert_engines_agree(demo_ws, lambda t: row(le.tier_rd(t)[0]))
