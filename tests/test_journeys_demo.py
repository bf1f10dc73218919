"""The journey analytics recover the demo retailer's planted causes (through the real load path).

Planted (see :mod:`cxlens.demo.planted`): 12% showrooming and 18% webrooming purchases, visible
only with identity stitching; a checkout dip in the queue stores; late deliveries lower NPS and
repurchase. 3,000 customers give about 8,500 orders, so the shares' standard errors are about
0.004; the tolerance is 0.02.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats
from sklearn.model_selection import KFold, StratifiedKFold

from conftest import DemoStore
from cxlens.analyse import journey_experience as jx
from cxlens.analyse import journey_patterns as jp
from cxlens.analyse import journeys as jr
from cxlens.analyse.common import by_key
from cxlens.analyse.journey_peak_end import PeakEndComparison
from cxlens.demo import PLANTED
from cxlens.storage.workspace import Workspace

if TYPE_CHECKING:
    import ibis.expr.types as ir

pytestmark = pytest.mark.slow
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("journey-demo")
    ws = demo_store(root / "store", customers=3_000, seed=7)
    yield ws
    ws.close()


def test_showrooming_and_webrooming_shares_are_as_planted(demo: Workspace) -> None:
    summary = jp.pattern_summary(demo, window_days=PLANTED.journey_window_days).set_index("pattern")
    for pattern, planted in (
        ("showrooming", PLANTED.showrooming_share),
        ("webrooming", PLANTED.webrooming_share),
    ):
        row = summary.loc[pattern]
        assert abs(row["share"] - planted) < TOLERANCE, (pattern, row["share"])
        assert row["share_ci_low"] - 0.01 < planted < row["share_ci_high"] + 0.01
    assert summary["orders"].sum() == demo.counts()["orders"]


def test_without_stitching_the_shares_come_out_lower(demo: Workspace) -> None:
    def unstitched(name: str) -> ir.Table:
        table = demo.table(name)
        return table.filter(ibis.literal(False)) if name == "identities" else table

    stitched = jp.pattern_summary(demo).set_index("pattern")["share"]
    plain = jp.pattern_summary(unstitched, journey_map=demo.journey_map).set_index("pattern")["share"]
    assert plain["showrooming"] < stitched["showrooming"] - 0.03
    assert plain["webrooming"] < stitched["webrooming"] - 0.03


def test_zero_moment_of_truth_of_showrooming_is_the_store(demo: Workspace) -> None:
    zmot = jp.zero_moment(demo)
    show = zmot[zmot["pattern"] == "showrooming"].iloc[0]
    assert show["first_channel"] == "store"
    assert show["share"] > 0.8


def test_queue_stores_show_a_checkout_dip_in_the_emotion_curve(demo: Workspace) -> None:
    queue = jx.emotion_curve(demo, filters={"store_id": list(PLANTED.queue_stores)}).set_index("touchpoint")
    others = jx.emotion_curve(demo, filters={"store_id": None}).set_index("touchpoint")
    rest = jx.emotion_curve(demo, by=["store_id"], filters={"touchpoint": "checkout_queue"})
    rest = rest[~rest["store_id"].isin(PLANTED.queue_stores) & rest["store_id"].notna()]
    pooled = (rest["mean"] * rest["n"]).sum() / rest["n"].sum()
    dip = queue.loc["checkout_queue"]
    assert dip["mean"] == queue["mean"].min()  # the lowest point of the queue stores' curve
    assert dip["ci_high"] < queue.loc["store_visit", "ci_low"]
    assert pooled - dip["mean"] > 0.2  # CSAT 4.2 vs 3.0 and CES 2.6 vs 4.6, on the 0-1 scale
    assert not others.empty


def _late(demo: Workspace) -> pd.DataFrame:
    orders = demo.table("orders")
    late = orders.filter(orders.delivered_at.notnull(), orders.promised_delivery_at.notnull())
    late = late.select("order_id", late=late.delivered_at > late.promised_delivery_at)
    return late.to_pandas()


def test_late_delivery_lowers_journey_nps_and_is_the_top_moment_of_truth(demo: Workspace) -> None:
    journeys = jx.journey_experience(demo).to_pandas().merge(_late(demo), on="order_id")
    means = journeys.dropna(subset=["nps"]).groupby("late")["nps"].mean()
    effect = means[True] - means[False]
    assert abs(effect - PLANTED.late_delivery_nps_effect) < 0.5, effect
    mot = jx.moments_of_truth(demo)
    top = mot.iloc[0]
    assert top["touchpoint"] == "delivery"
    assert top["nps_effect"] < -30
    assert top["nps_ci_high"] < 0
    assert top["nps_p"] < 0.001


def test_late_delivery_lowers_repurchase(demo: Workspace) -> None:
    outcomes = jx.order_outcomes(demo, repurchase_days=60).to_pandas().merge(_late(demo), on="order_id")
    rate = outcomes.dropna(subset=["repurchased"]).groupby("late")["repurchased"].mean()
    assert rate[True] < rate[False] - 0.1, rate


def test_peak_end_and_average_are_both_reported(demo: Workspace) -> None:
    fit = PeakEndComparison().fit(jx.journey_experience(demo).to_pandas())
    table = fit.fits_.set_index(["outcome", "predictor"])
    for outcome in ("nps", "repurchased"):
        for predictor in ("peak_end", "average"):
            assert table.loc[(outcome, predictor), "n"] > 300
            assert pd.notna(table.loc[(outcome, predictor), "value"])
    assert set(fit.best_) == {"nps", "repurchased"}


def _fold_of(splits: Iterator[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """The fold number of each row, from a splitter's (train, test) index pairs."""
    fold = np.full(n, -1)
    for k, (_, test) in enumerate(splits):
        fold[test] = k
    return fold


