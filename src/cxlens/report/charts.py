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
    "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
}
#: The one diverging scale: red = bad, white = neither, blue = good, in the report and the web app
#: alike. A chart whose high values are bad (a competitor ahead of us) sets ``reversescale``.
GOOD_BAD = [[0.0, "#b91c1c"], [0.25, "#f87171"], [0.5, "#f8fafc"], [0.75, "#60a5fa"], [1.0, "#1d4ed8"]]
#: Chart titles wider than this (in Latin characters; a CJK character counts two) wrap.
TITLE_WRAP = 56
#: The narrowest a chart is drawn (px): on a narrower screen its frame scrolls sideways rather
#: than piling up or cutting its labels (the pages' app.js and the report read layout.meta).
MIN_WIDTH = 560
_CJK = "\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_WIDE = re.compile(f"[{_CJK}]")
_TOKEN = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+\\s*|\\s+")


def text_units(text: str) -> float:
    """The width of a text in Latin characters: a CJK (full-width) character counts about two."""
    wide = len(_WIDE.findall(text))
    return len(text) - wide + 1.9 * wide


def _tokens(text: str) -> list[str]:
    """Words with their trailing space, and each full-width character on its own (CJK titles
    have no spaces: a line may break between any two of their characters)."""
    return list(_TOKEN.findall(text))


def _wrap(text: str, width: float = TITLE_WRAP) -> str:
    """Break a long title into lines (plotly draws ``<br>`` as a line break)."""
    if text_units(text) <= width or "<br>" in text:
        return text
    lines, line = [], ""
    for token in _tokens(text):
        if line.strip() and text_units(line + token.rstrip()) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    return "<br>".join([*lines, line.rstrip()])


def finish(fig: go.Figure, locale: str = "en") -> go.Figure:
    """The chart rules, applied to every figure the report and the web app show (``Section.add_chart``
    and the web's ``figure_json`` call it): numbers in full with the locale's separators (no
    "145.269k" on axes), axes that make room for their labels, long titles wrapped instead of cut.
    Axis titles, the diverging scale (:data:`GOOD_BAD`) and grey small-n marks are set by each chart;
    ``tests/test_chart_rules.py`` checks them all."""
    from cxlens.display import separators

    fig.update_layout(separators=separators(locale))
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    fig.update_layout(meta={"minWidth": MIN_WIDTH, **meta})
    title = fig.layout.title.text
    if title:
        wrapped = _wrap(str(title))
        lines = wrapped.count("<br>") + 1
        fig.update_layout(title={"text": wrapped, "font": {"size": 15 if lines == 1 else 13}})
        if lines > 1:
            margin = fig.layout.margin
            fig.update_layout(margin={"t": max(int(margin.t or 0), 40 + 18 * lines)})
    for name in fig.layout:
        if name.startswith(("xaxis", "yaxis")):
            axis = fig.layout[name]
            axis.automargin = True
            if axis.type not in ("category", "date", "multicategory") and not axis.tickformat:
                axis.exponentformat = "none"
                axis.separatethousands = True
    if not any(k.startswith(("xaxis", "yaxis")) for k in fig.layout.to_plotly_json()):
        cartesian = any(t.type in {"bar", "scatter", "histogram", "heatmap", "funnel"} for t in fig.data)
        if cartesian:
            fig.update_xaxes(exponentformat="none", separatethousands=True, automargin=True)
            fig.update_yaxes(exponentformat="none", separatethousands=True, automargin=True)
    return fig


def interval_bars(
    df: pd.DataFrame,
    label: str,
    title: str,
    *,
    value: str = "value",
    height: int | None = None,
    x_title: str | None = None,
    y_title: str = "",
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
        title=title,
        height=height or max(220, 28 * len(df) + 80),
        yaxis={"autorange": "reversed", "title": y_title or _column_title(label)},
        xaxis={"title": x_title or _metric_of(title)},
        **LAYOUT,
    )
    return fig


def _metric_of(title: str) -> str:
    """The measure a chart titled "NPS by store" shows ("NPS"), for its value axis (none when
    the title does not say: the caller titles the axis)."""
    return title.split(" by ")[0] if " by " in title else ""


def _column_title(label: str) -> str:
    """A category axis's title from its column ("store_id" -> "store id"; none for the generic
    "label" and "level": the caller titles the axis)."""
    return "" if label in ("label", "level") else label.replace("_", " ")


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
    y_title: str | None = None,
    x_title: str = "Month",
) -> go.Figure:
    """One line per series over time with a shaded 95% interval band (drawn within
    ``value_range``, the metric's scale, so a small month's wide interval stays on the chart)."""
    fig = go.Figure()
    groups = df.groupby(series, sort=True) if series else [("", df)]
    palette = [BLUE, "#f59e0b", GREEN, RED, "#7c3aed", "#0891b2", "#db2777", "#65a30d"]
    for i, (name, part) in enumerate(groups):
        part = part.sort_values(period)
        color = palette[i % len(palette)]
        x = _periods(part[period])
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
                # small-n months are grey: never read as a real rise or fall
                marker={"color": [GREY if s else color for s in part.get("small_n", [False] * len(part))]},
                customdata=part["n"],
                hovertemplate="%{x}: %{y:.1f} (n=%{customdata:,})<extra>" + str(name) + "</extra>",
            )
        )
    fig.update_layout(
        title=title,
        height=320,
        showlegend=bool(series),
        xaxis={"title": x_title, "type": "category"},
        yaxis={"title": y_title or title},
        **LAYOUT,
    )
    return fig


def _periods(values: pd.Series) -> list[str]:
    """Periods as text: months as YYYY-MM, quarters as YYYY-Qn, days as YYYY-MM-DD."""
    try:
        ts = pd.to_datetime(values)
    except (ValueError, TypeError):
        return values.astype(str).tolist()
    if len(ts) and (ts.dt.day == 1).all() and (ts.dt.hour == 0).all():
        return ts.dt.strftime("%Y-%m").tolist()
    return ts.dt.strftime("%Y-%m-%d").tolist()


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
        # a title's own line breaks (see :func:`_wrap`) stay; any other markup is escaped
        return {
            k: _clean(v, template or k.endswith("template") or (k == "text" and _is_title(value)))
            for k, v in value.items()
        }
    return value


def _is_title(value: dict[str, Any]) -> bool:
    return set(value) <= {"text", "font", "x", "xanchor", "y", "yanchor", "automargin", "pad", "xref", "yref"}


def safe_spec(fig: go.Figure) -> str:
    """A figure as JSON for a ``<script type="application/json">`` block: every string from data
    is shown as text (no plotly markup such as links), and the JSON cannot close the script tag."""
    spec = _clean(json.loads(str(pio.to_json(fig, validate=False))))
    text = json.dumps(spec, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
