"""The loyalty programme and promotion calendar planted in the demo retailer, with exact parameters.

Like :mod:`cxlens.demo.planted`, the data is generated *from* these numbers, so the loyalty and
promotion analytics can be checked against a known answer. Dates are for the default period
(2025, 365 days) and move with the period (:func:`loyalty_for`).

Programme. Members are customers with a tier above ``none``. Most enrolled before the period;
``late_enrolment_share`` of the members known before the period enrol during it (between
``enrol_window``), and joining changes nothing about how they shop (``enrolment_spend_effect`` is
0: members buy more because frequent shoppers join, not because they joined). Every order of a
member earns ``points_per_unit`` points per currency unit (rounded down); points are worth
``point_value`` each. Members enrolled before the period carry over a balance earned the year
before, which expires on ``points_expiry_date`` where it has not been spent (oldest points are
spent first). ``expiry_complaint_share`` of the members whose points expired complain about
points within ``complaint_window_days``; other members complain about points at
``points_complaint_daily_rate`` a day all year.

Tier review. On ``tier_review_date`` every member enrolled before the period is reviewed on the
points earned since the period start (``tier_history.qualifying_value``); members below the top
tier with at least ``tier_threshold`` points move up one tier. Upgraded members make
``upgrade_extra_visits_per_year`` extra visits (purchases, in the channels they usually use) a
year from then (a sharp regression-discontinuity at the threshold; the running variable is smooth
through it). Extra visits follow the usual mix of purchases (so the showrooming and webrooming
shares hold) but are never late deliveries.

Campaigns (``campaigns`` table). ``winback`` (holdout kept) makes each contacted customer pay
``extra_visits`` extra visits during it; ``newsletter`` (holdout kept) changes
nothing although its coupons are redeemed; ``frequent`` has no holdout, targets the most frequent
shoppers (platinum members) and adds ``extra_visits`` visits each during it.

Promotions in store (``product_promotions``). Displayed products sell ``display_lift`` more
(units and baskets) in that store and week, mailer products ``mailer_lift`` more; the charm-price
test prices six products at x.9 in some store-weeks and at the next whole number in the others,
and the x.9 weeks sell ``charm_lift`` more. The pantry flash sale (``flash_days`` days, 30% off)
multiplies the pantry products' sales by ``flash_multiplier`` and by ``dip_multiplier`` for the
``dip_days`` days after it (demand pulled forward). The yoghurt bundle adds the launched brand
to ``bundle_attach_during`` of baskets holding one of the anchor yoghurts while it runs, against
``bundle_attach_before`` before it and ``bundle_attach_after`` after it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from typing import Any

DEFAULT_START = date(2025, 1, 1)
DEFAULT_DAYS = 365


@dataclass(frozen=True)
class Campaign:
    """One planted campaign: id, name, dates, offer and who it targets."""

    campaign_id: str
    key: str
    name: str
    channel: str
    mechanic: str
    start: date
    end: date
    value: float
    holdout_share: float
    #: Share of the eligible customers selected.
    target_share: float
    #: Extra visits (purchases) per contacted customer during the campaign (the planted effect).
    extra_visits: float
    #: Share of the contacted customers' own orders in the window that redeem a coupon.
    redeem_share: float
    description: str


@dataclass(frozen=True)
class LoyaltyPlanted:
    """Ground truth of the demo's loyalty programme and promotion calendar (module docstring)."""

    programme: str
    points_per_unit: float
    point_value: float
    late_enrolment_share: float
    enrol_window: tuple[date, date]
    enrolment_spend_effect: float
    carry_over_mean: float
    points_expiry_date: date
    expiry_complaint_share: float
    complaint_window_days: int
    points_complaint_daily_rate: float
    redeem_order_share: float
    tier_review_date: date
    tier_threshold: float
    upgrade_extra_visits_per_year: float
    campaigns: tuple[Campaign, ...]
    display_lift: float
    mailer_lift: float
    displays_per_store_week: int
    mailers_per_week: int
    charm_products: tuple[str, ...]
    charm_lift: float
    flash_start: date
    flash_days: int
    flash_discount: float
    flash_multiplier: float
    dip_days: int
    dip_multiplier: float
    bundle_start: date
    bundle_days: int
    bundle_attach_before: float
    bundle_attach_during: float
    bundle_attach_after: float
    launched_product: str
    anchor_products: tuple[str, ...]

    def campaign(self, key: str) -> Campaign:
        """The planted campaign called ``key`` (winback, newsletter, frequent)."""
        for c in self.campaigns:
            if c.key == key:
                return c
        raise KeyError(key)

    @property
    def flash_end(self) -> date:
        """First day after the flash sale."""
        return self.flash_start + timedelta(days=self.flash_days)

    @property
    def bundle_end(self) -> date:
        """First day after the bundle."""
        return self.bundle_start + timedelta(days=self.bundle_days)

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary of every parameter (dates as ISO strings)."""

        def plain(v: Any) -> Any:
            if isinstance(v, date):
                return v.isoformat()
            if isinstance(v, (tuple, list)):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v

        return {k: plain(v) for k, v in asdict(self).items()}


#: Product ids of the promotion calendar (fixed catalogue, see :mod:`cxlens.demo.catalogue`).
CHARM_PRODUCTS = ("P00029", "P00031", "P00044", "P00059", "P00074", "P00092")
ANCHOR_PRODUCTS = ("P00079", "P00080", "P00081")
LAUNCHED_PRODUCT = "P00262"

_BASE = LoyaltyPlanted(
    programme="Harbor Lane Rewards",
    points_per_unit=1.0,
    point_value=0.01,
    late_enrolment_share=0.2,
    enrol_window=(date(2025, 3, 1), date(2025, 10, 31)),
    enrolment_spend_effect=0.0,
    carry_over_mean=600.0,
    points_expiry_date=date(2025, 9, 30),
    expiry_complaint_share=0.12,
    complaint_window_days=30,
    points_complaint_daily_rate=0.00003,
    redeem_order_share=0.1,
    tier_review_date=date(2025, 7, 1),
    tier_threshold=1000.0,
    upgrade_extra_visits_per_year=3.0,
    campaigns=(
        Campaign(
            "CMP01",
            "winback",
            "Spring win-back: 20% off fresh produce",
            "email",
            "coupon",
            date(2025, 3, 10),
            date(2025, 4, 21),
            20.0,
            0.2,
            0.25,
            0.8,
            0.1,
            "E-mail coupon for bronze and silver members: 20% off fresh produce for six weeks.",
        ),
        Campaign(
            "CMP02",
            "newsletter",
            "Summer newsletter: 10% off dairy",
            "email",
            "coupon",
            date(2025, 7, 14),
            date(2025, 8, 11),
            10.0,
            0.2,
            0.15,
            0.0,
            0.08,
            "Newsletter coupon for a random tenth of customers: 10% off dairy for four weeks.",
        ),
        Campaign(
            "CMP03",
            "frequent",
            "Autumn double points for our best shoppers",
            "app",
            "loyalty_points",
            date(2025, 10, 6),
            date(2025, 11, 3),
            2.0,
            0.0,
            0.6,
            1.0,
            0.0,
            "App push to platinum members: double points for four weeks.",
        ),
    ),
    display_lift=0.5,
    mailer_lift=0.25,
    displays_per_store_week=4,
    mailers_per_week=3,
    charm_products=CHARM_PRODUCTS,
    charm_lift=0.2,
    flash_start=date(2025, 5, 9),
    flash_days=2,
    flash_discount=0.3,
    flash_multiplier=3.0,
    dip_days=14,
    dip_multiplier=0.75,
    bundle_start=date(2025, 8, 18),
    bundle_days=28,
    bundle_attach_before=0.03,
    bundle_attach_during=0.3,
    bundle_attach_after=0.06,
    launched_product=LAUNCHED_PRODUCT,
    anchor_products=ANCHOR_PRODUCTS,
)


def loyalty_for(start: date = DEFAULT_START, days: int = DEFAULT_DAYS) -> LoyaltyPlanted:
    """The planted programme and calendar for a generated period; dates move with it."""

    def at(d: date) -> date:
        offset = (d - DEFAULT_START).days
        return start + timedelta(days=offset * days // DEFAULT_DAYS)

    scale = days / DEFAULT_DAYS

    def span(n: int) -> int:
        return max(1, round(n * scale))

    campaigns = tuple(
        replace(c, start=at(c.start), end=at(c.start) + timedelta(days=span((c.end - c.start).days)))
        for c in _BASE.campaigns
    )
    return replace(
        _BASE,
        enrol_window=(at(_BASE.enrol_window[0]), at(_BASE.enrol_window[1])),
        points_expiry_date=at(_BASE.points_expiry_date),
        complaint_window_days=span(_BASE.complaint_window_days),
        tier_review_date=at(_BASE.tier_review_date),
        campaigns=campaigns,
        flash_start=at(_BASE.flash_start),
        dip_days=span(_BASE.dip_days),
        bundle_start=at(_BASE.bundle_start),
        bundle_days=span(_BASE.bundle_days),
    )
