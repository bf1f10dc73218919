"""Journeys of one chunk of customers: which journeys happen, their orders and their touchpoint events.

Each customer's year is cut into 14-day slots (offset per customer, so traffic is even over the
year) and each journey sits in its own slot: research and purchase within the first six days,
fulfilment and after-sales later. Journeys of one customer are therefore at least a week apart in
their research-to-purchase phase, which makes the planted showrooming and webrooming shares
recoverable by a look-back window (see :mod:`cxlens.demo.planted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cxlens.demo import _sampling as draw
from cxlens.demo import _tables as arrow
from cxlens.demo._people import CARD, COOKIE, COOKIE2, DEVICE, PREF_APP, PREF_STORE, TOKEN, UNLINKED, People
from cxlens.demo._promo import Calendar, promote
from cxlens.demo.catalogue import CATEGORIES, Catalogue, sample_products
from cxlens.demo.planted import Planted
from cxlens.model.schema import FULFILMENT, ORDER_STATUSES

SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
SLOT_DAYS = 14

#: Journey kinds.
ONLINE, STORE, SHOWROOM, WEBROOM, ABANDON, BROWSE = range(6)
#: Fulfilment codes (order of schema.FULFILMENT).
DELIVERY, COLLECT, IN_STORE = range(3)

#: Event types the generator emits; their touchpoints come from the journey map.
EVENT_TYPES: tuple[str, ...] = (
    "ad_impression", "ad_click", "search_result_click", "social_mention", "referral_visit",
    "product_view", "site_search", "compare", "review_read",
    "store_visit", "shelf_browse", "product_scan", "presales_question",
    "add_to_cart", "remove_from_cart", "checkout_start", "checkout", "payment_failed", "payment",
    "queue_join", "pos_purchase", "self_checkout",
    "pickup_ready", "pickup_collected", "shipped", "out_for_delivery", "delivery_failed", "delivered",
    "unboxing", "product_use", "support_call", "support_chat", "support_email",
    "return_request", "return_received", "repair_request", "review_written",
    "repeat_purchase", "points_earned", "points_redeemed", "referral_sent", "membership_renewal",
)  # fmt: skip
E = {name: i for i, name in enumerate(EVENT_TYPES)}
PAYMENT_METHODS = ("card", "wallet", "cash", "gift_card")
#: JSON properties: a search query per category, then a payment method.
PROPERTIES: tuple[str, ...] = tuple(f'{{"query": "{c}"}}' for c in CATEGORIES) + tuple(
    f'{{"method": "{m}"}}' for m in PAYMENT_METHODS
)
_PAY_PROP = len(CATEGORIES)

# journeys per year by loyalty tier (none, bronze, silver, gold, platinum)
_JOURNEYS_PER_YEAR = np.array([3.0, 4.2, 5.8, 8.0, 10.0])
_P_PURCHASE = 0.7
# focal category of a journey: online shoppers buy more non-food
_CAT_ONLINE = np.array([0.12, 0.08, 0.25, 0.15, 0.25, 0.15])
_CAT_STORE = np.array([0.35, 0.25, 0.08, 0.12, 0.10, 0.10])


@dataclass
class Counters:
    """Running global numbers so ids stay unique across chunks."""

    next: dict[str, int] = field(
        default_factory=lambda: {"order": 1, "event": 1, "session": 1, "feedback": 1, "ledger": 1}
    )

    def take(self, name: str, n: int) -> np.ndarray:
        """The next ``n`` numbers of the sequence ``name``."""
        first = self.next[name]
        self.next[name] = first + n
        return np.arange(first, first + n, dtype=np.int64)


@dataclass
class Context:
    """What every step of a chunk needs: catalogue, plan, period and channel codes."""

    cat: Catalogue
    planted: Planted
    start: int
    end: int
    days: int
    seed: int
    channel: dict[str, int]
    touchpoint: dict[str, int]
    counters: Counters
    calendar: Calendar | None = None


class EventBuffer:
    """Collects event columns as numpy arrays; -1 codes and NaN values mean null."""

    _INT_COLS = ("cust", "anon", "session", "channel", "etype", "store", "product", "order", "props")

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, t: np.ndarray, value: np.ndarray | float = np.nan, **cols: np.ndarray | int) -> None:
        """Add ``len(t)`` events; scalars broadcast, columns not given are null."""
        n = len(t)
        if n == 0:
            return
        part = {"t": np.asarray(t, dtype=np.int64), "value": np.broadcast_to(value, n).astype(np.float64)}
        for name in self._INT_COLS:
            part[name] = np.broadcast_to(np.asarray(cols.pop(name, -1), dtype=np.int64), n)
        if cols:
            raise KeyError(f"unknown event columns {sorted(cols)}")
        self.parts.append(part)

    def columns(self) -> dict[str, np.ndarray]:
        """All events added so far, one array per column."""
        names = ["t", "value", *self._INT_COLS]
        return {k: np.concatenate([p[k] for p in self.parts]) for k in names}


@dataclass
class Orders:
    """Order-level arrays of a chunk (one order per purchasing journey), used by events and feedback."""

    number: np.ndarray
    cust: np.ndarray  # local customer index (always known to the generator)
    known: np.ndarray  # the order row carries customer_id
    anon: np.ndarray  # anon index on the order row, -1 when customer_id is set
    t: np.ndarray
    channel: np.ndarray
    store: np.ndarray
    fulfil: np.ndarray
    cancelled: np.ndarray
    late: np.ndarray
    promised: np.ndarray
    delivered: np.ndarray  # delivery or collection time (may lie past the end of the period)
    total: np.ndarray
    promo: np.ndarray
    focal: np.ndarray
    returned: np.ndarray  # some line returned within the period
    return_t: np.ndarray


def _layout(
    rng: np.random.Generator, counts: list[np.ndarray], mean_gap: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lay out sessions: each journey does its steps in order, ``counts[k][j]`` times step ``k``.

    Returns per event the journey, the step and the offset from the session's first event, and
    per journey the span from first to last event (all in microseconds).
    """
    c = np.stack(counts, axis=1).astype(np.int64)
    n_j, n_k = c.shape
    per_j = c.sum(axis=1)
    row_j = np.repeat(np.arange(n_j), per_j)
    row_k = np.repeat(np.tile(np.arange(n_k), n_j), c.ravel())
    gaps = (rng.exponential(mean_gap, len(row_j)) + 5 * SEC).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(per_j)[:-1]])
    has = per_j > 0
    gaps[first[has]] = 0
    cs = np.cumsum(gaps)
    offset = cs - cs[first[row_j]] if len(row_j) else cs
    span = np.zeros(n_j, dtype=np.int64)
    span[has] = offset[(first + per_j - 1)[has]]
    return row_j, row_k, offset, span


