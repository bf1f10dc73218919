"""CX metrics: values and intervals equal a plain-pandas reference, significance tests, helpers, parity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import score_interval_reference
from cxlens.analyse.metrics import (
    ALL_BRANDS,
    REST,
    UNKNOWN,
    best_worst,
    biggest_movers,
    breakdown,
    compare_periods,
    compare_segments,
    headline,
    metric_expr,
    metric_table,
    period_pair,
    period_start,
    trend,
)
from cxlens.journey.map import load_journey_map
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree

Z95 = stats.norm.ppf(0.975)
STAGE_OF = load_journey_map().stage_of
TOUCHPOINTS = {
    "checkout_queue": "store",
    "self_checkout": "store",
    "delivery": "courier",
    "support_contact": "call",
    "product_page": "web",
}
STORES = pd.DataFrame(
    {
        "store_id": ["S1", "S2", "S3", "S4", "S5"],
        "name": ["North One", "North Two", "South One", "South Two", "Online"],
        "region": ["north", "north", "south", "south", None],
    }
)
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["C1", "C2", "C3", "C4"],
        "loyalty_tier": ["gold", "gold", "none", "silver"],
        "age_band": ["25-34", "65+", "25-34", "unknown"],
    }
)


def _nullable(values: np.ndarray, missing: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="Int64").mask(missing)


def make_feedback() -> pd.DataFrame:
    """About 300 random answers over four months plus hand-made edge cases."""
    rng = np.random.default_rng(7)
    size = 300
    tps = list(TOUCHPOINTS)
    touchpoint = [tps[i % len(tps)] for i in range(size)]
    days = rng.integers(0, 120, size)
    base = pd.DataFrame(
        {
            "feedback_id": [f"f{i:04d}" for i in range(size)],
            "submitted_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(days * 86_400 + 3_600, unit="s"),
            "source": "survey",
            "customer_id": [["C1", "C2", "C3", "C4", None][i % 5] for i in range(size)],
            "touchpoint": touchpoint,
            "channel": [TOUCHPOINTS[t] for t in touchpoint],
            "store_id": [["S1", "S2", "S3", None][i % 4] for i in range(size)],
            "brand": None,
            "nps": _nullable(rng.integers(0, 11, size), rng.random(size) < 0.1),
            "csat": _nullable(rng.integers(1, 6, size), rng.random(size) < 0.2),
            "ces": _nullable(rng.integers(1, 8, size), rng.random(size) < 0.3),
            "rating": _nullable(rng.integers(1, 6, size), rng.random(size) < 0.5),
            "text": "ok",
        }
    )
    edge = pd.DataFrame(
        {
            # S4: all promoters, all satisfied, all very easy; S5: one answer at the bottom of
            # every scale; rival brand answers (excluded by default); a text-only answer.
            "feedback_id": ["e1", "e2", "e3", "e4", "e5", "e6", "r1", "r2", "r3", "t1"],
            "submitted_at": pd.to_datetime(
                ["2024-04-29 23:59:59"] * 5 + ["2024-04-30 00:00:00"] * 4 + ["2024-03-01 00:00:00"]
            ),
            "source": ["survey"] * 6 + ["review"] * 3 + ["social"],
            "customer_id": [None] * 10,
            "touchpoint": ["checkout_queue"] * 5 + ["delivery"] * 4 + [None],
            "channel": ["store"] * 5 + ["courier"] * 4 + [None],
            "store_id": ["S4"] * 5 + ["S5"] + ["S1"] * 3 + [None],
            "brand": [None] * 6 + ["RivalMart"] * 3 + [None],
            "nps": pd.Series([10, 9, 10, 10, 9, 0, 0, 0, 10, None], dtype="Int64"),
            "csat": pd.Series([5, 4, 5, 5, 5, 1, 1, 1, 1, None], dtype="Int64"),
            "ces": pd.Series([1, 1, 1, 1, 1, 7, 7, 7, 7, None], dtype="Int64"),
            "rating": pd.Series([5, 5, 5, 5, 5, 1, 1, 1, 5, None], dtype="Int64"),
            "text": ["great"] * 9 + ["only words, no score"],
        }
    )
    return pd.concat([base, edge], ignore_index=True)


def load(ws: Workspace, feedback: pd.DataFrame, *, dims: bool = True) -> None:
    if dims:
        ws.ingest("stores", STORES)
        ws.ingest("customers", CUSTOMERS)
    ws.ingest("feedback", feedback)


@pytest.fixture(scope="module")
def feedback() -> pd.DataFrame:
    return make_feedback()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, feedback: pd.DataFrame) -> Iterator[Workspace]:
    """A workspace holding the hand-made data set, shared by the tests of this module."""
    workspace = Workspace(tmp_path_factory.mktemp("metrics") / "ws")
    load(workspace, feedback)
    yield workspace
    workspace.close()


# -- the reference: plain pandas over the raw rows ------------------------------------------------

SCORE = {"nps": "nps", "csat": "csat", "csat_mean": "csat", "ces": "ces", "rating": "rating"}


def enrich(fb: pd.DataFrame) -> pd.DataFrame:
    out = fb[fb["brand"].isna()].copy()
    out = out.merge(STORES.rename(columns={"name": "store_name"}), on="store_id", how="left")
    out = out.merge(CUSTOMERS, on="customer_id", how="left")
    out["stage"] = out["touchpoint"].map(STAGE_OF)
    out["month"] = out["submitted_at"].dt.to_period("M").dt.start_time
    return out


def ref_estimate(x: pd.Series, metric: str) -> tuple[int, float, float, float]:
    """n, value, ci_low, ci_high of one group's raw answers, written independently of the module."""
    x = x.dropna().astype(float)
    n = len(x)
    if metric == "nps":
        pro, det = (x >= 9).mean(), (x <= 6).mean()
        value = 100 * (pro - det)
        se = 100 * np.sqrt((pro + det - (pro - det) ** 2) / n)
        return n, value, max(value - Z95 * se, -100), min(value + Z95 * se, 100)
    if metric == "csat":
        k = int((x >= 4).sum())
        ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
        return n, 100 * k / n, 100 * ci.low, 100 * ci.high
    mean = x.mean()
    if n < 2:
        return n, mean, np.nan, np.nan
    if x.std(ddof=1) == 0:
        return n, mean, mean, mean
    low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=x.std(ddof=1) / np.sqrt(n))
    return n, mean, low, high


