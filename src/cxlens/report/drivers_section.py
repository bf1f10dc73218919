"""The report's key-driver section: priority matrix, driver importance with intervals, the competitor
benchmark heatmap and table. Each chart is drawn from an analytic's frame (its data twin); the web
page draws the same charts through the same functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cxlens.analyse.benchmark import OURS, benchmark, benchmark_matrix
from cxlens.analyse.common import Tables
from cxlens.analyse.drivers import QUADRANTS, KeyDrivers, key_drivers
from cxlens.display import build_names, money
from cxlens.report.charts import BLUE, GOOD_BAD, GREEN, GREY, LAYOUT, RED, text_units
from cxlens.report.render import Kpi, Section, TableBlock
from cxlens.report.text_section import _taxonomy

QUADRANT_COLOURS = dict(zip(QUADRANTS, (RED, GREEN, GREY, BLUE), strict=True))


#: Where a driver's label may go around its point, in order of preference, as (x, y) offsets of
#: the label box's anchor in px (see :func:`place_labels`).
LABEL_POSITIONS = ("top center", "bottom center", "middle right", "middle left", "top right", "top left",
                   "bottom right", "bottom left")  # fmt: skip
#: The plot area the matrix is laid out for: its narrowest (MATRIX_WIDTH wide, 480 high, minus
#: axes and legend); wider screens only add room between labels.
MATRIX_WIDTH, PLOT_PX = 680, (590.0, 320.0)
CHAR_PX, LINE_PX, GAP_PX = 6.6, 14.0, 7.0


def _box(position: str, px: float, py: float, w: float) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1; y up, px) of a label of width ``w`` at ``position`` of a point."""
    vertical, _, horizontal = position.partition(" ")
    if vertical == "middle":
        y0 = py - LINE_PX / 2
    elif vertical == "top":
        y0 = py + GAP_PX
    else:
        y0 = py - GAP_PX - LINE_PX
    if horizontal == "center":
        x0 = px - w / 2
    elif horizontal == "right":
        x0 = px + GAP_PX
    else:
        x0 = px - GAP_PX - w
    return (x0, y0, x0 + w, y0 + LINE_PX)


def place_labels(
    x: list[float], y: list[float], texts: list[str], x_range: list[float], y_range: list[float]
) -> list[str | None]:
    """A position for each label, most important (first) first, such that no two labels overlap,
    none covers another point and none leaves the plot; None where no position fits (the label is
    then left off; its name stays in the hover and the table)."""
    sx = PLOT_PX[0] / (x_range[1] - x_range[0])
    sy = PLOT_PX[1] / (y_range[1] - y_range[0])
    points = [((a - x_range[0]) * sx, (b - y_range[0]) * sy) for a, b in zip(x, y, strict=True)]
    placed: list[tuple[float, float, float, float]] = []
    out: list[str | None] = []

    def free(box: tuple[float, float, float, float], own: int) -> bool:
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 > PLOT_PX[0] or y1 > PLOT_PX[1]:
            return False
        for a0, b0, a1, b1 in placed:
            if x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1:
                return False
        return all(
            not (x0 - 5 < px < x1 + 5 and y0 - 5 < py < y1 + 5)
            for i, (px, py) in enumerate(points)
            if i != own
        )

    for i, ((px, py), text) in enumerate(zip(points, texts, strict=True)):
        w = text_units(text) * CHAR_PX
        for position in LABEL_POSITIONS:
            box = _box(position, px, py, w)
            if free(box, i):
                placed.append(box)
                out.append(position)
                break
        else:
            out.append(None)
    return out


