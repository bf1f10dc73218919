"""``cxlens analyse``: CX metrics with intervals and significance tests."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cxlens.cli.common import (
    ByOpt,
    EngineOpt,
    FormatOpt,
    JsonAlias,
    MetricOpt,
    fail,
    lowercase,
    open_workspace,
    out,
    output_format,
    parse_filters,
    print_frame,
    write_json,
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


_DRIVER_COLUMNS = ["rank", "driver", "importance", "ci_low", "ci_high", "share", "direction", "performance",
                   "coverage", "quadrant", "revenue_at_risk"]  # fmt: skip
_BENCHMARK_COLUMNS = ["indicator", "brand", "n", "share_positive", "diff_share", "p_share", "mean",
                      "diff_mean", "p_mean", "verdict"]  # fmt: skip


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise fail(str(exc), code=2) from None


def _emit(
    payload: dict[str, Any], frame: Any, output: str, title: str, columns: list[str] | None = None
) -> None:
    """JSON (the whole result), CSV (every column) or a table (the columns that fit a terminal)."""
    if output == "json":
        write_json(payload)
        return
    print_frame(frame, output, title, columns)


@analyse_app.command("drivers")
def analyse_drivers(
    outcome: Annotated[str, typer.Option(help="nps, csat or repurchase.", callback=lowercase)] = "nps",
    touchpoint: Annotated[
        str | None, typer.Option(help="Only this touchpoint's answers form the outcome (nps, csat).")
    ] = None,
    days: Annotated[int, typer.Option(help="Repurchase window in days.")] = 90,
    boot: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")] = 200,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    value: Annotated[
        str, typer.Option(help="Customer value for revenue at risk: auto (CLV, else spend), clv or spend.")
    ] = "auto",
    text: Annotated[
        bool | None, typer.Option("--text/--no-text", help="Text-aspect drivers (default: when analysed).")
    ] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
    as_json: JsonAlias = False,
) -> None:
    """Key drivers of NPS, CSAT or repurchase: Shapley importance with intervals, priority quadrant,
    revenue at risk."""
    from cxlens.analyse.drivers import OUTCOMES, key_drivers, text_getter

    output = output_format(output, as_json)
    if outcome not in OUTCOMES:
        raise fail(f"unknown outcome {outcome!r}; choose from {', '.join(OUTCOMES)}", code=2)
    if value not in ("auto", "clv", "spend"):
        raise fail(f"unknown value {value!r}; choose auto, clv or spend", code=2)
    with open_workspace() as ws:
        result = _call(
            key_drivers,
            text_getter(ws, engine),
            outcome,
            outcome_touchpoint=touchpoint,
            repurchase_days=days,
            text=text,
            n_boot=boot,
            seed=seed,
            value=value,
        )
        title = (
            f"drivers of {outcome}: {result.method}, R² {result.r2:.3f} "
            f"[{result.r2_ci[0]:.3f}, {result.r2_ci[1]:.3f}], {result.n_units:,} customers"
        )
        _emit(result.as_dict(), result.drivers, output, title, _DRIVER_COLUMNS)
        if result.cost and output == "table":
            c = result.cost
            out.print(
                f"cost of inaction: {c['detractors']:,} detractors, revenue at risk "
                f"{c['revenue_at_risk']:,.0f} of {c['revenue_total']:,.0f} ({c['basis']})"
            )


@analyse_app.command("benchmark")
def analyse_benchmark(
    start: Annotated[str | None, typer.Option(help="First day (inclusive).")] = None,
    end: Annotated[str | None, typer.Option(help="End (exclusive).")] = None,
    text: Annotated[
        bool | None, typer.Option("--text/--no-text", help="Text-aspect indicators (default: when analysed).")
    ] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
    as_json: JsonAlias = False,
) -> None:
    """Our brand against each competitor per indicator (rating, text aspects), with significance."""
    from cxlens.analyse.benchmark import benchmark
    from cxlens.analyse.drivers import text_getter

    output = output_format(output, as_json)
    with open_workspace() as ws:
        df = _call(benchmark, text_getter(ws, engine), text=text, start=start, end=end)
        records = df.replace({float("nan"): None}).to_dict("records")
        _emit(
            {"rows": records},
            df,
            output,
            "competitor benchmark (diff = competitor - ours)",
            _BENCHMARK_COLUMNS,
        )


@analyse_app.command("effect")
def analyse_effect(
    stores: Annotated[str, typer.Option(help="Treated stores, comma-separated, e.g. S005,S013.")],
    start: Annotated[str, typer.Option(help="Start of the action plan, e.g. 2025-07-01.")],
    metric: Annotated[
        str,
        typer.Option(
            help="csat (% satisfied), csat_mean (1-5), nps, ces or rating; in the metric's units.",
            callback=lowercase,
        ),
    ] = "csat",
    touchpoint: Annotated[str | None, typer.Option(help="Only feedback at this touchpoint.")] = None,
    control: Annotated[
        str | None, typer.Option(help="Control stores, comma-separated (default: every other store).")
    ] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
    as_json: JsonAlias = False,
) -> None:
    """Effect of an action plan: difference-in-differences against control stores, with an interval."""
    import pandas as pd

    from cxlens.analyse.effects import did_effect

    output = output_format(output, as_json)
    treated = [s.strip() for s in stores.split(",") if s.strip()]
    controls = [s.strip() for s in control.split(",") if s.strip()] if control else None
    with open_workspace() as ws:
        effect = _call(
            did_effect,
            lambda name: ws.table(name, engine),
            treated_stores=treated,
            start=start,
            metric=metric,
            touchpoint=touchpoint,
            control_stores=controls,
        )
        d = effect.as_dict()
        rows = pd.DataFrame(
            [
                {"group": "treated", "before": d["treated_before"], "after": d["treated_after"],
                 "change": d["treated_after"] - d["treated_before"],
                 "n_before": d["n_treated_before"], "n_after": d["n_treated_after"]},
                {"group": "control", "before": d["control_before"], "after": d["control_after"],
                 "change": d["control_after"] - d["control_before"],
                 "n_before": d["n_control_before"], "n_after": d["n_control_after"]},
            ]
        )  # fmt: skip
        verdict = "significant" if effect.significant else "not significant"
        title = (
            f"{effect.metric} effect from {effect.start} ({effect.unit}): {effect.estimate:+.3f} "
            f"[{effect.ci_low:+.3f}, {effect.ci_high:+.3f}] ({effect.confidence:.0%}), "
            f"p = {effect.p_value:.3g}, {verdict}"
        )
        _emit(d, rows, output, title)
