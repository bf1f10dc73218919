"""What in-store promotions and prices do to sales: display and mailer uplift, price endings,
the dip after a time-limited sale, bundle attach rates and stacked offers.

Sales are the lines of orders that were not cancelled (``order_items`` joined to ``orders``).
A *cell* is a product in a store in a promotion week; weeks are the 7-day periods of
``product_promotions.week_start`` (all week starts are taken to lie a whole number of weeks from
the earliest). The heavy part (units, baskets and their squares per cell class) is one Ibis
aggregation per analysis; ratios, intervals and tests are computed on the small result:

* **uplift** of a class of cells (displayed, in the mailer, both) is units per cell in that class
  over the same products' units per *baseline* cell (no display, no mailer, no promotion), pooled
  over products: ``sum(units in class) / sum(cells in class x baseline units per cell of the
  product)``. Cells without sales count as zero: the cells are every week from the first to the
  last displayed or mailed one, in every store with a display or mailer row. The interval is a
  delta-method interval on the log ratio. The same for baskets (orders holding the product).
* **price endings** compare cells priced at .90-.99 ("charm"), at .00 ("round") and anything else
  ("other") for the same products the same way: charm against round is the charm-price effect;
  other against round shows what rounding does (18.80 against 18.00).
* **a time-limited promotion's dip**: daily units of its products (the products
  ``product_promotions`` lists under its ``promotion_id``) during it and in the days after it,
  each over the mean of the days before it; incremental units during, lost units after, and what
  is left (net), with normal intervals from the daily variation.
* **bundle attach rates**: for each product of a bundle, the share of baskets holding another
  product of the bundle that also hold it, before, during and after the bundle (Wilson
  intervals, during against before tested with :func:`cxlens.analyse.stats.diff_share`).
* **stacked offers**: basket value of orders with a promotion, a coupon, both or neither (Welch
  intervals); descriptive, as who uses coupons is not random.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from cxlens.analyse import stats
from cxlens.analyse.common import Tables, getter, timestamp

if TYPE_CHECKING:
    import ibis.expr.types as ir

WEEK_SECONDS = 7 * 86_400
#: Values of ``display``/``mailer`` that mean "not featured".
NOT_FEATURED = ("", "0", "none", "no", "false")
FEATURES = ("display", "mailer", "display and mailer")
UPLIFT_COLUMNS = (
    "feature", "products", "cells", "units", "expected_units", "units_uplift", "units_ci_low",
    "units_ci_high", "baskets_uplift", "baskets_ci_low", "baskets_ci_high", "incremental_units",
)  # fmt: skip
ENDING_COLUMNS = (
    "comparison", "products", "cells", "cells_base", "units_ratio", "ci_low", "ci_high", "p_value",
    "mean_price", "mean_price_base", "price_difference",
)  # fmt: skip


def sold_lines(tables: Tables) -> ir.Table:
    """Lines of orders that were not cancelled: order_id, product_id, quantity, store_id, channel,
    ordered_at."""
    get = getter(tables)
    o = get("orders")
    o = o.filter(o.status.isnull() | (o.status != "cancelled"))
    items = get("order_items")
    j = items.join(o.select("order_id", "store_id", "channel", "ordered_at"), "order_id")
    return j.select(
        "order_id",
        "product_id",
        j.quantity.cast("float64").name("quantity"),
        "store_id",
        "channel",
        "ordered_at",
    )


def featured(col: ir.StringValue) -> ir.BooleanValue:
    """Whether a display or mailer value means featured (not empty, 0 or none)."""
    return col.notnull() & ~col.strip().lower().isin(list(NOT_FEATURED))


def _origin(pp: ir.Table) -> int | None:
    """Epoch seconds of the earliest promotion week (None when there are no promotion weeks)."""
    first = pp.week_start.min().to_pandas()
    if first is None or pd.isna(first):
        return None
    return int(pd.Timestamp(first).timestamp())


def _week(ts: ir.TimestampValue, origin: int) -> ir.IntegerValue:
    return (ts.epoch_seconds() - origin) // WEEK_SECONDS


def _cells(
    tables: Tables, origin: int, products: ir.Table, stores: ir.Table, weeks: tuple[int, int]
) -> ir.Table:
    """Units and baskets per sold (product, store, week) among the given products and stores, in
    the weeks from ``weeks[0]`` to ``weeks[1]``."""
    lines = sold_lines(tables)
    lines = lines.mutate(week=_week(lines.ordered_at, origin))
    lines = lines.filter(
        lines.product_id.isin(products.product_id),
        lines.store_id.isin(stores.store_id),
        lines.week >= weeks[0],
        lines.week <= weeks[1],
    )
    return lines.group_by(["product_id", "store_id", "week"]).aggregate(
        units=lines.quantity.sum(), baskets=lines.order_id.nunique()
    )


def _promo_weeks(pp: ir.Table, origin: int) -> ir.Table:
    return pp.mutate(week=_week(pp.week_start.cast("timestamp"), origin))


def _ratio(a: float, var_a: float, b: float, var_b: float, confidence: float) -> tuple[float, float, float]:
    """a / b with a delta-method interval on the log scale (NaN when either is 0)."""
    if a <= 0 or b <= 0:
        return (np.nan, np.nan, np.nan)
    r = a / b
    se = float(np.sqrt(var_a / a**2 + var_b / b**2))
    z = stats.z_value(confidence)
    return r, r * float(np.exp(-z * se)), r * float(np.exp(z * se))


# -- display and mailer -------------------------------------------------------------------------


def feature_moments_expr(tables: Tables) -> tuple[ir.Table, ir.Table, int] | None:
    """The two Ibis aggregations behind :func:`feature_uplift`, and the number of cells per product.

    First: per product and class (``cls``: display, mailer, display and mailer, baseline, other),
    the sold cells' sums of units, units², baskets, baskets². Second: per product and class, the
    number of cells the promotion file lists (baseline cells are the rest). None without data."""
    get = getter(tables)
    pp = get("product_promotions")
    origin = _origin(pp)
    if origin is None:
        return None
    pw = _promo_weeks(pp, origin)
    flags = pw.mutate(d=featured(pw.display), m=featured(pw.mailer))
    featured_rows = flags.filter(flags.d | flags.m)
    products = featured_rows.select("product_id").distinct()
    stores = featured_rows.select("store_id").distinct()
    span = featured_rows.aggregate(lo=featured_rows.week.min(), hi=featured_rows.week.max()).to_pandas()
    if span.empty or pd.isna(span["lo"].iloc[0]):
        return None
    weeks = (int(span["lo"].iloc[0]), int(span["hi"].iloc[0]))
    cls = ibis.cases(
        (flags.d & flags.m, "display and mailer"),
        (flags.d, "display"),
        (flags.m, "mailer"),
        (flags.promotion_id.notnull(), "other"),
        else_="baseline",
    )
    listed = flags.filter(
        flags.product_id.isin(products.product_id),
        flags.store_id.isin(stores.store_id),
        flags.week >= weeks[0],
        flags.week <= weeks[1],
    )
    listed = listed.select("product_id", "store_id", "week", cls=cls)
    cells = _cells(get, origin, products, stores, weeks)
    right = listed.rename(lp="product_id", ls="store_id", lw="week")
    j = cells.left_join(
        right, (cells.product_id == right.lp) & (cells.store_id == right.ls) & (cells.week == right.lw)
    )
    j = j.mutate(cls=j.cls.fill_null("baseline"))
    sold = j.group_by(["product_id", "cls"]).aggregate(
        sold_cells=j.count(),
        units=j.units.sum(),
        units2=(j.units * j.units).sum(),
        baskets=j.baskets.cast("float64").sum(),
        baskets2=(j.baskets.cast("float64") * j.baskets.cast("float64")).sum(),
    )
    counted = listed.group_by(["product_id", "cls"]).aggregate(cells=listed.count())
    n_cells = int(stores.count().to_pandas()) * (weeks[1] - weeks[0] + 1)
    return sold, counted, n_cells


def feature_uplift(tables: Tables, *, confidence: float = 0.95) -> pd.DataFrame:
    """Units and baskets uplift of displayed and mailer products over the same products' baseline
    store-weeks, with intervals (module docs). Columns :data:`UPLIFT_COLUMNS`."""
    parts = feature_moments_expr(tables)
    if parts is None:
        return pd.DataFrame(columns=list(UPLIFT_COLUMNS))
    sold, counted, n_cells = parts
    s = sold.to_pandas()
    c = counted.to_pandas()
    frame = _cell_table(s, c, n_cells)
    rows = []
    for feature in FEATURES:
        rows.append(_uplift_row(frame, feature, "baseline", confidence))
    return pd.DataFrame(rows, columns=list(UPLIFT_COLUMNS))


def _cell_table(sold: pd.DataFrame, counted: pd.DataFrame, n_cells: int) -> pd.DataFrame:
    """Per product and class: cells (baseline = the cells not listed), sums and squares."""
    keys = ["product_id", "cls"]
    frame = sold.merge(counted, on=keys, how="outer")
    products = pd.Series(frame["product_id"].unique(), name="product_id")
    missing = products[~products.isin(frame.loc[frame["cls"] == "baseline", "product_id"])]
    frame = pd.concat([frame, pd.DataFrame({"product_id": missing, "cls": "baseline"})], ignore_index=True)
    for col in ("sold_cells", "units", "units2", "baskets", "baskets2", "cells"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").fillna(0.0)
    listed = frame[frame["cls"] != "baseline"].groupby("product_id")["cells"].sum()
    base = frame["cls"] == "baseline"
    frame.loc[base, "cells"] = n_cells - frame.loc[base, "product_id"].map(listed).fillna(0.0)
    return frame


def _uplift_row(frame: pd.DataFrame, cls: str, base_cls: str, confidence: float) -> dict[str, Any]:
    treated = frame[(frame["cls"] == cls) & (frame["cells"] > 0)].set_index("product_id")
    base = frame[(frame["cls"] == base_cls) & (frame["cells"] > 1)].set_index("product_id")
    common = treated.index.intersection(base.index)
    t, b = treated.loc[common], base.loc[common]
    out: dict[str, Any] = {"feature": cls, "products": len(common), "cells": int(t["cells"].sum())}
    for what in ("units", "baskets"):
        mean_b = b[what] / b["cells"]
        var_b = np.maximum(b[f"{what}2"] / b["cells"] - mean_b**2, 0.0) * b["cells"] / (b["cells"] - 1)
        mean_t = t[what] / t["cells"]
        var_t = (
            np.maximum(t[f"{what}2"] / t["cells"] - mean_t**2, 0.0)
            * t["cells"]
            / np.maximum(t["cells"] - 1, 1)
        )
        actual = float(t[what].sum())
        expected = float((t["cells"] * mean_b).sum())
        var_a = float((t["cells"] * var_t).sum())
        var_e = float((t["cells"] ** 2 * var_b / b["cells"]).sum())
        r, lo, hi = _ratio(actual, var_a, expected, var_e, confidence)
        out[f"{what}_uplift"], out[f"{what}_ci_low"], out[f"{what}_ci_high"] = r - 1, lo - 1, hi - 1
        if what == "units":
            out.update(units=actual, expected_units=expected, incremental_units=actual - expected)
    return out


# -- price endings ------------------------------------------------------------------------------


def ending(price: ir.FloatingValue) -> ir.StringValue:
    """The class of a price's ending: charm (.90-.99), round (.00) or other."""
    cents = (price * 100).round().cast("int64") % 100
    return ibis.cases((cents == 0, "round"), (cents >= 90, "charm"), else_="other")