def _out_of_fold_r2(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> float:
    """R² of out-of-fold least-squares lines (numpy), pooled over the folds."""
    pred = np.empty(len(y))
    for k in np.unique(fold):
        slope, intercept = np.polyfit(x[fold != k], y[fold != k], 1)
        pred[fold == k] = intercept + slope * x[fold == k]
    return float(1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def _out_of_fold_auc(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> float:
    """AUC (Mann-Whitney U) of out-of-fold logistic models fitted with scipy: L2 penalty 1/2·w² on
    the slope, log-loss summed (scikit-learn's default C=1 objective, written out)."""
    prob = np.empty(len(y))
    for k in np.unique(fold):
        xt, sign = x[fold != k], np.where(y[fold != k], 1.0, -1.0)

        def loss(wb: np.ndarray, xt: np.ndarray = xt, sign: np.ndarray = sign) -> float:
            return float(0.5 * wb[0] ** 2 + np.logaddexp(0, -sign * (wb[0] * xt + wb[1])).sum())

        w, b = optimize.minimize(loss, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
        prob[fold == k] = special.expit(w * x[fold == k] + b)
    u = stats.mannwhitneyu(prob[y], prob[~y]).statistic
    return float(u / (y.sum() * (~y).sum()))


def test_peak_end_scores_equal_an_independent_computation(demo: Workspace) -> None:
    # In order_id order, as the module sorts them, so the fold partitions are the same.
    journeys = by_key(jx.journey_experience(demo).to_pandas(), "order_id")
    fit = PeakEndComparison(cv=5, random_state=3).fit(journeys)
    got = fit.fits_.set_index(["outcome", "predictor"])["value"]
    data = journeys[journeys["signals"] >= 2]
    nps = data[data["nps"].notna()]
    rep = data[data["repurchased"].notna()]
    y_nps = nps["nps"].to_numpy(float)
    y_rep = rep["repurchased"].astype(bool).to_numpy()
    # The same fold partitions as the module (the splitters' indices); models and scores are our own.
    nps_fold = _fold_of(KFold(5, shuffle=True, random_state=3).split(y_nps), len(y_nps))
    rep_fold = _fold_of(StratifiedKFold(5, shuffle=True, random_state=3).split(y_rep, y_rep), len(y_rep))
    for predictor in PeakEndComparison.PREDICTORS:
        r2 = _out_of_fold_r2(nps[predictor].to_numpy(float), y_nps, nps_fold)
        auc = _out_of_fold_auc(rep[predictor].to_numpy(float), y_rep, rep_fold)
        assert got[("nps", predictor)] == pytest.approx(r2, abs=1e-9), predictor
        # scikit-learn's lbfgs stops at tol=1e-4: with nearly flat slopes the pooled out-of-fold
        # ranking moves by a few thousandths of AUC; our fits are converged to 1e-10.
        assert got[("repurchased", predictor)] == pytest.approx(auc, abs=5e-3), predictor
    best_nps = max(PeakEndComparison.PREDICTORS, key=lambda p: got[("nps", p)])
    assert fit.best_["nps"] == best_nps


def test_stitching_links_most_anonymous_events(demo: Workspace) -> None:
    summary = jr.stitching_summary(demo).set_index("actor_source")
    assert summary.loc["linked anonymous id", "events"] > 10 * summary.loc["unlinked anonymous id", "events"]
    assert summary.loc["(all)", "actors"] < summary.loc["(all)", "ids_before"]
