"""The demo's loyalty programme and campaigns, chunk by chunk (see :mod:`cxlens.demo.planted_loyalty`).

A :class:`Programme` follows one chunk of customers through the year:

1. :meth:`Programme.start`: who is a member and since when, and who each campaign selects
   (and holds out);
2. :meth:`Programme.add_campaign_visits`: the campaigns' planted extra visits (purchases of the
   usual mix of channels), placed in free journey slots inside each campaign so the journey
   layout stays as ``_journeys`` expects;
3. :meth:`Programme.review`: after the year's orders are built, the tier review on the points
   earned before it, and the upgraded members' extra visits after it (built as a second batch of
   journeys, because who is upgraded depends on what was spent);
4. :meth:`Programme.ledger` and :meth:`Programme.complaints`: the points ledger (carry-over,
   earn, burn, expiry) and the complaints about expired points;
5. :meth:`Programme.tables`: the rows of ``loyalty_members``, ``tier_history``,
   ``points_ledger``, ``campaign_targets`` and ``coupon_redemptions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pyarrow as pa

from cxlens.demo import _sampling as draw
from cxlens.demo import _tables as arrow
from cxlens.demo import texts
from cxlens.demo._feedback import _SOURCE, FeedbackBuffer
from cxlens.demo._journeys import (
    DAY,
    ONLINE,
    SEC,
    SHOWROOM,
    SLOT_DAYS,
    STORE,
    WEBROOM,
    Context,
    Orders,
    journey_details,
)
from cxlens.demo._loyalty_texts import points_sentences
from cxlens.demo._people import People
from cxlens.demo.catalogue import Catalogue, micros, sample_products
from cxlens.demo.planted_loyalty import Campaign
from cxlens.model.schema import LOYALTY_TIERS

#: Journey tags: ordinary journeys, a campaign's extra visit (campaign index), an upgrade's.
ORDINARY, UPGRADE = -1, 99
_BUYING = (ONLINE, STORE, SHOWROOM, WEBROOM)
#: Per-customer (not per-journey) entries of a journey plan.
_PER_CUSTOMER = ("phase", "last_slot")
#: Enrolment channels: store, app, web (codes into this tuple).
_ENROL = ("store", "app", "web")


def campaigns_table(campaigns: tuple[Campaign, ...]) -> pa.Table:
    """The ``campaigns`` rows of the planted campaigns (catalogue-level, seed-independent)."""
    n = len(campaigns)
    return arrow.build(
        "campaigns",
        n,
        {
            "campaign_id": arrow.strings([c.campaign_id for c in campaigns]),
            "name": arrow.strings([c.name for c in campaigns]),
            "type": arrow.strings([c.key for c in campaigns]),
            "channel": arrow.strings([c.channel for c in campaigns]),
            "mechanic": arrow.strings([c.mechanic for c in campaigns]),
            "start_at": arrow.timestamps(np.array([micros(c.start) for c in campaigns])),
            "end_at": arrow.timestamps(np.array([micros(c.end) for c in campaigns])),
            "value": arrow.floats(np.array([c.value for c in campaigns])),
            "holdout_share": arrow.floats(np.array([c.holdout_share for c in campaigns])),
            "description": arrow.strings([c.description for c in campaigns]),
        },
    )


def coupon_code(campaign: Campaign) -> str:
    """The coupon code of a planted campaign."""
    return f"CPN-{campaign.campaign_id}"


def _coupon_products(cat: Catalogue, campaign: Campaign) -> np.ndarray:
    subcats = np.array(cat.products.column("subcategory").to_pylist(), dtype=object)
    wanted = {"winback": "produce", "newsletter": "dairy"}.get(campaign.key)
    return np.flatnonzero(subcats == wanted) if wanted else np.zeros(0, np.int64)


def coupons_table(cat: Catalogue, campaigns: tuple[Campaign, ...]) -> pa.Table:
    """The ``coupons`` rows: one coupon per coupon campaign, on every product it discounts."""
    camp, prod = [], []
    for i, c in enumerate(campaigns):
        products = _coupon_products(cat, c)
        camp += [i] * len(products)
        prod += products.tolist()
    ci = np.array(camp, dtype=np.int64)
    return arrow.build(
        "coupons",
        len(ci),
        {
            "campaign_id": arrow.take(arrow.strings([c.campaign_id for c in campaigns]), ci),
            "coupon_id": arrow.take(arrow.strings([coupon_code(c) for c in campaigns]), ci),
            "product_id": arrow.take(cat.product_ids, np.array(prod, dtype=np.int64)),
            "value": arrow.floats(np.array([campaigns[i].value for i in camp], dtype=np.float64)),
        },
    )


def _concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([a, b.astype(a.dtype)])


def merge_plans(plan: dict[str, np.ndarray], extra: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Journeys of both plans, in customer then slot order (what ``build_orders_and_events`` needs)."""
    out = {k: _concat(v, extra[k]) for k, v in plan.items() if k not in _PER_CUSTOMER}
    order = np.lexsort((out["slot"], out["cust"]))
    out = {k: v[order] for k, v in out.items()}
    out.update({k: plan[k] for k in _PER_CUSTOMER})
    return out