def priority_matrix_chart(
    drivers: pd.DataFrame,
    title: str = "Priority matrix: importance x performance",
    *,
    x_title: str = "Performance (share performing well)",
    y_title: str = "Importance (% of explained variance)",
    quadrant_names: dict[str, str] | None = None,
) -> go.Figure:
    """Scatter of importance (share of R²) against performance, with quadrant lines at the means.
    Labels are placed around their points without overlapping each other, other points or the
    plot's edge (:func:`place_labels`, most important first); a label with no room is left off
    and its driver named on hover."""
    fig = go.Figure()
    fig.update_layout(
        **LAYOUT,
        title=title,
        height=480,
        legend={"orientation": "h", "y": -0.2},
        meta={"minWidth": MATRIX_WIDTH},
    )
    fig.update_xaxes(title=x_title, tickformat=".0%")
    fig.update_yaxes(title=y_title)
    if drivers.empty:
        return fig
    frame = drivers.assign(_x=drivers["performance"].astype(float), _y=drivers["share"].astype(float) * 100)
    frame = frame.sort_values("_y", ascending=False, kind="stable")
    x, y = frame["_x"], frame["_y"]
    pad_x = max(0.05, float(x.max() - x.min()) * 0.12)
    pad_y = max(1.0, float(y.max() - y.min()) * 0.1)
    x_range = [float(x.min()) - pad_x, float(x.max()) + pad_x]
    y_range = [min(0.0, float(y.min())) - pad_y, float(y.max()) + pad_y]
    names = frame["name"].astype(str)
    where = place_labels(x.tolist(), y.tolist(), names.tolist(), x_range, y_range)
    positions = pd.Series(where, index=frame.index)
    for quadrant in QUADRANTS:
        sel = frame["quadrant"] == quadrant
        if not sel.any():
            continue
        fig.add_scatter(
            x=x[sel],
            y=y[sel],
            mode="markers+text",
            name=(quadrant_names or {}).get(quadrant, quadrant),
            text=[n if p else "" for n, p in zip(names[sel], positions[sel], strict=True)],
            customdata=names[sel].tolist(),
            textposition=[p or "top center" for p in positions[sel]],
            cliponaxis=False,
            textfont={"size": 11},
            marker={"size": 11, "color": QUADRANT_COLOURS[quadrant]},
            hovertemplate="%{customdata}: %{y:.1f}%, %{x:.0%}<extra></extra>",
        )
    fig.update_xaxes(range=x_range)
    fig.update_yaxes(range=y_range)
    fig.add_vline(x=float(x.mean()), line_dash="dot", line_color=GREY)
    fig.add_hline(y=float(y.mean()), line_dash="dot", line_color=GREY)
    return fig


def importance_chart(
    drivers: pd.DataFrame,
    title: str = "Driver importance (share of R², 95% interval)",
    *,
    x_title: str = "Share of explained variance (%)",
    y_title: str = "Driver",
) -> go.Figure:
    """Horizontal bars of each driver's share of R² with bootstrap interval whiskers."""
    df = drivers.reset_index(drop=True)
    r2 = float(df["importance"].sum()) if not df.empty else 0.0
    scale = 100 / r2 if r2 > 0 else 0.0
    value = df["importance"] * scale
    fig = go.Figure(
        go.Bar(
            x=value,
            y=df["driver"].astype(str),
            orientation="h",
            marker_color=[RED if d < 0 else BLUE for d in df.get("direction", pd.Series(1, index=df.index))],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (df["ci_high"] * scale - value).clip(lower=0).tolist(),
                "arrayminus": (value - df["ci_low"] * scale).clip(lower=0).tolist(),
                "color": "#374151",
            },
            hovertemplate="%{y}: %{x:.1f}% of R²<extra></extra>",
        )
    )
    fig.update_layout(
        **LAYOUT,
        title=title,
        height=max(240, 26 * len(df) + 90),
        yaxis={"autorange": "reversed", "title": y_title},
        xaxis={"title": x_title},
    )
    return fig


