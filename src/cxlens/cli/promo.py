"""``cxlens promo``: campaigns, coupons, in-store promotions, prices and experiments.

``campaigns`` also runs straight from files (transactions plus the campaign files), like
``cxlens customers clv FILE``; the other commands read the store.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cxlens.cli.common import EngineOpt, FormatOpt, fail, open_workspace, print_frame

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

promo_app = typer.Typer(
    help="Promotions and campaigns: incremental spend per targeted customer, display and mailer "
    "uplift, the dip after a sale, charm prices, bundles, stacked offers, A/B readouts.",
    no_args_is_help=True,
)

FileArg = Annotated[
    Path | None,
    typer.Argument(help="Transactions file (CSV/TSV/Parquet, gzip too); default: the store."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (same as -o json).")]
CampaignOpt = Annotated[list[str], typer.Option("--campaign", "-c", help="Campaign id(s) (default: all).")]


def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an analytic; data problems become clear errors, not tracebacks."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, KeyError) as exc:
        raise fail(str(exc).strip("'\""), code=1) from None
    except Exception as exc:  # engine errors on bad input (dates, numbers) come as backend exceptions
        raise fail(f"could not compute it: {str(exc).splitlines()[0]}", code=1) from None


def emit(frame: pd.DataFrame, output: str, title: str, table_columns: list[str] | None = None) -> None:
    """JSON and CSV (every column) straight to stdout; a table of ``table_columns`` for people."""
    if output == "table" and table_columns is not None:
        frame = frame[[c for c in table_columns if c in frame.columns]]
    print_frame(frame, output, title)


def write_json(data: Any) -> None:
    """A JSON document on stdout (NaN as null)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    sys.stdout.write(json.dumps(clean(data), indent=2, default=str, ensure_ascii=False) + "\n")


def _first(columns: list[str], *names: str) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _descriptions(path: Path, campaign_col: str, con: Any, sep: str | None) -> pd.DataFrame:
    """Campaign id, start, end (exclusive: a date-only end counts the whole day), type and name."""
    import pandas as pd

    from cxlens.analyse.customers import prepare

    raw = prepare.read_raw(path, sep=sep, con=con).to_pandas()
    cols = list(raw.columns)
    start = _first(cols, "start_at", "start_date", "start")
    end = _first(cols, "end_at", "end_date", "end")
    if campaign_col not in cols or start is None or end is None:
        raise fail(
            f"{path}: needs columns {campaign_col}, start_date (or start_at) and end_date (or end_at); "
            f"it has {', '.join(cols)}",
            code=2,
        )
    frame = pd.DataFrame({"campaign_id": raw[campaign_col].astype(str)})
    for name, col in (("start", start), ("end", end)):
        try:
            values = pd.to_datetime(raw[col], utc=True, format="mixed").dt.tz_localize(None)
        except (ValueError, TypeError) as exc:
            raise fail(f"{path}: column {col}: not a date ({exc})", code=1) from None
        frame[name] = values
    date_only = raw[end].astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    frame.loc[date_only, "end"] = frame.loc[date_only, "end"] + pd.Timedelta(days=1)
    kind = _first(cols, "type", "campaign_type")
    label = _first(cols, "name", "campaign_name", "description")
    frame["type"] = raw[kind].astype(str) if kind else None
    frame["name"] = raw[label].astype(str) if label else None
    return frame


def _targets(path: Path, campaign_col: str, customer_col: str, con: Any, sep: str | None) -> ir.Table:
    import ibis

    from cxlens.analyse.customers import prepare

    raw = prepare.read_raw(path, sep=sep, con=con)
    missing = [c for c in (campaign_col, customer_col) if c not in raw.columns]
    if missing:
        raise fail(f"{path}: no column {', '.join(missing)}; it has {', '.join(raw.columns)}", code=2)
    hold = _first(list(raw.columns), "holdout", "control", "is_holdout", "is_control")
    holdout = (
        raw[hold].cast("string").lower().isin(["1", "true", "t", "yes", "y"])
        if hold
        else ibis.null("boolean")
    )
    return raw.select(
        campaign_id=raw[campaign_col].cast("string"),
        customer_id=raw[customer_col].cast("string"),
        holdout=holdout,
    )


