"""Feedback of one chunk: surveys, reviews, social posts, call/chat/e-mail contacts and competitor reviews.

Scores follow the planted causes (late delivery, checkout queues, staff training) and texts are
assembled from :mod:`cxlens.demo.texts`, so each comment's aspect and polarity agree with its score.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cxlens.demo import _sampling as draw
from cxlens.demo import _tables as arrow
from cxlens.demo import texts
from cxlens.demo._journeys import COLLECT, DAY, DELIVERY, HOUR, MIN, SEC, Context, E, EventBuffer, Orders
from cxlens.demo._people import People
from cxlens.demo.catalogue import micros
from cxlens.model.schema import FEEDBACK_SOURCES

A = {name: i for i, name in enumerate(texts.ASPECTS)}
SURVEYS = ("srv_delivery", "srv_checkout", "srv_store", "srv_support")
_SOURCE = {name: i for i, name in enumerate(FEEDBACK_SOURCES)}
_INT_COLS = ("source", "cust", "anon", "channel", "touchpoint", "store", "product", "order", "survey",
             "brand", "lang", "nps", "csat", "ces", "rating")  # fmt: skip


class FeedbackBuffer:
    """Collects feedback columns; -1 codes mean null, None texts mean no text."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, t: np.ndarray, text: object = None, title: object = None, **cols: np.ndarray | int) -> None:
        """Add ``len(t)`` rows; scalars broadcast, columns not given are null."""
        n = len(t)
        if n == 0:
            return
        part: dict[str, np.ndarray] = {"t": np.asarray(t, dtype=np.int64)}
        for name in _INT_COLS:
            part[name] = np.broadcast_to(np.asarray(cols.pop(name, -1), dtype=np.int64), n)
        if cols:
            raise KeyError(f"unknown feedback columns {sorted(cols)}")
        for name, value in (("text", text), ("title", title)):
            arr = np.empty(n, dtype=object)
            arr[:] = value if value is not None else None
            part[name] = arr
        self.parts.append(part)

    def columns(self) -> dict[str, np.ndarray]:
        """All rows added so far, one array per column."""
        names = ["t", *_INT_COLS, "text", "title"]
        return {k: np.concatenate([p[k] for p in self.parts]) for k in names}


def _polarity(rng: np.random.Generator, score: np.ndarray, low: int, high: int) -> np.ndarray:
    """1 (negative) for scores <= low, 0 for >= high; in between negative four times in ten."""
    coin = rng.random(len(score)) < 0.4
    return np.where(score <= low, 1, np.where(score >= high, 0, coin)).astype(np.int64)


def _maybe(rng: np.random.Generator, p: float, values: np.ndarray) -> np.ndarray:
    """``values`` where a coin with probability ``p`` lands, else None."""
    out = values.copy()
    out[rng.random(len(values)) >= p] = None
    return out


def build_feedback(
    rng: np.random.Generator, people: People, orders: Orders, ctx: Context, buf: EventBuffer
) -> FeedbackBuffer:
    """Every feedback row of a chunk (before the period cut-off and id assignment)."""
    fb = FeedbackBuffer()
    _delivery_surveys(rng, people, orders, ctx, fb)
    _checkout_surveys(rng, people, orders, ctx, fb)
    _store_surveys(rng, people, orders, ctx, fb)
    _support(rng, people, orders, ctx, fb, buf)
    _reviews(rng, people, orders, ctx, fb, buf)
    _social(rng, people, orders, ctx, fb)
    _competitors(rng, people, ctx, fb)
    return fb