def reference(fb: pd.DataFrame, metric: str, by: list[str], min_n: int = 30) -> pd.DataFrame:
    data = enrich(fb)
    col = SCORE[metric]
    data = data[data[col].notna()]
    rows = []
    groups = data.groupby(by, dropna=False) if by else [((), data)]
    for key, group in groups:
        n, value, low, high = ref_estimate(group[col], metric)
        keys = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        rows.append({**keys, "n": n, "value": value, "ci_low": low, "ci_high": high, "small_n": n < min_n})
    return pd.DataFrame(rows)


def check_against(result: pd.DataFrame, expected: pd.DataFrame, by: list[str]) -> None:
    got = result.drop(columns="metric").copy()
    got[by] = got[by].astype(object).where(got[by].notna(), None)
    expected = expected.copy()
    expected[by] = expected[by].astype(object).where(expected[by].notna(), None)
    key = [*by]

    def tidy(df: pd.DataFrame) -> pd.DataFrame:
        out = df.sort_values(key, na_position="last", key=lambda s: s.astype(str)).reset_index(drop=True)
        return out[[*by, "n", "value", "ci_low", "ci_high", "small_n"]].astype(
            {"n": "int64", "value": float, "ci_low": float, "ci_high": float, "small_n": bool}
        )

    pd.testing.assert_frame_equal(tidy(got), tidy(expected), check_dtype=False, rtol=1e-9, atol=1e-9)


# -- values and intervals ------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["nps", "csat", "csat_mean", "ces", "rating"])
def test_overall_metric_matches_pandas(ws: Workspace, feedback: pd.DataFrame, metric: str) -> None:
    result = metric_table(ws, metric)
    assert list(result.columns) == ["metric", "n", "value", "ci_low", "ci_high", "small_n"]
    assert result["metric"].tolist() == [metric]
    check_against(result, reference(feedback, metric, []), [])


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "rating"])
def test_metric_by_store_matches_pandas_with_edge_cases(
    ws: Workspace, feedback: pd.DataFrame, metric: str
) -> None:
    result = metric_table(ws, metric, by=["store_id"])
    check_against(result, reference(feedback, metric, ["store_id"]), ["store_id"])
    by_store = result.set_index("store_id", drop=False)
    # S4 answered only at the top of every scale, S5 once at the bottom.
    top = {"nps": 100.0, "csat": 100.0, "ces": 1.0, "rating": 5.0}[metric]
    bottom = {"nps": -100.0, "csat": 0.0, "ces": 7.0, "rating": 1.0}[metric]
    assert by_store.loc["S4", "value"] == top
    assert by_store.loc["S5", "value"] == bottom
    assert by_store.loc["S5", "n"] == 1
    assert by_store.loc["S5", "small_n"]
    # Feedback with no store is reported as its own (null) group, last.
    assert result["store_id"].isna().iloc[-1]


