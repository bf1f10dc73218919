"""``cxlens journey``: the journey map (and, as they land, journey analytics)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from cxlens.cli.common import fail, out, state
from cxlens.journey.map import JourneyMapError
from cxlens.storage.workspace import Workspace

journey_app = typer.Typer(help="Show and check the journey map.", no_args_is_help=True)


@journey_app.command("show")
def journey_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print the map as JSON.")] = False,
) -> None:
    """Print the journey map in force: stages, touchpoints, channels and event types."""
    try:
        ws = Workspace(state.data_dir, state.journey_map)
    except JourneyMapError as exc:
        raise fail(str(exc)) from None
    jm = ws.journey_map
    if as_json:
        out.print_json(jm.model_dump_json())
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
    out.print(table)
    out.print("channels: " + ", ".join(f"{c.id} ({c.kind})" for c in jm.channels))
