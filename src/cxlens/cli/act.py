"""``cxlens act``: alerts, cases and action plans (closing the loop)."""

from __future__ import annotations

import typer

act_app = typer.Typer(
    help="Act: alerts, cases with SLAs, action plans and their measured effect.", no_args_is_help=True
)
