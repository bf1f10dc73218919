"""``cxlens customers``: customer analytics on the store; ``clv`` and ``rules`` on any file too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cxlens.cli.common import (
    EngineOpt,
    FormatOpt,
    JsonAlias,
    err,
    fail,
    open_workspace,
    out,
    output_format,
    print_frame,
    print_frames,
    write_json,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

customers_app = typer.Typer(
    help="Customer analytics: RFM, cohorts, CLV, churn, basket rules, forecasts, recommendations, 360 view.",
    no_args_is_help=True,
)

FileArg = Annotated[
    Path | None,
    typer.Argument(help="Transactions file (CSV/TSV/whitespace/Parquet, gzip too); default: the store."),
]
CustomerCol = Annotated[str, typer.Option("--customer-col", help="Customer id column.")]
DateCol = Annotated[str, typer.Option("--date-col", help="Purchase date or time stamp column.")]
ValueCol = Annotated[str | None, typer.Option("--value-col", help="Spend column (default: 1 per row).")]
BasketCol = Annotated[
    str | None, typer.Option("--basket-col", help="Basket/order id column (default: customer + time).")
]
ItemCol = Annotated[str | None, typer.Option("--item-col", help="Item/product column (rules).")]
DateFormat = Annotated[str | None, typer.Option("--date-format", help="strptime format, e.g. %Y%m%d.")]
SepOpt = Annotated[
    str | None, typer.Option("--sep", help="Separator: , ; | tab or whitespace (default: guessed).")
]
HeaderOpt = Annotated[
    bool, typer.Option("--header/--no-header", help="First row names the columns (else c1, c2, ...).")
]
UnitOpt = Annotated[str, typer.Option("--time-unit", help="days or weeks.")]
JoinOpt = Annotated[
    Path | None,
    typer.Option("--join", help="Second file (e.g. products) joined to the transactions on --on."),
]
OnOpt = Annotated[str | None, typer.Option("--on", help="Column both files share, e.g. product_id.")]


def _lines(
    file: Path | None,
    customer_col: str,
    date_col: str,
    value_col: str | None,
    basket_col: str | None,
    item_col: str | None,
    date_format: str | None,
    sep: str | None,
    header: bool,
    ws: Any,
    engine: str | None,
    join: Path | None = None,
    on: str | None = None,
) -> ir.Table:
    from cxlens.analyse.customers import prepare

    if file is None:
        if join is not None:
            raise fail("--join works with a transactions file; the store joins products itself", code=2)
        return prepare.lines_from_tables(lambda name: ws.table(name, engine))
    cols = prepare.Columns(
        customer=customer_col,
        date=date_col,
        value=value_col,
        basket=basket_col,
        item=item_col,
        date_format=date_format,
    )
    try:
        return prepare.read_transactions(
            file, cols, sep=sep, header=header, baskets_only=item_col is not None, join=join, on=on
        )
    except (FileNotFoundError, KeyError) as exc:
        raise fail(str(exc).strip("'\""), code=2) from None


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise fail(str(exc).strip("'\""), code=1) from None
    except Exception as exc:  # engine errors (bad dates, bad numbers) come as backend exceptions
        raise fail(f"could not read the transactions: {str(exc).splitlines()[0]}", code=1) from None


def _baskets(file: Path | None, ws: Any, engine: str | None, lines: ir.Table) -> ir.Table:
    from cxlens.analyse.customers import prepare

    if file is None:
        return prepare.baskets_from_tables(lambda name: ws.table(name, engine))
    return prepare.baskets(lines)


@customers_app.command("clv")
def clv_command(
    file: FileArg = None,
    calibration_end: Annotated[str, typer.Option(help="Last day of the calibration period.")] = "",
    observation_end: Annotated[
        str | None, typer.Option(help="Last day observed (default: last purchase).")
    ] = None,
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    value_col: ValueCol = None,
    basket_col: BasketCol = None,
    date_format: DateFormat = None,
    sep: SepOpt = None,
    header: HeaderOpt = True,
    time_unit: UnitOpt = "days",
    output: FormatOpt = "table",
    as_json: JsonAlias = False,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write one row per customer (P(alive), expected purchases, spend and CLV over "
            "--horizon) to this .csv or .parquet file.",
        ),
    ] = None,
    horizon: Annotated[
        float, typer.Option(help="Prediction horizon for --out, in --time-unit units.", min=0.0)
    ] = 90.0,
    engine: EngineOpt = None,
) -> None:
    """Fit BG/NBD + Gamma-Gamma on the calibration period; print parameters and holdout accuracy.

    With --out, the models are fitted again on every purchase to the observation end and each
    customer's predicted value over the next --horizon is written to the file.
    """
    from cxlens.analyse.customers import clv

    output = output_format(output, as_json)
    if not calibration_end:
        raise fail("--calibration-end DATE is required", code=2)
    if time_unit not in ("days", "weeks"):
        raise fail("--time-unit must be days or weeks", code=2)
    if out_file is not None and out_file.suffix.lower() not in (".csv", ".parquet"):
        raise fail(f"--out must end in .csv or .parquet, not {out_file.name!r}", code=2)
    with _store(file) as ws:
        lines = _lines(
            file, customer_col, date_col, value_col, basket_col, None, date_format, sep, header, ws, engine
        )
        baskets = _baskets(file, ws, engine, lines)
        result = _run(clv.fit_clv, baskets, calibration_end, observation_end, unit=time_unit)
        values = None
        if out_file is not None:
            values = _run(clv.customer_values, baskets, observation_end, horizon=horizon, unit=time_unit)
    if values is not None and out_file is not None:
        _write_values(values, out_file)
        err.print(
            f"wrote {len(values):,} customers to {out_file} (value over the next {horizon:g} {time_unit}: "
            f"{values['clv'].sum():,.0f} in all)",
            highlight=False,
        )
    data = result.as_dict()
    if output == "json":
        write_json(data)
        return
    if output == "csv":
        print_frame(result.holdout.table(), output)
        return
    out.print(
        f"customers {data['customers']:,} (repeat {data['repeat_customers']:,}), "
        f"calibration to {data['calibration_end']}, holdout to {data['observation_end']} ({time_unit})"
    )
    out.print("BG/NBD  " + "  ".join(f"{k}={v:.6g}" for k, v in data["bgnbd"].items()))
    out.print("Gamma-Gamma  " + "  ".join(f"{k}={v:.6g}" for k, v in data["gamma_gamma"].items()))
    h = data["holdout"]
    out.print(
        f"holdout purchases: actual {h['actual_purchases']:,.0f}, predicted {h['predicted_purchases']:,.1f}"
    )
    out.print(result.holdout.summary(), highlight=False, markup=False, soft_wrap=True)
    print_frame(result.holdout.table(), "table", "holdout accuracy: the model beside naive baselines")


def _write_values(values: Any, path: Path) -> None:
    """Per-customer values to CSV (formula-safe) or Parquet, written atomically."""
    from cxlens.report.export import safe_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix.lower() == ".parquet":
        values.to_parquet(tmp, index=False)
    else:
        tmp.write_text(safe_csv(values), encoding="utf-8")
    tmp.replace(path)


@customers_app.command("rules")
def rules_command(
    file: FileArg = None,
    min_support: Annotated[float, typer.Option(help="Minimum share of baskets holding the itemset.")] = 0.01,
    min_confidence: Annotated[float, typer.Option(help="Minimum confidence of a rule.")] = 0.0,
    min_lift: Annotated[float, typer.Option(help="Minimum lift of a rule.")] = 0.0,
    max_len: Annotated[int | None, typer.Option(help="Longest itemset.")] = None,
    by: Annotated[str | None, typer.Option(help="Rules per store_id or category (store only).")] = None,
    level: Annotated[str, typer.Option(help="item or category (store only).")] = "item",
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    basket_col: BasketCol = None,
    item_col: ItemCol = None,
    date_format: DateFormat = None,
    sep: SepOpt = None,
    header: HeaderOpt = True,
    join: JoinOpt = None,
    on: OnOpt = None,
    output: FormatOpt = "table",
    as_json: JsonAlias = False,
    limit: Annotated[int, typer.Option(help="Rules to print in the table (all in JSON and CSV).")] = 30,
    engine: EngineOpt = None,
) -> None:
    """Frequent itemsets and association rules (support, confidence, lift).

    With a file, --item-col may name a column of a second file joined with --join FILE --on COLUMN
    (e.g. the category of products.csv by product_id).
    """
    from cxlens.analyse.customers import baskets

    output = output_format(output, as_json)
    if file is not None and item_col is None:
        raise fail("--item-col is required with a transactions file", code=2)
    if level not in ("item", "category"):
        raise fail("--level must be item or category", code=2)
    with _store(file) as ws:
        lines = _lines(
            file,
            customer_col,
            date_col,
            None,
            basket_col,
            item_col,
            date_format,
            sep,
            header,
            ws,
            engine,
            join,
            on,
        )
        rules = _run(
            baskets.rules_from_lines,
            lines,
            min_support=min_support,
            min_confidence=min_confidence,
            min_lift=min_lift,
            max_len=max_len,
            level=level,
            by=by,
        )
        why = None
        if rules.empty and by is None:
            why = _run(baskets.support_profile, lines, level).explain(min_support)
    if why is not None:
        err.print(f"[yellow]no rules:[/] {why}", highlight=False, soft_wrap=True)
    for col in ("antecedents", "consequents"):
        rules[col] = rules[col].map(lambda s: sorted(map(str, s)))
    if output == "json":
        write_json(rules.replace([float("inf")], None))
        return
    if output == "csv":
        for col in ("antecedents", "consequents"):
            rules[col] = rules[col].map(", ".join)
        print_frame(rules, output)
        return
    if rules.empty:
        return
    shown = rules.head(limit).copy()
    for col in ("antecedents", "consequents"):
        shown[col] = shown[col].map(", ".join)
    print_frame(shown, "table", f"{len(rules):,} rules")


class _NoStore:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@contextmanager
def _open() -> Iterator[Any]:
    """The workspace, read-only; a missing store is an error message, not a traceback."""
    try:
        with open_workspace(read_only=True) as ws:
            yield ws
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None


def _store(file: Path | None) -> Any:
    """The workspace when reading the store; nothing when the data is a file."""
    return _open() if file is None else _NoStore()


@customers_app.command("rfm")
def rfm_command(
    as_of: Annotated[str | None, typer.Option(help="Score as of this day (default: last purchase).")] = None,
    segments: Annotated[
        bool, typer.Option("--segments/--customers", help="Segment summary or per customer.")
    ] = True,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """RFM scores (1-5) and named segments (champions, loyal customers, at risk, ...)."""
    from cxlens.analyse.customers import prepare, rfm

    with _open() as ws:
        b = prepare.baskets_from_tables(lambda name: ws.table(name, engine))
        day = as_of or _run(lambda: b.ordered_at.max().to_pandas())
        scores = rfm.rfm_scores(b, day)
        expr = rfm.segment_summary(scores) if segments else scores
        df = _run(expr.to_pandas)
    if segments:
        df = df.sort_values("customers", ascending=False)
    print_frame(df, output, f"RFM as of {str(day)[:10]}")


@customers_app.command("cohorts")
def cohorts_command(
    grain: Annotated[str, typer.Option(help="month or week.")] = "month",
    max_period: Annotated[int | None, typer.Option(help="Last period shown.")] = 12,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Cohort retention: share of each first-purchase cohort buying again N periods later."""
    from cxlens.analyse.customers import cohorts, prepare

    if grain not in ("month", "week"):
        raise fail("--grain must be month or week", code=2)
    with _open() as ws:
        b = prepare.baskets_from_tables(lambda name: ws.table(name, engine))
        counts = _run(cohorts.cohort_counts(b, grain).to_pandas)  # type: ignore[arg-type]
    table = cohorts.retention_table(counts, max_period=max_period).reset_index()
    table.columns = [str(c) for c in table.columns]
    print_frame(table, output, f"retention by {grain} cohort")