def test_nps_boundaries_all_promoters_and_single_answer(ws: Workspace) -> None:
    result = metric_table(ws, "nps", by=["store_id"]).set_index("store_id", drop=False)
    # 9 and 10 are promoters; with every answer a promoter the normal-approximation variance is 0.
    assert tuple(result.loc["S4", ["n", "value", "ci_low", "ci_high"]]) == (5, 100.0, 100.0, 100.0)
    # 0 is a detractor; one answer gives a degenerate interval, flagged small_n.
    assert tuple(result.loc["S5", ["n", "value"]]) == (1, -100.0)
    csat = metric_table(ws, "csat", by=["store_id"]).set_index("store_id")
    # The Wilson interval does not collapse at 100%.
    assert csat.loc["S4", "ci_high"] == pytest.approx(100.0)
    assert csat.loc["S4", "ci_low"] < 100.0
    ces = metric_table(ws, "ces", by=["store_id"]).set_index("store_id")
    assert np.isnan(ces.loc["S5", "ci_low"])
    assert ces.loc["S4", "ci_low"] == ces.loc["S4", "ci_high"] == 1.0


def test_nps_thresholds_6_7_8_9() -> None:
    getter = _memtables(
        pd.DataFrame(
            {
                "feedback_id": ["a", "b", "c", "d", "e"],
                "submitted_at": pd.to_datetime(["2024-01-01"] * 5),
                "brand": [None] * 5,
                "nps": pd.Series([6, 7, 8, 9, None], dtype="Int64"),
                "csat": pd.Series([3, 4, None, None, None], dtype="Int64"),
            }
        )
    )
    nps = metric_table(getter, "nps")
    assert tuple(nps.loc[0, ["n", "value"]]) == (4, 0.0)  # one promoter, one detractor, two passives
    csat = metric_table(getter, "csat")
    assert tuple(csat.loc[0, ["n", "value"]]) == (2, 50.0)


def _memtables(feedback: pd.DataFrame) -> Any:
    """A TableGetter over in-memory DuckDB tables (no workspace needed)."""
    import ibis

    tables = {"feedback": ibis.memtable(feedback)}
    return tables.__getitem__


def test_multiple_metrics_csat_share_and_mean_by_month(ws: Workspace, feedback: pd.DataFrame) -> None:
    result = metric_table(ws, ["csat", "csat_mean"], grain="month")
    assert list(result.columns) == ["period", "metric", "n", "value", "ci_low", "ci_high", "small_n"]
    assert result["period"].drop_duplicates().tolist() == list(
        pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
    )
    for metric in ("csat", "csat_mean"):
        got = result[result["metric"] == metric].rename(columns={"period": "month"})
        check_against(got, reference(feedback, metric, ["month"]), ["month"])


def test_stage_region_and_segment_dimensions_match_pandas(ws: Workspace, feedback: pd.DataFrame) -> None:
    for by in (["stage"], ["region"], ["loyalty_tier", "age_band"], ["store_name", "stage"]):
        result = metric_table(ws, "nps", by=by)
        check_against(result, reference(feedback, "nps", by), by)
    stages = metric_table(ws, "ces", by="stage")["stage"].tolist()
    # Journey order (purchase before fulfilment before post-purchase), nulls last.
    assert stages == ["consideration", "purchase", "fulfilment", "post_purchase"]
    assert metric_table(ws, "ces").attrs["metrics"]["ces"]["higher_is_better"] is False
    assert "lower is better" in metric_table(ws, "ces").attrs["metrics"]["ces"]["description"]


@pytest.mark.parametrize("grain", ["day", "week", "quarter"])
def test_time_grains_match_pandas(ws: Workspace, feedback: pd.DataFrame, grain: str) -> None:
    data = enrich(feedback)
    data = data[data["nps"].notna()]
    freq = {"day": "D", "week": "W-SUN", "quarter": "Q"}[grain]
    periods = data["submitted_at"].dt.to_period(freq).dt.start_time
    expected = data.groupby(periods)["nps"].count()
    result = metric_table(ws, "nps", grain=grain)  # type: ignore[arg-type]
    assert result["period"].tolist() == list(expected.index)
    assert result["n"].tolist() == expected.tolist()
    assert period_start("2024-05-17 23:00", "week") == pd.Timestamp("2024-05-13")
    assert period_start("2024-05-17", "quarter") == pd.Timestamp("2024-04-01")


def test_only_non_null_scores_count_and_own_brand_by_default(ws: Workspace, feedback: pd.DataFrame) -> None:
    own = feedback[feedback["brand"].isna()]
    for metric, col in (("nps", "nps"), ("csat", "csat"), ("ces", "ces")):
        assert metric_table(ws, metric)["n"].item() == own[col].notna().sum()
    everyone = metric_table(ws, "nps", brand=ALL_BRANDS)
    assert everyone["n"].item() == feedback["nps"].notna().sum()
    rival = metric_table(ws, "nps", brand="RivalMart")
    assert tuple(rival.loc[0, ["n", "value"]]) == (3, pytest.approx(-100 / 3))
    both = metric_table(ws, "nps", by="brand", brand=ALL_BRANDS).set_index("brand", drop=False)
    assert both.loc["RivalMart", "n"] == 3
    assert both["brand"].isna().sum() == 1