def _bern(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return (rng.random(n) < p).astype(np.int64)


def _poisson1(rng: np.random.Generator, lam: float, n: int, cap: int = 20) -> np.ndarray:
    return 1 + np.minimum(rng.poisson(lam, n), cap - 1)


def _hours(rng: np.random.Generator, online: np.ndarray) -> np.ndarray:
    """Time of day (microseconds): evenings online (some late at night), opening hours in store."""
    n = len(online)
    evening = np.mod(rng.normal(19.5, 3.5, n), 24.0)
    shop = rng.uniform(9.0, 20.5, n)
    return (np.where(online, evening, shop) * HOUR).astype(np.int64)


def plan_journeys(rng: np.random.Generator, people: People, ctx: Context) -> dict[str, np.ndarray]:
    """Which journeys each customer makes, of which kind, where, and on which days."""
    n, days = people.n, ctx.days
    n_slots = days // SLOT_DAYS + 2
    phase = rng.integers(0, SLOT_DAYS, n)
    slot_day = phase[:, None] + SLOT_DAYS * np.arange(n_slots)[None, :]
    created_day = np.floor_divide(people.created - ctx.start, DAY)
    avail = (slot_day >= created_day[:, None]) & (slot_day + 6 < days)
    # customers who joined during the period make proportionally fewer journeys
    share = np.minimum(avail.sum(axis=1) * SLOT_DAYS / days, 1.0)
    target = rng.poisson(_JOURNEYS_PER_YEAR[people.tier] * days / 365.0 * share)
    keys = np.where(avail, rng.random((n, n_slots)), 2.0)
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)
    ci, si = np.nonzero((rank < target[:, None]) & avail)
    nj = len(ci)
    day0 = slot_day[ci, si] + rng.integers(0, 3, nj)

    details = journey_details(rng, people, ctx, ci, day0, rng.random(nj) < _P_PURCHASE)
    planted = ctx.planted
    late = details["late"]
    churner = rng.random(n) < planted.late_churn_share
    first_late = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_late, ci[late], si[late])
    keep = ~(churner[ci] & (si > first_late[ci]))
    out = {"cust": ci, "slot": si, "day0": day0, **details}
    out = {k: v[keep] for k, v in out.items()}
    out["focal"] = sample_products(rng, ctx.cat, out["category"])
    # per customer (not per journey): the slot phase and the last slot a journey may use
    out["phase"] = phase
    out["last_slot"] = np.where(churner & (first_late < n_slots), first_late, n_slots)
    return out


