"""``cxlens privacy``: the workspace's privacy settings (redaction where personal data lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cxlens.cli.common import FormatOpt, out, print_record, state

if TYPE_CHECKING:
    from cxlens.collect.privacy import Privacy

privacy_app = typer.Typer(help="Privacy settings of the workspace.", no_args_is_help=True)


def _show(privacy: Privacy, output: str) -> None:
    if output != "table":
        print_record({"redact": privacy.redact, "regions": list(privacy.regions)}, output)
        return
    out.print(f"redact personal data where it lands: {'on' if privacy.redact else 'off'}", highlight=False)
    out.print(f"phone-number regions: {', '.join(privacy.regions)}", highlight=False)


@privacy_app.command("show")
def show(output: FormatOpt = "table") -> None:
    """Show the settings every process of this workspace applies."""
    from cxlens.collect.privacy import get_privacy
    from cxlens.ops import OpsStore

    with OpsStore(data_dir=state.data_dir) as ops:
        _show(get_privacy(ops, fresh=True), output)


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
    output: FormatOpt = "table",
) -> None:
    """Change the settings (audited; every server applies them within seconds)."""
    from cxlens.cli.users import actor
    from cxlens.collect.privacy import set_privacy
    from cxlens.ops import OpsStore

    with OpsStore(data_dir=state.data_dir) as ops:
        privacy = set_privacy(
            ops, redact=redact, regions=regions.split(",") if regions else None, actor=actor()
        )
    _show(privacy, output)
