"""Promotion analytics on a small store whose answers are worked out by hand."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlens.analyse import promo_cx
from cxlens.analyse import promotions as pm
from cxlens.storage.workspace import Workspace

W0, W1 = pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-13")  # two promotion weeks (Mondays)


class Shop:
    """Builds orders and lines, then loads everything through the validated ingest."""

    def __init__(self) -> None:
        self.orders: list[dict[str, object]] = []
        self.items: list[dict[str, object]] = []
        self.ids = itertools.count(1)

    def sell(self, when: pd.Timestamp, store: str, lines: dict[str, int], **order: object) -> str:
        oid = f"O{next(self.ids):05d}"
        total = float(sum(lines.values()))
        self.orders.append({"order_id": oid, "customer_id": "C1", "ordered_at": when, "channel": "store",
                            "store_id": store, "total_amount": total, **order})  # fmt: skip
        for no, (product, qty) in enumerate(lines.items(), start=1):
            self.items.append({"order_id": oid, "line_no": no, "product_id": product, "quantity": qty,
                               "unit_price": 1.0})  # fmt: skip
        return oid


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    shop = Shop()
    noon = pd.Timedelta(hours=12)
    # A: on display in S1 in week 0 (6 units in 2 baskets); 2, 2 and 0 units in its other cells
    shop.sell(W0 + noon, "S1", {"A": 4})
    shop.sell(W0 + noon, "S1", {"A": 2})
    shop.sell(W1 + noon, "S1", {"A": 2})
    shop.sell(W0 + noon, "S2", {"A": 2})
    # B: 2.90 (charm) in S1 week 0 and S2 week 1, 3.00 (round) in the others
    shop.sell(W0 + noon, "S1", {"B": 4})
    shop.sell(W1 + noon, "S2", {"B": 2})
    shop.sell(W1 + noon, "S1", {"B": 1})
    shop.sell(W0 + noon, "S2", {"B": 1})
    # C: 2 a day for 28 days, 8 on the flash day (2025-03-03), 1 a day for the 14 days after
    flash = pd.Timestamp("2025-03-03")
    for d in range(-28, 15):
        units = 2 if d < 0 else 8 if d == 0 else 1
        shop.sell(flash + pd.Timedelta(days=d, hours=10), "S1", {"C": units})
    # bundle D + E from 2025-04-01 to 2025-04-08: before, 1 of 10 baskets with D holds E; during, 2 of 4
    for k in range(10):
        shop.sell(
            pd.Timestamp("2025-03-20") + pd.Timedelta(hours=k), "S2", {"D": 1, **({"E": 1} if k == 0 else {})}
        )
    for k in range(4):
        shop.sell(
            pd.Timestamp("2025-04-02") + pd.Timedelta(hours=k), "S2", {"D": 1, **({"E": 1} if k < 2 else {})}
        )
    # stacked offers: a promotion on two orders, a coupon on one of them and on one more
    promo_a = shop.sell(pd.Timestamp("2025-05-05 09:00"), "S1", {"F": 30}, promotion_id="P9")
    shop.sell(pd.Timestamp("2025-05-05 10:00"), "S1", {"F": 50}, promotion_id="P9")
    coupon_b = shop.sell(pd.Timestamp("2025-05-05 11:00"), "S1", {"F": 10})
    w = Workspace(tmp_path_factory.mktemp("promo") / "ws")
    w.ingest("stores", pd.DataFrame({"store_id": ["S1", "S2"], "name": ["One", "Two"]}))
    w.ingest("products", pd.DataFrame({"product_id": list("ABCDEFG"), "name": list("ABCDEFG")}))
    w.ingest(
        "promotions",
        pd.DataFrame(
            {
                "promotion_id": ["P1", "P2", "P9"],
                "name": ["Flash", "Bundle", "Spring"],
                "type": ["limited_time", "bundle", "percent_discount"],
                "start_at": pd.to_datetime(["2025-03-03", "2025-04-01", "2025-05-01"]),
                "end_at": pd.to_datetime(["2025-03-04", "2025-04-08", "2025-05-10"]),
            }
        ),
    )
    w.ingest("customers", pd.DataFrame({"customer_id": ["C1"]}))
    w.ingest("orders", pd.DataFrame(shop.orders))
    w.ingest("order_items", pd.DataFrame(shop.items))
    pp = [
        ("A", "S1", W0, "end_cap", None, None, None),
        ("A", "S2", W1, None, "0", None, None),  # mailer "0": not featured
        ("G", "S2", W1, "front", None, None, None),  # G never sells; it puts S2 and W1 in the display cells
        ("B", "S1", W0, None, None, 2.90, None),
        ("B", "S1", W1, None, None, 3.00, None),
        ("B", "S2", W0, None, None, 3.00, None),
        ("B", "S2", W1, None, None, 2.90, None),
        ("C", "S1", pd.Timestamp("2025-03-03"), None, None, 1.0, "P1"),
        ("D", "S2", pd.Timestamp("2025-03-31"), None, None, None, "P2"),
        ("E", "S2", pd.Timestamp("2025-03-31"), None, None, None, "P2"),
    ]
    w.ingest(
        "product_promotions",
        pd.DataFrame(
            pp, columns=["product_id", "store_id", "week_start", "display", "mailer", "price", "promotion_id"]
        ),
    )
    w.ingest("campaigns", pd.DataFrame({"campaign_id": ["K"], "start_at": [pd.Timestamp("2025-05-01")]}))
    w.ingest(
        "coupon_redemptions",
        pd.DataFrame(
            {
                "campaign_id": ["K", "K"],
                "coupon_id": ["X", "X"],
                "customer_id": ["C1", "C1"],
                "redeemed_at": pd.to_datetime(["2025-05-05 09:00", "2025-05-05 11:00"]),
                "order_id": [promo_a, coupon_b],
            }
        ),
    )
    yield w
    w.close()


def test_display_uplift_by_hand(ws: Workspace) -> None:
    rows = pm.feature_uplift(ws).set_index("feature")
    display = rows.loc["display"]
    assert display["products"] == 2
    assert display["cells"] == 2
    # baseline: A's other three cells of the two stores and two weeks sold 2, 2 and 0 units
    assert display["expected_units"] == pytest.approx(4 / 3)
    assert display["units_uplift"] == pytest.approx(6 / (4 / 3) - 1)
    assert display["baskets_uplift"] == pytest.approx(2 / (2 / 3) - 1)
    assert display["incremental_units"] == pytest.approx(6 - 4 / 3)
    assert np.isnan(rows.loc["mailer", "units_uplift"])  # "0" is not a mailer


def test_price_endings_by_hand(ws: Workspace) -> None:
    rows = pm.price_endings(ws).set_index("comparison")
    charm = rows.loc["charm vs round"]
    assert charm["units_ratio"] == pytest.approx(3.0)  # 4 and 2 against 1 and 1
    assert charm["cells"] == 2
    assert charm["cells_base"] == 2
    assert charm["price_difference"] == pytest.approx(2.9 / 3.0 - 1)


def test_flash_lift_and_dip_by_hand(ws: Workspace) -> None:
    summary, daily = pm.promotion_dip(ws, "P1")
    assert summary["baseline_units_per_day"] == 2
    assert summary["during_ratio"] == pytest.approx(4.0)
    assert summary["after_ratio"] == pytest.approx(0.5)
    assert summary["during_extra_units"] == 6
    assert summary["after_extra_units"] == -14
    assert summary["net_extra_units"] == -8
    assert len(daily) == 28 + 1 + 14
    with pytest.raises(ValueError, match="unknown promotion"):
        pm.promotion_dip(ws, "nope")
    with pytest.raises(ValueError, match="lists no products"):
        pm.promotion_dip(ws, "P9")


def test_bundle_attach_by_hand(ws: Workspace) -> None:
    rows = pm.bundle_attach(ws, "P2").set_index(["product_id", "period"])
    before, during = rows.loc[("E", "before")], rows.loc[("E", "during")]
    assert (before["baskets_with_bundle"], before["baskets_with_product"]) == (10, 1)
    assert (during["baskets_with_bundle"], during["baskets_with_product"]) == (4, 2)
    assert during["attach_rate"] == pytest.approx(0.5)
    assert during["lift_vs_before"] == pytest.approx(0.4)
    assert rows.loc[("E", "after"), "baskets_with_bundle"] == 0


def test_stacked_offers_by_hand(ws: Workspace) -> None:
    rows = pm.stacked_offers(ws).set_index("offers")
    assert rows.loc["promotion and coupon", "orders"] == 1
    assert rows.loc["promotion and coupon", "mean_value"] == 30
    assert rows.loc["promotion", "mean_value"] == 50
    assert rows.loc["coupon", "mean_value"] == 10
    assert rows.loc["none", "orders"] == len(ws.table("orders").to_pandas()) - 3


def test_promoted_days_skip_long_promotions(ws: Workspace) -> None:
    days = promo_cx.promoted_days(ws)
    assert pd.Timestamp("2025-03-03").date() in days
    assert len(days) == 1 + 7 + 9
    out = promo_cx.promo_cx(ws)
    assert out.empty  # no feedback in this shop
    assert out.attrs["promoted_days"] == 17


def test_empty_store_gives_empty_frames(tmp_path: Path) -> None:
    with Workspace(tmp_path / "empty") as empty:
        assert pm.feature_uplift(empty).empty
        assert pm.price_endings(empty).empty