def journey_details(
    rng: np.random.Generator,
    people: People,
    ctx: Context,
    ci: np.ndarray,
    day0: np.ndarray,
    purchase: np.ndarray,
) -> dict[str, np.ndarray]:
    """Kind, channel, store, category, days to purchase, fulfilment, cancellation and lateness of
    the journeys of customers ``ci`` starting on ``day0`` (``purchase``: which ones buy)."""
    nj = len(ci)
    planted = ctx.planted
    v = rng.random(nj)
    show = purchase & (v < planted.showrooming_share)
    web = purchase & ~show & (v < planted.showrooming_share + planted.webrooming_share)
    rest = purchase & ~show & ~web
    p_online = np.where(people.pref[ci] == PREF_STORE, 0.25, 0.7)
    online = rest & (rng.random(nj) < p_online)
    abandon = ~purchase & (rng.random(nj) < 0.6)
    kind = np.select([show, web, online, rest, abandon], [SHOWROOM, WEBROOM, ONLINE, STORE, ABANDON], BROWSE)

    ch = ctx.channel
    app_p = np.where(people.pref[ci] == PREF_APP, 0.8, 0.4)
    on_ch = np.where(people.has_app[ci] & (rng.random(nj) < app_p), ch["app"], ch["web"])
    # store: mostly the home store, sometimes another store of the same region
    home = people.home[ci]
    region = ctx.cat.store_region
    first_of_region = np.searchsorted(region[1:], np.arange(region.max() + 1)) + 1
    count_of_region = np.bincount(region[1:])
    reg = region[home]
    other = first_of_region[reg] + np.floor(rng.random(nj) * count_of_region[reg]).astype(np.int64)
    store = np.where(rng.random(nj) < 0.85, home, other)
    store_kind = (kind == STORE) | (kind == WEBROOM)
    category = np.where(store_kind, draw.choice(rng, _CAT_STORE, nj), draw.choice(rng, _CAT_ONLINE, nj))
    # days from the journey's first day to the purchase
    delta = np.select(
        [kind == ONLINE, kind == SHOWROOM, kind == WEBROOM],
        [
            draw.choice(rng, np.array([0.55, 0.25, 0.12, 0.08]), nj),
            draw.choice(rng, np.array([0.3, 0.35, 0.2, 0.15]), nj),
            draw.choice(rng, np.array([0.2, 0.4, 0.25, 0.15]), nj),
        ],
        0,
    )
    # fulfilment, cancellation and lateness are decided up front: a late delivery can end a
    # customer's relationship, which removes their later journeys
    online_buy = (kind == ONLINE) | (kind == SHOWROOM)
    fulfil = np.where(online_buy, np.where(rng.random(nj) < 0.85, DELIVERY, COLLECT), IN_STORE)
    cancelled = online_buy & (rng.random(nj) < 0.02)
    order_day = day0 + delta
    peak_day = (planted.peak_start - planted.start).days
    late_p = np.where(order_day >= peak_day, planted.late_share_peak, planted.late_share)
    late = online_buy & (fulfil == DELIVERY) & ~cancelled & (rng.random(nj) < late_p)
    return {
        "kind": kind,
        "on_ch": on_ch,
        "store": store,
        "category": category,
        "delta": delta,
        "fulfil": fulfil,
        "cancelled": cancelled,
        "late": late,
    }


def _actor(
    people: People,
    cust: np.ndarray,
    channel: np.ndarray,
    logged_in: np.ndarray,
    cookie: np.ndarray,
    ctx: Context,
) -> tuple[np.ndarray, np.ndarray]:
    """Customer index (or -1) and anonymous id index (or -1) an event carries on each channel."""
    ch = ctx.channel
    web = channel == ch["web"]
    app = channel == ch["app"]
    store = channel == ch["store"]
    member = people.member[cust]
    card_or_token = np.where(member, people.anon[cust, CARD], people.anon[cust, TOKEN])
    anon = np.select([web, app, store], [cookie, people.anon[cust, DEVICE], card_or_token], -1)
    known = np.select([web, app, store], [logged_in, True, member], True)
    return np.where(known, cust, -1), anon


