"""The customer 360 view: identity and segment attributes, purchase behaviour, channels used,
linked identities, feedback history and the latest NPS, in one row per customer (guest orders and
answers linked to the customer in ``identities`` included, as journeys stitch them).

Built as one Ibis expression over the data model, so it runs on DuckDB or Spark. Open cases join
in when the data model has a cases table (not yet); RFM segments and churn risk are added by the
callers that compute them (:func:`with_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from cxlens.analyse.customers.prepare import Tables, customer_orders, getter
from cxlens.analyse.journeys import customer_rows

if TYPE_CHECKING:
    import ibis.expr.types as ir

ID = "customer_id"


def profile(tables: Tables, customer_ids: Sequence[str] | None = None) -> ir.Table:
    """One row per customer: attributes, orders, spend, channels, identities, feedback, latest NPS."""
    t = getter(tables)
    c = t("customers")
    if customer_ids is not None:
        c = c.filter(c.customer_id.isin(list(customer_ids)))
    o = customer_orders(tables)
    o = o.filter(o.status.isnull() | (o.status != "cancelled"))
    late = (o.delivered_at > o.promised_delivery_at).fill_null(False)
    orders = o.group_by(ID).aggregate(
        orders=o.count(),
        spend=o.total_amount.sum(),
        first_order_at=o.ordered_at.min(),
        last_order_at=o.ordered_at.max(),
        channels_used=o.channel.nunique(),
        online_orders=o.channel.isin(["web", "app"]).cast("int64").sum(),
        stores_used=o.store_id.nunique(),
        late_deliveries=late.cast("int64").sum(),
        returns=(o.status == "returned").fill_null(False).cast("int64").sum(),
    )
    ids = t("identities")
    idents = ids.group_by(ID).aggregate(linked_ids=ids.count(), id_types=ids.id_type.nunique())
    fb = customer_rows(t("feedback"), tables)
    fb = fb.filter(fb.brand.isnull())
    feedback = fb.group_by(ID).aggregate(
        feedback_count=fb.count(),
        last_feedback_at=fb.submitted_at.max(),
        nps_answers=fb.nps.count(),
        nps_mean=fb.nps.mean(),
        csat_mean=fb.csat.mean(),
        rating_mean=fb.rating.mean(),
    )
    scored = fb.filter(fb.nps.notnull())
    latest = scored.group_by(ID).aggregate(last_nps_at=scored.submitted_at.max())
    last = scored.join(latest, (scored[ID] == latest[ID]) & (scored.submitted_at == latest.last_nps_at))
    latest_nps = last.group_by(scored[ID]).aggregate(
        latest_nps=last.nps.max(), latest_nps_at=last.submitted_at.max()
    )
    j = (
        c.left_join(orders, c[ID] == orders[ID])
        .left_join(idents, c[ID] == idents[ID])
        .left_join(feedback, c[ID] == feedback[ID])
        .left_join(latest_nps, c[ID] == latest_nps[ID])
    )
    zero = {
        k: j[k].fill_null(0) for k in ("orders", "online_orders", "late_deliveries", "returns", "linked_ids")
    }
    return j.select(
        c,
        spend=j.spend.fill_null(0.0),
        first_order_at=j.first_order_at,
        last_order_at=j.last_order_at,
        channels_used=j.channels_used.fill_null(0),
        stores_used=j.stores_used.fill_null(0),
        id_types=j.id_types.fill_null(0),
        feedback_count=j.feedback_count.fill_null(0),
        last_feedback_at=j.last_feedback_at,
        nps_answers=j.nps_answers.fill_null(0),
        nps_mean=j.nps_mean,
        csat_mean=j.csat_mean,
        rating_mean=j.rating_mean,
        latest_nps=j.latest_nps,
        latest_nps_at=j.latest_nps_at,
        **zero,
    ).drop("email")


def with_scores(profiles: pd.DataFrame, *scores: pd.DataFrame) -> pd.DataFrame:
    """Add per-customer scores (RFM segment, CLV, churn risk, ...) to profile rows by customer_id."""
    out = profiles
    for s in scores:
        out = out.merge(s, on=ID, how="left", suffixes=("", "_score"))
    return out
