"""``cxlens analyse``: CX metrics with intervals and significance tests."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cxlens.cli.common import (
    ByOpt,
    EngineOpt,
    FormatOpt,
    MetricOpt,
    fail,
    open_workspace,
    parse_filters,
    print_frame,
)

analyse_app = typer.Typer(help="CX metrics with intervals and significance tests.", no_args_is_help=True)


def _metric_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (ValueError, KeyError) as exc:
        raise fail(str(exc).strip("'\""), code=2) from None


@analyse_app.command("metrics")
def analyse_metrics(
    metric: MetricOpt = ["nps"],  # noqa: B006 - Typer reads list defaults
    by: ByOpt = [],  # noqa: B006
    grain: Annotated[str | None, typer.Option(help="day, week, month or quarter.")] = None,
    filters: Annotated[list[str], typer.Option("--filter", "-f", help="DIMENSION=VALUE[,VALUE].")] = [],  # noqa: B006
    brand: Annotated[str | None, typer.Option(help="Brand name, or * for all (default: our own).")] = None,
    start: Annotated[str | None, typer.Option(help="First day (inclusive), e.g. 2025-01-01.")] = None,
    end: Annotated[str | None, typer.Option(help="End (exclusive).")] = None,
    min_n: Annotated[int, typer.Option(help="Flag groups with fewer answers than this.")] = 30,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """NPS, CSAT, CES by any dimension and time grain, with n and 95% intervals."""
    from cxlens.analyse import metrics as m

    with open_workspace() as ws:
        df = _metric_call(
            m.metric_table,
            lambda name: ws.table(name, engine),
            metric,
            by,
            grain,
            journey_map=ws.journey_map,
            brand=brand,
            filters=parse_filters(filters),
            start=start,
            end=end,
            min_n=min_n,
        )
        print_frame(df, output, f"{', '.join(metric)} by {', '.join(by) or 'all'}")


@analyse_app.command("compare")
def analyse_compare(
    metric: MetricOpt = ["nps"],  # noqa: B006
    by: ByOpt = [],  # noqa: B006
    grain: Annotated[str, typer.Option(help="Period length for period-over-period tests.")] = "month",
    segment: Annotated[
        str | None, typer.Option(help="Compare segments of this dimension instead of periods.")
    ] = None,
    a: Annotated[str | None, typer.Option("--a", help="Segment A (default: each segment).")] = None,
    b: Annotated[str | None, typer.Option("--b", help="Segment B (default: the rest).")] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Significance tests: latest period against the previous one, or segment against segment."""
    from cxlens.analyse import metrics as m

    with open_workspace() as ws:
        tables = lambda name: ws.table(name, engine)  # noqa: E731
        if segment:
            df = _metric_call(
                m.compare_segments, tables, metric, segment, a, b, by, journey_map=ws.journey_map
            )
        else:
            df = _metric_call(m.compare_periods, tables, metric, grain, by, journey_map=ws.journey_map)
        print_frame(df, output, "differences (significant = p < 0.05)")
