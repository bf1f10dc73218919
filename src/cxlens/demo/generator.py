"""Generate the synthetic demo retailer as Parquet part files, chunk by chunk in bounded memory.

Customers are generated in chunks; each chunk's customers, identities, orders, order items,
events and feedback are written before the next chunk starts, so a million customers (tens of
millions of events) need no more memory than one chunk. The catalogue (stores, products,
promotions, campaigns, coupons and the promotion calendar) is small and written once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from cxlens.demo import _loyalty as loyalty
from cxlens.demo import _tables as arrow
from cxlens.demo._feedback import build_feedback, feedback_table
from cxlens.demo._journeys import (
    EVENT_TYPES,
    PROPERTIES,
    Context,
    Counters,
    EventBuffer,
    build_orders_and_events,
    plan_journeys,
)
from cxlens.demo._people import People, customers_table, identities_table, make_people
from cxlens.demo._promo import build_calendar, extend_catalogue
from cxlens.demo.catalogue import build_catalogue, micros
from cxlens.demo.planted import planted_for
from cxlens.journey.map import JourneyMap, load_journey_map
from cxlens.model.schema import TABLE_ORDER

Progress = Callable[[str, int], None]


def generate(
    out_dir: Path,
    customers: int = 50_000,
    seed: int = 42,
    start: date = date(2025, 1, 1),
    days: int = 365,
    chunk_customers: int = 20_000,
    progress: Progress | None = None,
) -> dict[str, list[Path]]:
    """Write the demo retailer to ``out_dir/<table>/part-NNNNN.parquet`` and return table -> files.

    The same arguments always give the same files. ``progress``, when given, is called with a
    stage label and the number of customers generated so far (0 after the catalogue is written).
    Stale part files from an earlier run in ``out_dir`` are removed first.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if chunk_customers < 1:
        raise ValueError("chunk_customers must be at least 1")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    planted = planted_for(start, days)
    journey_map = load_journey_map()
    cat = extend_catalogue(build_catalogue(planted, journey_map.channel_ids), planted)
    ctx = Context(
        cat=cat,
        planted=planted,
        start=micros(start),
        end=micros(planted.end),
        days=days,
        seed=seed,
        channel={c: i for i, c in enumerate(journey_map.channel_ids)},
        touchpoint={t: i for i, t in enumerate(journey_map.touchpoint_ids)},
        counters=Counters(),
        calendar=build_calendar(cat, planted),
    )
    event_touchpoint = _event_touchpoints(journey_map, ctx)
    out_dir = Path(out_dir)
    for table in TABLE_ORDER:
        for stale in (out_dir / table).glob("part-*.parquet"):
            stale.unlink()
    files: dict[str, list[Path]] = {t: [] for t in TABLE_ORDER}
    campaigns = planted.loyalty.campaigns
    assert ctx.calendar is not None
    for name, table in (
        ("stores", ctx.cat.stores),
        ("products", ctx.cat.products),
        ("promotions", ctx.cat.promotions),
        ("campaigns", loyalty.campaigns_table(campaigns)),
        ("coupons", loyalty.coupons_table(ctx.cat, campaigns)),
        ("product_promotions", ctx.calendar.table),
    ):
        files[name].append(arrow.write(table, out_dir / name / "part-00000.parquet"))
    if progress is not None:
        progress("catalogue", 0)
    for part, first in enumerate(range(0, customers, chunk_customers)):
        n = min(chunk_customers, customers - first)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(part,)))
        lrng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(part, 1)))
        for name, table in _chunk(rng, lrng, ctx, first, n, event_touchpoint).items():
            files[name].append(arrow.write(table, out_dir / name / f"part-{part:05d}.parquet"))
        if progress is not None:
            progress("customers", first + n)
    return files


def _event_touchpoints(journey_map: JourneyMap, ctx: Context) -> np.ndarray:
    """Touchpoint code of every generated event type, taken from the journey map."""
    missing = [et for et in EVENT_TYPES if et not in journey_map.touchpoint_of_event_type]
    if missing:
        raise ValueError(f"the journey map has no touchpoint for event types {missing}")
    return np.array([ctx.touchpoint[journey_map.touchpoint_of_event_type[et]] for et in EVENT_TYPES])


