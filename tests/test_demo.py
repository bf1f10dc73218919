"""The demo retailer generator: shape, data-model conformance, determinism and the planted causes."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxlens.demo import PLANTED, generate, planted_for
from cxlens.demo._tables import ARROW_TYPES
from cxlens.demo.texts import ASPECTS, LANGUAGES, SENTENCES
from cxlens.journey.map import JourneyMap, load_journey_map
from cxlens.model.schema import TABLE_ORDER, TABLES, ColumnType

CUSTOMERS = 3_000


@pytest.fixture(scope="module")
def journey_map() -> JourneyMap:
    return load_journey_map()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Path]]]:
    """One demo data set for the module, generated in two chunks."""
    out = tmp_path_factory.mktemp("demo")
    return out, generate(out, customers=CUSTOMERS, seed=42, chunk_customers=1_500)


@pytest.fixture(scope="module")
def frames(demo: tuple[Path, dict[str, list[Path]]]) -> dict[str, pd.DataFrame]:
    out, _ = demo
    return {t: pd.read_parquet(out / t) for t in TABLE_ORDER}


def _resolve(df: pd.DataFrame, identities: pd.DataFrame) -> pd.Series:
    """The customer behind each row: its customer_id, or the owner of its anonymous id."""
    owner = identities.set_index("anonymous_id")["customer_id"]
    return df["customer_id"].fillna(df["anonymous_id"].map(owner))


def _diff(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """Difference of means ``a - b`` and its standard error (tolerances scale with the sample)."""
    return float(a.mean() - b.mean()), float(np.sqrt(a.var() / len(a) + b.var() / len(b)))


def _violations(name: str, df: pd.DataFrame, journey_map: JourneyMap) -> list[str]:
    """Every way ``df`` breaks the data-model rules of table ``name`` (empty when it conforms)."""
    table = TABLES[name]
    problems = []
    if list(df.columns) != table.column_names:
        problems.append(f"columns {list(df.columns)} != {table.column_names}")
        return problems
    for col in table.columns:
        values = df[col.name]
        present = values.dropna()
        if col.required and values.isna().any():
            problems.append(f"{col.name}: {int(values.isna().sum())} nulls in a required column")
        allowed = col.allowed or (
            journey_map.allowed(col.allowed_from_journey) if col.allowed_from_journey else None
        )
        if allowed is not None and not present.isin(allowed).all():
            problems.append(
                f"{col.name}: values outside {allowed}: {sorted(set(present) - set(allowed))[:5]}"
            )
        if col.min is not None and (present < col.min).any():
            problems.append(f"{col.name}: values below {col.min}")
        if col.max is not None and (present > col.max).any():
            problems.append(f"{col.name}: values above {col.max}")
        limit = col.string_limit
        if limit is not None and len(present) and present.str.len().max() > limit:
            problems.append(f"{col.name}: strings longer than {limit}")
    if df.duplicated(list(table.primary_key)).any():
        problems.append(f"duplicate primary keys {table.primary_key}")
    for rule in table.row_rules:
        if df[list(rule.any_of)].isna().all(axis=1).any():
            problems.append(f"row rule {rule.name}: {rule.description}")
    return problems


# --- shape and data model ----------------------------------------------------------------------


def test_writes_part_files_for_every_table(demo: tuple[Path, dict[str, list[Path]]]) -> None:
    out, files = demo
    assert list(files) == list(TABLE_ORDER)
    for table, paths in files.items():
        assert paths, table
        for i, path in enumerate(paths):
            assert path == out / table / f"part-{i:05d}.parquet"
            assert path.exists()
    assert len(files["customers"]) == 2
    assert len(files["stores"]) == 1


@pytest.mark.parametrize("table", TABLE_ORDER)
def test_parquet_schema_is_the_data_model(demo: tuple[Path, dict[str, list[Path]]], table: str) -> None:
    _, files = demo
    for path in files[table]:
        schema = pq.read_schema(path)
        assert schema.names == TABLES[table].column_names
        for col in TABLES[table].columns:
            field = schema.field(col.name)
            assert field.type.equals(ARROW_TYPES[col.type]), (col.name, field.type)
            assert field.nullable is not col.required, col.name
            if col.type is ColumnType.TIMESTAMP:
                assert field.type.tz == "UTC"


@pytest.mark.parametrize("table", TABLE_ORDER)
def test_rows_meet_the_data_model(
    frames: dict[str, pd.DataFrame], journey_map: JourneyMap, table: str
) -> None:
    assert len(frames[table]) > 0
    assert _violations(table, frames[table], journey_map) == []


def test_checker_catches_broken_rows(frames: dict[str, pd.DataFrame], journey_map: JourneyMap) -> None:
    bad = frames["feedback"].head(3).copy()
    bad.loc[bad.index[0], "nps"] = 11
    bad.loc[bad.index[1], "feedback_id"] = bad["feedback_id"].iloc[2]
    problems = _violations("feedback", bad, journey_map)
    assert any("above 10" in p for p in problems)
    assert any("duplicate" in p for p in problems)


def test_events_follow_the_journey_map(frames: dict[str, pd.DataFrame], journey_map: JourneyMap) -> None:
    events = frames["events"]
    expected = events["event_type"].map(journey_map.touchpoint_of_event_type)
    assert expected.notna().all()
    assert (events["touchpoint"] == expected).all()
    channels = {t.id: set(t.channels) for s in journey_map.stages for t in s.touchpoints}
    pairs = events[["touchpoint", "channel"]].drop_duplicates()
    assert all(ch in channels[tp] for tp, ch in pairs.itertuples(index=False))
    stages = set(events["touchpoint"].map(journey_map.stage_of))
    assert stages == {s.id for s in journey_map.stages}
    assert {"web", "app", "store", "call", "chat", "courier"} <= set(events["channel"])


def test_references_resolve(frames: dict[str, pd.DataFrame]) -> None:
    for name, table in TABLES.items():
        for col in table.columns:
            if col.references is None:
                continue
            parent = TABLES[col.references]
            keys = set(frames[col.references][parent.primary_key[0]])
            values = frames[name][col.name].dropna()
            assert values.isin(keys).all(), f"{name}.{col.name} -> {col.references}"
    orders = set(frames["orders"]["order_id"])
    assert set(frames["order_items"]["order_id"]) == orders


def test_rows_lie_in_the_period(frames: dict[str, pd.DataFrame]) -> None:
    start = pd.Timestamp(PLANTED.start, tz="UTC")
    end = pd.Timestamp(PLANTED.end, tz="UTC")
    for table, col in (("events", "occurred_at"), ("feedback", "submitted_at"), ("orders", "ordered_at")):
        ts = frames[table][col]
        assert ts.min() >= start, table
        assert ts.max() < end, table
    delivered = frames["orders"]["delivered_at"].dropna()
    assert delivered.max() < end


def test_orders_add_up(frames: dict[str, pd.DataFrame]) -> None:
    items = frames["order_items"]
    orders = frames["orders"].set_index("order_id")
    gross = (items["quantity"] * items["unit_price"]).round(2).groupby(items["order_id"]).sum()
    discount = items["discount"].fillna(0).groupby(items["order_id"]).sum()
    assert np.allclose(orders.loc[gross.index, "discount_amount"], discount, atol=0.011)
    assert np.allclose(orders.loc[gross.index, "total_amount"], gross - discount, atol=0.011)
    assert (items["returned_quantity"] <= items["quantity"]).all()
    assert (orders["currency"] == PLANTED.currency).all()
    assert orders["promotion_id"].notna().mean() > 0.05
    delivered = orders[orders["status"] == "delivered"]
    assert delivered["delivered_at"].notna().all()
    assert (orders.loc[orders["fulfilment"] != "delivery", "promised_delivery_at"].isna()).all()
    returned = set(items.loc[items["returned_quantity"] > 0, "order_id"])
    assert set(orders.index[orders["status"] == "returned"]) <= returned


def test_catalogue_content(frames: dict[str, pd.DataFrame]) -> None:
    stores, products, promotions = frames["stores"], frames["products"], frames["promotions"]
    physical = stores[stores["format"] != "online"]
    assert 40 <= len(physical) <= 60
    assert physical["region"].nunique() == 5
    assert set(PLANTED.queue_stores) | set(PLANTED.training_stores) <= set(physical["store_id"])
    assert not set(PLANTED.queue_stores) & set(PLANTED.training_stores)
    assert len(products) >= 200
    assert {"grocery", "fresh", "electronics", "home", "fashion", "beauty"} == set(products["category"])
    assert set(PLANTED.poor_quality_products) <= set(products["product_id"])
    assert {"charm_price", "spend_get", "limited_time", "bundle", "gift_card"} <= set(promotions["type"])
    spend_get = promotions[promotions["type"] == "spend_get"].iloc[0]
    assert (spend_get["threshold"], spend_get["value"]) == (100.0, 200.0)
    assert (promotions.loc[promotions["type"] == "charm_price", "value"] == 9.9).all()


def test_customers_content(frames: dict[str, pd.DataFrame]) -> None:
    customers = frames["customers"]
    assert len(customers) == CUSTOMERS
    assert set(customers["language"]) == set(LANGUAGES)
    assert customers["loyalty_tier"].nunique() == 5
    assert set(customers["preferred_channel"]) == {"web", "app", "store"}
    assert customers["home_store_id"].notna().all()


# --- identity stitching -------------------------------------------------------------------------


def test_anonymous_events_stitch_through_identities(frames: dict[str, pd.DataFrame]) -> None:
    events, identities = frames["events"], frames["identities"]
    anonymous_only = events[events["customer_id"].isna()]
    assert len(anonymous_only) > 0.1 * len(events)
    resolved = _resolve(anonymous_only, identities)
    assert 0.8 < resolved.notna().mean() < 1.0  # some cookies are never linked
    assert set(identities["id_type"]) == {"cookie", "device", "loyalty_card", "payment_token"}
    # a web session starts anonymous and carries the customer after login at checkout
    web = events[(events["channel"] == "web") & events["session_id"].notna()]
    mixed = web.groupby("session_id")["customer_id"].agg(lambda s: s.isna().any() and s.notna().any())
    assert mixed.any()
    guests = frames["orders"]["customer_id"].isna()
    assert 0 < guests.mean() < 0.5
    assert _resolve(frames["orders"], identities).notna().all()


# --- determinism and chunking -------------------------------------------------------------------


def _contents(files: dict[str, list[Path]]) -> dict[str, list[bytes]]:
    return {t: [p.read_bytes() for p in paths] for t, paths in files.items()}


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", customers=400, seed=7, chunk_customers=250)
    b = generate(tmp_path / "b", customers=400, seed=7, chunk_customers=250)
    assert _contents(a) == _contents(b)


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", customers=400, seed=7)
    b = generate(tmp_path / "b", customers=400, seed=8)
    for table in ("customers", "identities", "orders", "events", "feedback"):
        assert not pq.read_table(a[table][0]).equals(pq.read_table(b[table][0])), table
    assert pq.read_table(a["stores"][0]).equals(pq.read_table(b["stores"][0]))


def test_chunks_smaller_than_the_customer_count_keep_keys_unique(tmp_path: Path) -> None:
    files = generate(tmp_path / "demo", customers=700, seed=3, chunk_customers=200)
    assert len(files["events"]) == 4
    for table in ("customers", "identities", "orders", "order_items", "events", "feedback"):
        df = pa.concat_tables([pq.read_table(p) for p in files[table]]).to_pandas()
        assert not df.duplicated(list(TABLES[table].primary_key)).any(), table
    customers = pa.concat_tables([pq.read_table(p) for p in files["customers"]]).to_pandas()
    assert len(customers) == 700
    sessions = pa.concat_tables(
        [pq.read_table(p, columns=["session_id", "customer_id"]) for p in files["events"]]
    )
    per_session = sessions.to_pandas().dropna().groupby("session_id")["customer_id"].nunique()
    assert (per_session == 1).all()


def test_rerun_replaces_stale_parts(tmp_path: Path) -> None:
    generate(tmp_path / "demo", customers=300, chunk_customers=100)
    files = generate(tmp_path / "demo", customers=300, chunk_customers=300)
    assert sorted((tmp_path / "demo" / "events").glob("part-*.parquet")) == files["events"]


def test_progress_reports_customers_done(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    generate(
        tmp_path / "demo", customers=500, chunk_customers=200, progress=lambda s, n: calls.append((s, n))
    )
    assert calls == [("catalogue", 0), ("customers", 200), ("customers", 400), ("customers", 500)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "customers"),
        ({"chunk_customers": 0}, "chunk_customers"),
        ({"seed": -1}, "seed"),
        ({"days": 10}, "28 days"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "demo", **kwargs)  # type: ignore[arg-type]


def test_shorter_period_moves_the_planted_dates(tmp_path: Path) -> None:
    start = date(2024, 3, 1)
    planted = planted_for(start, 120)
    assert start < planted.training_date < planted.end == start + timedelta(days=120)
    files = generate(tmp_path / "demo", customers=300, start=start, days=120)
    events = pq.read_table(files["events"][0]).to_pandas()
    assert events["occurred_at"].min() >= pd.Timestamp(start, tz="UTC")
    assert events["occurred_at"].max() < pd.Timestamp(planted.end, tz="UTC")


def test_planted_is_frozen_and_serialisable() -> None:
    with pytest.raises(AttributeError):
        PLANTED.showrooming_share = 0.5  # type: ignore[misc]
    d = PLANTED.as_dict()
    assert d["training_date"] == PLANTED.training_date.isoformat()
    assert d["late_delivery_nps_effect"] == pytest.approx(-2.5)
    assert d["queue_csat_effect"] < 0 < d["training_csat_effect"]


# --- planted causes -----------------------------------------------------------------------------


def test_late_delivery_lowers_nps(frames: dict[str, pd.DataFrame]) -> None:
    orders, feedback = frames["orders"], frames["feedback"]
    delivered = orders[(orders["fulfilment"] == "delivery") & orders["delivered_at"].notna()].copy()
    delivered["late"] = delivered["delivered_at"] > delivered["promised_delivery_at"]
    assert 0.08 < delivered["late"].mean() < 0.25
    surveys = feedback[(feedback["touchpoint"] == "delivery") & feedback["nps"].notna()]
    surveys = surveys.merge(delivered[["order_id", "late"]], on="order_id")
    late, on_time = surveys.loc[surveys["late"], "nps"], surveys.loc[~surveys["late"], "nps"]
    assert len(late) > 100
    diff, se = _diff(late, on_time)
    assert diff == pytest.approx(PLANTED.late_delivery_nps_effect, abs=4 * se)
    assert (late <= 6).mean() > 0.4 > (on_time <= 6).mean()


def test_late_delivery_comments_are_negative_about_delivery(frames: dict[str, pd.DataFrame]) -> None:
    negative = {s for lang in LANGUAGES for s in SENTENCES[lang]["delivery"][1]}
    orders, feedback = frames["orders"], frames["feedback"]
    late = orders.loc[orders["delivered_at"] > orders["promised_delivery_at"], "order_id"]
    comments = feedback[(feedback["touchpoint"] == "delivery") & feedback["text"].notna()]
    says_late = comments["text"].map(lambda t: any(s in t for s in negative))
    is_late = comments["order_id"].isin(late)
    assert says_late[is_late].mean() > PLANTED.late_negative_comment_share - 0.1
    assert says_late[~is_late].mean() < 0.2


def test_late_delivery_drives_customers_away(frames: dict[str, pd.DataFrame]) -> None:
    orders = frames["orders"].copy()
    orders["who"] = _resolve(orders, frames["identities"])
    orders = orders.sort_values("ordered_at")
    delivered = orders[(orders["fulfilment"] == "delivery") & orders["delivered_at"].notna()].copy()
    delivered["late"] = delivered["delivered_at"] > delivered["promised_delivery_at"]
    first = delivered.groupby("who").first()
    first = first[first["ordered_at"] < pd.Timestamp("2025-10-01", tz="UTC")]
    last_order = orders.groupby("who")["ordered_at"].max()
    came_back = last_order.loc[first.index] > first["ordered_at"]
    rate = came_back.groupby(first["late"]).mean()
    assert rate[False] - rate[True] > 0.1


def test_queue_stores_have_lower_checkout_csat(frames: dict[str, pd.DataFrame]) -> None:
    fb = frames["feedback"]
    checkout = fb[(fb["touchpoint"] == "checkout_queue") & fb["csat"].notna()]
    in_queue = checkout["store_id"].isin(PLANTED.queue_stores)
    assert in_queue.sum() > 100
    diff, se = _diff(checkout.loc[in_queue, "csat"], checkout.loc[~in_queue, "csat"])
    assert diff == pytest.approx(PLANTED.queue_csat_effect, abs=4 * se)
    waits = frames["events"].query("event_type == 'queue_join'")
    slow = waits["store_id"].isin(PLANTED.queue_stores)
    assert waits.loc[slow, "value"].mean() > 2.5 * waits.loc[~slow, "value"].mean()


def _did(visits: pd.DataFrame, treated_stores: tuple[str, ...] | list[str]) -> tuple[float, float]:
    """Difference-in-differences of mean CSAT (treated stores, after the date) and its standard error."""
    treated = visits["store_id"].isin(treated_stores)
    cells = visits.groupby([treated, visits["after"]])["csat"].agg(["mean", "var", "count"])
    m = cells["mean"]
    did = (m[(True, True)] - m[(True, False)]) - (m[(False, True)] - m[(False, False)])
    return float(did), float(np.sqrt((cells["var"] / cells["count"]).sum()))


def test_staff_training_raises_staff_csat_only_where_trained(frames: dict[str, pd.DataFrame]) -> None:
    fb = frames["feedback"]
    visits = fb[(fb["touchpoint"] == PLANTED.training_touchpoint) & fb["csat"].notna()].copy()
    visits["after"] = visits["submitted_at"] >= pd.Timestamp(PLANTED.training_date, tz="UTC")
    did, se = _did(visits, PLANTED.training_stores)
    assert did == pytest.approx(PLANTED.training_csat_effect, abs=4 * se)
    assert did > 3 * se
    control = visits[~visits["store_id"].isin(PLANTED.training_stores)]
    change, se = _diff(control.loc[control["after"], "csat"], control.loc[~control["after"], "csat"])
    assert abs(change) < 4 * se
    # placebo: pretend other stores were trained on the same date
    stores = sorted(set(control["store_id"]))
    for placebo in (stores[0::5], stores[2::5]):
        did, se = _did(control, placebo)
        assert abs(did) < 4 * se


def test_showrooming_and_webrooming_shares_are_recoverable(frames: dict[str, pd.DataFrame]) -> None:
    p = PLANTED
    events, orders, identities = frames["events"], frames["orders"].copy(), frames["identities"]
    window = pd.Timedelta(days=p.journey_window_days)

    def shares(stitch: bool) -> tuple[float, float]:
        ev = events.assign(who=_resolve(events, identities) if stitch else events["customer_id"])
        od = orders.assign(who=_resolve(orders, identities) if stitch else orders["customer_id"])

        def researched(touchpoints: tuple[str, ...], channels: tuple[str, ...]) -> pd.Series:
            research = ev[ev["touchpoint"].isin(touchpoints) & ev["channel"].isin(channels)]
            pairs = (
                od[["order_id", "who", "ordered_at"]]
                .dropna()
                .merge(research[["who", "occurred_at"]], on="who")
            )
            hit = pairs[
                (pairs["occurred_at"] <= pairs["ordered_at"])
                & (pairs["occurred_at"] >= pairs["ordered_at"] - window)
            ]
            return od["order_id"].isin(hit["order_id"])

        show = od["channel"].isin(p.online_channels) & researched(
            p.store_research_touchpoints, p.store_channels
        )
        web = od["channel"].isin(p.store_channels) & researched(
            p.online_research_touchpoints, p.online_channels
        )
        return float(show.mean()), float(web.mean())

    show, web = shares(stitch=True)
    assert show == pytest.approx(p.showrooming_share, abs=0.025)
    assert web == pytest.approx(p.webrooming_share, abs=0.025)
    show_raw, web_raw = shares(stitch=False)
    assert show_raw < show - 0.01
    assert web_raw < web - 0.05


def test_journeys_cover_abandoned_carts_returns_and_repeat_purchases(frames: dict[str, pd.DataFrame]) -> None:
    events = frames["events"]
    carts = events[events["event_type"] == "add_to_cart"]
    paid = set(events.loc[events["event_type"] == "payment", "session_id"])
    assert (~carts["session_id"].isin(paid)).sum() > 100
    assert {"return_request", "return_received", "repeat_purchase", "delivered", "delivery_failed"} <= set(
        events["event_type"]
    )
    assert (frames["order_items"]["returned_quantity"] > 0).sum() > 50


# --- feedback content ---------------------------------------------------------------------------

_SCRIPTS = {
    "zh": re.compile(r"[\u4e00-\u9fff]"),
    "ja": re.compile(r"[\u3040-\u30ff]"),
    "ko": re.compile(r"[\uac00-\ud7af]"),
    "ru": re.compile(r"[\u0400-\u04ff]"),
    "pt": re.compile(r"[ãõçéáíóú]"),
    "en": re.compile(r"^[\x00-\x7f]+$"),
}


def test_feedback_text_in_all_six_languages(frames: dict[str, pd.DataFrame]) -> None:
    texts = frames["feedback"].dropna(subset=["text"])
    assert set(texts["language"]) == set(LANGUAGES)
    for lang, script in _SCRIPTS.items():
        sample = texts.loc[texts["language"] == lang, "text"]
        assert sample.map(lambda t, s=script: bool(s.search(t))).mean() > 0.5, lang


def test_feedback_sources_and_touchpoints(frames: dict[str, pd.DataFrame]) -> None:
    fb = frames["feedback"]
    assert set(fb["source"]) == {"survey", "review", "social", "call", "chat", "email"}
    surveys = fb[fb["source"] == "survey"]
    assert {"checkout_queue", "delivery", "support_contact", "store_visit", "checkout"} == set(
        surveys["touchpoint"]
    )
    assert surveys["survey_id"].notna().all()
    reviews = fb[(fb["source"] == "review") & fb["brand"].isna()]
    assert reviews[["rating", "title", "text", "product_id"]].notna().all().all()
    transcripts = fb[fb["source"].isin(["call", "chat"])]
    assert transcripts["text"].str.count("\n").eq(2).all()


def test_competitor_reviews_are_present(frames: dict[str, pd.DataFrame]) -> None:
    fb = frames["feedback"]
    theirs = fb[fb["brand"].notna()]
    assert set(theirs["brand"]) == set(PLANTED.competitor_brands)
    reviews = theirs[theirs["source"] == "review"]
    assert reviews.groupby("brand").size().min() > 50
    assert reviews[["rating", "title", "text"]].notna().all().all()
    assert theirs["customer_id"].isna().all()


def test_poor_quality_products_get_low_ratings(frames: dict[str, pd.DataFrame]) -> None:
    reviews = frames["feedback"].query("source == 'review' and brand.isna()", engine="python")
    poor = reviews["product_id"].isin(PLANTED.poor_quality_products)
    assert reviews.loc[poor, "rating"].mean() < reviews.loc[~poor, "rating"].mean() - 1.0


def test_every_aspect_has_sentences_in_every_language() -> None:
    for lang in LANGUAGES:
        assert set(SENTENCES[lang]) == set(ASPECTS)
        for positive, negative in SENTENCES[lang].values():
            assert len(positive) == len(negative) == 3
            assert not set(positive) & set(negative)


# --- scale --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_size_has_the_documented_volume(tmp_path: Path) -> None:
    # How fast it generates is for a benchmark, not a test: no wall-clock assertion on a shared machine.
    files = generate(tmp_path / "demo")
    events = sum(pq.read_metadata(p).num_rows for p in files["events"])
    assert 30 * 50_000 <= events <= 50 * 50_000
