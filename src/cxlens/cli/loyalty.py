"""``cxlens loyalty``: the loyalty programme's members, tiers, points and effects."""

from __future__ import annotations

import typer

loyalty_app = typer.Typer(
    help="Loyalty programme: members, tier migration, points liability and breakage, CX by tier, "
    "and the programme's effect on spend and retention.",
    no_args_is_help=True,
)