def _chunk(
    rng: np.random.Generator,
    lrng: np.random.Generator,
    ctx: Context,
    first: int,
    n: int,
    event_touchpoint: np.ndarray,
) -> dict[str, pa.Table]:
    """All customer-level tables of one chunk of ``n`` customers numbered from ``first``
    (``lrng`` drives the loyalty programme and campaigns, see :mod:`cxlens.demo._loyalty`)."""
    people = make_people(rng, ctx.cat, first, n, ctx.seed, ctx.start, ctx.days)
    customers = customers_table(rng, people, ctx.cat, tuple(ctx.channel))
    identities = identities_table(rng, people, ctx.end)
    programme = loyalty.Programme.start(lrng, people, ctx)
    plan = programme.add_campaign_visits(lrng, plan_journeys(rng, people, ctx))
    orders, orders_table, items, buf = build_orders_and_events(rng, people, plan, ctx)
    tags = loyalty.order_tags(plan)
    extra = programme.review(lrng, orders, plan)
    if extra is not None:
        more, more_table, more_items, more_buf = build_orders_and_events(rng, people, extra, ctx, extra=True)
        orders = loyalty.merge_orders(orders, more)
        orders_table = pa.concat_tables([orders_table, more_table])
        items = pa.concat_tables([items, more_items])
        buf.parts.extend(more_buf.parts)
        tags = np.concatenate([tags, loyalty.order_tags(extra)])
    programme.set_orders(orders, tags)
    programme.ledger(lrng)
    fb = build_feedback(rng, people, orders, ctx, buf)
    programme.complaints(lrng, fb)
    events = _events_table(buf, people, ctx, event_touchpoint)
    cols = _in_period(fb.columns(), ctx)
    feedback = feedback_table(cols, ctx, people, ctx.counters.take("feedback", len(cols["t"])))
    return {
        "customers": loyalty.final_tiers(customers, programme),
        "identities": identities,
        "orders": orders_table,
        "order_items": items,
        "events": events,
        "feedback": feedback,
        **programme.tables(lrng),
    }


def _in_period(cols: dict[str, np.ndarray], ctx: Context) -> dict[str, np.ndarray]:
    """Rows inside the generated period, in time order (what an extract of the period holds)."""
    t = cols["t"]
    keep = np.flatnonzero((t >= ctx.start) & (t < ctx.end))
    keep = keep[np.argsort(t[keep], kind="stable")]
    return {k: v[keep] for k, v in cols.items()}


def _events_table(buf: EventBuffer, people: People, ctx: Context, event_touchpoint: np.ndarray) -> pa.Table:
    """The events rows of a chunk, numbered in time order."""
    cols = _in_period(buf.columns(), ctx)
    n = len(cols["t"])
    ids = ctx.counters.take("event", n)
    return arrow.build(
        "events",
        n,
        {
            "event_id": arrow.ids("E", ids, 11),
            "occurred_at": arrow.timestamps(cols["t"]),
            "customer_id": arrow.take(people.ids, cols["cust"]),
            "anonymous_id": arrow.take(people.anon_ids, cols["anon"]),
            "session_id": arrow.ids("sess", cols["session"], 10),
            "channel": arrow.take(pa.array(list(ctx.channel)), cols["channel"]),
            "touchpoint": arrow.take(pa.array(list(ctx.touchpoint)), event_touchpoint[cols["etype"]]),
            "event_type": arrow.take(pa.array(list(EVENT_TYPES)), cols["etype"]),
            "store_id": arrow.take(ctx.cat.store_ids, cols["store"]),
            "product_id": arrow.take(ctx.cat.product_ids, cols["product"]),
            "order_id": arrow.ids("O", cols["order"], 9),
            "value": arrow.floats(cols["value"]),
            "properties": arrow.take(pa.array(list(PROPERTIES)), cols["props"]),
        },
    )
