"""Enriching the store: incremental, idempotent, re-run on taxonomy edits; planted aspects recovered;
the Ibis insight analytics agree with plain pandas and across engines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import DemoStore
from cxlens.demo import PLANTED
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import normalise
from cxlens.text.insights import aspect_sentiment, contact_reasons, sentiment_trend
from cxlens.text.store import enrich_feedback, text_tables
from cxlens.text.taxonomy import DEFAULT_TAXONOMY

pytestmark = pytest.mark.slow  # the module builds and enriches a 20,000-customer demo store (~15 s)


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Workspace:
    root = tmp_path_factory.mktemp("text")
    ws = demo_store(root / "store", customers=20_000, seed=11)
    enrich_feedback(ws)
    return ws


def _frame(ws: Workspace, sql: str) -> pd.DataFrame:
    return ws.con.execute(sql).df()


def test_every_text_is_analysed_once_and_a_rerun_adds_nothing(demo_ws: Workspace) -> None:
    with_text = _frame(demo_ws, "SELECT count(*) AS n FROM feedback WHERE trim(text) <> ''")["n"][0]
    assert _frame(demo_ws, "SELECT count(DISTINCT feedback_id) AS n FROM feedback_text")["n"][0] == with_text
    again = enrich_feedback(demo_ws)
    assert again.analysed == 0
    assert _frame(demo_ws, "SELECT count(*) AS n FROM feedback_text")["n"][0] == with_text


def test_transcripts_are_scored_on_customer_turns(demo_ws: Workspace) -> None:
    df = _frame(
        demo_ws,
        "SELECT f.source, t.customer_turns_only FROM feedback_text t JOIN feedback f USING (feedback_id)",
    )
    assert df.loc[df.source.isin(["call", "chat"]), "customer_turns_only"].all()
    assert not df.loc[~df.source.isin(["call", "chat"]), "customer_turns_only"].any()


def test_late_deliveries_bring_negative_delivery_comments(demo_ws: Workspace) -> None:
    df = _frame(
        demo_ws,
        """SELECT o.delivered_at > o.promised_delivery_at AS late,
                  avg(CASE WHEN a.sentiment = 'negative' THEN 1 ELSE 0 END) AS neg,
                  count(*) AS n
           FROM feedback f JOIN orders o USING (order_id)
           JOIN feedback_aspects a USING (feedback_id)
           WHERE f.touchpoint = 'delivery' AND a.aspect = 'delivery'
           GROUP BY 1""",
    ).set_index("late")
    assert df.loc[True, "n"] >= 30
    assert df.loc[True, "neg"] > df.loc[False, "neg"] + 0.3


def test_queue_stores_have_more_negative_queue_comments(demo_ws: Workspace) -> None:
    df = aspect_sentiment(text_tables(demo_ws), by=["store_id", "touchpoint"], sub_aspects=True).to_pandas()
    q = df[(df.touchpoint == "checkout_queue") & (df.sub_aspect == "queue")]
    planted = q[q.store_id.isin(PLANTED.queue_stores)]
    others = q[~q.store_id.isin(PLANTED.queue_stores)]
    share = lambda g: g.negative.sum() / g.mentions.sum()  # noqa: E731
    score = lambda g: (g.mean_score * g.mentions).sum() / g.mentions.sum()  # noqa: E731
    # the planted gap in truly negative comments is about 0.4 here; sentiment errors attenuate it
    assert share(planted) > share(others) + 0.1
    assert score(planted) < score(others) - 0.15


def test_staff_comments_improve_after_training_only_in_training_stores(demo_ws: Workspace) -> None:
    df = _frame(
        demo_ws,
        f"""SELECT f.store_id IN {tuple(PLANTED.training_stores)} AS trained,
                  f.submitted_at >= DATE '{PLANTED.training_date}' AS after,
                  avg(a.score) AS score
           FROM feedback f JOIN feedback_aspects a USING (feedback_id)
           WHERE f.touchpoint = 'store_visit' AND a.aspect = 'staff'
           GROUP BY 1, 2""",
    ).set_index(["trained", "after"])["score"]
    did = (df[(True, True)] - df[(True, False)]) - (df[(False, True)] - df[(False, False)])
    # the texts' true difference-in-differences is about 0.4 here (share positive); en and ja staff
    # sentences are often misread by the fast tier, which attenuates it to about 0.19
    assert did > 0.05


def test_aspect_sentiment_matches_pandas(demo_ws: Workspace) -> None:
    got = aspect_sentiment(text_tables(demo_ws), by=["source"], grain="quarter").to_pandas()
    a = _frame(demo_ws, "SELECT * FROM feedback_aspects")
    f = _frame(demo_ws, "SELECT feedback_id, source, submitted_at FROM feedback")
    j = a.merge(f, on="feedback_id")
    j["period"] = j.submitted_at.dt.to_period("Q").dt.start_time
    want = (
        j.groupby(["period", "source", "aspect"])
        .agg(
            mentions=("score", "size"),
            negative=("sentiment", lambda s: (s == "negative").sum()),
            mean_score=("score", "mean"),
        )
        .reset_index()
    )
    merged = normalise(got, ["period", "source", "aspect"]).merge(
        normalise(want, ["period", "source", "aspect"]),
        on=["period", "source", "aspect"],
        suffixes=("", "_pd"),
    )
    assert len(merged) == len(want) == len(got)
    assert (merged.mentions == merged.mentions_pd).all()
    assert (merged.negative == merged.negative_pd).all()
    assert (merged.mean_score - merged.mean_score_pd).abs().max() < 1e-9


def test_sentiment_trend_and_contact_reasons_cover_the_year(demo_ws: Workspace) -> None:
    trend = sentiment_trend(text_tables(demo_ws), "month", own_brand_only=None).to_pandas()
    assert len(trend) == 12
    assert trend.n.sum() == _frame(demo_ws, "SELECT count(*) AS n FROM feedback_text")["n"][0]
    own = sentiment_trend(text_tables(demo_ws), "month").to_pandas()  # default: our own brand
    own_n = _frame(
        demo_ws,
        "SELECT count(*) AS n FROM feedback_text t JOIN feedback f USING (feedback_id) WHERE f.brand IS NULL",
    )["n"][0]
    assert own.n.sum() == own_n < trend.n.sum()
    contacts = contact_reasons(text_tables(demo_ws), ["category"], None).to_pandas()
    top = contacts.groupby("aspect").mentions.sum().sort_values(ascending=False)
    assert top.index[0] in {"delivery", "returns_after_sales"}  # late orders and returns drive contacts


def test_a_taxonomy_edit_triggers_reanalysis(demo_ws: Workspace, tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))
    del raw["aspects"]["staff"]
    path = tmp_path / "no_staff.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    res = enrich_feedback(demo_ws, taxonomy_path=path)
    assert res.analysed == _frame(demo_ws, "SELECT count(*) AS n FROM feedback_text")["n"][0]
    assert _frame(demo_ws, "SELECT count(*) AS n FROM feedback_aspects WHERE aspect = 'staff'")["n"][0] == 0
    enrich_feedback(demo_ws)  # back to the default for the other tests
    assert _frame(demo_ws, "SELECT count(*) AS n FROM feedback_aspects WHERE aspect = 'staff'")["n"][0] > 0


@pytest.mark.spark
@pytest.mark.slow
def test_text_insights_agree_on_spark(demo_ws: Workspace, spark_session: object) -> None:
    from pandas.testing import assert_frame_equal

    demo_ws.engine("spark")  # uses the session-wide Spark session
    for analytic, keys in (
        (lambda t: aspect_sentiment(t, by=["source"], grain="month"), ["period", "source", "aspect"]),
        (lambda t: contact_reasons(t, ["product_brand"], "quarter"), ["period", "product_brand", "aspect"]),
        (lambda t: sentiment_trend(t, "month", ["language"]), ["period", "language"]),
    ):
        duck = normalise(analytic(text_tables(demo_ws, "duckdb")).to_pandas(), keys)
        spark = normalise(analytic(text_tables(demo_ws, "spark")).to_pandas(), keys)
        assert_frame_equal(duck, spark, check_dtype=False, rtol=1e-9)


def test_report_section_draws_the_heatmap_from_its_data_twin(demo_ws: Workspace) -> None:
    from cxlens.display import build_names
    from cxlens.report.render import render_html
    from cxlens.report.text_section import text_section
    from cxlens.text.insights import heatmap_frame
    from cxlens.text.taxonomy import default_taxonomy

    section = text_section(text_tables(demo_ws))
    assert len(section.charts) == 2
    heat = heatmap_frame(aspect_sentiment(text_tables(demo_ws), own_brand_only=True).to_pandas())
    worst = heat["negative"].idxmax()
    name = build_names(taxonomy=default_taxonomy())(worst, "aspect")  # the taxonomy's label
    assert section.tables[0].rows[0][0] == name
    assert name in section.findings[0]
    assert "Voice of the customer" in render_html("t", "s", [section])


def test_report_section_says_when_nothing_is_analysed(workspace: Workspace) -> None:
    from cxlens.report.text_section import text_section
    from cxlens.text.store import ensure_tables

    ensure_tables(workspace)
    section = text_section(text_tables(workspace))
    assert section.charts == []
    assert "cxlens text analyse" in section.notes[0]


def test_report_ranks_negative_aspects_with_enough_mentions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two negative mentions of one aspect are not the headline when another has 40 (the real
    Wildberries reviews put 'Communication, 100% of 2 mentions' first)."""
    from types import SimpleNamespace

    from cxlens.report import text_section as ts

    summary = pd.DataFrame(
        {
            "aspect": ["communication", "delivery", "staff"],
            "negative": [2, 24, 5],
            "neutral": [0, 4, 20],
            "positive": [0, 12, 15],
            "mentions": [2, 40, 40],
        }
    )
    trend = pd.DataFrame({"period": [pd.Timestamp("2025-01-01")], "share_negative": [0.4], "n": [82]})
    monkeypatch.setattr(ts, "aspect_sentiment", lambda *a, **k: SimpleNamespace(to_pandas=lambda: summary))
    monkeypatch.setattr(ts, "sentiment_trend", lambda *a, **k: SimpleNamespace(to_pandas=lambda: trend))
    section = ts.text_section(lambda name: None)  # type: ignore[arg-type,return-value]
    assert section.findings == ["Delivery draws the most negative comments: 60% of 40 mentions."]
    [table] = section.tables
    assert table.caption == "Most negative aspects (at least 30 mentions)"
    assert [row[0] for row in table.rows] == ["Delivery", "Staff"]

    few = summary.assign(mentions=[2, 20, 25], negative=[2, 12, 5], neutral=[0, 4, 10], positive=[0, 4, 10])
    monkeypatch.setattr(ts, "aspect_sentiment", lambda *a, **k: SimpleNamespace(to_pandas=lambda: few))
    section = ts.text_section(lambda name: None)  # type: ignore[arg-type,return-value]
    assert "read with care" in section.tables[0].caption
    assert section.findings[0].startswith("Communication draws the most negative comments: 100% of 2")
