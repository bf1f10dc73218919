"""``cxlens journey``: the journey map and journey analytics (paths, funnels, omnichannel patterns,
the emotion curve, peak-end and moments of truth)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cxlens.cli.common import (
    EngineOpt,
    FormatOpt,
    JsonAlias,
    err,
    fail,
    lowercase,
    open_workspace,
    out,
    output_format,
    parse_filters,
    print_frame,
    print_table,
    state,
    write_json,
)

if TYPE_CHECKING:
    from cxlens.storage.workspace import Workspace

journey_app = typer.Typer(
    help="The journey map and journey analytics: paths, funnels, patterns, emotions.", no_args_is_help=True
)

LevelOpt = Annotated[str, typer.Option("--level", "-l", help="touchpoint, stage, channel or event_type.")]
GapOpt = Annotated[float, typer.Option("--gap-days", help="Inactivity (days) that starts a new journey.")]
SplitOpt = Annotated[
    bool, typer.Option("--split-after-purchase", help="Start a new journey after each purchase event.")
]
StartOpt = Annotated[
    list[str], typer.Option("--start-event", help="Event type that always starts a new journey.")
]
WindowOpt = Annotated[float, typer.Option("--window-days", help="Look-back before each order (days).")]


@journey_app.command("show")
def journey_show(output: FormatOpt = "table", as_json: JsonAlias = False) -> None:
    """Print the journey map in force: stages, touchpoints, channels and event types."""
    from rich.table import Table as RichTable

    from cxlens.config import get_settings
    from cxlens.journey.map import JourneyMapError, load_journey_map

    try:
        jm = load_journey_map(state.journey_map or get_settings().journey_map)
    except JourneyMapError as exc:
        raise fail(str(exc)) from None
    output = output_format(output, as_json)
    if output == "json":
        write_json(jm.model_dump(mode="json"))
        return
    if output == "csv":
        import pandas as pd

        print_frame(pd.DataFrame(jm.rows()), output)
        return
    table = RichTable(title=f"Journey map: {jm.name}", show_lines=False)
    for col in ("stage", "touchpoint", "channels", "event types"):
        table.add_column(col)
    for row in jm.rows():
        table.add_row(
            str(row["stage_name"]) if row["touchpoint_order"] == 0 else "",
            f"{row['touchpoint_name']} [dim]({row['touchpoint']})[/]",
            str(row["channels"]),
            str(row["event_types"]),
        )
    print_table(table)
    out.print("channels: " + ", ".join(f"{c.id} ({c.kind})" for c in jm.channels))


PATH_VIEWS = ("top", "transitions", "matrix", "steps", "sankey")


@contextmanager
def _workspace(engine: str | None) -> Iterator[tuple[Workspace, Callable[[str], Any], dict[str, Any]]]:
    """The workspace, its tables on the chosen engine and the journey map; bad arguments become
    exit code 2."""
    with open_workspace() as ws:
        try:
            yield ws, (lambda name: ws.table(name, engine)), {"journey_map": ws.journey_map}
        except (ValueError, KeyError) as exc:
            raise fail(str(exc).strip("'\""), code=2) from None


@contextmanager
def _analysis(engine: str | None) -> Iterator[tuple[Callable[[str], Any], dict[str, Any]]]:
    """Tables on the chosen engine and the journey map; bad arguments become exit code 2."""
    with _workspace(engine) as (_, tables, opts):
        yield tables, opts


def _rules(gap_days: float, split: bool, start_events: list[str]) -> Any:
    from cxlens.analyse.journeys import JourneyRules

    if gap_days <= 0:
        raise fail("--gap-days must be positive", code=2)
    return JourneyRules(
        inactivity_gap=timedelta(days=gap_days),
        split_after_purchase=split,
        start_event_types=tuple(start_events),
    )


def _note(text: str, output: str) -> None:
    """A note about the result: after the table, or on stderr so JSON/CSV stay machine-readable."""
    (out if output == "table" else err).print(text, highlight=False, soft_wrap=True)


@journey_app.command("paths")
def journey_paths(
    view: Annotated[
        str, typer.Argument(help="top (top paths), transitions, matrix (transition matrix), steps, sankey.")
    ] = "top",
    level: LevelOpt = "stage",
    top: Annotated[int, typer.Option("--top", "-k", help="How many paths to list.")] = 20,
    max_steps: Annotated[int, typer.Option(help="Steps per path (longer paths are cut, and counted).")] = 8,
    gap_days: GapOpt = 7.0,
    split_after_purchase: SplitOpt = False,
    start_event: StartOpt = [],  # noqa: B006 - Typer reads list defaults
    engine: EngineOpt = None,
    output: FormatOpt = "table",
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Reuse the journeys split for this data version.")
    ] = True,
) -> None:
    """Journey paths: top paths, transitions, transition or step matrix, Sankey links.

    The journeys are split once per data version and kept under the data directory
    (``cache/journeys``), so the next view on the same data starts from them; ``--no-cache``
    recomputes them from the events.
    """
    from cxlens.analyse import journey_cache
    from cxlens.analyse import journeys as jr

    rules = _rules(gap_days, split_after_purchase, start_event)
    if view not in PATH_VIEWS:
        raise fail(f"unknown view {view!r}; choose {', '.join(PATH_VIEWS)}", code=2)
    with _workspace(engine) as (ws, tables, opts):
        if cache:
            if level not in jr.LEVELS:
                raise ValueError(f"unknown level {level!r}; choose from {', '.join(jr.LEVELS)}")
            opts["states"] = journey_cache.cached_states(ws, level, rules, engine=engine, **opts)  # type: ignore[arg-type]
        if view == "top":
            result = jr.top_paths(tables, level, rules, k=top, max_steps=max_steps, **opts)  # type: ignore[arg-type]
            print_frame(result.paths, output, f"Top {level} paths")
            _note(result.note, output)
        elif view in ("transitions", "matrix"):
            df = jr.transitions(tables, level, rules, **opts)  # type: ignore[arg-type]
            if view == "matrix":
                df = jr.transition_matrix(df).reset_index()
            print_frame(df, output, f"Transitions between {level}s")
        elif view == "steps":
            df = jr.step_matrix(tables, level, rules, max_steps=max_steps, **opts)  # type: ignore[arg-type]
            print_frame(df, output, f"Step matrix ({df.attrs['journeys']:,} journeys)")
        else:
            df = jr.sankey_links(tables, level, rules, max_steps=max_steps, **opts)  # type: ignore[arg-type]
            print_frame(df, output, f"Sankey links between {level}s")


@journey_app.command("funnel")
def journey_funnel(
    step: Annotated[
        list[str],
        typer.Option("--step", "-s", help="A stage, touchpoint or event type; a|b for either. Repeat."),
    ] = [],  # noqa: B006
    by: Annotated[
        list[str], typer.Option("--by", "-b", help="channel, store_id or a customer attribute.")
    ] = [],  # noqa: B006
    within_days: Annotated[
        float | None, typer.Option(help="Only count steps within this many days of step 1.")
    ] = None,
    times: Annotated[bool, typer.Option("--times", help="Show the time-to-convert distribution.")] = False,
    gap_days: GapOpt = 7.0,
    split_after_purchase: SplitOpt = False,
    start_event: StartOpt = [],  # noqa: B006
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Funnel conversion and drop-off per step (default: product page to delivery)."""
    from cxlens.analyse import journey_funnels as jf

    steps = [s.split("|") if "|" in s else s for s in step] or list(jf.DEFAULT_STEPS)
    rules = _rules(gap_days, split_after_purchase, start_event)
    within = timedelta(days=within_days) if within_days is not None else None
    with _analysis(engine) as (tables, opts):
        if times:
            df = jf.time_to_convert(tables, steps, by, rules, within=within, **opts)
            print_frame(df, output, "Time from the first to the last step")
        else:
            df = jf.funnel(tables, steps, by, rules, within=within, **opts)
            print_frame(df, output, "Funnel: " + " → ".join(df.attrs["steps"]))


