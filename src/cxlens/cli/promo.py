"""``cxlens promo``: campaigns, coupons, in-store promotions, prices and experiments.

``campaigns`` also runs straight from files (transactions plus the campaign files), like
``cxlens customers clv FILE``; the other commands read the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cxlens.cli.common import (
    EngineOpt,
    FormatOpt,
    JsonAlias,
    fail,
    lowercase,
    open_workspace,
    output_format,
    print_frame,
    print_record,
    write_json,
)

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
CampaignOpt = Annotated[list[str], typer.Option("--campaign", "-c", help="Campaign id(s) (default: all).")]


def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an analytic; data problems become clear errors, not tracebacks."""
    try:
        return fn(*args, **kwargs)
    except KeyError as exc:  # str() of a KeyError quotes its message
        raise fail(str(exc.args[0] if exc.args else exc), code=1) from None
    except ValueError as exc:
        raise fail(str(exc), code=1) from None
    except Exception as exc:  # engine errors on bad input (dates, numbers) come as backend exceptions
        raise fail(f"could not compute it: {str(exc).splitlines()[0]}", code=1) from None


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
    as_json: JsonAlias = False,
    engine: EngineOpt = None,
) -> None:
    """Per campaign: customers targeted, redemption rate, incremental spend per targeted customer
    during and after it with 95% intervals (holdout if kept, else matched customers)."""
    from cxlens.analyse import campaigns as cm

    output = output_format(output, as_json)
    if not 0 < sample_rate <= 1:
        raise fail("--sample-rate must be above 0 and at most 1", code=2)
    if file is None:
        with open_workspace(read_only=True) as ws:
            frame = run(cm.campaign_effects, lambda name: ws.table(name, engine), campaign or None)
    else:
        if campaigns is None or descriptions is None:
            raise fail("with a transactions file, give --campaigns FILE and --descriptions FILE", code=2)
        cols = (customer_col, date_col, value_col, basket_col, campaign_col, date_format, sep)
        frame = _campaigns_from_files(
            file, campaigns, descriptions, redemptions, *cols, sample_rate, campaign
        )
    shown = ["campaign_id", "households_targeted", "redemption_rate", "uplift_per_household", "ci_low"]
    shown += ["ci_high", "uplift_after"]
    print_frame(frame, output, "campaigns: incremental spend per targeted customer (95% CI)", shown)


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


def tables_of(ws: Any, engine: str | None) -> Any:
    """The workspace's tables (with the text tables once analysed) on the chosen engine."""
    from cxlens.analyse.drivers import text_getter

    return text_getter(ws, engine)


def _promotions_of_type(ws: Any, engine: str | None, kind: str) -> list[str]:
    """Promotions of a type that list products in product_promotions."""
    get = tables_of(ws, engine)
    pr, pp = get("promotions"), get("product_promotions")
    listed = pp.filter(pp.promotion_id.notnull()).select("promotion_id").distinct()
    rows = pr.filter(pr.type == kind, pr.promotion_id.isin(listed.promotion_id)).select("promotion_id")
    return sorted(rows.to_pandas()["promotion_id"].astype(str))


@promo_app.command("display")
def display_command(engine: EngineOpt = None, output: FormatOpt = "table") -> None:
    """Units and baskets uplift of displayed and mailer products over the same products' other
    store-weeks, with 95% intervals."""
    from cxlens.analyse import promotions as pm

    with open_workspace(read_only=True) as ws:
        frame = run(pm.feature_uplift, tables_of(ws, engine))
    shown = ["feature", "cells", "units_uplift", "units_ci_low", "units_ci_high", "baskets_uplift"]
    print_frame(frame, output, "display and mailer uplift (95% CI)", [*shown, "incremental_units"])


@promo_app.command("prices")
def prices_command(engine: EngineOpt = None, output: FormatOpt = "table") -> None:
    """Units per store-week at charm (.9x) and other price endings against round prices."""
    from cxlens.analyse import promotions as pm

    with open_workspace(read_only=True) as ws:
        frame = run(pm.price_endings, tables_of(ws, engine))
    shown = ["comparison", "products", "cells", "units_ratio", "ci_low", "ci_high", "price_difference"]
    print_frame(frame, output, "price endings: units per store-week against round prices (95% CI)", shown)


PromotionArg = Annotated[str | None, typer.Argument(help="Promotion id (default: every one of the kind).")]