def benchmark_heatmap(
    bench: pd.DataFrame,
    title: str = "Competitors against us: share positive (points)",
    *,
    x_title: str = "Competitor",
    y_title: str = "Indicator",
    scale_title: str = "Competitor − us (points; red: they are ahead)",
    names: Any = None,
) -> go.Figure:
    """Indicator x competitor heatmap of the difference in share positive (competitor - ours): red
    where a competitor is ahead of us (bad for us), blue where we are ahead (:data:`GOOD_BAD`,
    reversed). Small-n cells are left blank: too few answers to say better or worse."""
    fig = go.Figure()
    fig.update_layout(**LAYOUT, title=title, height=420)
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title)
    matrix = benchmark_matrix(bench) if not bench.empty else pd.DataFrame()
    if matrix.empty:
        return fig
    z = (matrix.to_numpy(dtype=float) * 100).round(1)
    limit = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    label = names if names is not None else (lambda v, kind=None: str(v))
    fig.add_heatmap(
        z=z,
        x=[str(c) for c in matrix.columns],
        y=[label(i, "aspect") for i in matrix.index],
        colorscale=GOOD_BAD,
        reversescale=True,  # high = competitor ahead = bad for us = red
        zmin=-max(limit, 1.0),
        zmax=max(limit, 1.0),
        zmid=0,
        colorbar={"title": {"text": scale_title, "side": "right"}},
        hovertemplate="%{y}, %{x}: %{z:+.1f}<extra></extra>",
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def _pct(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * v:.1f}%"


def _missing_outcome(tables: Tables, outcome: str) -> str | None:
    """Why key drivers cannot run when the outcome has no answers from known customers (else None)."""
    from cxlens.analyse.common import getter

    if outcome not in ("nps", "csat"):
        return None
    fb = getter(tables)("feedback")
    known = fb.filter(fb[outcome].notnull() & fb.customer_id.notnull() & fb.brand.isnull())
    if int(known.count().to_pandas()) > 0:
        return None
    return (
        f"Key drivers explain {outcome.upper()} per customer, and the feedback has no {outcome.upper()} "
        f"answer with a customer_id: map both on `cxlens ingest feedback` (--map {outcome}=... "
        "--map customer_id=...) and load the customers' orders or events as drivers."
    )


def drivers_section(
    tables: Tables,
    *,
    outcome: str = "nps",
    n_boot: int = 200,
    text: bool | None = None,
    seed: int = 0,
    journey_map: Any = None,
) -> Section:
    """Key drivers of ``outcome`` (priority matrix, importance, cost of inaction) and the competitor
    benchmark; ``tables`` should serve the text tables too (see ``drivers.text_getter``)."""
    section = Section(
        "drivers",
        "Key drivers and competitors",
        intro="What moves NPS, where to act first, and how we compare with competitors.",
    )
    result: KeyDrivers | None = None
    try:
        result = key_drivers(tables, outcome, n_boot=n_boot, text=text, seed=seed)  # type: ignore[arg-type]
    except ValueError as exc:
        section.notes.append(_missing_outcome(tables, outcome) or f"Key drivers not computed: {exc}")
    if journey_map is None:
        from cxlens.journey.map import load_journey_map

        journey_map = load_journey_map()
    names = build_names(journey_map=journey_map, taxonomy=_taxonomy())
    if result is not None:
        d = result.drivers.assign(driver=lambda f: names.drivers(f["driver"]))
        d["name"] = d["driver"]
        section.kpis.append(
            Kpi(
                f"{outcome.upper()} explained (R²)",
                f"{result.r2:.3f}",
                f"[{result.r2_ci[0]:.3f}, {result.r2_ci[1]:.3f}]",
                f"{result.n_units:,} customers",
            )
        )
        if result.cost:
            c = result.cost
            section.kpis.append(
                Kpi(
                    "Revenue at risk from detractors",
                    money(c["revenue_at_risk"]),
                    "",
                    f"{_pct(c.get('share_at_risk'))} of revenue; "
                    f"{c['detractors']:,} detractors ({c['basis']})",
                )
            )
        top = d.iloc[0]
        section.findings.append(
            f"The strongest driver of {outcome} is {top['driver']}: {100 * top['share']:.0f}% of the "
            f"explained variance (interval {top['ci_low']:.3f}-{top['ci_high']:.3f} in R² units, "
            f"{result.method.replace('_', ' ')})."
        )
        fix = d[d["quadrant"] == QUADRANTS[0]]
        if not fix.empty:
            section.findings.append(
                "Fix first (important, performing below average): " + ", ".join(fix["driver"]) + "."
            )
        if result.cost and "revenue_at_risk" in d.columns:
            section.notes.append(
                "Revenue at risk per driver is the spend of the detractors for whom that driver "
                "performs badly. One detractor usually has several such drivers, so the amounts "
                f"overlap: they add up to {money(d['revenue_at_risk'].sum())}, more than the "
                f"{money(result.cost['revenue_at_risk'])} at risk in all."
            )
        section.add_chart(priority_matrix_chart(d))
        section.add_chart(importance_chart(d))
        section.tables.append(
            TableBlock(
                f"Drivers of {outcome}",
                [
                    "rank",
                    "driver",
                    "share of R²",
                    "interval (R²)",
                    "performance",
                    "quadrant",
                    "revenue at risk",
                ],
                [
                    [
                        str(r["rank"]),
                        str(r["driver"]),
                        _pct(r["share"]),
                        f"{r['ci_low']:.3f}-{r['ci_high']:.3f}",
                        _pct(r["performance"]),
                        str(r["quadrant"]),
                        money(r["revenue_at_risk"]) if "revenue_at_risk" in d.columns else "–",
                    ]
                    for r in d.to_dict("records")
                ],
                numeric={0, 2, 4, 6},
            )
        )
    bench = benchmark(tables, text=text)
    if bench.empty or (bench["brand"] != OURS).sum() == 0:
        section.notes.append(
            "No competitor feedback to benchmark against: load competitors' reviews with their brand "
            "set (`cxlens ingest feedback rival-reviews.csv --set brand=Rival ...`)."
        )
        return section
    section.add_chart(benchmark_heatmap(bench, names=names))
    comp = bench[(bench["brand"] != OURS) & ~bench["small_n"]]
    section.tables.append(
        TableBlock(
            "Competitor benchmark (difference = competitor - ours; * p < 0.05)",
            ["indicator", "brand", "n", "share positive", "difference", "mean", "difference (mean)", "vs us"],
            [
                [
                    names(r["indicator"], "aspect"),
                    str(r["brand"]),
                    f"{r['n']:,}",
                    _pct(r["share_positive"]),
                    f"{100 * r['diff_share']:+.1f}{'*' if r['p_share'] < 0.05 else ''}",
                    f"{r['mean']:.2f}",
                    f"{r['diff_mean']:+.2f}{'*' if r['p_mean'] < 0.05 else ''}",
                    str(r["verdict"]),
                ]
                for r in comp.to_dict("records")
            ],
            numeric={2, 3, 4, 5, 6},
        )
    )
    return section