def build_orders_and_events(
    rng: np.random.Generator,
    people: People,
    plan: dict[str, np.ndarray],
    ctx: Context,
    *,
    extra: bool = False,
) -> tuple[Orders, pa.Table, pa.Table, EventBuffer]:
    """Lay out every journey's sessions, create its order and items, and emit all events.

    ``extra``: the plan adds journeys to customers already built (every order is a repeat
    purchase and nobody renews their membership again)."""
    ch, cat, planted = ctx.channel, ctx.cat, ctx.planted
    buf = EventBuffer()
    kind, cust = plan["kind"], plan["cust"]
    nj = len(kind)
    base = ctx.start + plan["day0"] * DAY
    # each journey uses one of the customer's linked cookies on the web (browsing: maybe an unlinked one)
    cookie = np.where(
        (people.anon[cust, COOKIE2] >= 0) & (rng.random(nj) < 0.4),
        people.anon[cust, COOKIE2],
        people.anon[cust, COOKIE],
    )
    unlinked = (kind == BROWSE) & (people.anon[cust, UNLINKED] >= 0) & (rng.random(nj) < 0.5)
    cookie = np.where(unlinked, people.anon[cust, UNLINKED], cookie)
    on_ch = plan["on_ch"]
    store = plan["store"]
    focal = plan["focal"]
    category = plan["category"]

    def products_for(rows_j: np.ndarray) -> np.ndarray:
        other = sample_products(rng, cat, category[rows_j])
        return np.where(rng.random(len(rows_j)) < 0.5, focal[rows_j], other)

    research_end = np.full(nj, -1, dtype=np.int64)
    research_session = np.full(nj, -1, dtype=np.int64)

    # 1. online research (online, webrooming, abandoned cart and browsing journeys)
    sel = np.flatnonzero(np.isin(kind, (ONLINE, WEBROOM, ABANDON, BROWSE)))
    m = len(sel)
    is_abandon = (kind[sel] == ABANDON).astype(np.int64)
    steps = ["site_search", "product_view", "review_read", "compare", "add_to_cart", "checkout_start"]
    counts = [
        _bern(rng, 0.5, m),
        _poisson1(rng, 1.5, m),
        _bern(rng, 0.35 + 0.25 * (kind[sel] == WEBROOM), m),
        _bern(rng, 0.2 + 0.2 * (kind[sel] == WEBROOM), m),
        is_abandon * _poisson1(rng, 0.5, m),
        is_abandon * _bern(rng, 0.4, m),
    ]
    row_j, row_k, offset, span = _layout(rng, counts, 45 * SEC)
    start_r = base[sel] + _hours(rng, np.ones(m, bool))
    sessions = ctx.counters.take("session", m)
    research_end[sel] = start_r + span
    research_session[sel] = sessions
    j = sel[row_j]
    channel = on_ch[j]
    c, a = _actor(people, cust[j], channel, np.zeros(len(j), bool), cookie[j], ctx)
    etype = np.array([E[s] for s in steps])[row_k]
    has_product = etype != E["site_search"]
    buf.add(
        start_r[row_j] + offset,
        cust=c,
        anon=a,
        session=sessions[row_j],
        channel=channel,
        etype=etype,
        product=np.where(has_product, products_for(j), -1),
        props=np.where(has_product, -1, category[j]),
    )
    # awareness: a third of online journeys start from an ad, a search result or a social mention
    aw = sel[rng.random(m) < 0.35]
    aw_type = draw.choice(rng, np.array([0.3, 0.25, 0.3, 0.1, 0.05]), len(aw))
    aw_channel = np.array([ch["social"], ch["search"], ch["search"], ch["social"], ch["referral"]])[aw_type]
    aw_channel = np.where((aw_type == 0) & (rng.random(len(aw)) < 0.4), on_ch[aw], aw_channel)
    aw_event = np.array(
        [
            E["ad_impression"],
            E["ad_click"],
            E["search_result_click"],
            E["social_mention"],
            E["referral_visit"],
        ]
    )[aw_type]
    aw_t = start_r[np.searchsorted(sel, aw)] - (rng.uniform(5, 600, len(aw)) * SEC).astype(np.int64)
    buf.add(aw_t, anon=cookie[aw], session=research_session[aw], channel=aw_channel, etype=aw_event)

    # 2. store research without buying (showrooming)
    sel = np.flatnonzero(kind == SHOWROOM)
    m = len(sel)
    steps = ["store_visit", "shelf_browse", "product_scan", "presales_question"]
    counts = [np.ones(m, np.int64), _poisson1(rng, 1.2, m), _bern(rng, 0.3, m), _bern(rng, 0.15, m)]
    row_j, row_k, offset, span = _layout(rng, counts, 4 * MIN)
    start_s = base[sel] + _hours(rng, np.zeros(m, bool))
    sessions = ctx.counters.take("session", m)
    research_end[sel] = start_s + span
    research_session[sel] = sessions
    j = sel[row_j]
    channel = np.full(len(j), ch["store"])
    c, a = _actor(people, cust[j], channel, np.zeros(len(j), bool), cookie[j], ctx)
    etype = np.array([E[s] for s in steps])[row_k]
    buf.add(
        start_s[row_j] + offset,
        cust=c,
        anon=a,
        session=sessions[row_j],
        channel=channel,
        etype=etype,
        store=store[j],
        product=np.where(etype == E["store_visit"], -1, products_for(j)),
    )

    # 3. orders: one per purchasing journey
    buying = np.flatnonzero(np.isin(kind, (ONLINE, STORE, SHOWROOM, WEBROOM)))
    nb = len(buying)
    bk = kind[buying]
    online_buy = (bk == ONLINE) | (bk == SHOWROOM)
    order_channel = np.where(online_buy, on_ch[buying], ch["store"])
    guest = online_buy & (order_channel == ch["web"]) & (rng.random(nb) < 0.08)
    bc = cust[buying]
    member = people.member[bc]
    known = np.where(online_buy, ~guest, member)
    order_anon = np.where(known, -1, np.where(online_buy, cookie[buying], people.anon[bc, TOKEN]))
    self_checkout = ~online_buy & (rng.random(nb) < 0.25)
    wait = np.where(
        cat.store_queue[store[buying]], planted.queue_wait_seconds_mean, planted.normal_wait_seconds_mean
    )
    queued = ~online_buy & ~self_checkout
    wait = np.where(queued, rng.exponential(1.0, nb) * wait * SEC, 0).astype(np.int64)
    # purchase sessions, laid out backwards from the moment of payment
    steps = [
        "store_visit", "shelf_browse", "product_scan", "presales_question",
        "product_view", "add_to_cart", "remove_from_cart", "checkout_start", "checkout",
        "queue_join", "pos_purchase", "self_checkout", "payment_failed", "payment",
    ]  # fmt: skip
    on = online_buy.astype(np.int64)
    st = 1 - on
    full_store = (bk == STORE).astype(np.int64)
    sc = self_checkout.astype(np.int64)
    counts = [
        st,
        full_store * _poisson1(rng, 1.5, nb) + (bk == WEBROOM) * _bern(rng, 0.5, nb),
        full_store * _bern(rng, 0.2, nb),
        full_store * _bern(rng, 0.08, nb),
        on * _bern(rng, 0.6, nb),
        on * _poisson1(rng, 0.4, nb),
        on * _bern(rng, 0.08, nb),
        on,
        on,
        st * (1 - sc),
        st * (1 - sc),
        st * sc,
        on * _bern(rng, 0.03, nb),
        np.ones(nb, np.int64),
    ]
    row_j, row_k, offset, span = _layout(rng, counts, 2.5 * MIN)
    # the queue wait sits between joining the queue and paying at the till
    offset = offset + np.where(row_k >= steps.index("pos_purchase"), wait[row_j], 0)
    span = span + wait
    delta = plan["delta"][buying]
    t_order = base[buying] + delta * DAY + _hours(rng, online_buy)
    same_session = (bk == ONLINE) & (delta == 0)
    r_end = research_end[buying]
    gap = np.where(same_session, (rng.uniform(20, 180, nb) * SEC).astype(np.int64), HOUR)
    # a store purchase cannot start before the online research ended: then it is the next day
    clash = (r_end >= 0) & (t_order - span < r_end + gap)
    t_order = np.where(clash & (bk == WEBROOM), t_order + DAY, t_order)
    t_order = np.where(r_end >= 0, np.maximum(t_order, r_end + gap + span), t_order)
    t_order = np.where(same_session, r_end + gap + span, t_order)
    sessions = np.where(same_session, research_session[buying], ctx.counters.take("session", nb))
    numbers = ctx.counters.take("order", nb)
    jb = buying[row_j]
    channel = order_channel[row_j]
    logged = ~guest[row_j] & (row_k >= steps.index("checkout_start"))
    c, a = _actor(people, cust[jb], channel, logged, cookie[jb], ctx)
    etype = np.array([E[s] for s in steps])[row_k]
    productish = np.isin(
        etype,
        [
            E["shelf_browse"],
            E["product_scan"],
            E["presales_question"],
            E["product_view"],
            E["add_to_cart"],
            E["remove_from_cart"],
        ],
    )
    with_order = row_k >= steps.index("checkout")
    ev_t = t_order[row_j] - (span[row_j] - offset)
    ev_store = np.where(order_channel[row_j] == ch["store"], store[jb], -1)

    # order lines, prices and promotions
    fulfil = plan["fulfil"][buying]
    cancelled = plan["cancelled"][buying]
    late = plan["late"][buying]
    lines = _order_lines(
        rng, ctx, t_order, order_channel, online_buy, focal[buying], category[buying], store[buying]
    )
    total, promo = lines["total"], lines["promo"]
    line_order, line_qty, line_product = lines["order"], lines["qty"], lines["product"]
    pay_method = np.where(
        order_channel == ch["store"],
        draw.choice(rng, np.array([0.6, 0.25, 0.12, 0.03]), nb),
        draw.choice(rng, np.array([0.7, 0.27, 0.0, 0.03]), nb),
    )
    buf.add(
        ev_t,
        value=np.where(
            np.isin(etype, [E["checkout"], E["pos_purchase"], E["self_checkout"], E["payment"]]),
            total[row_j],
            np.where(etype == E["queue_join"], wait[row_j] / SEC, np.nan),
        ),
        cust=c,
        anon=a,
        session=sessions[row_j],
        channel=channel,
        etype=etype,
        store=ev_store,
        product=np.where(productish, products_for(jb), -1),
        order=np.where(with_order, numbers[row_j], -1),
        props=np.where(etype == E["payment"], _PAY_PROP + pay_method[row_j], -1),
    )
    # fulfilment
    end = ctx.end
    order_store = np.where(online_buy & (fulfil == DELIVERY), 0, store[buying])
    promised_days = 1 + draw.choice(rng, np.array([0.3, 0.5, 0.2]), nb)
    promised = (np.floor_divide(t_order, DAY) + promised_days) * DAY + 20 * HOUR
    delay = 1 + np.minimum(rng.poisson(1.0, nb), 5)
    on_time = promised - (rng.uniform(1, 10, nb) * HOUR).astype(np.int64) - DAY * (rng.random(nb) < 0.2)
    on_time = np.maximum(on_time, t_order + 6 * HOUR)
    delivered = np.where(
        late, promised + delay * DAY - (rng.uniform(0, 8, nb) * HOUR).astype(np.int64), on_time
    )
    # shipped well before the promise; out for delivery the morning it arrives
    shipped = t_order + (rng.uniform(0.1, 0.5, nb) * (np.minimum(delivered, promised) - t_order)).astype(
        np.int64
    )
    out_for_delivery = delivered - np.minimum(rng.uniform(0.1, 0.5, nb) * (delivered - shipped), 5 * HOUR)
    ready = t_order + (rng.uniform(2, 20, nb) * HOUR).astype(np.int64)
    collected = ready + (rng.uniform(1, 48, nb) * HOUR).astype(np.int64)
    is_del = online_buy & (fulfil == DELIVERY) & ~cancelled
    is_col = online_buy & (fulfil == COLLECT) & ~cancelled
    done_t = np.select([is_del, is_col], [delivered, collected], t_order)
    oc = np.where(known, bc, -1)
    d = np.flatnonzero(is_del)
    courier = ch["courier"]
    buf.add(shipped[d], cust=oc[d], anon=order_anon[d], channel=courier, etype=E["shipped"], order=numbers[d])
    failed = d[late[d] & (rng.random(len(d)) < 0.35)]
    buf.add(
        promised[failed] - (rng.uniform(1, 4, len(failed)) * HOUR).astype(np.int64),
        cust=oc[failed],
        anon=order_anon[failed],
        channel=courier,
        etype=E["delivery_failed"],
        order=numbers[failed],
    )
    buf.add(
        out_for_delivery[d].astype(np.int64),
        cust=oc[d],
        anon=order_anon[d],
        channel=courier,
        etype=E["out_for_delivery"],
        order=numbers[d],
    )
    buf.add(
        delivered[d], cust=oc[d], anon=order_anon[d], channel=courier, etype=E["delivered"], order=numbers[d]
    )
    ub = d[rng.random(len(d)) < 0.08]
    buf.add(
        delivered[ub] + (rng.uniform(5, 120, len(ub)) * MIN).astype(np.int64),
        cust=oc[ub],
        anon=order_anon[ub],
        channel=courier,
        etype=E["unboxing"],
        order=numbers[ub],
    )
    k = np.flatnonzero(is_col)
    for when, et in ((ready, "pickup_ready"), (collected, "pickup_collected")):
        buf.add(
            when[k],
            cust=oc[k],
            anon=order_anon[k],
            channel=ch["store"],
            etype=E[et],
            store=store[buying][k],
            order=numbers[k],
        )

    # returns: lines come back some days after delivery or purchase
    fulfilled = ~cancelled
    line_p = cat.product_return_rate[line_product] * fulfilled[line_order]
    line_ret = rng.random(len(line_order)) < line_p
    any_ret = np.bincount(line_order, weights=line_ret, minlength=nb) > 0
    request = done_t + (rng.uniform(1, 10, nb) * DAY).astype(np.int64)
    received = np.where(
        online_buy, request + (rng.uniform(2, 5, nb) * DAY).astype(np.int64), request + 10 * MIN
    )
    returned = any_ret & (received < end)
    line_ret &= returned[line_order]
    part = rng.random(len(line_order)) < 0.2
    ret_qty = np.where(
        line_ret, np.where(part, 1 + np.floor(rng.random(len(line_order)) * line_qty), line_qty), 0
    )
    ret_qty = ret_qty.astype(np.int64)
    r = np.flatnonzero(any_ret)
    ret_channel = np.where(online_buy[r], ch["web"], ch["store"])
    ret_store = np.where(online_buy[r], -1, store[buying][r])
    buf.add(
        request[r],
        cust=oc[r],
        anon=order_anon[r],
        channel=ret_channel,
        etype=E["return_request"],
        store=ret_store,
        order=numbers[r],
    )
    buf.add(
        received[r],
        cust=oc[r],
        anon=order_anon[r],
        channel=np.where(online_buy[r], courier, ch["store"]),
        etype=E["return_received"],
        store=ret_store,
        order=numbers[r],
    )
    fully = np.bincount(line_order, weights=(ret_qty < line_qty), minlength=nb) == 0

    # repeat purchases and loyalty points
    first_buy = np.r_[True, bc[1:] != bc[:-1]] & (not extra)
    repeat = ~first_buy & known
    rp = np.flatnonzero(repeat)
    buf.add(
        t_order[rp] + SEC,
        cust=bc[rp],
        channel=order_channel[rp],
        etype=E["repeat_purchase"],
        order=numbers[rp],
    )
    pts = np.flatnonzero(member & known & ~cancelled)
    pts_channel = np.where(people.has_app[bc[pts]], ch["app"], order_channel[pts])
    buf.add(
        t_order[pts] + 2 * SEC,
        value=np.floor(total[pts]),
        cust=bc[pts],
        channel=pts_channel,
        etype=E["points_earned"],
        order=numbers[pts],
    )
    red = pts[rng.random(len(pts)) < 0.1]
    buf.add(
        t_order[red] - 30 * SEC,
        value=100.0 * (1 + rng.integers(0, 5, len(red))),
        cust=bc[red],
        channel=order_channel[red],
        etype=E["points_redeemed"],
        order=numbers[red],
    )
    ref = pts[rng.random(len(pts)) < 0.02]
    buf.add(
        done_t[ref] + (rng.uniform(1, 7, len(ref)) * DAY).astype(np.int64),
        cust=bc[ref],
        channel=np.where(people.has_app[bc[ref]], ch["app"], ch["web"]),
        etype=E["referral_sent"],
    )
    # product use and repairs for electronics
    elec = np.flatnonzero((category[buying] == CATEGORIES.index("electronics")) & fulfilled & known)
    use = elec[people.has_app[bc[elec]] & (rng.random(len(elec)) < 0.3)]
    buf.add(
        done_t[use] + (rng.uniform(1, 20, len(use)) * DAY).astype(np.int64),
        cust=bc[use],
        channel=ch["app"],
        etype=E["product_use"],
        product=focal[buying][use],
        order=numbers[use],
    )
    rep = elec[rng.random(len(elec)) < 0.02]
    buf.add(
        done_t[rep] + (rng.uniform(20, 60, len(rep)) * DAY).astype(np.int64),
        cust=bc[rep],
        channel=ch["store"],
        etype=E["repair_request"],
        store=people.home[bc[rep]],
        product=focal[buying][rep],
        order=numbers[rep],
    )

    # membership renewals: gold and platinum members renew once a year
    ren = np.flatnonzero((people.tier >= 3) & (not extra))
    ren_t = np.maximum(people.created[ren], ctx.start) + (rng.random(len(ren)) * ctx.days * DAY).astype(
        np.int64
    )
    ren_ch = np.where(people.has_app[ren], ch["app"], ch["email"])
    buf.add(ren_t, cust=ren, channel=ren_ch, etype=E["membership_renewal"])

    status = _status(online_buy, fulfil, cancelled, returned & fully, delivered, shipped, collected, end)
    delivered_at = np.select([is_del, is_col], [delivered, collected], -1)
    delivered_ok = (delivered_at >= 0) & (delivered_at < end)
    discount = np.bincount(line_order, weights=lines["discount"], minlength=nb)
    orders_table = arrow.build(
        "orders",
        nb,
        {
            "order_id": arrow.ids("O", numbers, 9),
            "customer_id": arrow.take(people.ids, np.where(known, bc, -1)),
            "anonymous_id": arrow.take(people.anon_ids, order_anon),
            "ordered_at": arrow.timestamps(t_order),
            "channel": arrow.take(pa.array(list(ctx.channel)), order_channel),
            "store_id": arrow.take(cat.store_ids, order_store),
            "status": arrow.take(pa.array(list(ORDER_STATUSES)), status),
            "fulfilment": arrow.take(pa.array(list(FULFILMENT)), fulfil),
            "total_amount": arrow.floats(total),
            "discount_amount": arrow.floats(np.round(discount, 2)),
            "currency": arrow.take(pa.array([planted.currency]), np.zeros(nb, np.int64)),
            "promotion_id": arrow.take(cat.promotion_ids, promo),
            "promised_delivery_at": arrow.timestamps(promised, is_del),
            "delivered_at": arrow.timestamps(np.where(delivered_ok, delivered_at, 0), delivered_ok),
        },
    )
    items = arrow.build(
        "order_items",
        len(line_order),
        {
            "order_id": arrow.ids("O", numbers[line_order], 9),
            "line_no": arrow.ints(lines["line_no"]),
            "product_id": arrow.take(cat.product_ids, line_product),
            "quantity": arrow.ints(line_qty),
            "unit_price": arrow.floats(lines["price"]),
            "discount": arrow.floats(np.where(lines["discount"] > 0, lines["discount"], np.nan)),
            "returned_quantity": arrow.ints(ret_qty),
        },
    )
    orders = Orders(
        number=numbers,
        cust=bc,
        known=known,
        anon=order_anon,
        t=t_order,
        channel=order_channel,
        store=store[buying],
        fulfil=fulfil,
        cancelled=cancelled,
        late=late,
        promised=promised,
        delivered=np.where(is_del, delivered, np.where(is_col, collected, t_order)),
        total=total,
        promo=promo,
        focal=focal[buying],
        returned=returned,
        return_t=received,
    )
    return orders, orders_table, items, buf


