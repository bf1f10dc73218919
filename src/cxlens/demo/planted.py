"""The latent causes planted in the demo retailer, with their exact parameters.

The demo data is generated *from* these numbers, so tests and analytics can check that an
analysis recovers them. Means are expected values on the observed answer scale (an NPS answer of
0-10, CSAT 1-5): the generator solves for the hidden distribution that gives exactly these means.

1. Late delivery: a delivery order is late when ``orders.delivered_at > orders.promised_delivery_at``.
   Post-delivery survey rows (``feedback.touchpoint = 'delivery'``, joined on ``order_id``) have a
   mean NPS answer of ``nps_on_time_mean`` when on time and ``nps_late_mean`` when late, and their
   comments are negative delivery comments with probability ``late_negative_comment_share``.
   A customer whose delivery was late stops buying (no later journeys) with probability
   ``late_churn_share``; late orders also lead to more support contacts.
2. Checkout queues: store-survey rows at touchpoint ``checkout_queue`` have mean CSAT
   ``queue_checkout_csat_mean`` in ``queue_stores`` and ``checkout_csat_mean`` elsewhere, all year.
   Queue-join events in those stores carry longer waits (``events.value`` in seconds).
3. Staff training: store-survey rows at touchpoint ``store_visit`` (the staff question) have mean
   CSAT ``staff_csat_mean`` everywhere, except visits to ``training_stores`` on or after
   ``training_date``, which have ``staff_csat_trained_mean``. Nothing else changes over time in
   any store, so a difference-in-differences finds the effect and a placebo finds none.
4. Showrooming and webrooming: of purchasing journeys (one order each), ``showrooming_share``
   are showrooming and ``webrooming_share`` webrooming, by this rule: take the order and the events
   of the same customer (stitched through ``identities``) in the ``journey_window_days`` before it;
   showrooming = an online order (channel in ``online_channels``) with a store research event
   (touchpoint in ``store_research_touchpoints``); webrooming = a store order with an online research
   event (touchpoint in ``online_research_touchpoints``). Other journeys never mix the two, and a
   customer's next journey starts more than ``journey_window_days`` after the previous journey's
   research, so the rule recovers the shares.
   Without stitching the shares come out lower: research often happens before login.
5. Loyalty programme, campaigns and promotions: see :mod:`cxlens.demo.planted_loyalty`
   (``PLANTED.loyalty``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from typing import Any

from cxlens.demo.planted_loyalty import LoyaltyPlanted, loyalty_for

DEFAULT_START = date(2025, 1, 1)
DEFAULT_DAYS = 365


@dataclass(frozen=True)
class Planted:
    """Ground truth of the demo retailer (see the module docstring for how each cause works)."""

    retailer: str
    competitor_brands: tuple[str, ...]
    currency: str
    start: date
    days: int
    # 1. late delivery
    late_share: float
    late_share_peak: float
    peak_start: date
    peak_end: date
    nps_on_time_mean: float
    nps_late_mean: float
    late_negative_comment_share: float
    late_churn_share: float
    # 2. checkout queues
    queue_stores: tuple[str, ...]
    checkout_csat_mean: float
    queue_checkout_csat_mean: float
    queue_wait_seconds_mean: float
    normal_wait_seconds_mean: float
    # 3. staff training
    training_stores: tuple[str, ...]
    training_date: date
    training_touchpoint: str
    staff_csat_mean: float
    staff_csat_trained_mean: float
    # 4. showrooming and webrooming
    showrooming_share: float
    webrooming_share: float
    journey_window_days: int
    online_channels: tuple[str, ...]
    store_channels: tuple[str, ...]
    store_research_touchpoints: tuple[str, ...]
    online_research_touchpoints: tuple[str, ...]
    # extra: a few products of poor quality (low ratings, more returns)
    poor_quality_products: tuple[str, ...]
    # 5. the loyalty programme, campaigns and the promotion calendar (cxlens.demo.planted_loyalty)
    loyalty: LoyaltyPlanted

    @property
    def late_delivery_nps_effect(self) -> float:
        """Mean NPS answer of late minus on-time deliveries (negative)."""
        return round(self.nps_late_mean - self.nps_on_time_mean, 6)

    @property
    def queue_csat_effect(self) -> float:
        """Mean checkout CSAT in queue stores minus other stores (negative)."""
        return round(self.queue_checkout_csat_mean - self.checkout_csat_mean, 6)

    @property
    def training_csat_effect(self) -> float:
        """Rise in mean staff CSAT in training stores after the training date."""
        return round(self.staff_csat_trained_mean - self.staff_csat_mean, 6)

    @property
    def end(self) -> date:
        """First day after the generated period."""
        return self.start + timedelta(days=self.days)

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary of every parameter and derived effect (dates as ISO strings)."""
        out: dict[str, Any] = {
            k: (v.isoformat() if isinstance(v, date) else list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
        }
        out["late_delivery_nps_effect"] = self.late_delivery_nps_effect
        out["queue_csat_effect"] = self.queue_csat_effect
        out["training_csat_effect"] = self.training_csat_effect
        out["loyalty"] = self.loyalty.as_dict()
        return out


_BASE = Planted(
    retailer="Harbor Lane",
    competitor_brands=("Brightway", "Valora"),
    currency="USD",
    start=DEFAULT_START,
    days=DEFAULT_DAYS,
    late_share=0.12,
    late_share_peak=0.30,
    peak_start=date(2025, 11, 20),
    peak_end=date(2025, 12, 31),
    nps_on_time_mean=8.3,
    nps_late_mean=5.8,
    late_negative_comment_share=0.9,
    late_churn_share=0.3,
    queue_stores=("S002", "S018", "S033"),
    checkout_csat_mean=4.2,
    queue_checkout_csat_mean=3.0,
    queue_wait_seconds_mean=660.0,
    normal_wait_seconds_mean=150.0,
    training_stores=("S005", "S013", "S027", "S045"),
    training_date=date(2025, 7, 1),
    training_touchpoint="store_visit",
    staff_csat_mean=3.5,
    staff_csat_trained_mean=4.3,
    showrooming_share=0.12,
    webrooming_share=0.18,
    journey_window_days=7,
    online_channels=("web", "app"),
    store_channels=("store",),
    store_research_touchpoints=("store_visit", "shelf_browse"),
    online_research_touchpoints=("product_page", "site_search", "compare", "review_read"),
    poor_quality_products=("P00110", "P00131", "P00150", "P00199", "P00230"),
    loyalty=loyalty_for(),
)


def planted_for(start: date = DEFAULT_START, days: int = DEFAULT_DAYS) -> Planted:
    """The planted parameters for a generated period; dates move with ``start`` and ``days``."""
    if days < 28:
        raise ValueError("the demo needs at least 28 days")

    def at(d: date) -> date:
        offset = (d - DEFAULT_START).days
        return start + timedelta(days=offset * days // DEFAULT_DAYS)

    return replace(
        _BASE,
        start=start,
        days=days,
        peak_start=at(_BASE.peak_start),
        peak_end=start + timedelta(days=days - 1),
        training_date=at(_BASE.training_date),
        loyalty=loyalty_for(start, days),
    )


#: The planted parameters for the default period (2025, 365 days).
PLANTED: Planted = planted_for()
