"""The report's journey section: Sankey of stage paths, funnel, emotion curve, omnichannel patterns,
top paths and moments of truth. Every chart is drawn from the frame a journey analytic returns."""

from __future__ import annotations

import math
from contextlib import ExitStack
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from cxlens.analyse import journey_experience as jx
from cxlens.analyse import journey_funnels as jf
from cxlens.analyse import journey_patterns as jp
from cxlens.analyse import journeys as jr
from cxlens.analyse.journey_cache import cached_states
from cxlens.display import DisplayNames, build_names
from cxlens.journey.map import JourneyMap
from cxlens.report.charts import BLUE, GREY, LAYOUT, interval_band
from cxlens.report.render import Section, TableBlock
from cxlens.storage.workspace import Workspace


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _rows(frame: pd.DataFrame) -> list[Any]:
    """Rows as attribute-access tuples (untyped: columns vary by frame)."""
    return list(frame.itertuples(index=False))


def sankey_figure(
    links: pd.DataFrame, title: str = "Journey paths by stage", names: DisplayNames | None = None
) -> go.Figure:
    """A Sankey diagram from :func:`cxlens.analyse.journeys.sankey_links` (nodes are step:state).
    Nodes are spaced by the busiest step (labels of neighbouring nodes never overlap) and named by
    the journey map."""
    names = names or DisplayNames()
    nodes: list[str] = []
    index: dict[tuple[int, str], int] = {}

    def node(step: int, state: str) -> int:
        key = (step, state)
        if key not in index:
            index[key] = len(nodes)
            nodes.append(f"{step}. {names(state, 'stage')}")
        return index[key]

    rows: list[Any] = list(links.itertuples(index=False))
    src = [node(int(r.step), str(r.source)) for r in rows]
    dst = [node(int(r.step) + 1, str(r.target)) for r in rows]
    per_step: dict[int, int] = {}
    for step, _state in index:
        per_step[step] = per_step.get(step, 0) + 1
    busiest = max(per_step.values(), default=1)
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": nodes, "pad": 28, "thickness": 14, "color": BLUE},
            textfont={"size": 11},
            link={
                "source": src,
                "target": dst,
                "value": links["n"].tolist(),
                "color": "rgba(37,99,235,0.25)",
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,}<extra></extra>",
            },
            valueformat=",d",
        )
    )
    steps = len(per_step)
    fig.update_layout(
        title=title,
        height=max(420, 46 * busiest + 140),
        # each step's column needs room for its longest label ("4. Post-purchase") beside the nodes
        meta={"minWidth": max(720, 170 * steps)},
        **LAYOUT,
    )
    return fig


def funnel_figure(
    funnel: pd.DataFrame,
    title: str = "Funnel",
    names: DisplayNames | None = None,
    *,
    x_title: str = "Journeys",
    y_title: str = "Step",
) -> go.Figure:
    """A funnel chart from :func:`cxlens.analyse.journey_funnels.funnel` (no ``by`` groups); values
    in full ("145,269", not "145.269k")."""
    names = names or DisplayNames()
    fig = go.Figure(
        go.Funnel(
            y=names.many(funnel["step"], "touchpoint"),
            x=funnel["journeys"].tolist(),
            texttemplate="%{value:,} (%{percentInitial:.0%})",
            hovertemplate="%{y}: %{x:,}<extra></extra>",
            marker={"color": BLUE},
        )
    )
    fig.update_layout(
        title=title,
        height=max(280, 60 * len(funnel) + 110),
        xaxis={"title": x_title},
        yaxis={"title": y_title},
        **LAYOUT,
    )
    return fig


def emotion_figure(
    curve: pd.DataFrame,
    title: str = "Emotion curve",
    names: DisplayNames | None = None,
    *,
    y_title: str = "0 = worst, 1 = best",
    x_title: str | None = None,
) -> go.Figure:
    """The emotion curve with its 95% band from :func:`cxlens.analyse.journey_experience.emotion_curve`;
    small-n points are grey."""
    names = names or DisplayNames()
    kind = "touchpoint" if "touchpoint" in curve else "stage"
    x = names.many(curve[kind], kind)
    fig = go.Figure()
    fig.add_trace(interval_band(x, curve["ci_low"].tolist(), curve["ci_high"].tolist()))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=curve["mean"],
            mode="lines+markers",
            line={"color": BLUE},
            marker={"color": [GREY if s else BLUE for s in curve["small_n"]], "size": 9},
            customdata=list(zip(curve["n"], names.many(curve["stage"], "stage"), strict=True)),
            hovertemplate="%{x} (%{customdata[1]}): %{y:.2f} (n=%{customdata[0]:,})<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_layout(
        title=title,
        height=360,
        yaxis={"range": [0, 1], "title": y_title},
        xaxis={"title": x_title or kind.capitalize(), "type": "category"},
        **LAYOUT,
    )
    return fig


