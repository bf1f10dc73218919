"""Transactions for customer analytics, as Ibis tables with one standard set of columns.

Two sources give the same shape, so every customer analytic runs on either:

* the data model (:func:`lines_from_tables`): ``orders`` (not cancelled, of a known customer:
  their own ``customer_id`` or an anonymous id linked to them in ``identities``, as journeys
  stitch them) joined to ``order_items`` and ``products``;
* a transactions file the user brings (:func:`read_transactions`): CSV, TSV, whitespace-separated
  text or Parquet, gzipped or not, with the columns named by :class:`Columns`.

Standard line columns (:data:`LINE_COLUMNS`): ``customer_id``, ``basket_id``, ``ordered_at``
(timestamp), ``value`` (float), ``item_id``, ``category``, ``store_id`` (the last three may be
null). :func:`baskets` sums lines to one row per basket.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis

from cxlens.analyse.common import Tables, getter

if TYPE_CHECKING:
    import ibis.expr.types as ir


LINE_COLUMNS = ("customer_id", "basket_id", "ordered_at", "value", "item_id", "category", "store_id")
BASKET_COLUMNS = ("customer_id", "basket_id", "ordered_at", "value", "store_id")


def customer_orders(tables: Tables) -> ir.Table:
    """Orders of known customers, guest orders linked to one in ``identities`` included (the
    journeys' stitching, :func:`cxlens.analyse.journeys.customer_rows`); cancelled ones too."""
    from cxlens.analyse.journeys import customer_rows

    return customer_rows(getter(tables)("orders"), tables)


def lines_from_tables(tables: Tables) -> ir.Table:
    """Order lines of known customers (stitched, cancelled orders excluded) in the standard columns."""
    t = getter(tables)
    orders = customer_orders(tables)
    orders = orders.filter(orders.status.isnull() | (orders.status != "cancelled"))
    items = t("order_items")
    products = t("products")
    value = items.quantity.cast("float64") * items.unit_price - items.discount.fill_null(0.0)
    joined = items.join(orders, items.order_id == orders.order_id).join(
        products, items.product_id == products.product_id, how="left"
    )
    return joined.select(
        customer_id=orders.customer_id,
        basket_id=items.order_id,
        ordered_at=orders.ordered_at,
        value=value,
        item_id=items.product_id,
        category=products.category,
        store_id=orders.store_id,
    )


def baskets_from_tables(tables: Tables) -> ir.Table:
    """One row per order of a known customer (stitched: guest orders linked to them count; cancelled
    orders excluded), valued at the amount paid."""
    orders = customer_orders(tables)
    orders = orders.filter(orders.status.isnull() | (orders.status != "cancelled"))
    return orders.select(
        customer_id=orders.customer_id,
        basket_id=orders.order_id,
        ordered_at=orders.ordered_at,
        value=orders.total_amount.cast("float64"),
        store_id=orders.store_id,
    )


def baskets(lines: ir.Table) -> ir.Table:
    """Sum standard lines to one row per basket (first time stamp, total value)."""
    return lines.group_by(["customer_id", "basket_id"]).aggregate(
        ordered_at=lines.ordered_at.min(),
        value=lines.value.sum(),
        store_id=lines.store_id.max(),
    )


# -- user files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """How to read a user's transactions file: which column is which, and how dates are written.

    ``basket`` defaults to customer + time stamp (each row a purchase); ``value`` defaults to 1 per
    line; ``date_format`` is a strptime format (``%Y%m%d``), otherwise dates are parsed as ISO (a
    UTC offset is dropped: the local calendar day is what counts for purchase days). ``customer``
    and ``date`` may be None when only baskets are analysed.
    """

    customer: str | None = "customer_id"
    date: str | None = "date"
    value: str | None = None
    basket: str | None = None
    item: str | None = None
    category: str | None = None
    store: str | None = None
    date_format: str | None = None


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def sniff_separator(path: Path) -> str:
    """Guess the separator from the file name, then from the first line; ``"whitespace"`` if none."""
    from cxlens.collect.readers import sniff_delimiter

    names = [s.lower() for s in path.suffixes]
    if ".tsv" in names or ".tab" in names:
        return "\t"
    return sniff_delimiter(path) or "whitespace"


def read_raw(
    path: str | Path,
    *,
    sep: str | None = None,
    header: bool = True,
    con: Any | None = None,
) -> ir.Table:
    """Read a CSV/TSV/whitespace/Parquet file (gzip too) into an Ibis table of text columns.

    Without a header row, columns are named ``c1``, ``c2``, ... Parquet keeps its types.
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    con = con or ibis.duckdb.connect()
    if p.is_dir() or _is_parquet(p):
        return con.read_parquet(str(p / "*.parquet") if p.is_dir() else str(p))
    sep = {"tab": "\t", "\\t": "\t", "space": "whitespace", "ws": "whitespace"}.get(sep or "", sep)
    sep = sep or sniff_separator(p)
    if sep == "whitespace":
        frame = pd.read_csv(p, sep=r"\s+", dtype=str, header=0 if header else None, engine="c")
        if not header:
            frame.columns = [f"c{i + 1}" for i in range(frame.shape[1])]
        return con.create_table(f"tx_{abs(hash(str(p)))}", frame, temp=True)
    opts: dict[str, Any] = {"delim": sep, "header": header, "all_varchar": True}
    table = con.read_csv(str(p), **opts)
    if not header:
        table = table.rename({f"c{i + 1}": c for i, c in enumerate(table.columns)})
    return table


def standardise(raw: ir.Table, cols: Columns, *, baskets_only: bool = False) -> ir.Table:
    """Map a raw table onto the standard line columns, parsing dates and numbers.

    With ``baskets_only`` (basket analysis), missing customer and date columns are allowed.
    """
    if baskets_only and cols.basket is None:
        baskets_only = False  # baskets are customer + time stamp, so both are needed
    if baskets_only:
        cols = replace(
            cols,
            customer=cols.customer if cols.customer in raw.columns else None,
            date=cols.date if cols.date in raw.columns else None,
        )
    missing = [
        c
        for c in (cols.customer, cols.date, cols.value, cols.basket, cols.item, cols.category, cols.store)
        if c is not None and c not in raw.columns
    ]
    if missing:
        raise KeyError(f"column(s) {', '.join(missing)} not in the file; it has {', '.join(raw.columns)}")
    ts = _timestamp(raw[cols.date], cols.date_format) if cols.date else ibis.null("timestamp")
    value = raw[cols.value].cast("float64") if cols.value else ibis.literal(1.0)
    customer = raw[cols.customer].cast("string") if cols.customer else ibis.null("string")
    basket = (
        raw[cols.basket].cast("string")
        if cols.basket
        else customer.concat(ibis.literal("@"), ts.cast("string"))
    )

    def opt(name: str | None) -> ir.Value:
        return raw[name].cast("string") if name else ibis.null("string")

    out = raw.select(
        customer_id=customer,
        basket_id=basket,
        ordered_at=ts,
        value=value,
        item_id=opt(cols.item),
        category=opt(cols.category),
        store_id=opt(cols.store),
    )
    if cols.customer is None or cols.date is None:
        return out
    return out.filter(out.customer_id.notnull() & out.ordered_at.notnull())


def _timestamp(date: ir.Value, fmt: str | None) -> ir.TimestampValue:
    if date.type().is_string():
        return date.as_timestamp(fmt) if fmt else date.cast("timestamp")
    if date.type().is_integer() and fmt:
        return date.cast("string").as_timestamp(fmt)
    return date.cast("timestamp")


def read_transactions(
    path: str | Path,
    cols: Columns | None = None,
    *,
    sep: str | None = None,
    header: bool = True,
    con: Any | None = None,
    baskets_only: bool = False,
    join: str | Path | None = None,
    on: str | None = None,
) -> ir.Table:
    """Standard transaction lines from a user's file (see :class:`Columns` and :func:`read_raw`).

    ``join`` names a second file (e.g. products) left-joined on the column ``on``, so that
    ``cols`` may name its columns too (a category for basket rules); its columns whose names the
    transactions file already has get a ``_right`` suffix.
    """
    con = con or ibis.duckdb.connect()
    raw = read_raw(path, sep=sep, header=header, con=con)
    if join is not None:
        if not on:
            raise KeyError("--join needs --on COLUMN: the column both files share")
        other = read_raw(join, con=con)
        for name, table in ((str(path), raw), (str(join), other)):
            if on not in table.columns:
                raise KeyError(f"column {on} not in {name}; it has {', '.join(table.columns)}")
        other = other.distinct(on=on, keep="first")  # a key listed twice must not double lines
        raw = raw.left_join(other, on)
    return standardise(raw, cols or Columns(), baskets_only=baskets_only)