def test_filters_on_any_dimension(ws: Workspace, feedback: pd.DataFrame) -> None:
    data = enrich(feedback)
    data = data[data["nps"].notna()]
    cases: list[tuple[dict[str, Any], pd.Series]] = [
        ({"region": "north"}, data["region"] == "north"),
        ({"stage": ["purchase", "fulfilment"]}, data["stage"].isin(["purchase", "fulfilment"])),
        ({"store_id": None}, data["store_id"].isna()),
        (
            {"loyalty_tier": "gold", "channel": "store"},
            (data["loyalty_tier"] == "gold") & (data["channel"] == "store"),
        ),
    ]
    for filters, mask in cases:
        assert metric_table(ws, "nps", filters=filters)["n"].item() == mask.sum(), filters
    march = metric_table(ws, "nps", start="2024-03-01", end="2024-04-01")["n"].item()
    assert march == ((data["submitted_at"] >= "2024-03-01") & (data["submitted_at"] < "2024-04-01")).sum()


def test_ci_width_shrinks_with_n(tmp_path: Path) -> None:
    base = make_feedback().iloc[:60]
    widths: dict[str, list[float]] = {"nps": [], "csat": [], "ces": []}
    for copies in (1, 4, 16):
        ws = Workspace(tmp_path / f"ws{copies}")
        frames = [base.assign(feedback_id=base["feedback_id"] + f"-{c}") for c in range(copies)]
        load(ws, pd.concat(frames, ignore_index=True), dims=False)
        for metric in widths:
            row = metric_table(ws, metric).iloc[0]
            widths[metric].append(row["ci_high"] - row["ci_low"])
        ws.close()
    for metric, (w1, w4, w16) in widths.items():
        assert w1 > w4 > w16 > 0, metric
        # Four times the answers: about half the width.
        assert w4 / w16 == pytest.approx(2, rel=0.15), metric


def test_small_n_threshold_is_configurable(ws: Workspace) -> None:
    default = metric_table(ws, "nps", by="store_id").set_index("store_id")
    assert not default.loc["S1", "small_n"]
    assert default.loc["S4", "small_n"]
    strict = metric_table(ws, "nps", by="store_id", min_n=1000)
    assert strict["small_n"].all()
    assert not metric_table(ws, "nps", by="store_id", min_n=1)["small_n"].any()
    assert metric_table(ws, "nps", by="store_id", min_n=1000).attrs["min_n"] == 1000


def test_bad_arguments_are_explained(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="unknown metric 'xps'"):
        metric_table(ws, "xps")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown dimension 'shoe_size'"):
        metric_table(ws, "nps", by="shoe_size")
    with pytest.raises(ValueError, match="unknown grain 'year'"):
        metric_table(ws, "nps", grain="year")  # type: ignore[arg-type]


def test_metric_expr_is_one_ibis_aggregation(ws: Workspace) -> None:
    expr = metric_expr(ws, ["nps", "ces"], by=["region"], grain="month")
    assert expr.columns == (
        "period",
        "region",
        "nps_n",
        "nps_top",
        "nps_bottom",
        "nps_sum",
        "nps_sumsq",
        "ces_n",
        "ces_sum",
        "ces_sumsq",
    )
    sql = str(ws.backend("duckdb").compile(expr)).lower()
    assert "group by" in sql
    assert "left outer join" in sql or "left join" in sql


# -- significance tests ---------------------------------------------------------------------------


