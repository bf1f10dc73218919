"""The demo's promotion calendar: displays, mailers, a charm-price test, a flash sale and a bundle.

The calendar is part of the fixed catalogue (it does not depend on the seed). Its effects on what
customers buy are applied to order lines by :func:`promote`, with the multipliers of
:mod:`cxlens.demo.planted_loyalty`:

* a promoted product-store-week with multiplier m > 1 gets extra lines: every in-store order in
  that store and week adds a line of product q with probability (m - 1) x share(q) x (lines of
  q's category in the order), where share(q) is q's share of its category's picks. That is
  (m - 1) times q's expected lines, so q's lines (and baskets, and units) grow by the factor m
  without taking sales from other products;
* during the flash sale the pantry products get extra lines the same way; in the dip after it,
  each pantry line becomes a non-food line with probability 1 - dip multiplier;
* baskets with an anchor yoghurt add the launched yoghurt with the planted attach rate of the
  period (before, during or after the bundle).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from cxlens.demo import _tables as arrow
from cxlens.demo.catalogue import CATEGORIES, Catalogue, micros, sample_products
from cxlens.demo.planted import Planted

DAY = 86_400_000_000
WEEK = 7 * DAY
_CALENDAR_SEED = 20250102
_FOOD = (CATEGORIES.index("grocery"), CATEGORIES.index("fresh"))
#: Display locations and mailer placements written to ``product_promotions``.
DISPLAYS = ("front", "end_cap", "aisle")
MAILERS = ("front_page", "interior")
#: Promotions added to the catalogue's list: (name, type, value, description).
_EXTRA_PROMOTIONS = (
    ("Pantry flash sale: 48 hours only", "limited_time", 30.0, "30% off pantry staples for two days."),
    (
        "Alpine Meadow launch bundle",
        "bundle",
        50.0,
        "Half-price Alpine Meadow Greek yoghurt with any other Greek yoghurt.",
    ),
    ("Charm-price test", "charm_price", 9.9, "Six products priced at x.9 in some stores and weeks."),
)
LAUNCH_NAME = "Alpine Meadow Greek yoghurt 500 g"
LAUNCH_BRAND = "Alpine Meadow"
LAUNCH_PRICE = 3.9


@dataclass(frozen=True)
class Calendar:
    """The promotion calendar: ``product_promotions`` rows plus the lookups :func:`promote` uses."""

    table: pa.Table
    flash_id: str
    bundle_id: str
    charm_id: str
    week0: int
    n_weeks: int
    n_products: int
    #: Sorted cell keys ((store * n_weeks + week) * n_products + product) with a sales multiplier
    #: other than 1 or a price of their own; ``price`` NaN means the list price.
    key: np.ndarray
    mult: np.ndarray
    price: np.ndarray
    share: np.ndarray
    flash: np.ndarray
    flash_start: int
    flash_end: int
    dip_end: int
    flash_mult: float
    dip_mult: float
    flash_discount: float
    anchors: np.ndarray
    launched: int
    bundle_start: int
    bundle_end: int
    attach: tuple[float, float, float]


def _index(ids: list[str], wanted: tuple[str, ...] | str) -> np.ndarray:
    names = (wanted,) if isinstance(wanted, str) else wanted
    return np.array([ids.index(w) for w in names], dtype=np.int64)


def extend_catalogue(cat: Catalogue, planted: Planted) -> Catalogue:
    """The catalogue plus the launched yoghurt (never picked by popularity) and the calendar's
    promotions (not used as basket discounts: their effects are per product, see :func:`promote`)."""
    lp = planted.loyalty
    n = len(cat.product_category)
    new_id = f"P{n + 1:05d}"
    if new_id != lp.launched_product:
        raise ValueError(f"the launched product would be {new_id}, not {lp.launched_product}")
    fresh = CATEGORIES.index("fresh")
    products = pa.concat_tables(
        [
            cat.products,
            arrow.build(
                "products",
                1,
                {
                    "product_id": arrow.strings([new_id]),
                    "name": arrow.strings([f"{LAUNCH_NAME}"]),
                    "category": arrow.strings(["fresh"]),
                    "subcategory": arrow.strings(["dairy"]),
                    "brand": arrow.strings([LAUNCH_BRAND]),
                    "price": arrow.floats(np.array([LAUNCH_PRICE])),
                    "own_brand": pa.array([False]),
                },
            ),
        ]
    )
    first = len(cat.promotion_ids)
    ids = arrow.ids("PR", np.arange(first + 1, first + 1 + len(_EXTRA_PROMOTIONS)), 3)
    starts = [lp.flash_start, lp.bundle_start, planted.start]
    ends = [lp.flash_end, lp.bundle_end, planted.end]
    promotions = pa.concat_tables(
        [
            cat.promotions,
            arrow.build(
                "promotions",
                len(_EXTRA_PROMOTIONS),
                {
                    "promotion_id": ids,
                    "name": arrow.strings([p[0] for p in _EXTRA_PROMOTIONS]),
                    "type": arrow.strings([p[1] for p in _EXTRA_PROMOTIONS]),
                    "start_at": arrow.timestamps(np.array([micros(d) for d in starts])),
                    "end_at": arrow.timestamps(np.array([micros(d) for d in ends])),
                    "value": arrow.floats(np.array([p[2] for p in _EXTRA_PROMOTIONS])),
                    "description": arrow.strings([p[3] for p in _EXTRA_PROMOTIONS]),
                },
            ),
        ]
    )
    return replace(
        cat,
        products=products,
        promotions=promotions,
        product_ids=products.column("product_id").combine_chunks(),
        product_category=np.r_[cat.product_category, fresh],
        product_price=np.r_[cat.product_price, LAUNCH_PRICE],
        product_quality=np.r_[cat.product_quality, 4.2],
        product_return_rate=np.r_[
            cat.product_return_rate, cat.product_return_rate[cat.product_category == fresh][0]
        ],
    )


def category_shares(cat: Catalogue) -> np.ndarray:
    """Each product's share of its category's popularity picks (0 for products never picked)."""
    cdf = cat.category_cdf
    n = len(cdf)
    category = cat.product_category[:n]
    starts = np.r_[0, np.flatnonzero(np.diff(category)) + 1]
    prev = np.r_[0.0, cdf[:-1]]
    prev[starts] = category[starts]
    share = np.zeros(len(cat.product_category))
    share[:n] = cdf - prev
    return share


def build_calendar(cat: Catalogue, planted: Planted) -> Calendar:
    """The calendar for the period in ``planted`` (seed-independent) and its ``product_promotions``."""
    lp = planted.loyalty
    rng = np.random.default_rng(_CALENDAR_SEED)
    pid = cat.product_ids.to_pylist()
    n_prod = len(pid)
    share = category_shares(cat)
    names = cat.products.column("name").to_pylist()
    subcats = cat.products.column("subcategory").to_pylist()
    flash = np.array([s == "pantry" for s in subcats])
    charm = _index(pid, lp.charm_products)
    anchors = _index(pid, lp.anchor_products)
    launched = int(_index(pid, lp.launched_product)[0])
    if not all(names[a].endswith("Greek yoghurt 500 g") for a in anchors):
        raise ValueError("the anchor products must be the Greek yoghurts")
    food = np.isin(cat.product_category, _FOOD)
    taken = flash.copy()
    taken[charm] = taken[anchors] = taken[launched] = True
    pool = np.flatnonzero(food & ~taken)
    pool = pool[np.argsort(-share[pool], kind="stable")][:40]

    week0_day = planted.start - timedelta(days=planted.start.weekday())
    week0 = micros(week0_day)
    n_weeks = -(-(micros(planted.end) - week0) // WEEK)
    stores = np.arange(1, len(cat.store_ids))  # physical stores (0 is online)
    all_stores = np.arange(len(cat.store_ids))

    # (product, store, week) -> [display, mailer, price, promotion, multiplier, price counts]
    cells: dict[tuple[int, int, int], list[object]] = {}

    def cell(p: int, s: int, w: int) -> list[object]:
        return cells.setdefault((p, s, w), [None, None, None, None, 1.0, False])

    for w in range(n_weeks):
        mailed = rng.choice(pool, lp.mailers_per_week, replace=False)
        for s in stores:
            for k, p in enumerate(rng.choice(pool, lp.displays_per_store_week, replace=False)):
                c = cell(int(p), int(s), w)
                c[0] = DISPLAYS[k % len(DISPLAYS)]
                c[4] = float(c[4]) * (1 + lp.display_lift)  # type: ignore[arg-type]
            for k, p in enumerate(mailed):
                c = cell(int(p), int(s), w)
                c[1] = MAILERS[min(k, 1)]
                c[4] = float(c[4]) * (1 + lp.mailer_lift)  # type: ignore[arg-type]
            rounded = rng.random(len(charm)) < 0.5
            for p, r in zip(charm, rounded, strict=True):
                c = cell(int(p), int(s), w)
                base = float(cat.product_price[p])
                c[2] = round(base + 0.1, 2) if r else base
                c[3] = "charm"
                c[5] = True
                if not r:
                    c[4] = float(c[4]) * (1 + lp.charm_lift)  # type: ignore[arg-type]

    def weeks(first: date, last: date) -> range:
        lo = (micros(first) - week0) // WEEK
        hi = (micros(last) - 1 - week0) // WEEK
        return range(max(lo, 0), min(hi, n_weeks - 1) + 1)

    for w in weeks(lp.flash_start, lp.flash_end):
        for p in np.flatnonzero(flash):
            for s in all_stores:
                c = cell(int(p), int(s), w)
                c[2] = round(float(cat.product_price[p]) * (1 - lp.flash_discount), 2)
                c[3] = "flash"
    for w in weeks(lp.bundle_start, lp.bundle_end):
        for p in [*anchors, launched]:
            for s in all_stores:
                c = cell(int(p), int(s), w)
                if p == launched:
                    c[2] = round(LAUNCH_PRICE * 0.5, 2)
                c[3] = "bundle"

    extra_ids = cat.promotions.column("promotion_id").to_pylist()[-len(_EXTRA_PROMOTIONS) :]
    promo_ids = dict(zip(("flash", "bundle", "charm"), extra_ids, strict=True))
    keys = sorted(cells)
    p_arr = np.array([k[0] for k in keys], dtype=np.int64)
    s_arr = np.array([k[1] for k in keys], dtype=np.int64)
    w_arr = np.array([k[2] for k in keys], dtype=np.int64)
    vals = [cells[k] for k in keys]
    table = arrow.build(
        "product_promotions",
        len(keys),
        {
            "product_id": arrow.take(cat.product_ids, p_arr),
            "store_id": arrow.take(cat.store_ids, s_arr),
            "week_start": pa.array([week0_day + timedelta(days=7 * int(w)) for w in w_arr], type=pa.date32()),
            "display": arrow.strings([v[0] for v in vals]),  # type: ignore[misc]
            "mailer": arrow.strings([v[1] for v in vals]),  # type: ignore[misc]
            "price": pa.array([v[2] for v in vals], type=pa.float64()),
            "promotion_id": arrow.strings([promo_ids[v[3]] if v[3] else None for v in vals]),  # type: ignore[index]
        },
    )
    # lookups: only cells whose multiplier or own price matter for the order lines
    mult = np.array([float(v[4]) for v in vals])  # type: ignore[arg-type]
    own_price = np.array([float(v[2]) if v[5] else np.nan for v in vals])  # type: ignore[arg-type]
    keep = (mult != 1.0) | ~np.isnan(own_price)
    key = ((s_arr * n_weeks + w_arr) * n_prod + p_arr)[keep]
    order = np.argsort(key, kind="stable")
    return Calendar(
        table=table,
        flash_id=promo_ids["flash"],
        bundle_id=promo_ids["bundle"],
        charm_id=promo_ids["charm"],
        week0=week0,
        n_weeks=n_weeks,
        n_products=n_prod,
        key=key[order],
        mult=mult[keep][order],
        price=own_price[keep][order],
        share=share,
        flash=flash,
        flash_start=micros(lp.flash_start),
        flash_end=micros(lp.flash_end),
        dip_end=micros(lp.flash_end) + lp.dip_days * DAY,
        flash_mult=lp.flash_multiplier,
        dip_mult=lp.dip_multiplier,
        flash_discount=lp.flash_discount,
        anchors=np.isin(np.arange(n_prod), anchors),
        launched=launched,
        bundle_start=micros(lp.bundle_start),
        bundle_end=micros(lp.bundle_end),
        attach=(lp.bundle_attach_before, lp.bundle_attach_during, lp.bundle_attach_after),
    )


def _food_qty(rng: np.random.Generator, n: int) -> np.ndarray:
    return 1 + np.minimum(rng.poisson(0.8, n), 20)


def _category_counts(order: np.ndarray, category: np.ndarray, n_orders: int) -> np.ndarray:
    """(orders x categories) number of lines of each category per order."""
    flat = np.bincount(order * len(CATEGORIES) + category, minlength=n_orders * len(CATEGORIES))
    return flat.reshape(n_orders, len(CATEGORIES))


def promote(
    rng: np.random.Generator,
    cal: Calendar,
    cat: Catalogue,
    t_order: np.ndarray,
    store: np.ndarray,
    in_store: np.ndarray,
    line_order: np.ndarray,
    product: np.ndarray,
    qty: np.ndarray,
) -> dict[str, np.ndarray]:
    """Apply the calendar to the order lines (module docstring): returns the new ``order``,
    ``product``, ``qty``, ``price`` and ``discount_rate`` (line discount of the promotion) arrays,
    with added lines after each order's own."""
    nb = len(t_order)
    week = np.clip((t_order - cal.week0) // WEEK, 0, cal.n_weeks - 1)
    cell_base = (np.where(in_store, store, -1) * cal.n_weeks + week) * cal.n_products

    # the dip after the flash sale: pantry lines become non-food lines (spend goes elsewhere, and
    # not into the food products whose displays, mailers and prices are being measured)
    t_line = t_order[line_order]
    product = product.copy()
    dip = cal.flash[product] & (t_line >= cal.flash_end) & (t_line < cal.dip_end)
    switch = np.flatnonzero(dip & (rng.random(len(product)) >= cal.dip_mult))
    non_food = np.array([c for c in range(len(CATEGORIES)) if c not in _FOOD])
    product[switch] = sample_products(rng, cat, non_food[rng.integers(0, len(non_food), len(switch))])

    counts = _category_counts(line_order, cat.product_category[product], nb)
    added_order: list[np.ndarray] = []
    added_product: list[np.ndarray] = []

    # store-week promotions (in-store orders): candidates are the promoted cells of the order's week
    up = cal.mult > 1.0
    up_key, up_mult = cal.key[up], cal.mult[up]
    stores_orders = np.flatnonzero(in_store)
    lo = np.searchsorted(up_key, cell_base[stores_orders])
    hi = np.searchsorted(up_key, cell_base[stores_orders] + cal.n_products)
    width = hi - lo
    for k in range(int(width.max()) if len(width) else 0):
        has = width > k
        o = stores_orders[has]
        r = lo[has] + k
        q = up_key[r] % cal.n_products
        p_add = (up_mult[r] - 1.0) * cal.share[q] * counts[o, cat.product_category[q]]
        hit = rng.random(len(o)) < p_add
        added_order.append(o[hit])
        added_product.append(q[hit])

    # the flash sale itself: extra pantry lines in every channel
    during = np.flatnonzero((t_order >= cal.flash_start) & (t_order < cal.flash_end))
    pantry = np.flatnonzero(cal.flash)
    if len(during):
        grocery = counts[during, CATEGORIES.index("grocery")]
        p_add = (cal.flash_mult - 1.0) * cal.share[pantry][None, :] * grocery[:, None]
        hit_o, hit_q = np.nonzero(rng.random(p_add.shape) < p_add)
        added_order.append(during[hit_o])
        added_product.append(pantry[hit_q])

    # the bundle: baskets with an anchor yoghurt add the launched one
    has_anchor = np.bincount(line_order, weights=cal.anchors[product], minlength=nb) > 0
    period = np.select([t_order < cal.bundle_start, t_order < cal.bundle_end], [0, 1], 2)
    rate = np.asarray(cal.attach)[period]
    attach = np.flatnonzero(has_anchor & (rng.random(nb) < rate))
    added_order.append(attach)
    added_product.append(np.full(len(attach), cal.launched, dtype=np.int64))

    new_order = np.concatenate(added_order) if added_order else np.zeros(0, np.int64)
    new_product = np.concatenate(added_product) if added_product else np.zeros(0, np.int64)
    order = np.concatenate([line_order, new_order])
    product = np.concatenate([product, new_product])
    qty = np.concatenate([qty, np.where(new_product == cal.launched, 1, _food_qty(rng, len(new_product)))])
    sort = np.argsort(order, kind="stable")
    order, product, qty = order[sort], product[sort], qty[sort]

    # prices: the cell's own price (charm test) or the list price; promotion line discounts
    price = cat.product_price[product].astype(np.float64)
    key = cell_base[order] + product
    pos = np.minimum(np.searchsorted(cal.key, key), len(cal.key) - 1)
    found = (cal.key[pos] == key) & ~np.isnan(cal.price[pos]) & (cell_base[order] >= 0)
    price = np.where(found, cal.price[pos], price)
    t_line = t_order[order]
    rate = np.where(
        cal.flash[product] & (t_line >= cal.flash_start) & (t_line < cal.flash_end), cal.flash_discount, 0.0
    )
    in_bundle = (product == cal.launched) & (t_line >= cal.bundle_start) & (t_line < cal.bundle_end)
    rate = np.where(in_bundle, 0.5, rate)
    return {"order": order, "product": product, "qty": qty, "price": price, "discount_rate": rate}