@customers_app.command("churn")
def churn_command(
    cutoff: Annotated[
        str | None, typer.Option(help="Score as of this day (default: last day minus horizon).")
    ] = None,
    horizon_days: Annotated[int, typer.Option(help="No purchase within this many days = churned.")] = 90,
    top: Annotated[int, typer.Option(help="Riskiest customers listed.")] = 20,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Churn model validated forward in time: AUC, lift, and the riskiest customers with reasons."""
    from datetime import timedelta

    from cxlens.analyse.customers import churn, prepare, rfm
    from cxlens.display import with_customer_names

    with _open() as ws:
        tables = lambda name: ws.table(name, engine)  # noqa: E731
        last = rfm.as_date(_run(lambda: prepare.baskets_from_tables(tables).ordered_at.max().to_pandas()))
        test_cut = rfm.as_date(cutoff) if cutoff else last - timedelta(days=horizon_days)
        train_cut = test_cut - timedelta(days=horizon_days)
        train = _run(churn.churn_features(tables, train_cut, horizon_days).to_pandas)
        test = _run(churn.churn_features(tables, test_cut, horizon_days).to_pandas)
        v = _run(churn.time_split_validation, train, test)
        risky = v.test.sort_values("churn_probability", ascending=False).head(top)
        reasons = v.model.reasons(risky.drop(columns="churn_probability"))
        if output == "table":
            reasons = with_customer_names(ws, reasons)
    if output == "json":
        write_json({"validation": v.as_dict(), "lift": v.lift, "customers": reasons})
        return
    if output == "table":
        out.print(
            f"trained at {train_cut}, tested at {test_cut}: AUC {v.auc:.3f} (recency alone "
            f"{v.recency_auc:.3f}), Brier {v.brier:.3f}, base rate {v.base_rate:.1%}"
        )
        shown = ["customer_id", "name", "churn_probability", "reason_1", "reason_2", "reason_3"]
        reasons = reasons[[c for c in shown if c in reasons.columns]]
    print_frames({"lift": (v.lift, "lift by risk decile"), "customers": (reasons, "riskiest")}, output)


@customers_app.command("recommend")
def recommend_command(
    customer: Annotated[
        list[str], typer.Option("--customer", "-c", help="Customer id(s) to recommend for.")
    ] = [],  # noqa: B006
    k: Annotated[int, typer.Option(help="Items per list.")] = 10,
    evaluate_at: Annotated[
        str | None, typer.Option("--evaluate", help="Split day: print precision@k/recall@k.")
    ] = None,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """ "Buy again" and "goes well with" lists per customer; --evaluate DAY scores against popularity."""
    from cxlens.analyse.customers import prepare, recommend

    with _open() as ws:
        lines = prepare.lines_from_tables(lambda name: ws.table(name, engine))
        if evaluate_at:
            scores = _run(recommend.evaluate, lines, evaluate_at, k=k)
            import pandas as pd

            frame = pd.DataFrame([{"model": name, **vars(s)} for name, s in scores.items()])
            print_frame(frame, output, f"precision@{k} and recall@{k} after {evaluate_at}")
            return
        model = recommend.ItemItemRecommender().fit(_run(recommend.purchases(lines).to_pandas))
    rows = []
    recs = model.recommend(customer, k)
    for c in customer:
        if c not in recs:
            raise fail(f"customer {c!r} has no purchases", code=1)
        again = model.buy_again(c, k)
        well = [item for item, _ in model.goes_well_with(again[0], k)] if again else []
        rows.append({"customer_id": c, "recommended": recs[c], "buy_again": again, "goes_well_with": well})
    if output == "json":
        write_json({"customers": rows})
        return
    import pandas as pd

    frame = pd.DataFrame(rows)
    for col in ("recommended", "buy_again", "goes_well_with"):
        frame[col] = frame[col].map(", ".join)
    print_frame(frame, output, "recommendations")


@customers_app.command("forecast")
def forecast_command(
    by: Annotated[list[str], typer.Option("--by", "-b", help="category and/or store_id.")] = ["category"],  # noqa: B006
    horizon: Annotated[int, typer.Option(help="Days to forecast (and per backtest window).")] = 14,
    windows: Annotated[int, typer.Option(help="Backtest windows.")] = 3,
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Daily sales forecasts (AutoETS) per group, with a backtest against seasonal naive."""
    from cxlens.analyse.customers import forecast, prepare

    bad = [b for b in by if b not in ("category", "store_id")]
    if bad:
        raise fail(f"--by takes category or store_id, not {', '.join(bad)}", code=2)
    with _open() as ws:
        series = _run(
            forecast.sales_series, prepare.lines_from_tables(lambda name: ws.table(name, engine)), by
        )
    overall, _ = _run(forecast.backtest, series, horizon, windows)
    predicted = _run(forecast.forecast, series, horizon)
    frames = {
        "backtest": (overall, f"backtest, {windows} windows of {horizon} days"),
        "forecast": (predicted, "forecast"),
    }
    print_frames(frames, output)


@customers_app.command("profile")
def profile_command(
    customer: Annotated[list[str], typer.Option("--customer", "-c", help="Customer id(s).")],
    engine: EngineOpt = None,
    output: FormatOpt = "table",
) -> None:
    """The 360 view of customers: attributes, purchases, channels, identities, feedback, latest NPS."""
    from cxlens.analyse.customers import profile

    with _open() as ws:
        df = _run(profile.profile(lambda name: ws.table(name, engine), customer).to_pandas)
    if df.empty:
        raise fail("no such customer", code=1)
    if output == "table":
        long = df.T.reset_index()
        long.columns = ["field", *[str(c) for c in df["customer_id"]]]
        print_frame(long.astype(str), "table", "customer 360")
        return
    print_frame(df, output)