def planted(month_shift: dict[str, float], seed: int = 1, size: int = 400) -> pd.DataFrame:
    """Two months of answers for two stores; ``month_shift`` moves March's answers up (by store)."""
    rng = np.random.default_rng(seed)
    frames = []
    for store in ("S1", "S2"):
        for month in ("2024-02", "2024-03"):
            shift = month_shift.get(store, 0.0) if month == "2024-03" else 0.0
            nps = np.clip(np.round(rng.normal(7 + 2 * shift, 2.5, size)), 0, 10).astype(int)
            csat = np.clip(np.round(rng.normal(3.4 + shift, 1.0, size)), 1, 5).astype(int)
            ces = np.clip(np.round(rng.normal(3.5 - shift, 1.3, size)), 1, 7).astype(int)
            frames.append(
                pd.DataFrame(
                    {
                        "feedback_id": [f"{store}-{month}-{i}" for i in range(size)],
                        "submitted_at": pd.Timestamp(f"{month}-10"),
                        "source": "survey",
                        "store_id": store,
                        "nps": nps,
                        "csat": csat,
                        "ces": ces,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def ref_compare(a: pd.Series, b: pd.Series, metric: str) -> tuple[float, float, float, float]:
    """diff, ci_low, ci_high, p of a - b from raw answers, independently of the module: Welch's t
    (scipy) for means and NPS scores, the pooled z-test and the brute-force score interval for shares."""
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    if metric in ("csat_mean", "ces"):
        res = stats.ttest_ind(a, b, equal_var=False)
        ci = res.confidence_interval(0.95)
        return a.mean() - b.mean(), ci.low, ci.high, res.pvalue
    if metric == "nps":
        sa, sb = np.sign((a >= 9) * 1 - (a <= 6) * 1), np.sign((b >= 9) * 1 - (b <= 6) * 1)
        res = stats.ttest_ind(sa, sb, equal_var=False)
        ci = res.confidence_interval(0.95)
        return 100 * (sa.mean() - sb.mean()), 100 * ci.low, 100 * ci.high, res.pvalue
    ka, kb = int((a >= 4).sum()), int((b >= 4).sum())
    pa, pb = ka / len(a), kb / len(b)
    pooled = (ka + kb) / (len(a) + len(b))
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
    low, high = score_interval_reference(ka, len(a), kb, len(b))
    return 100 * (pa - pb), 100 * low, 100 * high, 2 * stats.norm.sf(abs(pa - pb) / se0)


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, pd.DataFrame]]:
    """S1 improves strongly in March; S2 stays the same."""
    data = planted({"S1": 0.6})
    ws = Workspace(tmp_path_factory.mktemp("moved") / "ws")
    load(ws, data)
    yield ws, data
    ws.close()


def test_compare_periods_detects_a_planted_change_and_not_a_null_one(
    moved: tuple[Workspace, pd.DataFrame],
) -> None:
    ws, data = moved
    metrics = ["nps", "csat", "csat_mean", "ces"]
    result = compare_periods(ws, metrics, "month", by="store_id")
    assert (result["period_a"] == pd.Timestamp("2024-03-01")).all()
    assert (result["period_b"] == pd.Timestamp("2024-02-01")).all()
    s1 = result[result["store_id"] == "S1"].set_index("metric")
    s2 = result[result["store_id"] == "S2"].set_index("metric")
    assert s1["significant"].all()
    assert (s1.loc[["nps", "csat", "csat_mean"], "diff"] > 0).all()
    assert s1.loc["ces", "diff"] < 0
    assert not s2["significant"].any()
    for store, frame in (("S1", s1), ("S2", s2)):
        for metric in metrics:
            col = SCORE[metric]
            rows = data[data["store_id"] == store]
            a = rows.loc[rows["submitted_at"] == pd.Timestamp("2024-03-10"), col]
            b = rows.loc[rows["submitted_at"] == pd.Timestamp("2024-02-10"), col]
            expected = ref_compare(a, b, metric)
            got = tuple(frame.loc[metric, ["diff", "diff_ci_low", "diff_ci_high", "p_value"]])
            assert got == pytest.approx(expected, rel=1e-6, abs=1e-9), (store, metric)


def test_identical_periods_are_not_significant(tmp_path: Path) -> None:
    data = planted({}, size=50)
    feb = data[data["submitted_at"] == pd.Timestamp("2024-02-10")]
    mar = feb.assign(feedback_id=feb["feedback_id"] + "-copy", submitted_at=pd.Timestamp("2024-03-10"))
    ws = Workspace(tmp_path / "ws")
    load(ws, pd.concat([feb, mar]), dims=False)
    result = compare_periods(ws, ["nps", "csat", "ces"], "month")
    assert (result["diff"] == 0).all()
    assert np.allclose(result["p_value"], 1.0)
    assert not result["significant"].any()
    ws.close()


def test_compare_periods_for_a_given_period_and_groups_in_one_period_only(ws: Workspace) -> None:
    result = compare_periods(ws, "nps", "month", by="store_id", period="2024-04-15")
    assert (result["period_a"] == pd.Timestamp("2024-04-01")).all()
    assert (result["period_b"] == pd.Timestamp("2024-03-01")).all()
    s4 = result[result["store_id"] == "S4"].iloc[0]
    # S4 answered only in April: kept, with no previous value and no test.
    assert s4["n_b"] == 0
    assert np.isnan(s4["value_b"])
    assert np.isnan(s4["p_value"])
    assert not s4["significant"]
    assert s4["small_n"]


def test_compare_segments_pair_rest_and_each_vs_rest(ws: Workspace, feedback: pd.DataFrame) -> None:
    data = enrich(feedback)
    tier = data["loyalty_tier"]
    pair = compare_segments(ws, "ces", "loyalty_tier", "gold", "none")
    assert pair.loc[0, ["dimension", "segment_a", "segment_b"]].tolist() == ["loyalty_tier", "gold", "none"]
    expected = ref_compare(data.loc[tier == "gold", "ces"], data.loc[tier == "none", "ces"], "ces")
    got = tuple(pair.loc[0, ["diff", "diff_ci_low", "diff_ci_high", "p_value"]])
    assert got == pytest.approx(expected)
    # the rest is every other answer, those with no tier (no customer) included
    rest = compare_segments(ws, "nps", "loyalty_tier", "gold")
    assert rest.loc[0, "segment_b"] == REST
    others = data.loc[tier != "gold", "nps"]
    expected = ref_compare(data.loc[tier == "gold", "nps"], others, "nps")
    assert tuple(rest.loc[0, ["diff", "diff_ci_low", "diff_ci_high", "p_value"]]) == pytest.approx(expected)
    each = compare_segments(ws, "csat", "loyalty_tier", by="region")
    # answers with no customer are a segment of their own, last, not silently dropped
    assert set(each["segment_a"]) == {"gold", "none", "silver", UNKNOWN}
    for region, part in each.groupby("region", dropna=False):
        assert part["segment_a"].iloc[-1] == UNKNOWN, region
    north = data[data["region"] == "north"]
    nt = north["loyalty_tier"]
    for segment, mask in (("silver", nt == "silver"), (UNKNOWN, nt.isna())):
        row = each[(each["region"] == "north") & (each["segment_a"] == segment)].iloc[0]
        expected = ref_compare(north.loc[mask, "csat"], north.loc[~mask, "csat"], "csat")
        assert tuple(row[["diff", "diff_ci_low", "diff_ci_high", "p_value"]]) == pytest.approx(expected)
        assert row["n_a"] + row["n_b"] == north["csat"].notna().sum()
    unknown = compare_segments(ws, "nps", "loyalty_tier", UNKNOWN, "gold")
    expected = ref_compare(data.loc[tier.isna(), "nps"], data.loc[tier == "gold", "nps"], "nps")
    assert tuple(unknown.loc[0, ["diff", "diff_ci_low", "diff_ci_high", "p_value"]]) == pytest.approx(
        expected
    )
    known = compare_segments(ws, "nps", "loyalty_tier", "gold", unknowns=False)
    expected = ref_compare(
        data.loc[tier == "gold", "nps"], data.loc[tier.notna() & (tier != "gold"), "nps"], "nps"
    )
    assert tuple(known.loc[0, ["diff", "diff_ci_low", "diff_ci_high", "p_value"]]) == pytest.approx(expected)


# -- report helpers -------------------------------------------------------------------------------


def test_headline_latest_period_and_change(moved: tuple[Workspace, pd.DataFrame]) -> None:
    ws, data = moved
    result = headline(ws).set_index("metric")
    assert list(result.index) == ["nps", "csat", "csat_mean", "ces"]
    assert (result["period"] == pd.Timestamp("2024-03-01")).all()
    assert result.loc["nps", "n"] == 800
    mar = data[data["submitted_at"] == pd.Timestamp("2024-03-10")]
    feb = data[data["submitted_at"] == pd.Timestamp("2024-02-10")]
    for metric in result.index:
        col = SCORE[metric]
        n, value, low, high = ref_estimate(mar[col], metric)
        assert tuple(result.loc[metric, ["n", "value", "ci_low", "ci_high"]]) == pytest.approx(
            (n, value, low, high)
        )
        expected = ref_compare(mar[col], feb[col], metric)
        assert tuple(
            result.loc[metric, ["change", "change_ci_low", "change_ci_high", "p_value"]]
        ) == pytest.approx(expected)
    # CES went down, which is better: the verdict knows which way each scale runs.
    assert result["verdict"].tolist() == ["better"] * 4
    assert result.loc["ces", "change"] < 0
    assert not result.loc["ces", "higher_is_better"]


def test_headline_without_previous_period_says_no_data(ws: Workspace) -> None:
    result = headline(ws, ["nps"], grain="quarter", period="2024-01-15")
    assert result.loc[0, "verdict"] == "no data"
    assert result.loc[0, "n"] > 0


def test_best_worst_ranks_and_excludes_small_n(ws: Workspace) -> None:
    ranking = best_worst(ws, "nps", k=2)
    table = metric_table(ws, "nps", by=["store_id", "store_name"])
    table = table[table["store_id"].notna()]
    eligible = table[~table["small_n"]].sort_values("value", ascending=False)
    assert ranking.ranked["store_id"].tolist() == eligible["store_id"].tolist()
    assert ranking.ranked["rank"].tolist() == list(range(1, len(eligible) + 1))
    assert ranking.best["store_id"].tolist() == eligible["store_id"].head(2).tolist()
    assert ranking.worst["store_id"].tolist() == eligible["store_id"].iloc[::-1].head(2).tolist()
    assert set(ranking.excluded["store_id"]) == {"S4", "S5"}  # the 100 and -100 stores, n < 30
    assert "2 of 5 groups have fewer than 30 answers" in ranking.note
    assert {"store_name", "ci_low", "ci_high", "n"} <= set(ranking.best.columns)
    everyone = best_worst(ws, "ces", min_n=1)
    assert everyone.ranked["store_id"].iloc[0] == "S4"  # lowest effort ranks first
    assert everyone.excluded.empty


def test_biggest_movers_lists_significant_changes(moved: tuple[Workspace, pd.DataFrame]) -> None:
    ws, _ = moved
    movers = biggest_movers(ws, "ces", by="store_id")
    assert movers["store_id"].tolist() == ["S1"]
    assert movers.loc[0, "direction"] == "better"
    assert movers.loc[0, "diff"] < 0
    assert biggest_movers(ws, "nps", by="store_id", min_n=10_000).empty
    assert len(biggest_movers(ws, "nps", by="store_id", min_n=10_000, include_small_n=True)) == 1


def test_trend_and_breakdown_shapes(ws: Workspace, feedback: pd.DataFrame) -> None:
    monthly = trend(ws, "nps", "month", by="region")
    assert list(monthly.columns[:2]) == ["period", "region"]
    parts = breakdown(ws, "csat", ["region", "stage", "loyalty_tier"])
    assert list(parts.columns[:3]) == ["dimension", "level", "metric"]
    assert parts["dimension"].unique().tolist() == ["region", "stage", "loyalty_tier"]
    tiers = parts[parts["dimension"] == "loyalty_tier"]
    expected = reference(feedback, "csat", ["loyalty_tier"])
    assert tiers["n"].sum() == expected["n"].sum()


# -- engine parity --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_ws(spark_session: Any, ws: Workspace) -> Workspace:
    """The module workspace, with the Spark session started once for all parity tests."""
    ws.table("feedback", "spark")
    return ws


@pytest.mark.spark
@pytest.mark.parametrize(
    ("metric", "by", "grain"),
    [
        ("nps", ["store_id"], None),
        ("csat", ["stage"], None),
        ("csat", [], "month"),
        (["nps", "csat_mean", "ces"], ["region", "loyalty_tier"], "week"),
        ("rating", ["store_id"], "month"),
    ],
)
def test_metric_table_engines_agree(spark_ws: Workspace, metric: Any, by: list[str], grain: Any) -> None:
    keys = (["period"] if grain else []) + by
    duck = assert_engines_agree(
        spark_ws, lambda t: metric_table(t, metric, by=by, grain=grain), sort_by=[*keys, "metric"]
    )
    assert duck["n"].sum() > 0
    assert_engines_agree(spark_ws, lambda t: metric_expr(t, metric, by=by, grain=grain), sort_by=keys)


@pytest.mark.spark
def test_comparisons_engines_agree(spark_ws: Workspace) -> None:
    assert_engines_agree(
        spark_ws,
        lambda t: compare_periods(t, ["nps", "ces"], "quarter", by="stage"),
        sort_by=["stage", "metric"],
    )
    assert_engines_agree(
        spark_ws,
        lambda t: compare_segments(t, "csat", "loyalty_tier", filters={"region": "north"}),
        sort_by=["segment_a", "metric"],
    )


@pytest.mark.spark
def test_headline_and_rankings_engines_agree(spark_ws: Workspace) -> None:
    head = assert_engines_agree(spark_ws, lambda t: headline(t, ["nps", "csat", "ces"]), sort_by=["metric"])
    assert head["n"].sum() > 0
    ranking = lambda t: best_worst(t, "nps", by="store_id", k=3, min_n=1).ranked  # noqa: E731
    assert_engines_agree(spark_ws, ranking, sort_by=["store_id"])


@pytest.mark.spark
def test_biggest_movers_engines_agree(moved: tuple[Workspace, pd.DataFrame], spark_session: Any) -> None:
    ws, _ = moved
    movers = assert_engines_agree(ws, lambda t: biggest_movers(t, "ces", by="store_id"), sort_by=["store_id"])
    assert "S1" in set(movers["store_id"])


def test_latest_period_is_the_filtered_groups_own_when_it_has_no_recent_data(
    tmp_path: Path, feedback: pd.DataFrame
) -> None:
    """A store whose answers stop before the store's latest month is compared on its own latest
    month (the two-period shortcut must fall back to the whole history, not report no data)."""
    fb = feedback[~((feedback["store_id"] == "S2") & (feedback["submitted_at"] >= "2024-04-01"))]
    with Workspace(tmp_path / "ws") as w:
        load(w, fb.reset_index(drop=True))
        own = headline(w, ["nps"], filters={"store_id": "S2"})
        assert own.loc[0, "period"] == pd.Timestamp("2024-03-01")
        same = headline(w, ["nps"], filters={"store_id": "S2"}, period="2024-03-15")
        pd.testing.assert_frame_equal(own, same)
        s2 = fb[(fb["store_id"] == "S2") & fb["nps"].notna()]
        assert own.loc[0, "n"] == (s2["submitted_at"].dt.month == 3).sum()
        assert own.loc[0, "previous_n"] == (s2["submitted_at"].dt.month == 2).sum()
        recent = compare_periods(w, "nps", by="store_id")
        assert (recent["period_a"] == pd.Timestamp("2024-04-01")).all()


# -- partial periods ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "grain", "expected"),
    [
        # data to the 9th: the 1st-9th against the 1st-9th of the month before
        ("2025-12-09 17:00", "month", ("2025-12-01", "2025-12-10", "2025-11-01", "2025-11-10", True)),
        # to 30 March: all of February (it has fewer days), never into March
        ("2025-03-30 08:00", "month", ("2025-03-01", "2025-03-31", "2025-02-01", "2025-03-01", True)),
        # the last day of the month has data: the month is complete
        ("2025-11-30 00:05", "month", ("2025-11-01", "2025-12-01", "2025-10-01", "2025-11-01", False)),
        # Wednesday: Monday-Wednesday against Monday-Wednesday of the week before
        ("2025-12-10 12:00", "week", ("2025-12-08", "2025-12-11", "2025-12-01", "2025-12-04", True)),
        ("2025-05-20 12:00", "quarter", ("2025-04-01", "2025-05-21", "2025-01-01", "2025-02-20", True)),
        ("2025-05-20 12:00", "day", ("2025-05-20", "2025-05-21", "2025-05-19", "2025-05-20", False)),
    ],
)
def test_period_pair_compares_a_partial_period_with_the_same_days_before(
    as_of: str, grain: Any, expected: tuple[str, str, str, str, bool]
) -> None:
    pair = period_pair(as_of, grain, as_of)
    got = (pair.this, pair.this_end, pair.previous, pair.previous_end, pair.partial)
    assert got == (*(pd.Timestamp(v) for v in expected[:4]), expected[4])
    assert bool(pair.note) == pair.partial
    whole = period_pair(as_of, grain, as_of, like_for_like=False)
    assert whole.previous_end == whole.this  # the whole previous period, on request
    assert period_pair(as_of, grain, None).partial is False