def price_ending_moments_expr(tables: Tables) -> tuple[ir.Table, ir.Table] | None:
    """Ibis aggregations behind :func:`price_endings`: per product and ending, the priced cells'
    count and mean price, and the sold cells' sums of units and units² (None without prices)."""
    get = getter(tables)
    pp = get("product_promotions")
    origin = _origin(pp)
    if origin is None:
        return None
    pw = _promo_weeks(pp, origin)
    priced = pw.filter(pw.price.notnull(), ~featured(pw.display), ~featured(pw.mailer))
    priced = priced.mutate(ending=ending(priced.price))
    variety = priced.group_by("product_id").aggregate(k=priced.ending.nunique())
    products = variety.filter(variety.k > 1).select("product_id")
    priced = priced.filter(priced.product_id.isin(products.product_id))
    counted = priced.group_by(["product_id", "ending"]).aggregate(
        cells=priced.count(), mean_price=priced.price.mean()
    )
    weeks = (0, int(pw.week.max().to_pandas()))
    stores = priced.select("store_id").distinct()
    cells = _cells(get, origin, products, stores, weeks)
    right = priced.select(pp_="product_id", ps="store_id", pw_="week", ending="ending")
    j = cells.join(
        right, (cells.product_id == right.pp_) & (cells.store_id == right.ps) & (cells.week == right.pw_)
    )
    sold = j.group_by(["product_id", "ending"]).aggregate(
        units=j.units.sum(), units2=(j.units * j.units).sum()
    )
    return sold, counted