@journey_app.command("between")
def journey_between(
    a: Annotated[str, typer.Argument(help="From: a stage, touchpoint or event type.")],
    b: Annotated[str, typer.Argument(help="To: a stage, touchpoint or event type.")],
    by: Annotated[
        list[str], typer.Option("--by", "-b", help="channel, store_id or a customer attribute.")
    ] = [],  # noqa: B006
    gap_days: GapOpt = 7.0,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Time between two touchpoints within journeys (distribution and mean)."""
    from cxlens.analyse import journey_funnels as jf

    rules = _rules(gap_days, False, [])
    with _analysis(engine) as (tables, opts):
        df = jf.time_between(tables, a, b, by, rules, **opts)
        print_frame(df, output, f"Time from {a} to {b}")
        _note(f"{df.attrs['pairs']:,} journeys; mean {df.attrs['mean_hours']:.1f} hours.", output)


@journey_app.command("patterns")
def journey_patterns(
    view: Annotated[str, typer.Argument(help="summary, zmot (first touch) or conversion.")] = "summary",
    window_days: WindowOpt = 7.0,
    gap_days: GapOpt = 7.0,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Omnichannel patterns: showrooming, webrooming, online/store only; first touch; conversion."""
    from cxlens.analyse import journey_patterns as jp

    with _analysis(engine) as (tables, opts):
        if view == "summary":
            df = jp.pattern_summary(tables, window_days=window_days, **opts)
            print_frame(df, output, f"Purchases by pattern ({window_days:g}-day look-back)")
        elif view == "zmot":
            df = jp.zero_moment(tables, window_days=window_days, **opts)
            print_frame(df, output, "Zero moment of truth: first touch before each purchase")
        elif view == "conversion":
            df = jp.research_conversion(tables, _rules(gap_days, False, []), **opts)
            print_frame(df, output, "Journey conversion by research channel")
        else:
            raise ValueError(f"unknown view {view!r}; choose summary, zmot or conversion")


@journey_app.command("emotions")
def journey_emotions(
    level: Annotated[str, typer.Option("--level", "-l", help="touchpoint or stage.")] = "touchpoint",
    by: Annotated[list[str], typer.Option("--by", "-b", help="store_id, channel, source or kind.")] = [],  # noqa: B006
    filters: Annotated[list[str], typer.Option("--filter", "-f", help="COLUMN=VALUE[,VALUE].")] = [],  # noqa: B006
    score: Annotated[
        list[str], typer.Option("--score", help="nps, csat, ces, rating (default all).", callback=lowercase)
    ] = [],  # noqa: B006
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """The emotion curve: experience signal (0-1, higher is better) per stage and touchpoint."""
    from cxlens.analyse import journey_experience as jx

    kinds = score or ["nps", "csat", "ces", "rating"]
    with _analysis(engine) as (tables, opts):
        df = jx.emotion_curve(tables, level, by, kinds=kinds, filters=parse_filters(filters), **opts)
        print_frame(df, output, "Emotion curve (0 = worst, 1 = best; 95% intervals)")


@journey_app.command("peak-end")
def journey_peak_end(
    repurchase_days: Annotated[int, typer.Option(help="Window for a repeat order (days).")] = 90,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """How well peak-end and the plain average predict NPS (R²) and repurchase (AUC)."""
    from cxlens.analyse import journey_experience as jx
    from cxlens.analyse.journey_peak_end import PeakEndComparison

    with _analysis(engine) as (tables, opts):
        journeys = jx.journey_experience(tables, repurchase_days=repurchase_days, **opts).to_pandas()
        fit = PeakEndComparison().fit(journeys)
        print_frame(fit.fits_, output, "Peak-end vs average (cross-validated)")
        best = ", ".join(f"{k}: {v}" for k, v in fit.best_.items())
        _note(f"{len(journeys):,} journeys with feedback; best predictor {best}.", output)


@journey_app.command("moments")
def journey_moments(
    repurchase_days: Annotated[int, typer.Option(help="Window for a repeat order (days).")] = 90,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Moments of truth: touchpoints where a bad experience lowers NPS and repurchase most."""
    from cxlens.analyse import journey_experience as jx

    with _analysis(engine) as (tables, opts):
        df = jx.moments_of_truth(tables, repurchase_days=repurchase_days, **opts)
        cols = [
            *("rank", "touchpoint", "orders_bad", "nps_bad", "nps_ok", "nps_effect", "nps_ci_low"),
            *("nps_ci_high", "repurchase_effect", "repurchase_ci_low", "repurchase_ci_high", "small_n"),
        ]
        print_frame(df[cols] if output == "table" else df, output, "Moments of truth")


@journey_app.command("stitching")
def journey_stitching(engine: EngineOpt = None, output: FormatOpt = "table") -> None:
    """Identity stitching: events by how their customer is known, actors before and after."""
    from cxlens.analyse import journeys as jr

    with _analysis(engine) as (tables, _):
        df = jr.stitching_summary(tables)
        print_frame(df, output, "Identity stitching")
        _note(f"{df.attrs['ambiguous_ids']:,} anonymous ids are linked to several customers.", output)