def journey_section(
    tables: jr.Tables,
    journey_map: JourneyMap | None = None,
    *,
    workspace: Workspace | None = None,
    engine: str | None = None,
) -> Section:
    """The journey section of the report (empty with a note when there are no events).

    Given the ``workspace``, the stage paths come from its journey cache (split once per data
    version, reused by the next report on the same data); otherwise they are computed here.
    """
    jm = jr.journey_map_of(tables, journey_map)
    section = Section(
        "journeys",
        "Customer journeys",
        intro="Omnichannel journeys stitched across web, app, store and call centre (7-day inactivity "
        "gap), with the experience signal along the way.",
    )
    with ExitStack() as stack:
        if workspace is not None:
            states = cached_states(workspace, "stage", journey_map=jm, engine=engine)
        else:
            states = stack.enter_context(jr.journey_states(tables, "stage", journey_map=jm).cache())
        top = jr.top_paths(tables, "stage", k=10, journey_map=jm, states=states)
        if top.total_journeys == 0:
            section.notes.append(
                "No events yet: load touchpoint events (`cxlens ingest events events.csv`; web sessions: "
                "see docs/own-data.md) to see journeys, the funnel and moments of truth."
            )
            return section
        links = jr.sankey_links(tables, "stage", max_steps=5, journey_map=jm, states=states)
    names = build_names(journey_map=jm)
    section.add_chart(sankey_figure(links, names=names))
    section.tables.append(
        TableBlock(
            "Top paths by stage",
            ["rank", "path", "journeys", "share"],
            [[str(r.rank), str(r.path), f"{r.n:,}", f"{100 * r.share:.1f}%"] for r in _rows(top.paths)],
            numeric={0, 2, 3},
        )
    )
    section.notes.append(top.note)
    steps = [s for s in jf.DEFAULT_STEPS if s in jm.touchpoint_ids]
    if steps:
        funnel = jf.funnel(tables, steps, journey_map=jm)
        steps_shown = " → ".join(names.many(funnel.attrs["steps"], "touchpoint"))
        section.add_chart(funnel_figure(funnel, "Funnel: " + steps_shown, names))
    curve = jx.emotion_curve(tables, journey_map=jm)
    if not curve.empty:
        section.add_chart(emotion_figure(curve, "Emotion curve by touchpoint (95% intervals)", names))
        low = curve[~curve["small_n"]].nsmallest(1, "mean")
        for r in _rows(low):
            section.findings.append(
                f"The lowest point of the journey is {names(r.touchpoint, 'touchpoint')} "
                f"({names(r.stage, 'stage')}): {r.mean:.2f} on the 0–1 "
                f"scale (95% CI {r.ci_low:.2f}–{r.ci_high:.2f}, n={r.n:,})."
            )
    patterns = jp.pattern_summary(tables, journey_map=jm)
    patterns = patterns[patterns["orders"] > 0]
    section.tables.append(
        TableBlock(
            "Purchases by omnichannel pattern (7-day look-back, identity-stitched)",
            ["pattern", "orders", "share", "95% CI", "NPS", "NPS 95% CI", "NPS n"],
            [
                [
                    str(r.pattern),
                    f"{r.orders:,}",
                    f"{100 * r.share:.1f}%",
                    f"{100 * r.share_ci_low:.1f}–{100 * r.share_ci_high:.1f}%",
                    _fmt(r.nps),
                    f"{_fmt(r.nps_ci_low)} to {_fmt(r.nps_ci_high)}",
                    f"{r.nps_n:,}",
                ]
                for r in _rows(patterns)
            ],
            numeric={1, 2, 4, 6},
        )
    )
    mot = jx.moments_of_truth(tables, journey_map=jm)
    if not mot.empty:
        section.tables.append(
            TableBlock(
                "Moments of truth: NPS after a bad (bottom-box) experience vs other journeys",
                [
                    "rank",
                    "touchpoint",
                    "bad journeys",
                    "NPS bad",
                    "NPS other",
                    "effect",
                    "95% CI",
                    "repurchase effect (pp)",
                ],
                [
                    [
                        str(r.rank),
                        names(r.touchpoint, "touchpoint") + (" (small n)" if r.small_n else ""),
                        f"{r.orders_bad:,}",
                        _fmt(r.nps_bad),
                        _fmt(r.nps_ok),
                        _fmt(r.nps_effect),
                        f"{_fmt(r.nps_ci_low)} to {_fmt(r.nps_ci_high)}",
                        _fmt(r.repurchase_effect),
                    ]
                    for r in _rows(mot)
                ],
                numeric={0, 2, 3, 4, 5, 7},
            )
        )
        first = mot.iloc[0]
        if not first["small_n"] and first["nps_ci_high"] < 0:
            section.findings.append(
                f"Biggest moment of truth: a bad {names(first['touchpoint'], 'touchpoint')} experience "
                "goes with NPS "
                f"{first['nps_effect']:+.0f} points (95% CI {first['nps_ci_low']:.0f} to "
                f"{first['nps_ci_high']:.0f})."
            )
    return section
