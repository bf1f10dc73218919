"""Report section for the voice of the customer: aspect x sentiment heatmap and sentiment trend.

Every chart is drawn from a frame returned by :mod:`cxlens.text.insights` (its data twin).
"""

from __future__ import annotations

from collections.abc import Callable

import ibis.expr.types as ir
import plotly.graph_objects as go

from cxlens.report.charts import LAYOUT
from cxlens.report.render import Section, TableBlock
from cxlens.text.insights import aspect_sentiment, heatmap_frame, sentiment_trend


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
    fig = go.Figure(
        go.Heatmap(
            z=heat[["negative", "neutral", "positive"]].to_numpy() * 100,
            x=["negative", "neutral", "positive"],
            y=heat.index.tolist(),
            colorscale="RdBu",
            zmin=0,
            zmax=100,
            text=[
                [f"{v:.0f}%" for v in row]
                for row in heat[["negative", "neutral", "positive"]].to_numpy() * 100
            ],
            texttemplate="%{text}",
            hovertemplate="%{y}: %{x} %{z:.0f}%<extra></extra>",
        )
    )
    fig.update_layout(title="Aspect x sentiment (share of mentions)", height=60 + 30 * len(heat), **LAYOUT)
    section.add_chart(fig)
    trend = sentiment_trend(tables, grain, own_brand_only=True).to_pandas()
    line = go.Figure(
        go.Scatter(
            x=trend["period"].astype(str),
            y=trend["share_negative"] * 100,
            mode="lines+markers",
            customdata=trend["n"],
            hovertemplate="%{x}: %{y:.1f}% negative (n=%{customdata:,})<extra></extra>",
        )
    )
    line.update_layout(title=f"Share of negative feedback text per {grain}", height=300, **LAYOUT)
    section.add_chart(line)
    worst = heat.sort_values("negative", ascending=False).head(5)
    section.tables.append(
        TableBlock(
            "Most negative aspects",
            ["aspect", "mentions", "negative", "positive"],
            [
                [str(a), f"{int(r.mentions):,}", f"{r.negative:.0%}", f"{r.positive:.0%}"]
                for a, r in worst.iterrows()
            ],
            numeric={1, 2, 3},
        )
    )
    top = worst.index[0]
    section.findings.append(
        f"{top.replace('_', ' ').capitalize()} draws the most negative comments: "
        f"{worst.loc[top, 'negative']:.0%} "
        f"of {int(worst.loc[top, 'mentions']):,} mentions."
    )
    return section