def _actor(orders: Orders, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.where(orders.known[idx], orders.cust[idx], -1), orders.anon[idx]


def _delivery_surveys(
    rng: np.random.Generator, people: People, orders: Orders, ctx: Context, fb: FeedbackBuffer
) -> None:
    p = ctx.planted
    d = np.flatnonzero((orders.fulfil == DELIVERY) & ~orders.cancelled & (orders.delivered < ctx.end))
    d = d[rng.random(len(d)) < 0.3]
    late = orders.late[d]
    nps = draw.scores(rng, np.where(late, p.nps_late_mean, p.nps_on_time_mean), 2.0, 0, 10)
    csat = draw.scores(rng, np.where(late, 2.4, 4.4), 1.0, 1, 5)
    lang = people.lang[orders.cust[d]]
    n = len(d)
    other_aspect = np.array([A["delivery"], A["product_quality"], A["app_usability"], A["price"]])[
        draw.choice(rng, np.array([0.4, 0.25, 0.15, 0.2]), n)
    ]
    planted_neg = late & (rng.random(n) < p.late_negative_comment_share)
    aspect = np.where(planted_neg, A["delivery"], other_aspect)
    negative = np.where(planted_neg, 1, _polarity(rng, nps, 6, 9))
    first = texts.sentences(rng, lang, aspect, negative)
    extra_aspect = np.array([A["product_quality"], A["price"], A["app_usability"]])[rng.integers(0, 3, n)]
    second = _maybe(rng, 0.25, texts.sentences(rng, lang, extra_aspect, _polarity(rng, nps, 6, 9)))
    text = np.array(texts.join(lang, first, second), dtype=object)
    c, a = _actor(orders, d)
    fb.add(
        orders.delivered[d] + (rng.uniform(2, 72, n) * HOUR).astype(np.int64),
        text=_maybe(rng, 0.45, text),
        source=_SOURCE["survey"],
        cust=c,
        anon=a,
        channel=ctx.channel["courier"],
        touchpoint=ctx.touchpoint["delivery"],
        order=orders.number[d],
        survey=SURVEYS.index("srv_delivery"),
        lang=lang,
        nps=nps,
        csat=csat,
    )


def _checkout_surveys(
    rng: np.random.Generator, people: People, orders: Orders, ctx: Context, fb: FeedbackBuffer
) -> None:
    k = np.flatnonzero((orders.channel != ctx.channel["store"]) & ~orders.cancelled)
    k = k[rng.random(len(k)) < 0.12]
    n = len(k)
    ces = draw.scores(rng, np.full(n, 2.6), 1.2, 1, 7)
    lang = people.lang[orders.cust[k]]
    negative = np.where(ces >= 5, 1, np.where(ces <= 2, 0, rng.random(n) < 0.5)).astype(np.int64)
    text = texts.sentences(rng, lang, np.full(n, A["app_usability"]), negative)
    c, a = _actor(orders, k)
    fb.add(
        orders.t[k] + (rng.uniform(5, 120, n) * MIN).astype(np.int64),
        text=_maybe(rng, 0.3, text),
        source=_SOURCE["survey"],
        cust=c,
        anon=a,
        channel=orders.channel[k],
        touchpoint=ctx.touchpoint["checkout"],
        order=orders.number[k],
        survey=SURVEYS.index("srv_checkout"),
        lang=lang,
        ces=ces,
    )


def _store_surveys(
    rng: np.random.Generator, people: People, orders: Orders, ctx: Context, fb: FeedbackBuffer
) -> None:
    p, cat = ctx.planted, ctx.cat
    s = np.flatnonzero(orders.channel == ctx.channel["store"])
    s = s[rng.random(len(s)) < 0.35]
    n = len(s)
    store = orders.store[s]
    lang = people.lang[orders.cust[s]]
    t = orders.t[s] + (rng.uniform(1, 48, n) * HOUR).astype(np.int64)
    c, a = _actor(orders, s)
    common = {
        "source": _SOURCE["survey"],
        "cust": c,
        "anon": a,
        "channel": ctx.channel["store"],
        "store": store,
        "order": orders.number[s],
        "survey": SURVEYS.index("srv_store"),
        "lang": lang,
    }
    # checkout queue question: worse in the planted queue stores, all year
    queue = cat.store_queue[store]
    csat = draw.scores(rng, np.where(queue, p.queue_checkout_csat_mean, p.checkout_csat_mean), 1.0, 1, 5)
    ces = draw.scores(rng, np.where(queue, 4.6, 2.6), 1.2, 1, 7)
    text = texts.sentences(rng, lang, np.full(n, A["checkout_queue"]), _polarity(rng, csat, 2, 4))
    fb.add(
        t,
        text=_maybe(rng, 0.3, text),
        touchpoint=ctx.touchpoint["checkout_queue"],
        csat=csat,
        ces=ces,
        **common,
    )
    # staff question: better in the training stores from the training date on, nothing else changes
    trained = cat.store_trained[store] & (orders.t[s] >= micros(p.training_date))
    staff = draw.scores(rng, np.where(trained, p.staff_csat_trained_mean, p.staff_csat_mean), 1.0, 1, 5)
    nps = draw.scores(rng, np.clip(6.8 + 0.9 * (staff - 3.5), 0.5, 9.5), 2.0, 0, 10)
    aspect = np.array([A["staff"], A["cleanliness"], A["availability"]])[
        draw.choice(rng, np.array([0.55, 0.2, 0.25]), n)
    ]
    text = texts.sentences(rng, lang, aspect, _polarity(rng, staff, 2, 4))
    fb.add(
        t + 30 * SEC,
        text=_maybe(rng, 0.35, text),
        touchpoint=ctx.touchpoint["store_visit"],
        csat=staff,
        nps=nps,
        **common,
    )


def _support(
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    ctx: Context,
    fb: FeedbackBuffer,
    buf: EventBuffer,
) -> None:
    ch = ctx.channel
    nb = len(orders.number)
    delivery = (orders.fulfil == DELIVERY) & ~orders.cancelled
    p = np.select([delivery & orders.late, delivery, orders.fulfil == COLLECT], [0.30, 0.04, 0.03], 0.02)
    p = p + 0.15 * orders.returned
    k = np.flatnonzero(rng.random(nb) < p)
    n = len(k)
    late = orders.late[k]
    ret = orders.returned[k]
    when = np.select(
        [late, ret],
        [
            orders.promised[k] + (rng.uniform(2, 30, n) * HOUR).astype(np.int64),
            orders.return_t[k] + (rng.uniform(1, 48, n) * HOUR).astype(np.int64),
        ],
        orders.delivered[k] + (rng.uniform(1, 10, n) * DAY).astype(np.int64),
    )
    other = np.array([A["product_quality"], A["app_usability"], A["price"], A["availability"]])[
        draw.choice(rng, np.array([0.4, 0.25, 0.15, 0.2]), n)
    ]
    aspect = np.select([late, ret], [A["delivery"], A["returns"]], other)
    resolved = rng.random(n) < np.where(late, 0.5, 0.7)
    kind = draw.choice(rng, np.array([0.45, 0.45, 0.1]), n)  # call, chat, e-mail
    channel = np.array([ch["call"], ch["chat"], ch["email"]])[kind]
    etype = np.array([E["support_call"], E["support_chat"], E["support_email"]])[kind]
    duration = np.where(
        kind == 0, rng.uniform(120, 1500, n), np.where(kind == 1, rng.uniform(180, 1200, n), np.nan)
    )
    c, a = _actor(orders, k)
    buf.add(
        when, value=np.round(duration), cust=c, anon=a, channel=channel, etype=etype, order=orders.number[k]
    )
    lang = people.lang[orders.cust[k]]
    opening = texts.sentences(rng, lang, aspect, np.ones(n, np.int64))
    words = np.array(texts.transcripts(rng, lang, opening, resolved), dtype=object)
    words = np.where(kind == 2, opening, words)
    has_text = rng.random(n) < 0.6
    t_text = when + np.where(kind == 2, 0, np.round(np.nan_to_num(duration) * SEC)).astype(np.int64)
    source = np.array([_SOURCE["call"], _SOURCE["chat"], _SOURCE["email"]])[kind]
    tp = ctx.touchpoint["support_contact"]
    w = np.flatnonzero(has_text)
    fb.add(
        t_text[w],
        text=words[w],
        source=source[w],
        cust=c[w],
        anon=a[w],
        channel=channel[w],
        touchpoint=tp,
        order=orders.number[k][w],
        lang=lang[w],
    )
    v = np.flatnonzero(rng.random(n) < 0.3)
    csat = draw.scores(rng, np.where(resolved[v], 4.2, 2.2), 1.0, 1, 5)
    ces = draw.scores(rng, np.where(resolved[v], 2.6, 5.2), 1.2, 1, 7)
    comment = texts.sentences(rng, lang[v], np.full(len(v), A["support"]), (~resolved[v]).astype(np.int64))
    fb.add(
        t_text[v] + (rng.uniform(10, 600, len(v)) * MIN).astype(np.int64),
        text=_maybe(rng, 0.3, comment),
        source=_SOURCE["survey"],
        cust=c[v],
        anon=a[v],
        channel=channel[v],
        touchpoint=tp,
        order=orders.number[k][v],
        survey=SURVEYS.index("srv_support"),
        lang=lang[v],
        csat=csat,
        ces=ces,
    )


def _reviews(
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    ctx: Context,
    fb: FeedbackBuffer,
    buf: EventBuffer,
) -> None:
    cat, ch = ctx.cat, ctx.channel
    ok = ~orders.cancelled & (orders.delivered < ctx.end) & orders.known
    r = np.flatnonzero(ok & (rng.random(len(ok)) < 0.1))
    n = len(r)
    product = orders.focal[r]
    rating = draw.scores(rng, cat.product_quality[product], 1.0, 1, 5)
    lang = people.lang[orders.cust[r]]
    first = texts.sentences(rng, lang, np.full(n, A["product_quality"]), _polarity(rng, rating, 2, 4))
    delivery = orders.fulfil[r] == DELIVERY
    aspect2 = np.select([orders.returned[r], delivery], [A["returns"], A["delivery"]], A["price"])
    neg2 = np.select([orders.returned[r], delivery], [rating <= 3, orders.late[r]], rating <= 2).astype(
        np.int64
    )
    second = _maybe(rng, 0.4, texts.sentences(rng, lang, aspect2, neg2))
    text = np.array(texts.join(lang, first, second), dtype=object)
    cust = orders.cust[r]
    channel = np.where(people.has_app[cust] & (rng.random(n) < 0.5), ch["app"], ch["web"])
    t = orders.delivered[r] + (rng.uniform(1, 14, n) * DAY).astype(np.int64)
    buf.add(t, cust=cust, channel=channel, etype=E["review_written"], product=product, order=orders.number[r])
    fb.add(
        t + 5 * SEC,
        text=text,
        title=texts.titles(rng, lang, rating),
        source=_SOURCE["review"],
        cust=cust,
        channel=channel,
        touchpoint=ctx.touchpoint["review_written"],
        product=product,
        order=orders.number[r],
        lang=lang,
        rating=rating,
    )


def _social(
    rng: np.random.Generator, people: People, orders: Orders, ctx: Context, fb: FeedbackBuffer
) -> None:
    tp, social = ctx.touchpoint["social_post"], ctx.channel["social"]
    # complaints about late deliveries
    k = np.flatnonzero(orders.late & (rng.random(len(orders.late)) < 0.06))
    lang = people.lang[orders.cust[k]]
    text = texts.sentences(rng, lang, np.full(len(k), A["delivery"]), np.ones(len(k), np.int64))
    t = orders.promised[k] + (rng.uniform(6, 72, len(k)) * HOUR).astype(np.int64)
    fb.add(t, text=text, source=_SOURCE["social"], channel=social, touchpoint=tp, lang=lang)
    # happy bargain hunters
    k = np.flatnonzero((orders.promo >= 0) & (rng.random(len(orders.promo)) < 0.02))
    lang = people.lang[orders.cust[k]]
    text = texts.sentences(rng, lang, np.full(len(k), A["price"]), np.zeros(len(k), np.int64))
    t = orders.t[k] + (rng.uniform(1, 48, len(k)) * HOUR).astype(np.int64)
    fb.add(t, text=text, source=_SOURCE["social"], channel=social, touchpoint=tp, lang=lang)
    # everything else people post about
    c = np.flatnonzero(rng.random(people.n) < 0.03)
    n = len(c)
    lang = people.lang[c]
    aspect = rng.integers(0, len(texts.ASPECTS), n)
    text = texts.sentences(rng, lang, aspect, (rng.random(n) < 0.55).astype(np.int64))
    t0 = np.maximum(people.created[c], ctx.start)
    t = t0 + (rng.random(n) * (ctx.end - t0)).astype(np.int64)
    fb.add(t, text=text, source=_SOURCE["social"], channel=social, touchpoint=tp, lang=lang)


# competitor profiles: mean rating and (aspect, probability, share negative) of what reviews talk about
_COMPETITOR_PROFILE = (
    (3.5, (("price", 0.35, 0.2), ("delivery", 0.35, 0.8), ("product_quality", 0.3, -1.0))),
    (3.9, (("delivery", 0.35, 0.2), ("price", 0.3, 0.75), ("staff", 0.35, -1.0))),
)


def _competitors(rng: np.random.Generator, people: People, ctx: Context, fb: FeedbackBuffer) -> None:
    for brand, (mean, profile) in enumerate(_COMPETITOR_PROFILE):
        n = int(rng.binomial(people.n, 0.04))
        lang = people.lang[rng.integers(0, people.n, n)]
        rating = draw.scores(rng, np.full(n, mean), 1.0, 1, 5)
        which = draw.choice(rng, np.array([w for _, w, _ in profile]), n)
        aspect = np.array([A[a] for a, _, _ in profile])[which]
        neg_share = np.array([s for _, _, s in profile])[which]
        by_rating = _polarity(rng, rating, 2, 4)
        negative = np.where(neg_share < 0, by_rating, rng.random(n) < neg_share).astype(np.int64)
        first = texts.sentences(rng, lang, aspect, negative)
        second = _maybe(rng, 0.5, texts.sentences(rng, lang, np.full(n, A["product_quality"]), by_rating))
        text = np.array(texts.join(lang, first, second), dtype=object)
        t = ctx.start + (rng.random(n) * (ctx.end - ctx.start)).astype(np.int64)
        fb.add(
            t,
            text=text,
            title=texts.titles(rng, lang, rating),
            source=_SOURCE["review"],
            brand=brand,
            lang=lang,
            rating=rating,
        )
        # and a few social posts about them
        m = int(rng.binomial(people.n, 0.01))
        lang = people.lang[rng.integers(0, people.n, m)]
        which = draw.choice(rng, np.array([w for _, w, _ in profile]), m)
        aspect = np.array([A[a] for a, _, _ in profile])[which]
        neg_share = np.abs(np.array([s for _, _, s in profile])[which])
        text = texts.sentences(rng, lang, aspect, (rng.random(m) < neg_share).astype(np.int64))
        t = ctx.start + (rng.random(m) * (ctx.end - ctx.start)).astype(np.int64)
        fb.add(
            t,
            text=text,
            source=_SOURCE["social"],
            brand=brand,
            channel=ctx.channel["social"],
            touchpoint=ctx.touchpoint["social_post"],
            lang=lang,
        )


def feedback_table(cols: dict[str, np.ndarray], ctx: Context, people: People, ids: np.ndarray) -> pa.Table:
    """The feedback rows as an Arrow table shaped like the data model."""
    n = len(ids)
    p = ctx.planted

    def score(name: str) -> pa.Array:
        v = cols[name]
        return arrow.ints(np.maximum(v, 0), v >= 0)

    return arrow.build(
        "feedback",
        n,
        {
            "feedback_id": arrow.ids("F", ids, 10),
            "submitted_at": arrow.timestamps(cols["t"]),
            "source": arrow.take(pa.array(list(FEEDBACK_SOURCES)), cols["source"]),
            "customer_id": arrow.take(people.ids, cols["cust"]),
            "anonymous_id": arrow.take(people.anon_ids, cols["anon"]),
            "channel": arrow.take(pa.array(list(ctx.channel)), cols["channel"]),
            "touchpoint": arrow.take(pa.array(list(ctx.touchpoint)), cols["touchpoint"]),
            "store_id": arrow.take(ctx.cat.store_ids, cols["store"]),
            "product_id": arrow.take(ctx.cat.product_ids, cols["product"]),
            "order_id": arrow.ids("O", cols["order"], 9),
            "survey_id": arrow.take(pa.array(list(SURVEYS)), cols["survey"]),
            "brand": arrow.take(pa.array(list(p.competitor_brands)), cols["brand"]),
            "language": arrow.take(pa.array(list(texts.LANGUAGES)), cols["lang"]),
            "nps": score("nps"),
            "csat": score("csat"),
            "ces": score("ces"),
            "rating": score("rating"),
            "title": arrow.strings(list(cols["title"])),
            "text": arrow.strings(list(cols["text"])),
        },
    )