@promo_app.command("dip")
def dip_command(
    promotion: PromotionArg = None,
    pre_days: Annotated[int, typer.Option(help="Days before it that make the baseline.")] = 28,
    post_days: Annotated[int, typer.Option(help="Days after it checked for a dip.")] = 14,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """A time-limited promotion's lift and the dip after it (demand pulled forward)."""
    from cxlens.analyse import promotions as pm

    with open_workspace(read_only=True) as ws:
        ids = [promotion] if promotion else _promotions_of_type(ws, engine, "limited_time")
        if not ids:
            raise fail("no time-limited promotion lists its products in product_promotions", code=1)
        get = tables_of(ws, engine)
        results = [run(pm.promotion_dip, get, p, pre_days=pre_days, post_days=post_days) for p in ids]
    if output == "json":
        write_json([{**s, "daily": _daily(d)} for s, d in results])
        return
    import pandas as pd

    shown = ["promotion_id", "during_ratio", "during_ci_low", "during_ci_high", "after_ratio", "after_ci_low"]
    shown += ["after_ci_high", "net_extra_units"]
    print_frame(pd.DataFrame([s for s, _ in results]), output, "promotion lift and the dip after it", shown)


def _daily(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.assign(day=frame["day"].dt.strftime("%Y-%m-%d"))
    return [{str(k): v for k, v in row.items()} for row in out.to_dict("records")]


@promo_app.command("bundle")
def bundle_command(
    promotion: PromotionArg = None, engine: EngineOpt = None, output: FormatOpt = "table"
) -> None:
    """Bundle attach rates: baskets with another bundle product that hold this one, before,
    during and after the bundle."""
    import pandas as pd

    from cxlens.analyse import promotions as pm

    with open_workspace(read_only=True) as ws:
        ids = [promotion] if promotion else _promotions_of_type(ws, engine, "bundle")
        if not ids:
            raise fail("no bundle lists its products in product_promotions", code=1)
        frames = [run(pm.bundle_attach, tables_of(ws, engine), p).assign(promotion_id=p) for p in ids]
    shown = ["product_id", "period", "baskets_with_bundle", "attach_rate", "ci_low", "ci_high"]
    print_frame(
        pd.concat(frames, ignore_index=True),
        output,
        "bundle attach rates (95% CI)",
        [*shown, "lift_vs_before"],
    )


@promo_app.command("stacked")
def stacked_command(engine: EngineOpt = None, output: FormatOpt = "table") -> None:
    """Basket value of orders with a promotion, a coupon, both or neither (descriptive)."""
    from cxlens.analyse import promotions as pm

    with open_workspace(read_only=True) as ws:
        frame = run(pm.stacked_offers, tables_of(ws, engine))
    shown = ["offers", "orders", "mean_value", "ci_low", "ci_high", "diff_vs_none", "p_value"]
    print_frame(frame, output, "stacked offers: mean basket value (95% CI)", shown)


@promo_app.command("cx")
def cx_command(engine: EngineOpt = None, output: FormatOpt = "table") -> None:
    """NPS and negative price and stock mentions on promoted days against other days."""
    from cxlens.analyse import promo_cx

    with open_workspace(read_only=True) as ws:
        frame = run(promo_cx.promo_cx, tables_of(ws, engine))
    days = frame.attrs.get("promoted_days", 0)
    shown = ["measure", "promoted", "other", "difference", "ci_low", "ci_high", "p_value"]
    print_frame(frame, output, f"promoted days ({days}) against other days", shown)


@promo_app.command("experiment")
def experiment_command(
    campaign: Annotated[str, typer.Argument(help="Campaign id of the experiment (it must keep a holdout).")],
    metric: Annotated[str, typer.Option(help="spend, visits, active or nps.", callback=lowercase)] = "spend",
    as_of: Annotated[
        str | None, typer.Option(help="Read it as it stood on this day (an interim look).")
    ] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """A/B readout: sample-ratio check, CUPED-adjusted difference with its interval, and a
    warning (with the stricter boundary) when looking before the planned end."""
    from cxlens.analyse import experiments as ex

    with open_workspace(read_only=True) as ws:
        result = run(ex.experiment_readout, tables_of(ws, engine), campaign, metric=metric, as_of=as_of)
    print_record(result.as_dict(), output, f"A/B readout of {campaign} ({metric})")
