"""``cxlens privacy``: the workspace's privacy settings (redaction where personal data lands), and
one customer's data exported (access) or erased, over :mod:`cxlens.privacy`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cxlens.cli.common import (
    FormatOpt,
    err,
    fail,
    open_workspace,
    out,
    print_record,
    print_table,
    state,
    write_csv,
    write_json,
)

if TYPE_CHECKING:
    from cxlens.collect.privacy import Privacy

privacy_app = typer.Typer(
    help="Privacy: redaction settings; one customer's data exported or erased.", no_args_is_help=True
)


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


CustomerArg = Annotated[str, typer.Argument(help="The customer's id (customers.customer_id).")]


@privacy_app.command("export")
def export(
    customer_id: CustomerArg,
    path: Annotated[Path, typer.Option("--out", help="JSON file to write (readable by its owner only).")],
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
    output: FormatOpt = "table",
) -> None:
    """Everything held about one customer, as one JSON file (right of access; audited). The layout
    is described in docs/security.md."""
    from cxlens.cli.users import actor
    from cxlens.ops import OpsStore
    from cxlens.privacy.export import write_export

    if path.exists() and not force:
        raise fail(f"{path} exists; choose another --out or add --force")
    with open_workspace() as ws, OpsStore(data_dir=state.data_dir) as ops:
        counts = write_export(ws, ops, customer_id, path, actor=actor())
    if not counts:
        raise fail(f"nothing is held about customer {customer_id!r} (no file written)")
    listed = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    print_record({"path": str(path), **counts}, output, message=f"wrote {path}: {listed}")


@privacy_app.command("erase")
def erase(
    customer_id: CustomerArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    reference: Annotated[
        str | None, typer.Option(help="The request it answers (a ticket number; no personal data).")
    ] = None,
    output: FormatOpt = "table",
) -> None:
    """Erase one customer from both stores, old file versions and caches (right to erasure;
    audited). Orders stay, cut from the person; the receipt counts what was removed where."""
    from cxlens.cli.users import actor
    from cxlens.ops import OpsStore
    from cxlens.privacy.erase import erase_customer

    if not yes and not typer.confirm(f"Erase every trace of customer {customer_id!r}? This cannot be undone"):
        raise typer.Exit(1)
    with open_workspace() as ws, OpsStore(data_dir=state.data_dir) as ops, err.status("erasing"):
        receipt = erase_customer(ws, ops, customer_id, actor=actor(), reference=reference)
    _print_receipts([receipt.to_dict()], output, single=True)
    if not receipt.verified:
        raise typer.Exit(1)


@privacy_app.command("erasures")
def erasures_(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    output: FormatOpt = "table",
) -> None:
    """The receipts of the latest erasures (from the audit log)."""
    from cxlens.ops import OpsStore
    from cxlens.privacy.erase import erasures

    with OpsStore(data_dir=state.data_dir) as ops:
        receipts = erasures(ops, limit)
    _print_receipts(receipts, output)


def _receipt_rows(receipt: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (store, table, what was done) of a receipt."""
    return [
        {"erasure_id": receipt["erasure_id"], "store": store, "table": name, "rows": n, "done": what}
        for store, part in (("analytics", receipt["analytics"]), ("operational", receipt["operational"]))
        for name, done in part.items()
        for what, n in done.items()
    ]


def _print_receipts(receipts: list[dict[str, Any]], output: str, single: bool = False) -> None:
    """Receipts as JSON (one object for one erasure, a list for the log), CSV rows or tables."""
    if output == "json":
        write_json(receipts[0] if single else receipts)
        return
    if output == "csv":
        import pandas as pd

        write_csv(pd.DataFrame([row for r in receipts for row in _receipt_rows(r)]))
        return
    from rich.table import Table as RichTable

    for receipt in receipts:
        ref = f" (request {receipt['reference']})" if receipt.get("reference") else ""
        out.print(
            f"erasure {receipt['erasure_id']}{ref} at {receipt['at']} by {receipt['actor']}", highlight=False
        )
        table = RichTable()
        for col in ("store", "table", "rows", "done"):
            table.add_column(col, justify="right" if col == "rows" else "left")
        for row in _receipt_rows(receipt):
            table.add_row(row["store"], row["table"], f"{row['rows']:,}", row["done"])
        print_table(table)
        files = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in receipt["files"].items())
        out.print(f"files: {files}", highlight=False, soft_wrap=True)
        if receipt["verified"]:
            out.print(
                "verified: nothing of the customer is left in either store or any file", highlight=False
            )
        for place, n in receipt["remaining"].items():
            err.print(f"[red]still found[/] in {escape(place)}: {n:,}", highlight=False)
        for warning in receipt["warnings"]:
            err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