@promo_app.command("campaigns")
def campaigns_command(
    file: FileArg = None,
    campaigns: Annotated[
        Path | None, typer.Option("--campaigns", help="Who each campaign targeted: campaign id, customer id.")
    ] = None,
    descriptions: Annotated[
        Path | None, typer.Option("--descriptions", help="Campaign id, start_date, end_date (and type).")
    ] = None,
    redemptions: Annotated[
        Path | None, typer.Option("--redemptions", help="Coupon redemptions: campaign id, customer id.")
    ] = None,
    customer_col: Annotated[str, typer.Option("--customer-col", help="Customer (household) column.")] = (
        "customer_id"
    ),
    date_col: Annotated[str, typer.Option("--date-col", help="Purchase time stamp column.")] = "date",
    value_col: Annotated[str | None, typer.Option("--value-col", help="Spend column.")] = None,
    basket_col: Annotated[
        str | None, typer.Option("--basket-col", help="Basket id column (default: customer + time).")
    ] = None,
    campaign_col: Annotated[str, typer.Option("--campaign-col", help="Campaign id column.")] = "campaign_id",
    date_format: Annotated[str | None, typer.Option("--date-format", help="strptime format.")] = None,
    sep: Annotated[str | None, typer.Option("--sep", help="Separator (default: guessed).")] = None,
    sample_rate: Annotated[
        float,
        typer.Option(
            "--sample-rate", help="Share of lines the transactions file holds (spend is divided by it)."
        ),
    ] = 1.0,
    campaign: CampaignOpt = [],  # noqa: B006 - Typer reads list defaults
    output: FormatOpt = "table",
    as_json: JsonOpt = False,
    engine: EngineOpt = None,
) -> None:
    """Per campaign: customers targeted, redemption rate, incremental spend per targeted customer
    during and after it with 95% intervals (holdout if kept, else matched customers)."""
    from cxlens.analyse import campaigns as cm

    output = "json" if as_json else output
    if not 0 < sample_rate <= 1:
        raise fail("--sample-rate must be above 0 and at most 1", code=2)
    if file is None:
        with open_workspace(read_only=True) as ws:
            frame = run(cm.campaign_effects, lambda name: ws.table(name, engine), campaign or None)
    else:
        if campaigns is None or descriptions is None:
            raise fail("with a transactions file, give --campaigns FILE and --descriptions FILE", code=2)
        frame = _campaigns_from_files(
            file, campaigns, descriptions, redemptions, customer_col, date_col, value_col, basket_col,
            campaign_col, date_format, sep, sample_rate, campaign,
        )  # fmt: skip
    emit(
        frame,
        output,
        "campaigns: incremental spend per targeted customer (95% CI)",
        ["campaign_id", "name", "type", "households_targeted", "redemption_rate", "uplift_per_household",
         "ci_low", "ci_high", "uplift_after", "method", "note"],
    )  # fmt: skip


def _campaigns_from_files(
    file: Path,
    campaigns: Path,
    descriptions: Path,
    redemptions: Path | None,
    customer_col: str,
    date_col: str,
    value_col: str | None,
    basket_col: str | None,
    campaign_col: str,
    date_format: str | None,
    sep: str | None,
    sample_rate: float,
    wanted: list[str],
) -> pd.DataFrame:
    import ibis

    from cxlens.analyse import campaigns as cm
    from cxlens.analyse.customers import prepare

    for path in (file, campaigns, descriptions, redemptions):
        if path is not None and not path.exists():
            raise fail(f"no such file: {path}", code=2)
    con = ibis.duckdb.connect()
    cols = prepare.Columns(
        customer=customer_col, date=date_col, value=value_col, basket=basket_col, date_format=date_format
    )
    try:
        lines = prepare.read_transactions(file, cols, sep=sep, con=con)
    except KeyError as exc:
        raise fail(f"{file}: {str(exc).strip(chr(39) + chr(34))}", code=2) from None
    desc = _descriptions(descriptions, campaign_col, con, None)
    if wanted:
        unknown = sorted(set(wanted) - set(desc["campaign_id"]))
        if unknown:
            raise fail(f"unknown campaign {unknown[0]!r}", code=2)
        desc = desc[desc["campaign_id"].isin(wanted)]
    targets = _targets(campaigns, campaign_col, customer_col, con, None)
    red = _targets(redemptions, campaign_col, customer_col, con, None) if redemptions else None
    return run(
        cm.campaign_effects_from,
        prepare.baskets(lines),
        desc,
        targets,
        redemptions=red,
        scale=1.0 / sample_rate,
    )