def _status(
    online_buy: np.ndarray,
    fulfil: np.ndarray,
    cancelled: np.ndarray,
    all_returned: np.ndarray,
    delivered: np.ndarray,
    shipped: np.ndarray,
    collected: np.ndarray,
    end: int,
) -> np.ndarray:
    """Latest order status at the end of the period (codes into schema.ORDER_STATUSES)."""
    paid, shipped_s, delivered_s, collected_s, cancelled_s, returned_s = 1, 2, 3, 4, 5, 6
    delivery = online_buy & (fulfil == DELIVERY)
    collect = online_buy & (fulfil == COLLECT)
    return np.select(
        [
            cancelled,
            all_returned,
            delivery & (delivered < end),
            delivery & (shipped < end),
            collect & (collected < end),
        ],
        [cancelled_s, returned_s, delivered_s, shipped_s, collected_s],
        paid,
    )


def _order_lines(
    rng: np.random.Generator,
    ctx: Context,
    t_order: np.ndarray,
    channel: np.ndarray,
    online_buy: np.ndarray,
    focal: np.ndarray,
    category: np.ndarray,
    store: np.ndarray,
) -> dict[str, np.ndarray]:
    """Order lines with prices and promotion discounts, plus each order's total and promotion
    (the promotion calendar, when the context has one, changes what sells: see ``_promo``)."""
    cat = ctx.cat
    nb = len(t_order)
    n_lines = np.where(online_buy, _poisson1(rng, 1.2, nb, 15), _poisson1(rng, 3.5, nb, 30))
    line_order = np.repeat(np.arange(nb), n_lines)
    first = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    line_no = np.arange(len(line_order)) - first[line_order] + 1
    nl = len(line_order)
    line_cat = np.where(
        online_buy[line_order], draw.choice(rng, _CAT_ONLINE, nl), draw.choice(rng, _CAT_STORE, nl)
    )
    product = np.where(line_no == 1, focal[line_order], sample_products(rng, cat, line_cat))
    food = cat.product_category[product] <= CATEGORIES.index("fresh")
    qty = 1 + np.minimum(rng.poisson(np.where(food, 0.8, 0.3)), 20)
    price = cat.product_price[product]
    line_rate = np.zeros(nl)
    if ctx.calendar is not None:
        in_store = channel == ctx.channel["store"]
        promoted = promote(rng, ctx.calendar, cat, t_order, store, in_store, line_order, product, qty)
        line_order, product, qty = promoted["order"], promoted["product"], promoted["qty"]
        price, line_rate = promoted["price"], promoted["discount_rate"]
        first = np.searchsorted(line_order, np.arange(nb))
        line_no = np.arange(len(line_order)) - first[line_order] + 1
    gross_line = np.round(qty * price, 2)
    gross = np.bincount(line_order, weights=gross_line, minlength=nb)
    # promotions: one of the promotions running in the order's channel, for a third of orders
    active = (cat.promo_start[None, :] <= t_order[:, None]) & (t_order[:, None] < cat.promo_end[None, :])
    active &= (cat.promo_channel[None, :] < 0) | (cat.promo_channel[None, :] == channel[:, None])
    pick = np.argmax(rng.random(active.shape) * active, axis=1)
    use = active.any(axis=1) & (rng.random(nb) < 0.35) & (gross >= cat.promo_threshold[pick])
    rate = np.where(use, cat.promo_rate[pick], 0.0)[line_order]
    amount = np.where(use, cat.promo_amount[pick], 0.0)[line_order]
    rate = rate + line_rate
    disc = np.minimum(np.round(gross_line * rate + amount * gross_line / gross[line_order], 2), gross_line)
    total = np.maximum(np.round(gross - np.bincount(line_order, weights=disc, minlength=nb), 2), 0.0)
    return {
        "order": line_order,
        "line_no": line_no,
        "product": product,
        "qty": qty,
        "price": price,
        "discount": disc,
        "total": total,
        "promo": np.where(use, pick, -1),
    }
