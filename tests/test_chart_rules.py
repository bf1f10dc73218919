"""The chart rules, checked on every chart the report and the web app draw (as Plotly figures after
``finish``, the one place the rules are applied): every axis titled, numbers in full (no SI
suffixes such as "145.269k"), one diverging scale meaning red = bad and blue = good in both, small-n
marks grey, months as YYYY-MM, long titles wrapped rather than cut, matrix labels spread and not
clipped."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from cxlens.display import build_names
from cxlens.journey.map import load_journey_map
from cxlens.report import charts
from cxlens.report.charts import GOOD_BAD, GREY, finish, safe_spec
from cxlens.report.customers_section import clv_histogram, lift_chart, retention_heatmap, segment_chart
from cxlens.report.drivers_section import benchmark_heatmap, importance_chart, priority_matrix_chart
from cxlens.report.journey_section import emotion_figure, funnel_figure, sankey_figure
from cxlens.report.loyalty_section import attach_chart, campaign_chart, dip_chart, members_chart, points_chart
from cxlens.report.text_section import aspect_heatmap
from cxlens.text.taxonomy import default_taxonomy

CARTESIAN = {"bar", "scatter", "histogram", "heatmap", "funnel"}
NAMES = build_names(journey_map=load_journey_map(), taxonomy=default_taxonomy())


def _metric_frame(small: list[bool]) -> pd.DataFrame:
    n = len(small)
    return pd.DataFrame(
        {
            "level": [f"S{i:03d}" for i in range(n)],
            "n": [10 if s else 500 for s in small],
            "value": np.linspace(-20, 30, n),
            "ci_low": np.linspace(-30, 20, n),
            "ci_high": np.linspace(-10, 40, n),
            "small_n": small,
        }
    )


def _trend() -> pd.DataFrame:
    months = pd.date_range("2025-01-01", periods=6, freq="MS")
    return pd.DataFrame(
        {
            "period": months,
            "n": [400, 400, 12, 400, 400, 400],
            "value": [1.0, 2.0, 5.0, -3.0, 0.5, 1.5],
            "ci_low": [-4.0, -3.0, -30.0, -8.0, -4.0, -3.0],
            "ci_high": [6.0, 7.0, 40.0, 2.0, 5.0, 6.0],
            "small_n": [False, False, True, False, False, False],
        }
    )


def _drivers() -> pd.DataFrame:
    ids = ["tp:store_visit", "tp:delivery", "op:delivery_on_time", "aspect:returns_after_sales"]
    ids += ["op:queue_wait", "tp:checkout", "tp:payment", "aspect:price_promotions"]
    k = len(ids)
    return pd.DataFrame(
        {
            "rank": range(1, k + 1),
            "driver": NAMES.drivers(ids),
            "name": NAMES.drivers(ids),
            "importance": np.linspace(0.05, 0.01, k),
            "ci_low": np.linspace(0.03, 0.0, k),
            "ci_high": np.linspace(0.07, 0.02, k),
            "share": np.linspace(0.3, 0.02, k),
            "direction": [1] * k,
            "performance": [0.5, 0.52, 0.51, 0.2, 0.9, 0.91, 0.5, 0.49],
            "quadrant": ["fix first"] * 2
            + ["keep up", "fix first", "monitor", "keep up", "monitor"]
            + ["possible overkill"],
        }
    )


def _bench() -> pd.DataFrame:
    rows = []
    for indicator in ("rating", "aspect:delivery"):
        rows.append({"indicator": indicator, "brand": "(ours)", "small_n": False, "diff_share": 0.0})
        rows.append({"indicator": indicator, "brand": "Rival", "small_n": False, "diff_share": 0.12})
        rows.append({"indicator": indicator, "brand": "Tiny", "small_n": True, "diff_share": -0.4})
    return pd.DataFrame(rows)


def _aspects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "aspect": ["returns_after_sales", "price_promotions"],
            "mentions": [1200, 900],
            "negative": [0.92, 0.07],
            "neutral": [0.05, 0.13],
            "positive": [0.03, 0.80],
        }
    )


def _funnel() -> pd.DataFrame:
    return pd.DataFrame(
        {"step": ["product_page", "add_to_cart", "checkout"], "journeys": [145269, 40211, 12034]}
    )


def _sankey() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "step": [1, 1, 2, 2, 3, 4],
            "source": ["awareness", "consideration", "consideration", "purchase", "purchase", "fulfilment"],
            "target": ["consideration", "purchase", "purchase", "fulfilment", "fulfilment", "(end)"],
            "n": [1000, 800, 700, 600, 500, 400],
        }
    )


def _emotions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stage": ["purchase", "fulfilment"],
            "touchpoint": ["checkout", "delivery"],
            "n": [300, 12],
            "mean": [0.7, 0.4],
            "ci_low": [0.65, 0.2],
            "ci_high": [0.75, 0.6],
            "small_n": [False, True],
        }
    )


def _loyalty_series() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": pd.to_datetime(["2025-01-01", "2025-02-01"]),
            "members": [30000, 31000],
            "active_members": [12000, 12500],
            "earned": [150000, 160000],
            "burned": [90000, 95000],
            "expired": [5000, 7000],
            "balance": [1200000, 1258000],
        }
    )


def _web_band() -> go.Figure:
    from cxlens.display import money
    from cxlens.web.routes.insights import band_figure

    bins = pd.DataFrame({"low": [0.0, 1000.0], "high": [1000.0, 150000.0], "customers": [40000, 12]})
    return band_figure(bins, "Predicted value", "Predicted value ($)", label=money)


def _web_topics() -> go.Figure:
    from cxlens.web.routes.insights import topic_figure

    trend = pd.DataFrame(
        {
            "topic": [0, 0],
            "terms": ["late, parcel", "late, parcel"],
            "period": pd.to_datetime(["2025-01-01", "2025-02-01"]),
            "share": [0.1, 0.2],
            "ci_low": [0.05, 0.1],
            "ci_high": [0.15, 0.3],
            "documents": [10, 20],
            "total": [100, 100],
        }
    )
    return topic_figure(trend, "Topics per month")


def _web_heatmap() -> go.Figure:
    from cxlens.web.routes.insights import heatmap_figure

    return heatmap_figure(_aspects(), "Aspect × sentiment", ["negative", "neutral", "positive"], names=NAMES)


#: Every chart of the report and of the web pages (the web draws the report's functions too, plus
#: the three of its own at the end), built from small frames shaped like their data twins.
CHARTS: dict[str, Callable[[], go.Figure]] = {
    "interval_bars": lambda: charts.interval_bars(
        _metric_frame([False, True, False]), "level", "NPS by store", y_title="Store"
    ),
    "campaigns": lambda: campaign_chart(
        pd.DataFrame(
            {
                "campaign_id": ["C1", "C2"],
                "name": ["Spring", None],
                "uplift_per_household": [12.5, 3.0],
                "households_targeted": [1500, 40],
                "ci_low": [5.0, -2.0],
                "ci_high": [20.0, 8.0],
            }
        ),
        "Extra spend per targeted customer",
    ),
    "members": lambda: members_chart(_loyalty_series(), "Members per month"),
    "points": lambda: points_chart(_loyalty_series(), "Points per month"),
    "dip": lambda: dip_chart(
        pd.DataFrame(
            {
                "day": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-03"]),
                "units": [120, 450, 90],
                "period": ["before", "during", "after"],
            }
        ),
        {"baseline_units_per_day": 110.0},
        "Units per day: Pantry flash sale",
    ),
    "attach": lambda: attach_chart(
        pd.DataFrame(
            {
                "period": ["before", "during", "after"],
                "attach_rate": [0.1, 0.3, 0.12],
                "ci_low": [0.08, 0.25, 0.1],
                "ci_high": [0.12, 0.35, 0.14],
                "baskets_with_bundle": [400, 380, 390],
            }
        ),
        "Attach rate (%): Greek yoghurt",
    ),
    "trend_lines": lambda: charts.trend_lines(_trend(), "period", "NPS", value_range=(-100, 100)),
    "priority_matrix": lambda: priority_matrix_chart(_drivers()),
    "importance": lambda: importance_chart(_drivers()),
    "benchmark": lambda: benchmark_heatmap(_bench(), names=NAMES),
    "aspects": lambda: aspect_heatmap(_aspects(), "Aspect x sentiment", names=NAMES),
    "funnel": lambda: funnel_figure(_funnel(), "Funnel: " + " → ".join(NAMES.many(_funnel()["step"])), NAMES),
    "sankey": lambda: sankey_figure(_sankey(), names=NAMES),
    "emotions": lambda: emotion_figure(_emotions(), "Emotion curve", NAMES),
    "segments": lambda: segment_chart(pd.DataFrame({"segment": ["champions", "lost"], "customers": [1, 2]})),
    "clv": lambda: clv_histogram(pd.Series(np.linspace(0, 145269, 200))),
    "lift": lambda: lift_chart(pd.DataFrame({"decile": range(1, 11), "lift": np.linspace(3, 0.2, 10)})),
    "retention": lambda: retention_heatmap(
        pd.DataFrame(
            {"cohort_size": [100, 80], 1: [0.5, 0.4], 2: [0.3, 0.2]},
            index=pd.to_datetime(["2025-01-01", "2025-02-01"]),
        )
    ),
    "web_band": _web_band,
    "web_topics": _web_topics,
    "web_heatmap": _web_heatmap,
}


def _axes_in_use(fig: go.Figure) -> list[str]:
    used = set()
    for trace in fig.data:
        if trace.type in CARTESIAN:
            used.add("xaxis" + (trace.xaxis or "x")[1:])
            used.add("yaxis" + (trace.yaxis or "y")[1:])
    return sorted(used)


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_every_axis_is_titled_and_numbers_are_in_full(name: str) -> None:
    fig = finish(CHARTS[name]())
    for axis_name in _axes_in_use(fig):
        axis = fig.layout[axis_name]
        assert str(axis.title.text or "").strip(), f"{name}: {axis_name} has no title"
        assert "s" not in str(axis.tickformat or "").replace("%", ""), f"{name}: SI tick format"
        if axis.type not in ("category", "date") and not axis.tickformat:
            assert axis.exponentformat == "none", f"{name}: {axis_name} may show SI suffixes (145.269k)"
            assert axis.separatethousands, name
    spec = json.loads(safe_spec(fig))
    text = json.dumps(spec)
    assert "~s" not in text, f"{name}: SI number format"
    assert fig.layout.separators == ".,"


def test_locale_separators_follow_the_reader() -> None:
    assert finish(CHARTS["clv"](), "ru").layout.separators == ",\xa0"
    assert finish(CHARTS["clv"](), "zh").layout.separators == ".,"


def test_the_diverging_scale_means_red_bad_blue_good_in_report_and_web() -> None:
    low, high = _rgb(GOOD_BAD[0][1]), _rgb(GOOD_BAD[-1][1])
    assert low[0] > low[2]  # the low end is red
    assert high[2] > high[0]  # the high end is blue
    for name in ("aspects", "web_heatmap"):
        heat = finish(CHARTS[name]()).data[0]
        assert [list(x) for x in heat.colorscale] == GOOD_BAD
        assert not heat.reversescale
        z = np.asarray(heat.z, dtype=float)
        # "returns 92% negative" sits at the red end, "price 80% positive" at the blue end
        assert z[0][0] == pytest.approx(-92)
        assert z[0][0] == z.min()
        assert z[1][2] == pytest.approx(80)
        assert z[1][2] == z.max()
        assert (heat.zmid, heat.zmin, heat.zmax) == (0, -100, 100)
        assert heat.text[0][0] == "92%"  # the cell still reads as the share
    bench = finish(CHARTS["benchmark"]()).data[0]
    assert bench.reversescale  # a competitor ahead of us (positive difference) is red: bad for us
    z = np.asarray(bench.z, dtype=float)
    assert np.nanmax(z) == pytest.approx(12.0)
    assert np.isnan(z).sum() == 2  # small-n competitor cells are blank, never better or worse


def test_small_n_is_grey() -> None:
    bars = CHARTS["interval_bars"]().data[0]
    assert list(bars.marker.color) == [charts.BLUE, GREY, charts.BLUE]
    line = next(t for t in CHARTS["trend_lines"]().data if t.mode == "lines+markers")
    assert line.marker.color[2] == GREY
    assert line.marker.color[0] != GREY
    points = next(t for t in CHARTS["emotions"]().data if t.mode == "lines+markers")
    assert list(points.marker.color) == [charts.BLUE, GREY]


def test_months_read_yyyy_mm() -> None:
    for name in ("trend_lines", "web_topics"):
        fig = CHARTS[name]()
        xs = [x for t in fig.data if t.mode == "lines+markers" for x in t.x]
        assert xs, name
        assert all(re.fullmatch(r"\d{4}-\d{2}", str(x)) for x in xs), (name, xs)


def test_funnel_values_in_full_and_title_wrapped_not_cut() -> None:
    fig = finish(CHARTS["funnel"]())
    assert fig.data[0].texttemplate.startswith("%{value:,}")
    title = fig.layout.title.text
    assert "<br>" in title  # a long title wraps onto lines
    assert max(len(line) for line in title.split("<br>")) <= charts.TITLE_WRAP
    assert fig.layout.margin.t >= 40 + 18 * title.count("<br>")
    assert "<br>" in json.loads(safe_spec(fig))["layout"]["title"]["text"]  # the break survives escaping
    assert list(fig.data[0].y) == ["Product page view", "Add to cart", "Online checkout"]


def test_priority_matrix_labels_are_spread_and_never_clipped() -> None:
    fig = CHARTS["priority_matrix"]()
    positions = [p for t in fig.data for p in t.textposition]
    assert len(set(positions)) >= 3  # not every label on top of its point
    assert all(t.cliponaxis is False for t in fig.data)
    x_lo, x_hi = fig.layout.xaxis.range
    xs = [x for t in fig.data for x in t.x]
    assert x_lo < min(xs)  # room around the outermost points
    assert x_hi > max(xs)
    labels = [x for t in fig.data for x in t.text]
    assert "Returns and after-sales (comments)" in labels
    assert not any(":" in x for x in labels)


def test_sankey_labels_have_room_and_names() -> None:
    fig = CHARTS["sankey"]()
    node = fig.data[0].node
    assert node.pad >= 20
    assert "4. Fulfilment" in node.label
    assert "5. (end)" in node.label
    assert fig.layout.height >= 420