def price_endings(tables: Tables, *, confidence: float = 0.95) -> pd.DataFrame:
    """Units per store-week at charm and other price endings against round prices, for products
    sold at more than one ending (module docs). Columns :data:`ENDING_COLUMNS`."""
    parts = price_ending_moments_expr(tables)
    if parts is None:
        return pd.DataFrame(columns=list(ENDING_COLUMNS))
    sold, counted = (p.to_pandas() for p in parts)
    frame = counted.merge(sold, on=["product_id", "ending"], how="left").fillna({"units": 0.0, "units2": 0.0})
    rows = []
    for cls, base in (("charm", "round"), ("other", "round"), ("charm", "other")):
        t = frame[frame["ending"] == cls].set_index("product_id")
        b = frame[(frame["ending"] == base) & (frame["cells"] > 1)].set_index("product_id")
        common = t.index.intersection(b.index)
        if not len(common):
            continue
        t, b = t.loc[common], b.loc[common]
        mean_b = b["units"] / b["cells"]
        var_b = np.maximum(b["units2"] / b["cells"] - mean_b**2, 0) * b["cells"] / (b["cells"] - 1)
        mean_t = t["units"] / t["cells"]
        var_t = (
            np.maximum(t["units2"] / t["cells"] - mean_t**2, 0) * t["cells"] / np.maximum(t["cells"] - 1, 1)
        )
        actual, expected = float(t["units"].sum()), float((t["cells"] * mean_b).sum())
        var_a = float((t["cells"] * var_t).sum())
        var_e = float((t["cells"] ** 2 * var_b / b["cells"]).sum())
        r, lo, hi = _ratio(actual, var_a, expected, var_e, confidence)
        se = (
            float(np.sqrt(var_a / actual**2 + var_e / expected**2)) if actual > 0 and expected > 0 else np.nan
        )
        price_t = float((t["mean_price"] * t["cells"]).sum() / t["cells"].sum())
        price_b = float((b["mean_price"] * b["cells"]).sum() / b["cells"].sum())
        rows.append(
            {
                "comparison": f"{cls} vs {base}",
                "products": len(common),
                "cells": int(t["cells"].sum()),
                "cells_base": int(b["cells"].sum()),
                "units_ratio": r,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": float(stats.p_normal(np.log(r), se)) if r == r else np.nan,
                "mean_price": price_t,
                "mean_price_base": price_b,
                "price_difference": price_t / price_b - 1 if price_b else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(ENDING_COLUMNS))


# -- a time-limited promotion and the dip after it ---------------------------------------------


def promotion_products(tables: Tables, promotion_id: str) -> list[str]:
    """Products ``product_promotions`` lists under a promotion."""
    pp = getter(tables)("product_promotions")
    rows = pp.filter(pp.promotion_id == promotion_id).select("product_id").distinct().to_pandas()
    return sorted(rows["product_id"].astype(str))


def _promotion(tables: Tables, promotion_id: str) -> pd.Series:
    pr = getter(tables)("promotions")
    rows = pr.filter(pr.promotion_id == promotion_id).to_pandas()
    if rows.empty:
        raise ValueError(f"unknown promotion {promotion_id!r}")
    return rows.iloc[0]


def daily_units_expr(tables: Tables, products: list[str], start: Any, end: Any) -> ir.Table:
    """Ibis aggregation: units of ``products`` sold per day in ``[start, end)``."""
    lines = sold_lines(tables)
    lines = lines.filter(
        lines.product_id.isin(products),
        lines.ordered_at >= timestamp(start),
        lines.ordered_at < timestamp(end),
    )
    return lines.group_by(day=lines.ordered_at.date()).aggregate(units=lines.quantity.sum())


def promotion_dip(
    tables: Tables,
    promotion_id: str,
    *,
    pre_days: int = 28,
    post_days: int = 14,
    confidence: float = 0.95,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """A promotion's sales lift and the dip after it (module docs): a summary and the daily series
    (day, units, period: before/during/after)."""
    promo = _promotion(tables, promotion_id)
    products = promotion_products(tables, promotion_id)
    if not products:
        raise ValueError(f"promotion {promotion_id!r} lists no products in product_promotions")
    start = pd.Timestamp(timestamp(promo["start_at"])).normalize()
    end_raw = promo["end_at"] if pd.notna(promo["end_at"]) else start + pd.Timedelta(days=1)
    end = pd.Timestamp(timestamp(end_raw)).ceil("D")
    first, last = start - pd.Timedelta(days=pre_days), end + pd.Timedelta(days=post_days)
    daily = daily_units_expr(tables, products, first, last).to_pandas()
    days = pd.date_range(first, last - pd.Timedelta(days=1), freq="D")
    series = pd.DataFrame({"day": days})
    got = daily.assign(day=pd.to_datetime(daily["day"])).set_index("day")["units"]
    series["units"] = series["day"].map(got).fillna(0.0).astype(float)
    series["period"] = np.select([series["day"] < start, series["day"] < end], ["before", "during"], "after")
    parts = {p: series.loc[series["period"] == p, "units"].to_numpy() for p in ("before", "during", "after")}
    base, during, after = parts["before"], parts["during"], parts["after"]
    z = stats.z_value(confidence)
    mb = float(base.mean()) if len(base) else np.nan
    vb = float(base.var(ddof=1)) if len(base) > 1 else np.nan
    out: dict[str, Any] = {
        "promotion_id": promotion_id,
        "name": promo.get("name"),
        "start": start.date().isoformat(),
        "end": end.date().isoformat(),
        "products": len(products),
        "baseline_units_per_day": mb,
    }
    for label, values in (("during", during), ("after", after)):
        n = len(values)
        m = float(values.mean()) if n else np.nan
        v = float(values.var(ddof=1)) if n > 1 else (float(vb) if n else np.nan)
        r, lo, hi = _ratio(m * n, v * n, mb * n, n * n * vb / len(base), confidence) if n else (np.nan,) * 3
        extra = float(values.sum() - n * mb)
        se = float(np.sqrt(n * v + n * n * vb / len(base))) if n else np.nan
        out.update(
            {
                f"{label}_days": n,
                f"{label}_ratio": r,
                f"{label}_ci_low": lo,
                f"{label}_ci_high": hi,
                f"{label}_extra_units": extra,
                f"{label}_extra_ci_low": extra - z * se,
                f"{label}_extra_ci_high": extra + z * se,
            }
        )
    net = out["during_extra_units"] + out["after_extra_units"]
    n_d, n_a = len(during), len(after)
    v_d = float(during.var(ddof=1)) if n_d > 1 else vb
    v_a = float(after.var(ddof=1)) if n_a > 1 else vb
    se_net = float(np.sqrt(n_d * v_d + n_a * v_a + (n_d + n_a) ** 2 * vb / len(base)))
    out.update(net_extra_units=net, net_ci_low=net - z * se_net, net_ci_high=net + z * se_net)
    out["pulled_forward_share"] = (
        -out["after_extra_units"] / out["during_extra_units"] if out["during_extra_units"] > 0 else np.nan
    )
    return out, series


# -- bundles ------------------------------------------------------------------------------------


def bundle_attach(tables: Tables, promotion_id: str, *, confidence: float = 0.95) -> pd.DataFrame:
    """Per product of a bundle and period (before, during, after): baskets holding another of the
    bundle's products, how many also hold this one, the attach rate with its interval, and the
    change during against before (difference, interval, p)."""
    get = getter(tables)
    promo = _promotion(get, promotion_id)
    products = promotion_products(get, promotion_id)
    if len(products) < 2:
        raise ValueError(f"promotion {promotion_id!r} lists fewer than two products: not a bundle")
    start, end = timestamp(promo["start_at"]), timestamp(promo["end_at"])
    lines = sold_lines(get)
    lines = lines.filter(lines.product_id.isin(products))
    has = {f"p{i}": (lines.product_id == p).any() for i, p in enumerate(products)}
    per = lines.group_by("order_id").aggregate(t=lines.ordered_at.min(), **has)
    period = ibis.cases((per.t < start, "before"), (per.t < end, "during"), else_="after")
    per = per.mutate(period=period)
    aggs = {}
    for i in range(len(products)):
        others = ibis.or_(*(per[f"p{j}"] for j in range(len(products)) if j != i))
        aggs[f"n{i}"] = per.count(where=others)
        aggs[f"k{i}"] = per.count(where=others & per[f"p{i}"])
    agg = per.group_by("period").aggregate(**aggs).to_pandas().set_index("period")
    names = _product_names(get, products)
    rows = []
    for i, p in enumerate(products):
        for period_ in ("before", "during", "after"):
            n = float(agg.loc[period_, f"n{i}"]) if period_ in agg.index else 0.0
            k = float(agg.loc[period_, f"k{i}"]) if period_ in agg.index else 0.0
            rate, lo, hi = stats.wilson(k, n, confidence=confidence)
            rows.append(
                {
                    "product_id": p,
                    "name": names.get(p, p),
                    "period": period_,
                    "baskets_with_bundle": int(n),
                    "baskets_with_product": int(k),
                    "attach_rate": float(rate),
                    "ci_low": float(lo),
                    "ci_high": float(hi),
                }
            )
    out = pd.DataFrame(rows)
    change = []
    for product, part in out.groupby("product_id", sort=False):
        b = part.set_index("period")
        d, lo, hi, pv = stats.diff_share(
            b.loc["during", "baskets_with_product"],
            b.loc["during", "baskets_with_bundle"],
            b.loc["before", "baskets_with_product"],
            b.loc["before", "baskets_with_bundle"],
            confidence=confidence,
        )
        change.append(
            {
                "product_id": product,
                "lift_vs_before": float(d),
                "lift_ci_low": float(lo),
                "lift_ci_high": float(hi),
                "lift_p_value": float(pv),
            }
        )
    return out.merge(pd.DataFrame(change), on="product_id", how="left")


def _product_names(get: Any, products: list[str]) -> dict[str, str]:
    pr = get("products")
    rows = pr.filter(pr.product_id.isin(products)).select("product_id", "name").to_pandas()
    return dict(zip(rows["product_id"].astype(str), rows["name"].astype(str), strict=True))


# -- stacked offers -----------------------------------------------------------------------------


def stacked_offers_expr(tables: Tables) -> ir.Table:
    """Ibis aggregation: per offer group (none, promotion, coupon, promotion and coupon), orders,
    the sum and sum of squares of basket value, and the sum of discounts."""
    get = getter(tables)
    o = get("orders")
    o = o.filter(o.status.isnull() | (o.status != "cancelled"))
    red = get("coupon_redemptions")
    coupon = o.order_id.isin(red.filter(red.order_id.notnull()).order_id)
    promo = o.promotion_id.notnull()
    group = ibis.cases(
        (promo & coupon, "promotion and coupon"), (promo, "promotion"), (coupon, "coupon"), else_="none"
    )
    t = o.mutate(
        group=group,
        value=o.total_amount.cast("float64"),
        discount=o.discount_amount.cast("float64").fill_null(0.0),
    )
    return t.group_by("group").aggregate(
        orders=t.count(), value=t.value.sum(), value2=(t.value * t.value).sum(), discount=t.discount.sum()
    )


def stacked_offers(tables: Tables, *, confidence: float = 0.95) -> pd.DataFrame:
    """Mean basket value per offer group with its interval and the difference from orders with
    no offer (Welch); descriptive (module docs)."""
    agg = stacked_offers_expr(tables).to_pandas().set_index("group")
    order = ["none", "promotion", "coupon", "promotion and coupon"]
    rows = []
    base = agg.loc["none"] if "none" in agg.index else None
    for g in order:
        if g not in agg.index:
            continue
        r = agg.loc[g]
        mean, _, lo, hi = stats.mean_interval(r["orders"], r["value"], r["value2"], confidence=confidence)
        row = {
            "offers": g,
            "orders": int(r["orders"]),
            "mean_value": float(mean),
            "ci_low": float(lo),
            "ci_high": float(hi),
            "mean_discount": float(r["discount"] / r["orders"]),
        }
        if base is not None and g != "none":
            mb, vb = stats.mean_var(base["orders"], base["value"], base["value2"])
            mg, vg = stats.mean_var(r["orders"], r["value"], r["value2"])
            d, dlo, dhi, p = stats.diff_mean(mg, vg, r["orders"], mb, vb, base["orders"], confidence)
            row.update(
                diff_vs_none=float(d), diff_ci_low=float(dlo), diff_ci_high=float(dhi), p_value=float(p)
            )
        rows.append(row)
    return pd.DataFrame(rows)