def month_to_date_feedback() -> pd.DataFrame:
    """November in full and December to the 9th; within each month, answers get better day by
    day (an early-in-the-month dip), so a partial month looks worse than a whole one."""
    rng = np.random.default_rng(5)
    days = [*pd.date_range("2025-11-01", "2025-11-30"), *pd.date_range("2025-12-01", "2025-12-09")]
    frames = []
    for day in days:
        size = 60
        lift = (day.day - 1) / 10
        frames.append(
            pd.DataFrame(
                {
                    "feedback_id": [f"{day:%m%d}-{i}" for i in range(size)],
                    "submitted_at": day + pd.to_timedelta(rng.integers(0, 86_399, size), unit="s"),
                    "source": "survey",
                    "store_id": [["S1", "S2"][i % 2] for i in range(size)],
                    "nps": np.clip(np.round(rng.normal(5 + lift, 2.5, size)), 0, 10).astype(int),
                    "csat": np.clip(np.round(rng.normal(2.6 + lift / 2, 1.0, size)), 1, 5).astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_partial_month_is_flagged_and_compared_like_for_like(tmp_path: Path) -> None:
    data = month_to_date_feedback()
    with Workspace(tmp_path / "ws") as w:
        load(w, data)
        head = headline(w, ["nps", "csat"]).set_index("metric")
        assert head["partial"].all()
        assert (head["period"] == pd.Timestamp("2025-12-01")).all()
        assert (head["period_end"] == pd.Timestamp("2025-12-10")).all()
        assert (head["previous_period_end"] == pd.Timestamp("2025-11-10")).all()
        assert "2025-11-01 to 2025-11-09" in head.attrs["comparison"]
        dec = data[data["submitted_at"] >= "2025-12-01"]
        nov_same = data[(data["submitted_at"] >= "2025-11-01") & (data["submitted_at"] < "2025-11-10")]
        for metric in ("nps", "csat"):
            col = SCORE[metric]
            expected = ref_compare(dec[col], nov_same[col], metric)
            got = tuple(head.loc[metric, ["change", "change_ci_low", "change_ci_high", "p_value"]])
            assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)
            assert head.loc[metric, "n"] == dec[col].notna().sum()
            assert head.loc[metric, "previous_n"] == nov_same[col].notna().sum()
        # month to date against the same days: no change; against the whole previous month the
        # early-month dip would read as a drop
        assert not head["significant"].any()
        whole = headline(w, ["nps", "csat"], like_for_like=False).set_index("metric")
        assert whole["partial"].all()
        assert (whole["verdict"] == "worse").all()
        by_store = compare_periods(w, ["nps", "csat"], "month", by="store_id")
        assert by_store["partial"].all()
        assert (by_store["period_b_end"] == pd.Timestamp("2025-11-10")).all()
        s1 = by_store[(by_store["store_id"] == "S1") & (by_store["metric"] == "nps")].iloc[0]
        nov_s1 = nov_same[nov_same["store_id"] == "S1"]["nps"]
        assert s1["n_b"] == len(nov_s1)
        complete = compare_periods(w, "nps", "month", period="2025-11-15")
        assert not complete["partial"].any()
        assert complete.loc[0, "period_a_end"] == pd.Timestamp("2025-12-01")
