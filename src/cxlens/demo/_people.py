"""Customers of one chunk, their anonymous ids (cookies, devices, cards, tokens) and identity links."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cxlens.demo import _sampling as draw
from cxlens.demo import _tables as arrow
from cxlens.demo._names import customer_names
from cxlens.demo.catalogue import REGIONS, Catalogue
from cxlens.demo.texts import LANGUAGES
from cxlens.model.schema import AGE_BANDS, GENDERS, INCOME_BANDS, LOYALTY_TIERS

DAY = 86_400_000_000
HOUR = 3_600_000_000

#: Kinds of anonymous id a customer can have (column order of ``People.anon``).
COOKIE, COOKIE2, DEVICE, CARD, TOKEN, UNLINKED = range(6)
_ANON_PREFIX = ("ck_", "ck_", "dv_", "lc_", "pt_", "ck_")
_ANON_TYPE = ("cookie", "cookie", "device", "loyalty_card", "payment_token", "cookie")
_ANON_SOURCE = ("web_login", "web_login", "app_login", "loyalty_enrolment", "pos_payment", "")

_AGE_P = np.array([0.11, 0.20, 0.19, 0.17, 0.14, 0.14, 0.05])
_GENDER_P = np.array([0.52, 0.44, 0.02, 0.02])
_INCOME_P = np.array([0.30, 0.45, 0.18, 0.07])
_TIER_P = np.array([0.35, 0.30, 0.20, 0.11, 0.04])
# preferred channel (web, app, store) by age band: the young prefer the app, the old the store
_PREF_BY_AGE = np.array(
    [
        [0.30, 0.45, 0.25],
        [0.32, 0.40, 0.28],
        [0.33, 0.32, 0.35],
        [0.32, 0.22, 0.46],
        [0.30, 0.14, 0.56],
        [0.28, 0.08, 0.64],
        [0.32, 0.28, 0.40],
    ]
)
PREF_APP, PREF_STORE = 1, 2  # codes into (web, app, store)


@dataclass
class People:
    """One chunk of customers: attributes as numpy codes, ids as Arrow strings."""

    n: int
    first: int
    ids: pa.Array
    tier: np.ndarray
    age: np.ndarray
    pref: np.ndarray
    home: np.ndarray
    region: np.ndarray
    lang: np.ndarray
    created: np.ndarray
    has_app: np.ndarray
    member: np.ndarray
    anon: np.ndarray  # (n, 6) index into anon_ids, -1 when the customer has no id of that kind
    anon_ids: pa.Array


def make_people(
    rng: np.random.Generator, cat: Catalogue, first: int, n: int, seed: int, start: int, days: int
) -> People:
    """Draw ``n`` customers numbered from ``first`` (global, so ids are unique across chunks)."""
    home = draw.choice(rng, cat.store_weight, n)
    country = cat.store_country[home]
    lang = draw.choice_rows(rng, cat.country_language[country])
    age = draw.choice(rng, _AGE_P, n)
    pref = draw.choice_rows(rng, _PREF_BY_AGE[age])
    tier = draw.choice(rng, _TIER_P, n)
    has_app = (pref == PREF_APP) | (rng.random(n) < 0.3)
    member = tier > 0
    # three in four customers joined before the period, the rest during it
    before = rng.random(n) < 0.75
    created = np.where(
        before,
        start - (rng.random(n) * 5 * 365 * DAY).astype(np.int64),
        start + (rng.random(n) * 0.9 * days * DAY).astype(np.int64),
    )
    present = np.stack(
        [
            np.ones(n, bool),
            rng.random(n) < 0.45,
            has_app,
            member,
            np.ones(n, bool),
            rng.random(n) < 0.3,
        ],
        axis=1,
    )
    flat = present.ravel()
    slots = np.full(n * 6, -1, dtype=np.int64)
    slots[flat] = np.arange(int(flat.sum()))
    anon = slots.reshape(n, 6)
    owner, kind = np.nonzero(present)
    keys = draw.mix64((first + owner).astype(np.uint64) * np.uint64(8) + kind.astype(np.uint64), seed)
    digits = draw.base32_chars(keys)
    prefixes = np.frombuffer("".join(_ANON_PREFIX).encode(), dtype=np.uint8).reshape(6, 3)
    anon_ids = arrow.fixed_strings(np.concatenate([prefixes[kind], digits], axis=1))
    return People(
        n=n,
        first=first,
        ids=arrow.ids("C", first + np.arange(1, n + 1), 8),
        tier=tier,
        age=age,
        pref=pref,
        home=home,
        region=cat.store_region[home],
        lang=lang,
        created=created,
        has_app=has_app,
        member=member,
        anon=anon,
        anon_ids=anon_ids,
    )


def customers_table(
    rng: np.random.Generator, people: People, cat: Catalogue, channel_ids: tuple[str, ...]
) -> pa.Table:
    """The customers rows of a chunk."""
    n = people.n
    gender = draw.choice(rng, _GENDER_P, n)
    income = draw.choice(rng, _INCOME_P, n)
    pref_channel = np.array([channel_ids.index(c) for c in ("web", "app", "store")])[people.pref]
    has_email = rng.random(n) < 0.9
    email = pc.binary_join_element_wise(pc.utf8_lower(people.ids), "@example.com", "")
    email = arrow.take(email, np.where(has_email, np.arange(n), -1))
    countries = pa.array(list(cat.countries))
    return arrow.build(
        "customers",
        n,
        {
            "customer_id": people.ids,
            "created_at": arrow.timestamps(people.created),
            "age_band": arrow.take(pa.array(list(AGE_BANDS)), people.age),
            "gender": arrow.take(pa.array(list(GENDERS)), gender),
            "income_band": arrow.take(pa.array(list(INCOME_BANDS)), income),
            "loyalty_tier": arrow.take(pa.array(list(LOYALTY_TIERS)), people.tier),
            "preferred_channel": arrow.take(pa.array(list(channel_ids)), pref_channel),
            "home_store_id": arrow.take(cat.store_ids, people.home),
            "region": arrow.take(pa.array(list(REGIONS)), people.region),
            "country": arrow.take(countries, cat.store_country[people.home]),
            "language": arrow.take(pa.array(list(LANGUAGES)), people.lang),
            "email": email,
            "name": customer_names(people.first + np.arange(1, n + 1), people.lang, LANGUAGES),
        },
    )


def identities_table(rng: np.random.Generator, people: People, end: int) -> pa.Table:
    """Links from every linked anonymous id to its customer (unlinked cookies stay anonymous)."""
    owner, kind = np.nonzero(people.anon >= 0)
    keep = kind != UNLINKED
    owner, kind = owner[keep], kind[keep]
    anon = people.anon[owner, kind]
    linked = np.minimum(people.created[owner] + (rng.random(len(owner)) * HOUR).astype(np.int64), end - 1)
    return arrow.build(
        "identities",
        len(owner),
        {
            "anonymous_id": arrow.take(people.anon_ids, anon),
            "customer_id": arrow.take(people.ids, owner),
            "id_type": arrow.take(pa.array(list(_ANON_TYPE)), kind),
            "linked_at": arrow.timestamps(linked),
            "source": arrow.take(pa.array(list(_ANON_SOURCE)), kind),
        },
    )