def merge_orders(a: Orders, b: Orders) -> Orders:
    """The orders of two batches as one."""
    return Orders(**{f.name: _concat(getattr(a, f.name), getattr(b, f.name)) for f in fields(Orders)})


@dataclass
class Programme:
    """The loyalty programme of one chunk of customers (see the module docstring for the steps)."""

    people: People
    ctx: Context
    enrolled: np.ndarray  # micros, -1 for non-members
    late: np.ndarray  # enrolled during the period
    channel: np.ndarray  # enrolment channel code
    selected: list[np.ndarray]  # per campaign: customer indices selected
    holdout: list[np.ndarray]  # per campaign: held out (aligned with selected)
    tier: np.ndarray = field(init=False)
    qualifying: np.ndarray = field(init=False)
    reviewed: np.ndarray = field(init=False)
    orders: Orders | None = None
    tags: np.ndarray | None = None
    ledger_cols: dict[str, np.ndarray] = field(default_factory=dict)
    expired: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.people.n
        self.tier = self.people.tier.copy()
        self.qualifying = np.full(n, np.nan)
        self.reviewed = np.zeros(n, bool)
        self.expired = np.zeros(n)

    # -- 1. members and campaign selection ------------------------------------------------------
    @classmethod
    def start(cls, rng: np.random.Generator, people: People, ctx: Context) -> Programme:
        """Enrolment dates and the customers each campaign selects."""
        lp = ctx.planted.loyalty
        n = people.n
        member = people.member
        known_before = people.created < ctx.start
        late = member & known_before & (rng.random(n) < lp.late_enrolment_share)
        lo, hi = micros(lp.enrol_window[0]), micros(lp.enrol_window[1])
        enrolled = np.where(late, lo + (rng.random(n) * (hi - lo)).astype(np.int64), people.created)
        enrolled = np.where(member, enrolled, -1)
        channel = draw.choice(rng, np.array([0.6, 0.3, 0.1]), n)
        selected, holdout = [], []
        steady = member & ~late & known_before
        for c in lp.campaigns:
            if c.key == "winback":
                eligible = steady & np.isin(people.tier, (1, 2))
            elif c.key == "frequent":
                eligible = steady & (people.tier == len(LOYALTY_TIERS) - 1)
            else:  # everyone known before the campaign except members joining this year
                eligible = (people.created < micros(c.start)) & ~late
            chosen = np.flatnonzero(eligible & (rng.random(n) < c.target_share))
            selected.append(chosen)
            holdout.append(rng.random(len(chosen)) < c.holdout_share)
        return cls(people, ctx, enrolled, late, channel, selected, holdout)

    # -- 2. campaign visits ---------------------------------------------------------------------
    def _free_slots(self, plan: dict[str, np.ndarray], first_day: int, end_day: int) -> np.ndarray:
        """(customers x slots) True where a journey could start inside [first_day, end_day) and
        the customer has none (slots after a churning late delivery are not free)."""
        ctx, people = self.ctx, self.people
        n_slots = ctx.days // SLOT_DAYS + 2
        slot_day = plan["phase"][:, None] + SLOT_DAYS * np.arange(n_slots)[None, :]
        created_day = np.floor_divide(people.created - ctx.start, DAY)
        free = (slot_day >= created_day[:, None]) & (slot_day + 6 < ctx.days)
        free &= (slot_day >= first_day) & (slot_day + 2 < end_day)
        free &= np.arange(n_slots)[None, :] <= plan["last_slot"][:, None]
        free[plan["cust"], plan["slot"]] = False
        return free

    def _journeys(
        self,
        rng: np.random.Generator,
        plan: dict[str, np.ndarray],
        cust: np.ndarray,
        slot: np.ndarray,
        tag: int,
    ) -> dict[str, np.ndarray]:
        """Purchase journeys of ``cust`` in ``slot``, of the same mix of kinds, channels and stores as
        the customer's other purchases (so the planted showrooming and webrooming shares hold);
        never late, as a late delivery here could not end the relationship the way it does in
        ``plan_journeys``."""
        ctx, m = self.ctx, len(cust)
        day0 = plan["phase"][cust] + SLOT_DAYS * slot + rng.integers(0, 3, m)
        details = journey_details(rng, self.people, ctx, cust, day0, np.ones(m, bool))
        details["late"] = np.zeros(m, bool)
        return {
            "cust": cust,
            "slot": slot,
            "day0": day0,
            **details,
            "focal": sample_products(rng, ctx.cat, details["category"]),
            "tag": np.full(m, tag),
        }

    def add_campaign_visits(
        self, rng: np.random.Generator, plan: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The plan plus each contacted customer's extra visits during their campaign: every
        free slot of the campaign's contacted customers is used with one probability, chosen so the
        visits average the planted number per contacted customer."""
        plan = {**plan, "tag": np.full(len(plan["cust"]), ORDINARY)}
        for i, c in enumerate(self.ctx.planted.loyalty.campaigns):
            if c.extra_visits <= 0:
                continue
            contacted = self.selected[i][~self.holdout[i]]
            if not len(contacted):
                continue
            lo = (c.start - self.ctx.planted.start).days
            hi = (c.end - self.ctx.planted.start).days
            free = self._free_slots(plan, lo, hi)[contacted]
            p = min(1.0, c.extra_visits * len(contacted) / max(int(free.sum()), 1))
            row, slot = np.nonzero(free & (rng.random(free.shape) < p))
            plan = merge_plans(plan, self._journeys(rng, plan, contacted[row], slot, i))
        return plan

    # -- 3. the tier review -----------------------------------------------------------------------
    def _points(self, orders: Orders) -> np.ndarray:
        """Points each order earns (members' identified orders from enrolment on; 0 otherwise)."""
        lp = self.ctx.planted.loyalty
        cust = orders.cust
        ok = orders.known & ~orders.cancelled & (self.enrolled[cust] >= 0) & (orders.t >= self.enrolled[cust])
        points = np.floor(orders.total * lp.points_per_unit)
        return np.where(ok, points, 0.0)

    def review(
        self, rng: np.random.Generator, orders: Orders, plan: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray] | None:
        """Review members enrolled before the period on the points earned before the review date;
        return the upgraded members' extra visits after it (None when there are none)."""
        ctx, lp = self.ctx, self.ctx.planted.loyalty
        review = micros(lp.tier_review_date)
        n = self.people.n
        self.reviewed = (self.enrolled >= 0) & ~self.late & (self.people.created < ctx.start)
        early = orders.t < review
        self.qualifying = np.bincount(
            orders.cust[early], weights=self._points(orders)[early], minlength=n
        ).astype(np.float64)
        top = len(LOYALTY_TIERS) - 1
        up = self.reviewed & (self.tier < top) & (self.qualifying >= lp.tier_threshold)
        self.tier = np.where(up, self.tier + 1, self.tier)
        upgraded = np.flatnonzero(up)
        review_day = (lp.tier_review_date - ctx.planted.start).days
        target = lp.upgrade_extra_visits_per_year * (ctx.days - review_day) / 365.0
        free = self._free_slots(plan, review_day, ctx.days)[upgraded]
        per_customer = np.minimum(1.0, target / np.maximum(free.sum(axis=1), 1))
        row, slot = np.nonzero(free & (rng.random(free.shape) < per_customer[:, None]))
        if not len(row):
            return None
        extra = self._journeys(rng, plan, upgraded[row], slot, UPGRADE)
        order = np.lexsort((extra["slot"], extra["cust"]))
        extra = {k: v[order] for k, v in extra.items()}
        extra.update({k: plan[k] for k in _PER_CUSTOMER})
        return extra

    def set_orders(self, orders: Orders, tags: np.ndarray) -> None:
        """The chunk's final orders and each order's journey tag."""
        self.orders, self.tags = orders, tags

    def _final(self) -> tuple[Orders, np.ndarray]:
        if self.orders is None or self.tags is None:
            raise RuntimeError("set_orders() first: the ledger and tables need the chunk's final orders")
        return self.orders, self.tags

    # -- 4. ledger and complaints -----------------------------------------------------------------
    def ledger(self, rng: np.random.Generator) -> None:
        """Carry-over, earn, burn and expiry entries (burns never exceed the balance; carried-over
        points are spent first and what is left of them expires on the expiry date)."""
        o, _ = self._final()
        ctx, lp = self.ctx, self.ctx.planted.loyalty
        n = self.people.n
        start = ctx.start
        expiry = micros(lp.points_expiry_date)
        carry = np.where(
            (self.enrolled >= 0) & (self.enrolled < start),
            np.round(rng.gamma(2.0, lp.carry_over_mean / 2.0, n)),
            0.0,
        )
        points = self._points(o)
        double = np.zeros(len(o.t), bool)
        for i, c in enumerate(lp.campaigns):
            if c.mechanic != "loyalty_points":
                continue
            contacted = np.zeros(n, bool)
            contacted[self.selected[i][~self.holdout[i]]] = True
            window = (o.t >= micros(c.start)) & (o.t < micros(c.end)) & contacted[o.cust] & (points > 0)
            points = np.where(window, points * c.value, points)
            double |= window
        earn = np.flatnonzero(points > 0)
        earn = earn[np.lexsort((o.t[earn], o.cust[earn]))]
        # burn candidates: some earning orders redeem 100-500 points, if the balance allows
        wants = rng.random(len(earn)) < lp.redeem_order_share
        amount = 100.0 * (1 + rng.integers(0, 5, len(earn)))
        cum_earn = np.cumsum(points[earn])
        first = np.r_[True, o.cust[earn][1:] != o.cust[earn][:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(earn)), 0))
        earned_before = cum_earn - points[earn] - np.where(group_start > 0, cum_earn[group_start - 1], 0.0)
        burned = np.zeros(len(earn))
        spent: dict[int, float] = {}
        for k in np.flatnonzero(wants):
            cust = int(o.cust[earn[k]])
            balance = carry[cust] + earned_before[k] - spent.get(cust, 0.0)
            if balance >= amount[k]:
                burned[k] = amount[k]
                spent[cust] = spent.get(cust, 0.0) + amount[k]
        burn = burned > 0
        before_expiry = np.bincount(
            o.cust[earn][burn & (o.t[earn] < expiry)],
            weights=burned[burn & (o.t[earn] < expiry)],
            minlength=n,
        )
        self.expired = np.maximum(carry - before_expiry, 0.0) * (expiry < ctx.end)
        carried = np.flatnonzero(carry > 0)
        gone = np.flatnonzero(self.expired > 0)
        e_orders = earn[burn]
        cols = {
            "cust": np.concatenate([carried, o.cust[earn], o.cust[e_orders], gone]),
            "t": np.concatenate(
                [
                    np.full(len(carried), start),
                    o.t[earn],
                    o.t[e_orders] - 30 * SEC,
                    np.full(len(gone), expiry),
                ]
            ),
            "kind": np.concatenate(
                [
                    np.full(len(carried), 3),
                    np.zeros(len(earn), np.int64),
                    np.ones(len(e_orders), np.int64),
                    np.full(len(gone), 2),
                ]
            ),
            "points": np.concatenate([carry[carried], points[earn], -burned[burn], -self.expired[gone]]),
            "order": np.concatenate(
                [np.full(len(carried), -1), o.number[earn], o.number[e_orders], np.full(len(gone), -1)]
            ),
            "expires": np.concatenate(
                [np.full(len(carried), expiry), o.t[earn] + 365 * DAY, np.full(len(e_orders) + len(gone), -1)]
            ),
            "reason": np.concatenate(
                [
                    np.zeros(len(carried), np.int64),
                    np.where(double[earn], 2, -1),
                    np.full(len(e_orders), -1),
                    np.ones(len(gone), np.int64),
                ]
            ),
        }
        keep = (cols["t"] >= ctx.start) & (cols["t"] < ctx.end)
        self.ledger_cols = {k: v[keep] for k, v in cols.items()}

    def complaints(self, rng: np.random.Generator, fb: FeedbackBuffer) -> None:
        """Complaints about points: many from members whose points expired, a few from anyone."""
        ctx, lp, people = self.ctx, self.ctx.planted.loyalty, self.people
        expiry = micros(lp.points_expiry_date)
        window = lp.complaint_window_days * DAY
        hit = np.flatnonzero((self.expired > 0) & (rng.random(people.n) < lp.expiry_complaint_share))
        t_hit = expiry + (rng.random(len(hit)) * window).astype(np.int64)
        member_from = np.maximum(self.enrolled, ctx.start)
        days = np.where(self.enrolled >= 0, np.maximum(ctx.end - member_from, 0) / DAY, 0.0)
        n_bg = rng.poisson(lp.points_complaint_daily_rate * days)
        bg = np.repeat(np.arange(people.n), n_bg)
        t_bg = member_from[bg] + (rng.random(len(bg)) * (ctx.end - member_from[bg])).astype(np.int64)
        cust = np.concatenate([hit, bg])
        t = np.concatenate([t_hit, t_bg])
        n = len(cust)
        lang = people.lang[cust]
        opening = points_sentences(rng, lang, np.ones(n, np.int64))
        kind = draw.choice(rng, np.array([0.5, 0.3, 0.2]), n)  # e-mail, call, chat
        talk = np.array(texts.transcripts(rng, lang, opening, rng.random(n) < 0.5), dtype=object)
        ch = ctx.channel
        fb.add(
            t,
            text=np.where(kind == 0, opening, talk),
            source=np.array([_SOURCE["email"], _SOURCE["call"], _SOURCE["chat"]])[kind],
            cust=cust,
            channel=np.array([ch["email"], ch["call"], ch["chat"]])[kind],
            touchpoint=ctx.touchpoint["loyalty_points"],
            lang=lang,
        )

    # -- 5. tables --------------------------------------------------------------------------------
    def tables(self, rng: np.random.Generator) -> dict[str, pa.Table]:
        """The chunk's rows of the loyalty and campaign tables."""
        self._final()
        return {
            "loyalty_members": self._members(),
            "points_ledger": self._ledger_table(),
            "tier_history": self._tier_history(),
            "campaign_targets": self._targets(),
            "coupon_redemptions": self._redemptions(rng),
        }

    def _members(self) -> pa.Table:
        people, ctx = self.people, self.ctx
        m = np.flatnonzero(self.enrolled >= 0)
        store = np.where(self.channel[m] == 0, people.home[m], -1)
        channel_ids = pa.array(list(_ENROL))
        return arrow.build(
            "loyalty_members",
            len(m),
            {
                "customer_id": arrow.take(people.ids, m),
                "member_id": arrow.ids("M", people.first + m + 1, 9),
                "enrolled_at": arrow.timestamps(self.enrolled[m]),
                "tier": arrow.take(pa.array(list(LOYALTY_TIERS)), self.tier[m]),
                "enrolment_channel": arrow.take(channel_ids, self.channel[m]),
                "enrolment_store_id": arrow.take(ctx.cat.store_ids, store),
            },
        )

    def _ledger_table(self) -> pa.Table:
        cols, people, lp = self.ledger_cols, self.people, self.ctx.planted.loyalty
        n = len(cols["t"])
        ids = self.ctx.counters.take("ledger", n)
        reasons = pa.array(
            ["balance carried over from last year", "carried-over points expired", "double points campaign"]
        )
        return arrow.build(
            "points_ledger",
            n,
            {
                "entry_id": arrow.ids("L", ids, 10),
                "customer_id": arrow.take(people.ids, cols["cust"]),
                "occurred_at": arrow.timestamps(cols["t"]),
                "kind": arrow.take(pa.array(["earn", "burn", "expire", "adjust"]), cols["kind"]),
                "points": arrow.floats(cols["points"]),
                "order_id": arrow.ids("O", cols["order"], 9),
                "value": arrow.floats(np.round(np.abs(cols["points"]) * lp.point_value, 2)),
                "expires_at": arrow.timestamps(np.maximum(cols["expires"], 0), cols["expires"] >= 0),
                "reason": arrow.take(reasons, cols["reason"]),
            },
        )

    def _tier_history(self) -> pa.Table:
        people, ctx, lp = self.people, self.ctx, self.ctx.planted.loyalty
        tiers = pa.array(list(LOYALTY_TIERS))
        joined = np.flatnonzero((self.enrolled >= ctx.start) & (self.enrolled < ctx.end))
        reviewed = np.flatnonzero(self.reviewed)
        review = micros(lp.tier_review_date)
        cust = np.concatenate([joined, reviewed])
        n = len(cust)
        return arrow.build(
            "tier_history",
            n,
            {
                "customer_id": arrow.take(people.ids, cust),
                "changed_at": arrow.timestamps(
                    np.concatenate([self.enrolled[joined], np.full(len(reviewed), review)])
                ),
                "from_tier": arrow.take(
                    tiers, np.concatenate([np.full(len(joined), -1), people.tier[reviewed]])
                ),
                "to_tier": arrow.take(tiers, np.concatenate([people.tier[joined], self.tier[reviewed]])),
                "reason": arrow.take(
                    pa.array(["enrolment", "review"]),
                    np.concatenate([np.zeros(len(joined), np.int64), np.ones(len(reviewed), np.int64)]),
                ),
                "qualifying_value": arrow.floats(
                    np.concatenate([np.full(len(joined), np.nan), self.qualifying[reviewed]])
                ),
            },
        )

    def _targets(self) -> pa.Table:
        lp = self.ctx.planted.loyalty
        camp = np.concatenate([np.full(len(s), i) for i, s in enumerate(self.selected)])
        cust = np.concatenate(self.selected)
        hold = np.concatenate(self.holdout)
        starts = np.array([micros(c.start) for c in lp.campaigns])
        return arrow.build(
            "campaign_targets",
            len(cust),
            {
                "campaign_id": arrow.take(pa.array([c.campaign_id for c in lp.campaigns]), camp),
                "customer_id": arrow.take(self.people.ids, cust),
                "holdout": pa.array(hold, type=pa.bool_()),
                "targeted_at": arrow.timestamps(starts[camp]),
            },
        )

    def _redemptions(self, rng: np.random.Generator) -> pa.Table:
        """Coupons used by contacted customers: on every extra visit the campaign brought, and on
        some of their own orders during it."""
        o, tags = self._final()
        lp, cat = self.ctx.planted.loyalty, self.ctx.cat
        camp_l, order_l = [], []
        for i, c in enumerate(lp.campaigns):
            if c.mechanic != "coupon":
                continue
            contacted = np.zeros(self.people.n, bool)
            contacted[self.selected[i][~self.holdout[i]]] = True
            window = (o.t >= micros(c.start)) & (o.t < micros(c.end)) & o.known & ~o.cancelled
            mine = window & contacted[o.cust]
            use = mine & ((tags == i) | ((tags != i) & (rng.random(len(o.t)) < c.redeem_share)))
            k = np.flatnonzero(use)
            camp_l.append(np.full(len(k), i))
            order_l.append(k)
        camp = np.concatenate(camp_l) if camp_l else np.zeros(0, np.int64)
        k = np.concatenate(order_l) if order_l else np.zeros(0, np.int64)
        online = o.channel[k] != self.ctx.channel["store"]
        return arrow.build(
            "coupon_redemptions",
            len(k),
            {
                "campaign_id": arrow.take(pa.array([c.campaign_id for c in lp.campaigns]), camp),
                "coupon_id": arrow.take(pa.array([coupon_code(c) for c in lp.campaigns]), camp),
                "customer_id": arrow.take(self.people.ids, o.cust[k]),
                "redeemed_at": arrow.timestamps(o.t[k]),
                "order_id": arrow.ids("O", o.number[k], 9),
                "store_id": arrow.take(cat.store_ids, np.where(online, 0, o.store[k])),
            },
        )


def order_tags(plan: dict[str, np.ndarray]) -> np.ndarray:
    """Each order's journey tag, in the order ``build_orders_and_events`` creates the orders."""
    return plan["tag"][np.isin(plan["kind"], _BUYING)]


def final_tiers(customers: pa.Table, programme: Programme) -> pa.Table:
    """The customers rows with each member's tier after the review."""
    tiers = arrow.take(pa.array(list(LOYALTY_TIERS)), programme.tier)
    i = customers.schema.get_field_index("loyalty_tier")
    return customers.set_column(i, customers.schema.field(i), tiers)
