"""Report section for the voice of the customer: aspect x sentiment heatmap and sentiment trend.

Every chart is drawn from a frame returned by :mod:`cxlens.text.insights` (its data twin).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cxlens.analyse.metrics.definitions import DEFAULT_MIN_N
from cxlens.display import DisplayNames, build_names
from cxlens.report.charts import GOOD_BAD, LAYOUT, _periods
from cxlens.report.render import Section, TableBlock
from cxlens.text.insights import aspect_sentiment, heatmap_frame, sentiment_trend

SENTIMENTS = ("negative", "neutral", "positive")


def _taxonomy() -> Any:
    try:
        from cxlens.text.taxonomy import default_taxonomy

        return default_taxonomy()
    except Exception:
        return None


def aspect_heatmap(
    heat: pd.DataFrame,
    title: str,
    labels: list[str] | None = None,
    *,
    names: DisplayNames | None = None,
    x_title: str = "Sentiment",
    y_title: str = "Aspect",
) -> go.Figure:
    """Aspect x sentiment heatmap (``aspect``, ``negative``, ``neutral``, ``positive``, ``mentions``),
    the same in the report and the web app. Cells show each share; colour says good or bad on
    :data:`GOOD_BAD`: the negative share in red (deeper = more negative), the positive share in blue,
    neutral white. So "returns 92% negative" is deep red, "price 7% negative" pale red. The columns
    are labelled and each cell shows its share, so no colour bar (in a half-width chart its title
    ran over its labels)."""
    names = names or DisplayNames()
    shares = heat[list(SENTIMENTS)].to_numpy(dtype=float) * 100
    signed = shares * np.array([-1.0, 0.0, 1.0])
    fig = go.Figure(
        go.Heatmap(
            z=signed,
            x=labels or list(SENTIMENTS),
            y=names.many(heat["aspect"], "aspect"),
            customdata=[[[int(n), v] for v in row] for n, row in zip(heat["mentions"], shares, strict=True)],
            colorscale=GOOD_BAD,
            zmin=-100,
            zmax=100,
            zmid=0,
            text=[[f"{v:.0f}%" for v in row] for row in shares],
            texttemplate="%{text}",
            hovertemplate="%{y}: %{x} %{customdata[1]:.0f}% of %{customdata[0]:,}<extra></extra>",
            showscale=False,
        )
    )
    fig.update_layout(
        **LAYOUT,
        height=140 + 30 * len(heat),
        yaxis={"autorange": "reversed", "title": y_title},
        xaxis={"title": x_title, "side": "top"},
    )
    # the title pinned to the top, the column labels and their axis title below it (both sit in the
    # top margin, where a long title and the axis title overlapped on narrow charts)
    fig.update_layout(
        title={"text": title, "y": 1, "yref": "container", "yanchor": "top", "pad": {"t": 10}},
        margin={"t": 100},
    )
    return fig


def text_section(tables: Callable[[str], ir.Table], grain: str = "month") -> Section:
    """The text-analytics section (needs ``cxlens text analyse`` to have run)."""
    section = Section(
        "text",
        "Voice of the customer",
        intro="Aspects customers write about and how they feel about them, from feedback text "
        "(language detected, sentiment scored, aspects from the retail taxonomy).",
    )
    summary = aspect_sentiment(tables, own_brand_only=True).to_pandas()
    if summary.empty:
        section.notes.append("No analysed feedback text yet: run `cxlens text analyse`.")
        return section
    heat = heatmap_frame(summary)
    names = build_names(taxonomy=_taxonomy())
    section.add_chart(
        aspect_heatmap(
            heat.rename_axis("aspect").reset_index(), "Aspect x sentiment (share of mentions)", names=names
        )
    )
    trend = sentiment_trend(tables, grain, own_brand_only=True).to_pandas()
    line = go.Figure(
        go.Scatter(
            x=_periods(trend["period"]),
            y=trend["share_negative"] * 100,
            mode="lines+markers",
            customdata=trend["n"],
            hovertemplate="%{x}: %{y:.1f}% negative (n=%{customdata:,})<extra></extra>",
        )
    )
    line.update_layout(
        title=f"Share of negative feedback text per {grain}",
        height=300,
        xaxis={"title": grain.capitalize(), "type": "category"},
        yaxis={"title": "Negative texts (%)", "rangemode": "tozero"},
        **LAYOUT,
    )
    section.add_chart(line)
    # rank only aspects with enough mentions to mean something (2 of 2 negative is not a finding)
    enough = heat[heat["mentions"] >= DEFAULT_MIN_N]
    worst = (enough if not enough.empty else heat).sort_values("negative", ascending=False).head(5)
    caption = (
        f"Most negative aspects (at least {DEFAULT_MIN_N} mentions)"
        if not enough.empty
        else f"Most negative aspects (every aspect has fewer than {DEFAULT_MIN_N} mentions: read with care)"
    )
    section.tables.append(
        TableBlock(
            caption,
            ["aspect", "mentions", "negative", "positive"],
            [
                [names(a, "aspect"), f"{int(r.mentions):,}", f"{r.negative:.0%}", f"{r.positive:.0%}"]
                for a, r in worst.iterrows()
            ],
            numeric={1, 2, 3},
        )
    )
    top = worst.index[0]
    section.findings.append(
        f"{names(top, 'aspect')} draws the most negative comments: "
        f"{worst.loc[top, 'negative']:.0%} "
        f"of {int(worst.loc[top, 'mentions']):,} mentions."
    )
    return section
