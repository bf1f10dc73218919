"""``cxlens loyalty``: the loyalty programme's members, tiers, points, experience and effects."""

from __future__ import annotations

from typing import Annotated

import typer

from cxlens.cli.common import (
    EngineOpt,
    FormatOpt,
    fail,
    open_workspace,
    print_frame,
    print_frames,
    print_record,
    write_json,
)
from cxlens.cli.promo import run, tables_of

loyalty_app = typer.Typer(
    help="Loyalty programme: members, tier migration, points liability and breakage, experience by "
    "tier, and what joining, moving up a tier and expiring points do (with 95% intervals).",
    no_args_is_help=True,
)

GrainOpt = Annotated[str, typer.Option(help="day, week, month or quarter.")]


@loyalty_app.command("members")
def members_command(grain: GrainOpt = "month", engine: EngineOpt = None, output: FormatOpt = "table") -> None:
    """Members, new members and active members (bought in the period) per period."""
    from cxlens.analyse import loyalty as ly

    with open_workspace(read_only=True) as ws:
        frame = run(ly.members_series, tables_of(ws, engine), grain)
    print_frame(
        frame,
        output,
        f"members per {grain}",
        ["period", "new_members", "members", "active_members", "active_share"],
    )


@loyalty_app.command("tiers")
def tiers_command(
    start: Annotated[str | None, typer.Option(help="First day (default: the first order).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day (default: the last order).")] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Tier migration: members by tier on the first day (rows) and the last (columns)."""
    import pandas as pd

    from cxlens.analyse import loyalty as ly

    with open_workspace(read_only=True) as ws:
        get = tables_of(ws, engine)
        span = run(ly.data_range, get)
        if span is None and (start is None or end is None):
            raise fail("no orders yet: give --start and --end", code=1)
        lo = start or span[0]
        hi = end or span[1] - pd.Timedelta(microseconds=1)
        migration = run(ly.tier_migration, get, lo, hi)
    if output != "table":
        print_frame(migration, output, "")
        return
    matrix = ly.migration_matrix(migration).reset_index()
    matrix.columns = [str(c) for c in matrix.columns]
    print_frame(matrix, output, f"tier migration, members: {str(lo)[:10]} (rows) to {str(hi)[:10]} (columns)")


@loyalty_app.command("points")
def points_command(
    as_of: Annotated[str | None, typer.Option(help="Balance before this day (default: all).")] = None,
    point_value: Annotated[
        float | None, typer.Option(help="Money value of a point (default: from the ledger's value).")
    ] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Points issued, burned, expired, the balance and its liability, redemption rate and breakage."""
    from cxlens.analyse import loyalty as ly

    with open_workspace(read_only=True) as ws:
        result = run(ly.points_summary, tables_of(ws, engine), as_of, point_value)
    print_record(result.as_dict(), output, "points")


@loyalty_app.command("cx")
def cx_command(engine: EngineOpt = None, output: FormatOpt = "table") -> None:
    """NPS, CSAT and rating by member tier, and members against non-members."""

    from cxlens.analyse import loyalty as ly

    with open_workspace(read_only=True) as ws:
        get = tables_of(ws, engine)
        by_tier = run(ly.cx_by_tier, get)
        versus = run(ly.cx_members_vs_others, get)
        sentiment = run(ly.sentiment_by_tier, get)
    if output != "table":
        frames = {"by_tier": by_tier, "members_vs_non_members": versus, "sentiment_by_tier": sentiment}
        print_frames({name: (frame, "") for name, frame in frames.items()}, output)
        return
    tiers = by_tier.assign(loyalty_tier=by_tier["loyalty_tier"].fillna("(unknown customer)"))
    print_frame(tiers, output, "by tier", ["loyalty_tier", "metric", "n", "value", "ci_low", "ci_high"])
    shown = ["metric", "value_a", "value_b", "diff", "diff_ci_low", "diff_ci_high", "p_value"]
    print_frame(versus, output, "members (a) against non-members (b)", shown)
    if not sentiment.empty:
        print_frame(sentiment, output, "sentiment of texts by tier")


@loyalty_app.command("enrolment")
def enrolment_command(
    window_days: Annotated[int, typer.Option(help="Days before and after joining compared.")] = 60,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """What joining does to spend, visits and buying at all (retention): difference-in-differences
    against customers who never joined, matched on earlier spend."""
    from cxlens.analyse import loyalty_effects as le

    with open_workspace(read_only=True) as ws:
        frame = run(le.enrolment_effect, tables_of(ws, engine), window_days=window_days)
    if frame.empty:
        raise fail(f"no members joined with {window_days} days of data before and after", code=1)
    shown = ["metric", "estimate", "ci_low", "ci_high", "p_value", "members"]
    print_frame(frame, output, f"effect of joining, {window_days} days after against before (95% CI)", shown)


@loyalty_app.command("rd")
def rd_command(
    outcome: Annotated[str, typer.Option(help="visits or spend after the review.")] = "visits",
    review_date: Annotated[
        str | None, typer.Option(help="Day of the tier review (default: the main one).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Qualifying threshold (default: the lowest value upgraded).")
    ] = None,
    bandwidth: Annotated[float | None, typer.Option(help="Bandwidth (default: a rule of thumb).")] = None,
    horizon_days: Annotated[
        int | None, typer.Option(help="Days after the review (default: to the end).")
    ] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """The effect of moving up a tier: regression discontinuity at the qualifying threshold."""
    from cxlens.analyse import loyalty_effects as le

    with open_workspace(read_only=True) as ws:
        result, points = run(
            le.tier_rd,
            tables_of(ws, engine),
            outcome=outcome,
            review_date=review_date,
            threshold=threshold,
            bandwidth=bandwidth,
            horizon_days=horizon_days,
        )
    if output == "json":
        write_json({**result.as_dict(), "bins": points})
        return
    print_record(result.as_dict(), output, f"tier upgrade: jump in {outcome} at the threshold")


@loyalty_app.command("expiry")
def expiry_command(
    window_days: Annotated[int, typer.Option(help="Days after the expiry checked for complaints.")] = 30,
    day: Annotated[str | None, typer.Option(help="Expiry day (default: the biggest one).")] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Complaints about points after they expire: members whose points expired against the rest."""
    from cxlens.analyse import loyalty_effects as le

    with open_workspace(read_only=True) as ws:
        result = run(le.expiry_complaints, tables_of(ws, engine), window_days=window_days, day=day)
    print_record(result, output, "complaints about points after the expiry")
