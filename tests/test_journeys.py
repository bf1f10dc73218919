"""Journey analytics equal an independent pandas computation on small random data, and agree on Spark.

The data: 40 customers, anonymous ids (some linked, one linked to two customers, some never
linked), 900 events over 40 days, 120 orders and 300 feedback rows, all drawn with a fixed seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cxlens.analyse import journey_experience as jx
from cxlens.analyse import journey_funnels as jf
from cxlens.analyse import journey_patterns as jp
from cxlens.analyse import journeys as jr
from cxlens.analyse.journey_peak_end import PeakEndComparison
from cxlens.journey.map import load_journey_map
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree

JM = load_journey_map()
#: (event_type, touchpoint, channel) the random events are drawn from.
KINDS = [
    ("product_view", "product_page", "web"),
    ("product_view", "product_page", "app"),
    ("site_search", "site_search", "kiosk"),
    ("store_visit", "store_visit", "store"),
    ("shelf_browse", "shelf_browse", "store"),
    ("add_to_cart", "add_to_cart", "web"),
    ("checkout", "checkout", "web"),
    ("payment", "payment", "web"),
    ("pos_purchase", "checkout_queue", "store"),
    ("delivered", "delivery", "courier"),
    ("support_call", "support_contact", "call"),
]
GAP = timedelta(days=2)


def _make(seed: int = 3) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2025-03-01")
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i:02d}" for i in range(40)],
            "loyalty_tier": rng.choice(["none", "bronze", "gold"], 40),
        }
    )
    anon = [f"A{i:02d}" for i in range(60)]
    linked = anon[:45]
    identities = pd.DataFrame(
        {
            "anonymous_id": [*linked, "A00"],
            "customer_id": [*(f"C{i % 40:02d}" for i in range(45)), "C39"],
            "id_type": "cookie",
        }
    )
    n = 900
    is_anon = rng.random(n) < 0.45
    who_c = rng.choice(customers["customer_id"], n)
    who_a = rng.choice(anon, n)
    kind = rng.integers(0, len(KINDS), n)
    secs = rng.integers(0, 40 * 86_400, n)
    events = pd.DataFrame(
        {
            "event_id": [f"E{i:04d}" for i in range(n)],
            "occurred_at": t0
            + pd.to_timedelta(secs, unit="s")
            + pd.to_timedelta(rng.integers(0, 999, n), "ms"),
            "customer_id": np.where(is_anon, None, who_c),
            "anonymous_id": np.where(is_anon, who_a, None),
            "channel": [KINDS[k][2] for k in kind],
            "touchpoint": [KINDS[k][1] for k in kind],
            "event_type": [KINDS[k][0] for k in kind],
        }
    )
    events.loc[events.index[:6], "occurred_at"] = t0  # ties broken by event_id
    m = 120
    o_anon = rng.random(m) < 0.3
    orders = pd.DataFrame(
        {
            "order_id": [f"O{i:03d}" for i in range(m)],
            "customer_id": np.where(o_anon, None, rng.choice(customers["customer_id"], m)),
            "anonymous_id": np.where(o_anon, rng.choice(anon, m), None),
            "ordered_at": t0 + pd.to_timedelta(rng.integers(0, 40 * 86_400, m), unit="s"),
            "channel": rng.choice(["web", "app", "store", "call"], m),
            "total_amount": 10.0,
        }
    )
    f = 300
    fb_tp = rng.choice(["store_visit", "checkout_queue", "delivery", "support_contact", "checkout"], f)

    def score(lo: int, hi: int, p: float) -> pd.Series:
        return pd.Series(rng.integers(lo, hi + 1, f), dtype="Int64").mask(rng.random(f) > p)

    feedback = pd.DataFrame(
        {
            "feedback_id": [f"F{i:03d}" for i in range(f)],
            "submitted_at": t0 + pd.to_timedelta(rng.integers(0, 40 * 86_400, f), unit="s"),
            "source": "survey",
            "customer_id": rng.choice(customers["customer_id"], f),
            "order_id": rng.choice(orders["order_id"], f),
            "touchpoint": fb_tp,
            "brand": np.where(rng.random(f) < 0.1, "Rival", None),
            "nps": score(0, 10, 0.6),
            "csat": score(1, 5, 0.7),
            "ces": score(1, 7, 0.4),
            "rating": score(1, 5, 0.2),
        }
    )
    feedback.loc[feedback[["nps", "csat", "ces", "rating"]].isna().all(axis=1), "csat"] = 3
    return {
        "customers": customers,
        "identities": identities,
        "orders": orders,
        "events": events,
        "feedback": feedback,
    }


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return _make()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, data: dict[str, pd.DataFrame]) -> Iterator[Workspace]:
    w = Workspace(tmp_path_factory.mktemp("journeys") / "store")
    for name in ("customers", "identities", "orders", "events", "feedback"):
        w.ingest(name, data[name])
    yield w
    w.close()


# -- independent pandas references ---------------------------------------------------------------


def _actor(df: pd.DataFrame, identities: pd.DataFrame) -> pd.Series:
    link = identities.groupby("anonymous_id")["customer_id"].min()
    return df["customer_id"].fillna(df["anonymous_id"].map(link)).fillna(df["anonymous_id"])


def _journeys_pd(data: dict[str, pd.DataFrame], gap: timedelta = GAP) -> pd.DataFrame:
    ev = data["events"].copy()
    ev["actor_id"] = _actor(ev, data["identities"])
    ev = ev.sort_values(["actor_id", "occurred_at", "event_id"]).reset_index(drop=True)
    new = ev["actor_id"].ne(ev["actor_id"].shift()) | (ev["occurred_at"] - ev["occurred_at"].shift() > gap)
    ev["journey_no"] = new.astype(int).groupby(ev["actor_id"]).cumsum()
    ev["journey_id"] = ev["actor_id"] + "#" + ev["journey_no"].astype(str)
    ev["stage"] = ev["touchpoint"].map(JM.stage_of)
    return ev


def _states_pd(ev: pd.DataFrame, level: str) -> pd.DataFrame:
    ev = ev.copy()
    ev["state"] = ev[level]
    keep = ev["journey_id"].ne(ev["journey_id"].shift()) | ev["state"].ne(ev["state"].shift())
    st = ev[keep].copy()
    st["step"] = st.groupby("journey_id").cumcount() + 1
    st["next_state"] = st.groupby("journey_id")["state"].shift(-1)
    return st


RULES = jr.JourneyRules(inactivity_gap=GAP)


def test_stitching_and_journey_split_match_pandas(ws: Workspace, data: dict[str, pd.DataFrame]) -> None:
    got = jr.journey_events(ws, RULES).to_pandas().set_index("event_id").sort_index()
    ref = _journeys_pd(data).set_index("event_id").sort_index()
    assert (got["actor_id"] == ref["actor_id"]).all()
    assert (got["journey_id"] == ref["journey_id"]).all()
    assert got.loc["E0000", "actor_id"] != "A00" or got.loc["E0000", "customer_id"] is None
    per = jr.journeys(ws, RULES).to_pandas().set_index("journey_id").sort_index()
    first = ref.reset_index().sort_values(["occurred_at", "event_id"]).groupby("journey_id").first()
    assert list(per.index) == sorted(ref["journey_id"].unique())
    assert (per["first_touchpoint"] == first["touchpoint"]).all()
    assert (per["events"] == ref.groupby("journey_id").size()).all()
    bought = ref["event_type"].isin(RULES.purchase_event_types).groupby(ref["journey_id"]).any()
    assert (per["purchased"] == bought).all()
    summary = jr.stitching_summary(ws)
    assert summary.attrs["ambiguous_ids"] == 1  # A00 is linked to C00 and C39: C00 wins
    all_row = summary[summary["actor_source"] == "(all)"].iloc[0]
    assert all_row["actors"] == ref["actor_id"].nunique()
    assert all_row["ids_before"] > all_row["actors"]


def test_split_after_purchase_and_start_events(ws: Workspace, data: dict[str, pd.DataFrame]) -> None:
    rules = jr.JourneyRules(inactivity_gap=GAP, split_after_purchase=True, start_event_types=("store_visit",))
    got = jr.journey_events(ws, rules).to_pandas().set_index("event_id").sort_index()
    ev = _journeys_pd(data)
    buy = ev["event_type"].isin(rules.purchase_event_types)
    first = ev["actor_id"].ne(ev["actor_id"].shift())
    new = (
        first
        | (ev["occurred_at"] - ev["occurred_at"].shift() > GAP)
        | (ev["event_type"] == "store_visit")
        | (buy.shift(fill_value=False) & ~first)
    )
    ev["journey_no"] = new.astype(int).groupby(ev["actor_id"]).cumsum()
    ref = ev.set_index("event_id").sort_index()
    assert (got["journey_no"] == ref["journey_no"]).all()


@pytest.mark.parametrize("level", ["touchpoint", "stage"])
def test_transitions_step_matrix_and_paths_match_pandas(
    ws: Workspace, data: dict[str, pd.DataFrame], level: Any
) -> None:
    st = _states_pd(_journeys_pd(data), level)
    ref = st.assign(next_state=st["next_state"].fillna(jr.END)).groupby(["state", "next_state"]).size()
    got = jr.transitions(ws, level, RULES).set_index(["state", "next_state"])["n"]
    assert got.sort_index().to_dict() == ref.sort_index().to_dict()
    shares = jr.transitions(ws, level, RULES).groupby("state")["share"].sum()
    assert np.allclose(shares, 1.0)
    matrix = jr.transition_matrix(jr.transitions(ws, level, RULES))
    assert np.allclose(matrix.sum(axis=1), 1.0)

    sm = jr.step_matrix(ws, level, RULES, max_steps=4)
    journeys = st["journey_id"].nunique()
    for step in range(1, 5):
        at = st[st["step"] == step]["state"].value_counts().to_dict()
        ended = journeys - sum(at.values())
        if ended:
            at[jr.END] = ended
        row = sm[sm["step"] == step].set_index("state")["n"].to_dict()
        assert row == at
    assert np.allclose(sm.groupby("step")["share"].sum(), 1.0)

    paths = st.groupby("journey_id")["state"].apply(list)
    text = paths.map(lambda s: " > ".join(s[:3]) + (f" > {jr.MORE}" if len(s) > 3 else ""))
    counts = text.value_counts()
    counts = counts.rename_axis("path").reset_index(name="n")
    top = jr.top_paths(ws, level, RULES, k=5, max_steps=3)
    assert top.total_journeys == journeys
    assert top.distinct_paths == len(counts)
    assert top.truncated_journeys == int((paths.map(len) > 3).sum())
    assert list(top.paths["n"]) == sorted(counts["n"], reverse=True)[:5]
    for row in top.paths.itertuples():
        assert counts.set_index("path").loc[row.path, "n"] == row.n
    assert top.left_out_paths == len(counts) - 5
    assert top.left_out_journeys == journeys - int(top.paths["n"].sum())
    assert f"{top.left_out_paths:,} paths" in top.note
    assert "cut" in top.note

    with jr.journey_states(ws, level, RULES).cache() as states:  # computed once, reused
        same = jr.top_paths(ws, level, RULES, k=5, max_steps=3, states=states)
        pd.testing.assert_frame_equal(same.paths, top.paths)
        pd.testing.assert_frame_equal(jr.step_matrix(ws, level, max_steps=4, states=states), sm)
        pd.testing.assert_frame_equal(
            jr.transitions(ws, level, states=states), jr.transitions(ws, level, RULES)
        )

    links = jr.sankey_links(ws, level, RULES, max_steps=3)
    pairs = st[st["step"] < 3].assign(target=lambda d: d["next_state"].fillna(jr.END))
    ref_links = pairs.groupby(["step", "state", "target"]).size()
    assert links.set_index(["step", "source", "target"])["n"].sort_index().to_dict() == ref_links.to_dict()


def _funnel_pd(ev: pd.DataFrame, steps: list[str]) -> pd.DataFrame:
    rows = []
    for jid, g in ev.groupby("journey_id"):
        g = g.sort_values(["occurred_at", "event_id"])
        times: list[int] = []
        prev = None
        for step in steps:
            hit = g[(g["touchpoint"] == step) | (g["event_type"] == step) | (g["stage"] == step)]
            secs = (hit["occurred_at"].astype("int64") // 10**9).to_numpy()
            if prev is not None:
                secs = secs[secs >= prev]
            if not len(secs):
                break
            prev = int(secs.min())
            times.append(prev)
        if times:
            first = g[
                (g["touchpoint"] == steps[0]) | (g["event_type"] == steps[0]) | (g["stage"] == steps[0])
            ]
            rows.append({"journey_id": jid, "channel": first["channel"].iloc[0], "times": times})
    return pd.DataFrame(rows)


def test_funnel_and_time_to_convert_match_pandas(ws: Workspace, data: dict[str, pd.DataFrame]) -> None:
    steps = ["consideration", "purchase", "delivery"]
    ref = _funnel_pd(_journeys_pd(data), steps)
    got = jf.funnel(ws, steps, rules=RULES)
    reached = [int((ref["times"].map(len) >= i).sum()) for i in range(1, 4)]
    assert list(got["journeys"]) == reached
    assert list(got["drop_off"]) == [0, *(a - b for a, b in itertools.pairwise(reached))]
    assert np.allclose(got["conversion"], np.array(reached) / reached[0])
    hours = ref["times"].map(lambda t: (t[-1] - t[0]) / 3600 if len(t) == 3 else np.nan).dropna()
    assert got["mean_hours"].iloc[-1] == pytest.approx(hours.mean())

    by = jf.funnel(ws, steps, by=["channel"], rules=RULES)
    for channel, part in by.groupby("channel"):
        sub = ref[ref["channel"] == channel]
        assert list(part["journeys"]) == [int((sub["times"].map(len) >= i).sum()) for i in range(1, 4)]

    ttc = jf.time_to_convert(ws, steps, rules=RULES)
    assert ttc["n"].sum() == len(hours)
    secs = hours * 3600
    assert ttc.set_index("bin").loc["< 1 h", "n"] == int((secs < 3600).sum())
    assert ttc.set_index("bin").loc["1–3 d", "n"] == int(((secs >= 86_400) & (secs < 3 * 86_400)).sum())


def test_funnel_rejects_unknown_steps(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="unknown funnel step"):
        jf.funnel(ws, ["product_page", "teleport"])
    with pytest.raises(ValueError, match="unknown funnel dimension"):
        jf.funnel(ws, ["product_page"], by=["shoe_size"])


def _patterns_pd(data: dict[str, pd.DataFrame], days: int = 7) -> pd.DataFrame:
    ev = data["events"].assign(actor_id=_actor(data["events"], data["identities"]))
    od = data["orders"].assign(actor_id=_actor(data["orders"], data["identities"]))
    research = {t.id for t in JM.stages[1].touchpoints}
    online = {c.id for c in JM.channels if c.kind == "online"}
    store = {c.id for c in JM.channels if c.kind == "offline"}
    rows = []
    for o in od.itertuples():
        w = ev[(ev["actor_id"] == o.actor_id) & (ev["occurred_at"] <= o.ordered_at)]
        w = w[w["occurred_at"] >= o.ordered_at - pd.Timedelta(days=days)]
        res = w[w["touchpoint"].isin(research)]
        on, st = res["channel"].isin(online).any(), res["channel"].isin(store).any()
        if o.channel in online:
            pattern = "showrooming" if st else "online_only"
        elif o.channel in store:
            pattern = "webrooming" if on else "store_only"
        else:
            pattern = "mixed" if on and st else "other"
        first = w.sort_values(["occurred_at", "event_id"]).head(1)
        rows.append(
            {
                "order_id": o.order_id,
                "pattern": pattern,
                "first_channel": first["channel"].iloc[0] if len(first) else jp.NO_TOUCH,
            }
        )
    return pd.DataFrame(rows)


def test_order_patterns_match_pandas(ws: Workspace, data: dict[str, pd.DataFrame]) -> None:
    ref = _patterns_pd(data).set_index("order_id").sort_index()
    got = jp.order_patterns(ws).to_pandas().set_index("order_id").sort_index()
    assert (got["pattern"] == ref["pattern"]).all()
    assert (got["first_channel"] == ref["first_channel"]).all()
    assert ref["pattern"].nunique() >= 4
    summary = jp.pattern_summary(ws).set_index("pattern")
    counts = ref["pattern"].value_counts()
    assert summary["orders"].to_dict() == {p: int(counts.get(p, 0)) for p in jp.PATTERNS}
    fb = data["feedback"]
    fb = fb[fb["nps"].notna() & fb["brand"].isna()].merge(ref.reset_index(), on="order_id")
    for pattern, g in fb.groupby("pattern"):
        nps = 100 * ((g["nps"] >= 9).mean() - (g["nps"] <= 6).mean())
        assert summary.loc[pattern, "nps"] == pytest.approx(nps)
        assert summary.loc[pattern, "nps_n"] == len(g)


def _signals_pd(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    fb = data["feedback"]
    fb = fb[fb["brand"].isna()]
    scale = {"nps": (0, 10, False), "csat": (1, 5, False), "ces": (1, 7, True), "rating": (1, 5, False)}
    parts = []
    for kind, (lo, hi, rev) in scale.items():
        part = fb[fb[kind].notna()].copy()
        x = (part[kind].astype(float) - lo) / (hi - lo)
        part["signal"] = 1 - x if rev else x
        part["kind"] = kind
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_emotion_curve_matches_pandas(ws: Workspace, data: dict[str, pd.DataFrame]) -> None:
    sig = _signals_pd(data)
    got = jx.emotion_curve(ws).set_index("touchpoint")
    ref = sig.groupby("touchpoint")["signal"].agg(["count", "mean", "std"])
    assert got["n"].to_dict() == ref["count"].to_dict()
    assert np.allclose(got.loc[ref.index, "mean"], ref["mean"])
    assert np.allclose(got.loc[ref.index, "sd"], ref["std"])
    assert (got["ci_low"] < got["mean"]).all()
    assert (got["mean"] < got["ci_high"]).all()
    assert list(got.index) == [t for t in JM.touchpoint_ids if t in ref.index]  # journey order
    by_kind = jx.emotion_curve(ws, "stage", by=["kind"]).set_index(["stage", "kind"])
    ref_kind = sig.assign(stage=sig["touchpoint"].map(JM.stage_of)).groupby(["stage", "kind"])["signal"]
    assert np.allclose(by_kind.loc[ref_kind.mean().index, "mean"], ref_kind.mean())


def test_sentiment_hook_adds_a_signal(ws: Workspace, data: dict[str, pd.DataFrame]) -> None:
    fb = data["feedback"][["feedback_id"]].assign(sentiment=np.linspace(-1, 1, len(data["feedback"])))
    table = ws.backend().create_table("_test_sentiment", fb, overwrite=True)
    got = jx.emotion_curve(ws, "stage", by=["kind"], kinds=["csat"], sentiment=table)
    kinds = set(got["kind"])
    assert kinds == {"csat", "sentiment"}
    sig = jx.experience_signals(ws, ["csat"], sentiment=table).to_pandas()
    s = sig[sig["kind"] == "sentiment"].merge(fb, on="feedback_id")
    assert np.allclose(s["signal"], (s["sentiment"] + 1) / 2)


def test_peak_end_matches_pandas(ws: Workspace, data: dict[str, pd.DataFrame]) -> None:
    sig = _signals_pd(data)
    sig = sig[sig["kind"].isin(jx.MOMENT_KINDS)]
    got = jx.journey_experience(ws).to_pandas().set_index("order_id").sort_index()
    rows = {}
    for oid, g in sig.groupby("order_id"):
        g = g.assign(intensity=(g["signal"] - 0.5).abs())
        peak = g.sort_values(
            ["intensity", "submitted_at", "feedback_id", "kind"], ascending=[False, True, True, True]
        ).iloc[0]["signal"]
        end = g.sort_values(["submitted_at", "feedback_id", "kind"]).iloc[-1]["signal"]
        rows[oid] = (len(g), g["signal"].mean(), peak, end)
    ref = pd.DataFrame.from_dict(
        rows, orient="index", columns=["signals", "average", "peak", "end"]
    ).sort_index()
    assert list(got.index) == list(ref.index)
    assert (got["signals"] == ref["signals"]).all()
    for col in ("average", "peak", "end"):
        assert np.allclose(got[col], ref[col]), col
    assert np.allclose(got["peak_end"], (ref["peak"] + ref["end"]) / 2)
    fb = data["feedback"]
    nps = fb[fb["brand"].isna() & fb["nps"].notna()].groupby("order_id")["nps"].mean().astype(float)
    answered = got["nps"].dropna()
    assert len(answered) == got.index.isin(nps.index).sum() > 0
    assert np.allclose(answered, nps.reindex(answered.index))
    fit = PeakEndComparison(cv=3).fit(got.reset_index())
    assert set(fit.fits_["predictor"]) == {"peak_end", "average", "peak", "end"}
    assert set(fit.fits_["metric"]) == {"r2", "auc"}


def test_repurchase_is_the_next_order_of_the_stitched_actor(
    ws: Workspace, data: dict[str, pd.DataFrame]
) -> None:
    od = data["orders"].assign(actor_id=_actor(data["orders"], data["identities"]))
    od = od.sort_values(["actor_id", "ordered_at", "order_id"])
    nxt = od.groupby("actor_id")["ordered_at"].shift(-1)
    days = 10
    eligible = od["ordered_at"] + pd.Timedelta(days=days) <= od["ordered_at"].max()
    bought = nxt.notna() & (nxt <= od["ordered_at"] + pd.Timedelta(days=days))
    ref = pd.Series(np.where(eligible, bought, None), index=od["order_id"]).sort_index()
    got = jx.order_outcomes(ws, days).to_pandas().set_index("order_id")["repurchased"].sort_index()
    assert got.isna().equals(ref.isna())
    assert (got.dropna().astype(bool) == ref.dropna().astype(bool)).all()


def test_moments_of_truth_match_pandas(ws: Workspace, data: dict[str, pd.DataFrame]) -> None:
    sig = _signals_pd(data)
    sig = sig[sig["kind"].isin(jx.MOMENT_KINDS)]
    bad = (
        sig.groupby(["order_id", "touchpoint"])["signal"].min().le(jx.BOTTOM_BOX).rename("bad").reset_index()
    )
    fb = data["feedback"]
    answers = fb[fb["brand"].isna() & fb["nps"].notna()][["order_id", "nps"]]
    joined = bad.merge(answers, on="order_id")
    got = jx.moments_of_truth(ws, min_n=1).set_index("touchpoint")
    compared = 0
    for tp, g in joined.groupby("touchpoint"):
        b, o = g[g["bad"]], g[~g["bad"]]
        if len(b) == 0 or len(o) == 0:
            continue
        compared += 1
        nps = lambda x: 100 * ((x >= 9).mean() - (x <= 6).mean())  # noqa: E731
        assert got.loc[tp, "nps_effect"] == pytest.approx(nps(b["nps"]) - nps(o["nps"]))
        assert got.loc[tp, "nps_ci_low"] < got.loc[tp, "nps_effect"] < got.loc[tp, "nps_ci_high"]
    assert compared > 0
    assert list(got["rank"]) == list(range(1, len(got) + 1))


@pytest.fixture(scope="module")
def spark_ws(spark_session: Any, ws: Workspace) -> Workspace:
    ws.table("events", "spark")  # the engine joins the session the fixture started
    return ws


@pytest.mark.spark
@pytest.mark.slow
def test_journey_analytics_agree_on_spark(spark_ws: Workspace) -> None:
    agree = lambda f, keys: assert_engines_agree(spark_ws, f, sort_by=keys)  # noqa: E731
    agree(lambda t: jr.journey_events(t, RULES).drop("stitched"), ["event_id"])
    agree(lambda t: jr.top_paths(t, "stage", RULES, k=4, journey_map=JM).paths, ["rank"])
    steps = ["consideration", "purchase", "delivery"]
    agree(
        lambda t: jf.funnel(t, steps, ["channel", "loyalty_tier"], RULES, journey_map=JM),
        ["channel", "loyalty_tier", "step_no"],
    )
    agree(lambda t: jp.order_patterns(t, journey_map=JM), ["order_id"])
    agree(lambda t: jx.emotion_curve(t, by=["kind"], journey_map=JM), ["stage", "touchpoint", "kind"])
    agree(lambda t: jx.journey_experience(t, journey_map=JM), ["order_id"])
    agree(lambda t: jx.moments_of_truth(t, journey_map=JM, min_n=1), ["touchpoint"])


@pytest.mark.spark
@pytest.mark.slow
def test_path_and_pattern_analytics_agree_on_spark(spark_ws: Workspace) -> None:
    """Transitions, step matrix, Sankey, stitching, time to convert and between, the shopping
    patterns and the zero moment: the same frames on both engines (rows compared in full)."""
    agree = lambda f: assert_engines_agree(spark_ws, f)  # noqa: E731 - every column is a sort key
    steps = ["consideration", "purchase", "delivery"]
    transitions = agree(lambda t: jr.transitions(t, "stage", RULES, journey_map=JM))
    assert transitions["n"].sum() > 0
    agree(lambda t: jr.transitions(t, "touchpoint", RULES, journey_map=JM))
    agree(lambda t: jr.step_matrix(t, "stage", RULES, max_steps=4, journey_map=JM))
    agree(lambda t: jr.sankey_links(t, "stage", RULES, max_steps=4, journey_map=JM))
    agree(jr.stitching_summary)
    agree(lambda t: jf.time_to_convert(t, steps, ["channel"], RULES, journey_map=JM))
    agree(lambda t: jf.time_between(t, "add_to_cart", "payment", ["channel"], RULES, journey_map=JM))
    agree(lambda t: jp.pattern_summary(t, journey_map=JM))
    agree(lambda t: jp.zero_moment(t, journey_map=JM))
    agree(lambda t: jp.research_conversion(t, RULES, journey_map=JM))


def test_empty_path_inputs_are_explained(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown level"):
        jr.transitions(ws, "aisle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2"):
        jr.sankey_links(ws, max_steps=1)


@pytest.mark.slow
def test_cli_journey_commands(tmp_path: Path, data: dict[str, pd.DataFrame], ws: Workspace) -> None:
    import json

    from typer.testing import CliRunner

    from cxlens.cli.main import app

    store = tmp_path / "cli"
    with Workspace(store) as w:
        for name in ("customers", "identities", "orders", "events", "feedback"):
            w.ingest(name, data[name])
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--data-dir", str(store), "journey", *args])
        assert result.exit_code == 0, result.output
        return result.output

    top = run("paths", "-k", "3", "--max-steps", "3", "--gap-days", "2")
    assert "left out" in top
    rows = json.loads(run("paths", "transitions", "-l", "stage", "--gap-days", "2", "-o", "json"))
    ref = jr.transitions(ws, "stage", RULES)
    assert sum(r["n"] for r in rows) == int(ref["n"].sum())
    for view in ("matrix", "steps", "sankey"):
        run("paths", view)
    assert "purchase" in run("funnel", "-s", "consideration", "-s", "purchase|delivery", "--by", "channel")
    assert "bin" in run("funnel", "--times", "-o", "csv")
    assert "journeys; mean" in run("between", "add_to_cart", "payment")
    patterns = json.loads(run("patterns", "-o", "json"))
    assert [p["pattern"] for p in patterns] == list(jp.PATTERNS)
    run("patterns", "zmot")
    run("patterns", "conversion")
    assert "checkout_queue" in run("emotions", "-f", "source=survey", "-o", "csv")
    assert "peak_end" in run("peak-end")
    run("moments")
    assert "1 anonymous ids are linked to several customers" in run("stitching")
    bad = runner.invoke(app, ["--data-dir", str(store), "journey", "funnel", "-s", "teleport"])
    assert bad.exit_code == 2
    assert "unknown funnel step" in bad.output


def test_report_section_has_sankey_funnel_and_emotion_charts(ws: Workspace) -> None:
    from cxlens.report.journey_section import journey_section
    from cxlens.report.render import render_html

    section = journey_section(ws)
    specs = " ".join(c.json for c in section.charts)
    for kind in ('"type":"sankey"', '"type":"funnel"', '"type":"scatter"'):
        assert kind in specs
    assert any("left out" in n or "listed" in n for n in section.notes)
    assert "Moments of truth" in render_html("t", "s", [section])


def test_report_section_without_events_says_so(tmp_path: Path) -> None:
    from cxlens.report.journey_section import journey_section

    with Workspace(tmp_path / "empty") as w:
        section = journey_section(w)
    assert section.charts == []
    assert "No events" in section.notes[0]
