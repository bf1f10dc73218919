"""Campaign effects and A/B readouts: the estimators against direct computations, the windows,
and ``cxlens promo campaigns`` straight from files (synthetic and the real Complete Journey)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from cxlens.analyse import campaigns as cm
from cxlens.analyse import experiments as ex
from cxlens.analyse import loyalty_effects as le
from cxlens.cli.main import app

CJ = Path("/work/shared/datasets/completejourney_8451")
runner = CliRunner()


def sums(x: np.ndarray, y: np.ndarray, metric: str = "s") -> pd.Series:
    """The moments campaign_moments_expr computes, for arrays x (pre) and y (during)."""
    z = np.zeros_like(x)
    return pd.Series(
        {
            "n": float(len(x)),
            f"{metric}_x": x.sum(),
            f"{metric}_y": y.sum(),
            f"{metric}_z": z.sum(),
            f"{metric}_xx": (x * x).sum(),
            f"{metric}_yy": (y * y).sum(),
            f"{metric}_zz": 0.0,
            f"{metric}_xy": (x * y).sum(),
            f"{metric}_xz": 0.0,
        }
    )


def test_cuped_matches_the_direct_computation() -> None:
    rng = np.random.default_rng(3)
    xt, xc = rng.gamma(2, 50, 400), rng.gamma(2, 50, 300)
    yt = 0.8 * xt + rng.normal(0, 20, 400) + 15
    yc = 0.8 * xc + rng.normal(0, 20, 300)
    d, lo, hi, p, raw, reduction = cm.cuped(sums(xt, yt), sums(xc, yc), "s")
    x, y = np.r_[xt, xc], np.r_[yt, yc]
    theta = np.cov(x, y)[0, 1] / np.var(x, ddof=1)
    at, ac = yt - theta * xt, yc - theta * xc
    assert d == pytest.approx(at.mean() - ac.mean())
    se = np.sqrt(at.var(ddof=1) / 400 + ac.var(ddof=1) / 300)
    assert (hi - lo) / 2 == pytest.approx(sps.t.ppf(0.975, 600) * se, rel=0.01)
    assert raw == pytest.approx(yt.mean() - yc.mean())
    assert 0.5 < reduction < 1  # the pre-period explains most of the variance here
    assert lo < 15 < hi
    assert p < 1e-6


def test_matched_did_weights_bins_by_the_targeted() -> None:
    def bins(rows: list[tuple[int, np.ndarray, np.ndarray]]) -> pd.DataFrame:
        return pd.DataFrame([{"bin": b, **sums(x, y).to_dict()} for b, x, y in rows])

    treated = bins(
        [(0, np.array([0.0, 0, 0]), np.array([3.0, 5, 4])), (3, np.array([10.0]), np.array([30.0]))]
    )
    other = bins(
        [
            (0, np.array([0.0, 0, 0, 0]), np.array([1.0, 2, 1, 0])),
            (3, np.array([8.0, 12]), np.array([9.0, 13])),
        ]
    )
    est, lo, hi, _p, share = cm.matched_did(treated, other, "s")
    # bin 0: 4 - 1 = 3 (3 targeted); bin 3: 20 - 1 = 19 (1 targeted)
    assert est == pytest.approx((3 * 3 + 1 * 19) / 4)
    assert share == 1.0
    assert lo < est < hi
    lonely = bins([(0, np.array([0.0]), np.array([3.0])), (9, np.array([600.0]), np.array([900.0]))])
    _, _, _, _, share = cm.matched_did(lonely, other, "s")
    assert share == 0.5  # nobody to compare bin 9 with


def test_windows_clip_to_the_data_and_say_so() -> None:
    frame = pd.DataFrame(
        {
            "campaign_id": ["early", "normal", "late"],
            "start": pd.to_datetime(["2016-12-01", "2017-03-01", "2017-12-20"]),
            "end": pd.to_datetime(["2017-01-10", "2017-03-29", "2018-02-01"]),
        }
    )
    early, normal, late = cm.windows(frame, datetime(2017, 1, 1), datetime(2018, 1, 1))
    assert not early.pre_ok
    assert "started before the data" in early.note
    assert normal.pre_ok
    assert normal.after_ok
    assert normal.note == ""
    assert (normal.start - normal.pre_start).days == 28
    assert normal.scale_pre == 1
    assert normal.hist_start == datetime(2017, 1, 1)  # two lengths before the pre-period, clipped
    assert late.days == 12
    assert "runs past the end" in late.note
    assert not late.after_ok


def test_sample_ratio_check() -> None:
    assert ex.srm_test(800, 200, 0.2) == pytest.approx(1.0)
    assert ex.srm_test(800, 200, 0.2) == pytest.approx(sps.chisquare([800, 200], [800, 200]).pvalue)
    assert ex.srm_test(850, 150, 0.2) < 1e-4


def test_local_linear_on_bins_is_the_unit_level_fit() -> None:
    rng = np.random.default_rng(5)
    x = np.repeat(np.arange(-10, 0) + 0.5, rng.integers(3, 9, 10)).astype(float)
    y = 2.0 + 0.3 * x + rng.normal(0, 1, len(x))
    h = 8.0
    frame = pd.DataFrame({"x": x, "y": y}).groupby("x")["y"].agg(["size", "sum", lambda s: (s * s).sum()])
    frame.columns = ["n", "visits_sum", "visits_sq"]
    b0, var = le._local_linear(frame.reset_index(), "visits", h)
    k = np.clip(1 - np.abs(x) / h, 0, None)
    keep = k > 0
    design = np.column_stack([np.ones(keep.sum()), x[keep]])
    w = k[keep]
    bread = design.T @ (design * w[:, None])
    coef = np.linalg.solve(bread, design.T @ (w * y[keep]))
    e = y[keep] - design @ coef
    meat = design.T @ (design * (w**2 * e**2)[:, None])
    cov = np.linalg.inv(bread) @ meat @ np.linalg.inv(bread)
    assert b0 == pytest.approx(coef[0], abs=1e-10)
    assert var == pytest.approx(cov[0, 0], rel=1e-9)


# -- straight from files ----------------------------------------------------------------------------


def _files(tmp: Path, *, with_redemptions: bool = True) -> dict[str, Path]:
    """40 households buying 5 every week of 2017; households 1-10 are targeted by campaign 7 (in
    March) and buy one more basket of 10 during it; households 11-20 by campaign 8, which does nothing."""
    rows = []
    for h in range(1, 41):
        for week in range(52):
            day = pd.Timestamp("2017-01-02") + pd.Timedelta(days=7 * week)
            rows.append((h, f"{day:%Y-%m-%d} 10:00:00-0500", 5.0))
        if h <= 10:
            rows.append((h, "2017-03-15 18:30:00-0500", 10.0))
    tx = pd.DataFrame(rows, columns=["household_id", "transaction_timestamp", "sales_value"])
    out = {
        "tx": tmp / "tx.csv.gz",
        "camp": tmp / "campaigns.csv",
        "desc": tmp / "desc.csv",
        "red": tmp / "red.csv",
    }
    tx.to_csv(out["tx"], index=False)
    pd.DataFrame({"campaign_id": [7] * 10 + [8] * 10, "household_id": range(1, 21)}).to_csv(
        out["camp"], index=False
    )
    pd.DataFrame(
        {
            "campaign_id": [7, 8],
            "campaign_type": ["Type A", "Type B"],
            "start_date": ["2017-03-01", "2017-06-01"],
            "end_date": ["2017-03-28", "2017-06-28"],
        }
    ).to_csv(out["desc"], index=False)
    if with_redemptions:
        pd.DataFrame(
            {
                "household_id": [1, 1, 2, 11],
                "coupon_upc": [9, 9, 9, 8],
                "campaign_id": [7, 7, 7, 8],
                "redemption_date": ["2017-03-15"] * 4,
            }
        ).to_csv(out["red"], index=False)
    return out


def _run(files: dict[str, Path], *extra: str) -> object:
    return runner.invoke(
        app,
        [
            "promo",
            "campaigns",
            str(files["tx"]),
            "--campaigns",
            str(files["camp"]),
            "--descriptions",
            str(files["desc"]),
            "--customer-col",
            "household_id",
            "--date-col",
            "transaction_timestamp",
            "--value-col",
            "sales_value",
            *extra,
        ],
    )


def test_campaigns_from_files(tmp_path: Path) -> None:
    files = _files(tmp_path)
    result = _run(files, "--redemptions", str(files["red"]), "--json")
    assert result.exit_code == 0, result.output
    rows = {r["campaign_id"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"7", "8"}
    seven, eight = rows["7"], rows["8"]
    assert seven["households_targeted"] == 10
    assert seven["redemption_rate"] == pytest.approx(0.2)  # households 1 and 2 of 10
    assert seven["uplift_per_household"] == pytest.approx(10.0)
    assert seven["ci_low"] <= 10.0 <= seven["ci_high"]
    assert seven["uplift_visits"] == pytest.approx(1.0)
    assert seven["days_observed"] == 28  # the end date counts as a whole day
    assert eight["uplift_per_household"] == pytest.approx(0.0, abs=1e-9)
    assert eight["redemption_rate"] == pytest.approx(0.1)
    assert seven["method"].startswith("matched")
    scaled = json.loads(
        _run(files, "--redemptions", str(files["red"]), "-o", "json", "--sample-rate", "0.5").stdout
    )
    assert scaled[0]["uplift_per_household"] == pytest.approx(20.0)
    table = _run(files)
    assert table.exit_code == 0
    assert "campaigns" in table.stdout
    csv = _run(files, "-o", "csv")
    assert csv.stdout.splitlines()[0].startswith("campaign_id,")


def test_campaign_file_errors_are_clear(tmp_path: Path) -> None:
    files = _files(tmp_path, with_redemptions=False)
    no_desc = runner.invoke(app, ["promo", "campaigns", str(files["tx"]), "--campaigns", str(files["camp"])])
    assert no_desc.exit_code == 2
    assert "--descriptions" in no_desc.output
    wrong = _run({**files, "camp": files["desc"]})
    assert wrong.exit_code == 2
    assert "no column household_id" in wrong.output
    missing = _run({**files, "desc": tmp_path / "nope.csv"})
    assert missing.exit_code == 2
    assert "no such file" in missing.output
    bad_rate = _run(files, "--sample-rate", "2")
    assert bad_rate.exit_code == 2


@pytest.mark.slow
def test_real_complete_journey_campaigns() -> None:
    if not CJ.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CJ} is missing: CI runs beside shared/datasets")
        pytest.skip("the real Complete Journey files are not on this machine")
    result = runner.invoke(
        app,
        [
            "promo",
            "campaigns",
            str(CJ / "transactions_sample.csv.gz"),
            "--campaigns",
            str(CJ / "campaigns.csv"),
            "--descriptions",
            str(CJ / "campaign_descriptions.csv"),
            "--redemptions",
            str(CJ / "coupon_redemptions.csv"),
            "--customer-col",
            "household_id",
            "--date-col",
            "transaction_timestamp",
            "--value-col",
            "sales_value",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["campaign_id"] for r in rows] == [str(i) for i in range(1, 28)]
    for key in (
        "campaign_id",
        "households_targeted",
        "redemption_rate",
        "uplift_per_household",
        "ci_low",
        "ci_high",
    ):
        assert all(key in r for r in rows), key
    targeted = pd.read_csv(CJ / "campaigns.csv").groupby("campaign_id")["household_id"].nunique()
    red = pd.read_csv(CJ / "coupon_redemptions.csv")
    camp = pd.read_csv(CJ / "campaigns.csv")
    redeemers = (
        red.merge(camp, on=["campaign_id", "household_id"]).groupby("campaign_id")["household_id"].nunique()
    )
    for r in rows:
        cid = int(r["campaign_id"])
        assert r["households_targeted"] == targeted[cid]
        assert r["redemption_rate"] == pytest.approx(redeemers.get(cid, 0) / targeted[cid])
        if r["uplift_per_household"] is not None:
            assert r["ci_low"] < r["uplift_per_household"] < r["ci_high"]
    estimated = [r for r in rows if r["uplift_per_household"] is not None]
    assert len(estimated) >= 23  # three started before the data, one has only days in it


MAPPINGS = Path(__file__).resolve().parents[1] / "docs" / "mappings" / "completejourney"
SOURCES = {
    "completejourney_campaigns.yaml": "campaign_descriptions.csv",
    "completejourney_campaign_targets.yaml": "campaigns.csv",
    "completejourney_coupons.yaml": "coupons.csv.gz",
    "completejourney_coupon_redemptions.yaml": "coupon_redemptions.csv",
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_complete_journey_mappings_fit_the_data_model_and_the_files(name: str) -> None:
    import yaml

    from cxlens.model.schema import get_table

    spec = yaml.safe_load((MAPPINGS / name).read_text(encoding="utf-8"))
    table = get_table(spec["table"])
    mapped = set(spec.get("map", {})) | set(spec.get("set", {}))
    assert mapped <= set(table.column_names), mapped - set(table.column_names)
    assert set(table.required_columns) <= mapped, set(table.required_columns) - mapped
    for column, value in spec.get("set", {}).items():
        allowed = table.column(column).allowed
        assert allowed is None or value in allowed, (column, value)
    source = CJ / SOURCES[name]
    if not source.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{source} is missing: CI runs beside shared/datasets")
        pytest.skip("the real Complete Journey files are not on this machine")
    header = set(pd.read_csv(source, nrows=0).columns)
    assert set(spec["map"].values()) <= header, set(spec["map"].values()) - header


@pytest.mark.slow
def test_complete_journey_loads_through_the_mappings_and_agrees_with_the_files(tmp_path: Path) -> None:
    """The real files loaded with `cxlens ingest --mapping` give the campaigns the file command
    gives: the same targeted households and redemption rates, and uplifts within a small part of
    their intervals (the store keeps times in UTC, the file command on the local day, so a few
    baskets near midnight fall in other windows)."""
    if not CJ.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CJ} is missing: CI runs beside shared/datasets")
        pytest.skip("the real Complete Journey files are not on this machine")
    store = ["--data-dir", str(tmp_path / "cj")]
    loads = [
        ("orders", "transactions_sample.csv.gz", MAPPINGS.parent / "completejourney-orders.yaml", []),
        ("campaigns", "campaign_descriptions.csv", MAPPINGS / "completejourney_campaigns.yaml", []),
        ("campaign_targets", "campaigns.csv", MAPPINGS / "completejourney_campaign_targets.yaml", []),
        (
            "coupon_redemptions",
            "coupon_redemptions.csv",
            MAPPINGS / "completejourney_coupon_redemptions.yaml",
            [],
        ),
        ("coupons", "coupons.csv.gz", MAPPINGS / "completejourney_coupons.yaml", ["--quarantine"]),
    ]
    for table, source, mapping, extra in loads:
        result = runner.invoke(
            app,
            [*store, "ingest", table, str(CJ / source), "--mapping", str(mapping), "--no-progress", *extra],
        )
        assert result.exit_code == 0, (table, result.output)
    counts = runner.invoke(app, [*store, "status", "-o", "json"])
    assert {"table": "campaign_targets", "rows": 6589} in json.loads(counts.stdout)  # every targeting row
    from_store = runner.invoke(app, [*store, "promo", "campaigns", "-o", "json"])
    assert from_store.exit_code == 0, from_store.output
    from_files = runner.invoke(
        app,
        [
            "promo",
            "campaigns",
            str(CJ / "transactions_sample.csv.gz"),
            "--campaigns",
            str(CJ / "campaigns.csv"),
            "--descriptions",
            str(CJ / "campaign_descriptions.csv"),
            "--redemptions",
            str(CJ / "coupon_redemptions.csv"),
            "--customer-col",
            "household_id",
            "--date-col",
            "transaction_timestamp",
            "--value-col",
            "sales_value",
            "--basket-col",
            "basket_id",
            "--json",
        ],
    )
    stored = {r["campaign_id"]: r for r in json.loads(from_store.stdout)}
    direct = {r["campaign_id"]: r for r in json.loads(from_files.stdout)}
    assert set(stored) == set(direct)
    assert stored["8"]["name"] == "Campaign 8 (Type A)"  # a name people can read
    for cid, s in stored.items():
        d = direct[cid]
        assert s["households_targeted"] == d["households_targeted"], cid
        assert s["redemption_rate"] == pytest.approx(d["redemption_rate"]), cid
        assert s["days_observed"] == pytest.approx(d["days_observed"], abs=1), cid  # UTC vs local day
        if d["uplift_per_household"] is None:
            assert s["uplift_per_household"] is None, cid
            continue
        width = d["ci_high"] - d["ci_low"]
        assert abs(s["uplift_per_household"] - d["uplift_per_household"]) < 0.15 * width, cid
