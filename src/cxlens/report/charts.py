"""Plotly figures for metrics with intervals. Each takes a tidy frame (the chart's data twin)."""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

BLUE, GREY, RED, GREEN = "#2563eb", "#9ca3af", "#dc2626", "#16a34a"
LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
}


def interval_bars(
    df: pd.DataFrame, label: str, title: str, *, value: str = "value", height: int | None = None
) -> go.Figure:
    """Horizontal bars with 95% interval whiskers; small-n rows are grey and say so on hover."""
    df = df.reset_index(drop=True)
    small = df["small_n"] if "small_n" in df else pd.Series(False, index=df.index)
    colors = [GREY if s else BLUE for s in small]
    fig = go.Figure(
        go.Bar(
            x=df[value],
            y=df[label].astype(str),
            orientation="h",
            marker_color=colors,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (df["ci_high"] - df[value]).tolist(),
                "arrayminus": (df[value] - df["ci_low"]).tolist(),
                "color": "#374151",
            },
            customdata=list(zip(df["n"], df["ci_low"], df["ci_high"], small, strict=True)),
            hovertemplate="%{y}: %{x:.1f} [%{customdata[1]:.1f}, %{customdata[2]:.1f}]"
            "<br>n=%{customdata[0]:,}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title, height=height or max(220, 28 * len(df) + 80), yaxis={"autorange": "reversed"}, **LAYOUT
    )
    return fig


def interval_band(x: list[str], low: list[float], high: list[float], color: str = BLUE) -> go.Scatter:
    """A shaded band between ``low`` and ``high`` along ``x`` (an interval drawn under a line)."""
    return go.Scatter(
        x=x + x[::-1],
        y=high + low[::-1],
        fill="toself",
        fillcolor=color,
        opacity=0.15,
        line={"width": 0},
        hoverinfo="skip",
        showlegend=False,
    )


def trend_lines(
    df: pd.DataFrame,
    period: str,
    title: str,
    *,
    series: str | None = None,
    value_range: tuple[float, float] | None = None,
) -> go.Figure:
    """One line per series over time with a shaded 95% interval band (drawn within
    ``value_range``, the metric's scale, so a small month's wide interval stays on the chart)."""
    fig = go.Figure()
    groups = df.groupby(series, sort=True) if series else [("", df)]
    palette = [BLUE, "#f59e0b", GREEN, RED, "#7c3aed", "#0891b2", "#db2777", "#65a30d"]
    for i, (name, part) in enumerate(groups):
        part = part.sort_values(period)
        color = palette[i % len(palette)]
        x = part[period].astype(str).tolist()
        low, high = part["ci_low"], part["ci_high"]
        if value_range is not None:
            low, high = low.clip(*value_range), high.clip(*value_range)
        fig.add_trace(interval_band(x, low.tolist(), high.tolist(), color))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=part["value"],
                mode="lines+markers",
                name=str(name) or title,
                line={"color": color},
                customdata=part["n"],
                hovertemplate="%{x}: %{y:.1f} (n=%{customdata:,})<extra>" + str(name) + "</extra>",
            )
        )
    fig.update_layout(title=title, height=320, showlegend=bool(series), **LAYOUT)
    return fig


#: Markup our own hover templates use; any other ``<`` in a chart string is data and is escaped.
_OWN_TAGS = re.compile(r"<(?:br|extra|/extra)>")


def _escape(text: str, template: bool) -> str:
    """Data text as plotly shows it literally (plotly reads ``<a href>``, ``<b>``... as markup)."""
    if not template:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    parts = _OWN_TAGS.split(text)
    tags = _OWN_TAGS.findall(text)
    out = [_escape(parts[0], False)]
    for tag, part in zip(tags, parts[1:], strict=True):
        out += [tag, _escape(part, False)]
    return "".join(out)


def _clean(value: Any, template: bool = False) -> Any:
    if isinstance(value, str):
        return _escape(value, template)
    if isinstance(value, list):
        return [_clean(v, template) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v, template or k.endswith("template")) for k, v in value.items()}
    return value


def safe_spec(fig: go.Figure) -> str:
    """A figure as JSON for a ``<script type="application/json">`` block: every string from data
    is shown as text (no plotly markup such as links), and the JSON cannot close the script tag."""
    spec = _clean(json.loads(str(pio.to_json(fig, validate=False))))
    text = json.dumps(spec, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
