"""``cxlens privacy``: the workspace's privacy settings (redaction where personal data lands)."""

from __future__ import annotations

from typing import Annotated

import typer

from cxlens.cli.common import out, state
from cxlens.collect.privacy import Privacy, get_privacy, set_privacy
from cxlens.ops import OpsStore

privacy_app = typer.Typer(help="Privacy settings of the workspace.", no_args_is_help=True)


def _show(privacy: Privacy) -> None:
    out.print(f"redact personal data where it lands: {'on' if privacy.redact else 'off'}", highlight=False)
    out.print(f"phone-number regions: {', '.join(privacy.regions)}", highlight=False)


@privacy_app.command("show")
def show() -> None:
    """Show the settings every process of this workspace applies."""
    with OpsStore(data_dir=state.data_dir) as ops:
        _show(get_privacy(ops, fresh=True))


@privacy_app.command("set")
def set_(
    redact: Annotated[
        bool | None,
        typer.Option(
            "--redact/--no-redact",
            help="Redact e-mails, IBANs, addresses, cards, phones and cued names in answers, event "
            "properties and loaded feedback text, before they are stored.",
        ),
    ] = None,
    regions: Annotated[
        str | None, typer.Option(help="Comma-separated regions whose phone numbers are looked for.")
    ] = None,
) -> None:
    """Change the settings (audited; every server applies them within seconds)."""
    from cxlens.cli.users import actor

    with OpsStore(data_dir=state.data_dir) as ops:
        privacy = set_privacy(
            ops, redact=redact, regions=regions.split(",") if regions else None, actor=actor()
        )
    _show(privacy)
