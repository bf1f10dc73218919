"""The data behind the journey, voice-of-customer and customer pages, scoped to the caller.

As in :mod:`cxlens.web.figures`, each function returns the tidy frame a chart is drawn from; the
pages draw it and the REST API serves it. The analytics are the library's own (journeys, text
insights, RFM, CLV, churn); this module only narrows their input tables to what the caller may see
(:class:`Scope`) and caches the answers per workspace load.

Store scoping (store managers, or the store and region filters), with S the stores in scope:

* **feedback**: rows at a store in S, plus rows without a store (web, app, courier) about an order
  placed at a store in S. Another store's feedback, and so its verbatims, never appear.
* **events** (journeys): events at a store in S, plus events without a store whose actor is a
  customer of S (by ``customer_id`` or an anonymous id linked to one in ``identities``); events at
  other stores are left out.
* **customers of S**: customers with an order or a feedback row at a store in S. Their RFM scores,
  predicted value and churn risk are whole-customer figures (the models are fitted once on every
  customer); the manager sees them only for their own customers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from cxlens import display
from cxlens.analyse import journey_experience as jx
from cxlens.analyse import journey_funnels as jf
from cxlens.analyse import journeys as jr
from cxlens.analyse.customers import churn, clv, prepare, rfm
from cxlens.analyse.stats import wilson
from cxlens.storage.workspace import Workspace
from cxlens.text import insights, topics
from cxlens.text.store import TEXT_TABLES, text_tables
from cxlens.web.auth import Principal
from cxlens.web.figures import SEGMENT_DIMENSION, FigureCache, Filters

if TYPE_CHECKING:
    import ibis.expr.types as ir

Getter = Callable[[str], "ir.Table"]
CACHE = FigureCache(256)
#: Churn horizon and CLV horizon: no purchase within this many days after the cut-off.
HORIZON_DAYS = 90
SENTIMENTS = ("negative", "neutral", "positive")
#: Most verbatims one page of the explorer shows.
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Scope:
    """What a query may see: stores (None: all), channel, loyalty tier and a half-open time range."""

    stores: tuple[str, ...] | None = None
    channel: str | None = None
    segment: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def scope_of(ws: Workspace, filters: Filters, who: Principal) -> Scope:
    """The caller's scope under these filters (403 for a store outside a manager's stores)."""
    stores = who.scope_stores(filters.store_id)
    if filters.region:
        in_region = CACHE.get(ws, ("region", filters.region), lambda: _region_stores(ws, filters.region))
        stores = [s for s in (in_region if stores is None else stores) if s in set(in_region)]
    start = datetime.combine(filters.start, datetime.min.time()) if filters.start else None
    end = datetime.combine(filters.end + timedelta(days=1), datetime.min.time()) if filters.end else None
    return Scope(
        tuple(sorted(stores)) if stores is not None else None,
        filters.channel,
        filters.segment,
        start,
        end,
    )


def _region_stores(ws: Workspace, region: str | None) -> list[str]:
    st = ws.table("stores")
    return sorted(st.filter(st.region == region).select("store_id").to_pandas()["store_id"].astype(str))


def _ids(stores: tuple[str, ...]) -> list[str]:
    return list(stores) or [""]  # an empty IN list is not valid SQL everywhere


def store_customers(base: Getter, stores: tuple[str, ...]) -> ir.Table:
    """Customers of these stores: ``customer_id`` of everyone with an order or feedback there."""
    o, fb = base("orders"), base("feedback")
    a = o.filter(o.store_id.isin(_ids(stores)) & o.customer_id.notnull()).select("customer_id")
    b = fb.filter(fb.store_id.isin(_ids(stores)) & fb.customer_id.notnull()).select("customer_id")
    return a.union(b)


def _tier_customers(base: Getter, tier: str) -> ir.Table:
    cu = base("customers")
    return cu.filter(cu[SEGMENT_DIMENSION] == tier).select("customer_id")


def _of_customers(base: Getter, table: ir.Table, customers: ir.Table) -> ir.BooleanValue:
    """Rows whose customer or linked anonymous id belongs to ``customers``."""
    ids = base("identities")
    anon = ids.filter(ids.customer_id.isin(customers.customer_id)).select("anonymous_id")
    return table.customer_id.isin(customers.customer_id) | table.anonymous_id.isin(anon.anonymous_id)


def scoped_tables(base: Getter, scope: Scope) -> Getter:
    """A table getter over ``base`` whose ``events`` and ``feedback`` hold only the scope's rows."""
    memo: dict[str, ir.Table] = {}

    def get(name: str) -> ir.Table:
        if name not in memo:
            memo[name] = _scoped(base, name, scope)
        return memo[name]

    return get


def _scoped(base: Getter, name: str, scope: Scope) -> ir.Table:
    t = base(name)
    if name not in ("events", "feedback"):
        return t
    when = t.occurred_at if name == "events" else t.submitted_at
    if scope.start is not None:
        t = t.filter(when >= scope.start)
    if scope.end is not None:
        t = t.filter(when < scope.end)
    if scope.channel:
        t = t.filter(t.channel == scope.channel)
    if scope.stores is not None:
        at_store = t.store_id.isin(_ids(scope.stores))
        if name == "feedback":
            o = base("orders")
            orders = o.filter(o.store_id.isin(_ids(scope.stores))).select("order_id")
            t = t.filter(at_store | (t.store_id.isnull() & t.order_id.isin(orders.order_id)))
        else:
            mine = _of_customers(base, t, store_customers(base, scope.stores))
            t = t.filter(at_store | (t.store_id.isnull() & mine))
    if scope.segment:
        tier = _tier_customers(base, scope.segment)
        if name == "feedback":
            t = t.filter(t.customer_id.isin(tier.customer_id))
        else:
            t = t.filter(_of_customers(base, t, tier))
    return t


def _count(ws: Workspace, table: str) -> int:
    return int(CACHE.get(ws, ("counts",), ws.counts).get(table, 0))


# -- journeys -----------------------------------------------------------------------------------


def _journey_tables(ws: Workspace, scope: Scope) -> Getter:
    return scoped_tables(ws.table, scope)


def journey_map(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """The journey map: per touchpoint its stage, channels, events in scope and mean experience."""
    return CACHE.get(ws, ("journey-map", scope), lambda: _journey_map(ws, scope))


def _journey_map(ws: Workspace, scope: Scope) -> pd.DataFrame:
    jm = ws.journey_map
    frame = pd.DataFrame(jm.rows())[["stage", "stage_name", "touchpoint", "touchpoint_name", "channels"]]
    frame["events"] = 0
    frame["experience"] = np.nan
    frame["signals"] = 0
    get = _journey_tables(ws, scope)
    if _count(ws, "events"):
        ev = get("events")
        counts = ev.group_by("touchpoint").aggregate(n=ev.count()).to_pandas()
        frame["events"] = frame["touchpoint"].map(counts.set_index("touchpoint")["n"]).fillna(0)
    curve = _emotions(ws, scope, "touchpoint")
    if not curve.empty:
        frame["experience"] = frame["touchpoint"].map(curve.set_index("touchpoint")["mean"])
        frame["signals"] = frame["touchpoint"].map(curve.set_index("touchpoint")["n"]).fillna(0)
    return frame.astype({"events": "int64", "signals": "int64"})


def sankey(ws: Workspace, scope: Scope, max_steps: int = 5) -> pd.DataFrame:
    """Journeys moving between stages, step by step (:func:`cxlens.analyse.journeys.sankey_links`)."""
    return CACHE.get(ws, ("sankey", scope, max_steps), lambda: _sankey(ws, scope, max_steps))


def _sankey(ws: Workspace, scope: Scope, max_steps: int) -> pd.DataFrame:
    if not _count(ws, "events"):
        return pd.DataFrame(columns=["step", "source", "target", "n"])
    get = _journey_tables(ws, scope)
    return jr.sankey_links(get, "stage", max_steps=max_steps, journey_map=ws.journey_map)


def funnel_steps(ws: Workspace) -> list[str]:
    """The default online funnel's steps that the workspace's journey map has."""
    return [s for s in jf.DEFAULT_STEPS if s in ws.journey_map.touchpoint_ids]


def funnel(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Conversion and drop-off along the default funnel (:func:`cxlens.analyse.journey_funnels.funnel`)."""
    return CACHE.get(ws, ("funnel", scope), lambda: _funnel(ws, scope))


def _funnel(ws: Workspace, scope: Scope) -> pd.DataFrame:
    steps = funnel_steps(ws)
    cols = ["step_no", "step", "journeys", "conversion", "ci_low", "ci_high", "step_conversion"]
    if not steps or not _count(ws, "events"):
        return pd.DataFrame(columns=[*cols, "drop_off", "drop_off_share", "mean_hours"])
    out = jf.funnel(_journey_tables(ws, scope), steps, journey_map=ws.journey_map)
    return out if out["journeys"].iloc[0] > 0 else out.iloc[0:0]


def emotions(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """The emotion curve along the stages (:func:`cxlens.analyse.journey_experience.emotion_curve`)."""
    return _emotions(ws, scope, "stage")


def _emotions(ws: Workspace, scope: Scope, level: str) -> pd.DataFrame:
    def compute() -> pd.DataFrame:
        cols = ["stage", *(["touchpoint"] if level == "touchpoint" else [])]
        empty = pd.DataFrame(columns=[*cols, "n", "mean", "sd", "ci_low", "ci_high", "small_n"])
        if not _count(ws, "feedback"):
            return empty
        get = _journey_tables(ws, scope)
        curve = jx.emotion_curve(get, level, journey_map=ws.journey_map)
        return curve if not curve.empty else empty

    return CACHE.get(ws, ("emotions", level, scope), compute)


# -- voice of the customer ---------------------------------------------------------------------


def text_ready(ws: Workspace) -> bool:
    """Whether ``cxlens text analyse`` has created the text tables."""
    return all(ws.has_table(name) for name in TEXT_TABLES)


def text_version(ws: Workspace) -> tuple[int, str]:
    """Changes when texts are (re-)analysed (text analysis is not a data load)."""
    if not text_ready(ws):
        return (0, "")
    row = ws.query("SELECT count(*), max(analysed_at) FROM feedback_text")[0]
    return int(row[0]), str(row[1])


def _voc_tables(ws: Workspace, scope: Scope) -> Getter:
    return scoped_tables(text_tables(ws), scope)


def aspects(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Aspect x sentiment: mentions per aspect and the share negative, neutral and positive
    (:func:`cxlens.text.insights.heatmap_frame` of the own-brand aspect summary)."""
    key = ("aspects", scope, text_version(ws))
    return CACHE.get(ws, key, lambda: _aspects(ws, scope))


def _aspects(ws: Workspace, scope: Scope) -> pd.DataFrame:
    cols = ["aspect", "mentions", *SENTIMENTS, "mean_score"]
    if not text_ready(ws) or not _count(ws, "feedback"):
        return pd.DataFrame(columns=cols)
    summary = insights.aspect_sentiment(_voc_tables(ws, scope), own_brand_only=True).to_pandas()
    if summary.empty:
        return pd.DataFrame(columns=cols)
    heat = insights.heatmap_frame(summary)
    weighted = (summary["mean_score"] * summary["mentions"]).groupby(summary["aspect"]).sum()
    heat["mean_score"] = weighted / heat["mentions"]
    heat["mentions"] = heat["mentions"].astype("int64")
    return heat.rename_axis("aspect").reset_index()[cols]


def text_languages(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Analysed texts in scope per detected language, most first."""
    return CACHE.get(ws, ("languages", scope, text_version(ws)), lambda: _languages(ws, scope))


def _languages(ws: Workspace, scope: Scope) -> pd.DataFrame:
    if not text_ready(ws) or not _count(ws, "feedback"):
        return pd.DataFrame(columns=["language", "texts"])
    get = _voc_tables(ws, scope)
    ft, fb = get("feedback_text"), get("feedback")
    j = ft.join(fb.select("feedback_id"), "feedback_id")
    out = j.group_by("language").aggregate(texts=j.count()).to_pandas()
    out = out[out["language"].notna()].sort_values(["texts", "language"], ascending=[False, True])
    return out.reset_index(drop=True)


def topic_trends(ws: Workspace, scope: Scope, language: str | None, n_topics: int = 6) -> pd.DataFrame:
    """Topics of one language's texts (TF-IDF + NMF, :func:`cxlens.text.topics.discover`) and each
    topic's monthly share of texts with a 95% Wilson interval; the language defaults to the most
    frequent one in scope."""
    if language is None:
        langs = text_languages(ws, scope)
        language = str(langs["language"].iloc[0]) if not langs.empty else None
    key = ("topics", scope, language, n_topics, text_version(ws))
    return CACHE.get(ws, key, lambda: _topics(ws, scope, language, n_topics))


def _topics(ws: Workspace, scope: Scope, language: str | None, n_topics: int) -> pd.DataFrame:
    cols = ["language", "period", "topic", "terms", "documents", "total", "share", "ci_low", "ci_high"]
    if language is None or not text_ready(ws) or not _count(ws, "feedback"):
        return pd.DataFrame(columns=cols)
    try:
        model = topics.discover(_voc_tables(ws, scope), language, n_topics)
    except ValueError:  # too few texts in this language and scope
        return pd.DataFrame(columns=cols)
    trend = model.trend_
    terms = model.topics_.summary.set_index("topic")["terms"]
    # terms are words of customer text: drop markup characters before they reach a chart label
    clean = terms.astype(str).str.replace(r"[<>&\"'`]", " ", regex=True)
    trend["terms"] = trend["topic"].map(lambda t: ", ".join(clean[t].split(", ")[:4]))
    _, lo, hi = wilson(trend["documents"].to_numpy(), trend["total"].to_numpy())
    trend = trend.assign(language=language, ci_low=lo, ci_high=hi)
    return trend.sort_values(["topic", "period"]).reset_index(drop=True)[cols]


@dataclass(frozen=True)
class VerbatimQuery:
    """The verbatim explorer's search: substring, detected language, sentiment, aspect, page."""

    q: str | None = None
    language: str | None = None
    sentiment: str | None = None
    aspect: str | None = None
    page: int = 1
    per_page: int = 25


def verbatims(ws: Workspace, scope: Scope, query: VerbatimQuery) -> tuple[pd.DataFrame, int]:
    """One page of feedback texts in scope, newest first, and how many match in all."""
    key = ("verbatims", scope, query, text_version(ws))
    out = CACHE.get(ws, key, lambda: _verbatims(ws, scope, query))
    return out[0].copy(), int(out[1])


VERBATIM_COLUMNS = [
    *("feedback_id", "submitted_at", "store_id", "channel", "source"),
    *("language", "sentiment", "score", "text"),
]


def _verbatims(ws: Workspace, scope: Scope, query: VerbatimQuery) -> tuple[pd.DataFrame, int]:
    empty = pd.DataFrame(columns=VERBATIM_COLUMNS)
    if not _count(ws, "feedback"):
        return empty, 0
    ready = text_ready(ws)
    get = _voc_tables(ws, scope)
    fb = get("feedback")
    fb = fb.filter(fb.text.notnull() & (fb.text.strip() != ""))
    if ready:
        ft = get("feedback_text").select(
            _cx_id="feedback_id", _cx_lang="language", sentiment="sentiment", score="score"
        )
        fb = fb.left_join(ft, fb.feedback_id == ft._cx_id)
        fb = fb.mutate(language=fb._cx_lang.fill_null(fb.language)).drop("_cx_id", "_cx_lang")
    else:
        fb = fb.mutate(sentiment=ibis.null("string"), score=ibis.null("float64"))
    if query.q:
        fb = fb.filter(fb.text.lower().contains(query.q.lower()))
    if query.language:
        fb = fb.filter(fb.language == query.language)
    if query.sentiment:
        fb = fb.filter(fb.sentiment == query.sentiment)
    if query.aspect:
        if not ready:
            return empty, 0
        asp = get("feedback_aspects")
        fb = fb.filter(fb.feedback_id.isin(asp.filter(asp.aspect == query.aspect).feedback_id))
    total = int(fb.count().to_pandas())
    page = fb.select(*VERBATIM_COLUMNS)
    page = page.order_by([page.submitted_at.desc(), page.feedback_id])
    offset = (query.page - 1) * query.per_page
    frame = page.limit(query.per_page, offset=offset).to_pandas() if offset < total else empty
    return frame.reset_index(drop=True), total


def aspect_names(ws: Workspace) -> list[str]:
    """Aspects the taxonomy found in any text (for the explorer's aspect filter)."""

    def compute() -> list[str]:
        if not text_ready(ws):
            return []
        asp = text_tables(ws)("feedback_aspects")
        return sorted(asp.select("aspect").distinct().to_pandas()["aspect"].dropna().astype(str))

    return list(CACHE.get(ws, ("aspect-names", text_version(ws)), compute))


# -- customers ---------------------------------------------------------------------------------


@dataclass
class CustomerModels:
    """Whole-customer figures as of the last order day: RFM scores and segment, predicted value
    (BG/NBD + Gamma-Gamma) and churn risk with the fitted model; notes say what could not be fitted."""

    as_of: date | None
    scores: pd.DataFrame
    value: pd.DataFrame | None = None
    risk: pd.DataFrame | None = None
    model: churn.ChurnModel | None = None
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def customer_models(ws: Workspace) -> CustomerModels:
    """The fitted customer models for the workspace's current data (fitted once per load)."""
    result: CustomerModels = CACHE.get(ws, ("customer-models",), lambda: _fit_customers(ws))
    return result


def _fit_customers(ws: Workspace) -> CustomerModels:
    score_cols = ["customer_id", "recency_days", "frequency", "monetary", "rfm", "segment"]
    if not _count(ws, "orders"):
        return CustomerModels(None, pd.DataFrame(columns=score_cols), notes=["No orders yet."])
    b = prepare.baskets_from_tables(ws)
    last = b.ordered_at.max().to_pandas()
    if last is None or pd.isna(last):
        return CustomerModels(None, pd.DataFrame(columns=score_cols), notes=["No orders of known customers."])
    end = rfm.as_date(last)
    t0 = time.perf_counter()
    out = CustomerModels(end, rfm.rfm_scores(b, end).to_pandas())
    out.seconds["rfm"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        fitted = clv.fit_clv(b, end - timedelta(days=HORIZON_DAYS), end)
        summary = rfm.summary(b, end).to_pandas()
        out.value = clv.predict_clv(fitted.bgnbd, fitted.gamma_gamma, summary, float(HORIZON_DAYS))
    except (ValueError, RuntimeError) as exc:
        out.notes.append(f"Customer value not predicted: {exc}")
    out.seconds["clv"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    short = churn.short_history(b.ordered_at.min().to_pandas(), end, HORIZON_DAYS + 30, HORIZON_DAYS)
    try:
        if short:
            raise ValueError(short.removeprefix("Churn model not fitted: "))
        train = churn.churn_features(ws, end - timedelta(days=HORIZON_DAYS), HORIZON_DAYS).to_pandas()
        if train[churn.LABEL].nunique() < 2:
            raise ValueError("every customer in the training period has the same outcome")
        now = churn.churn_features(ws, end, HORIZON_DAYS).to_pandas().drop(columns=churn.LABEL)
        out.model = churn.ChurnModel().fit(train)
        out.risk = now.assign(churn_probability=out.model.predict_proba(now))
    except (ValueError, RuntimeError) as exc:
        out.notes.append(f"Churn model not fitted: {exc}")
    out.seconds["churn"] = time.perf_counter() - t0
    return out


def visible_customers(ws: Workspace, scope: Scope) -> set[str] | None:
    """Customers the scope covers (None: everyone). With stores, channel or dates: customers with
    an order there (or, with stores, feedback there); with a tier: customers in that tier."""
    return CACHE.get(ws, ("visible-customers", scope), lambda: _visible(ws, scope))


def _visible(ws: Workspace, scope: Scope) -> set[str] | None:
    o = prepare.customer_orders(ws)  # guest orders linked to a customer count, as in their RFM
    parts: list[ir.Table] = []
    if scope.stores is not None or scope.channel or scope.start or scope.end:
        orders = o
        if scope.stores is not None:
            orders = orders.filter(orders.store_id.isin(_ids(scope.stores)))
        if scope.channel:
            orders = orders.filter(orders.channel == scope.channel)
        if scope.start is not None:
            orders = orders.filter(orders.ordered_at >= scope.start)
        if scope.end is not None:
            orders = orders.filter(orders.ordered_at < scope.end)
        parts.append(orders.select("customer_id"))
        if scope.stores is not None:
            fb = scoped_tables(ws.table, Scope(scope.stores, scope.channel, None, scope.start, scope.end))(
                "feedback"
            )
            parts.append(fb.filter(fb.store_id.notnull() & fb.customer_id.notnull()).select("customer_id"))
    ids: set[str] | None = None
    if parts:
        union = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
        ids = set(union.to_pandas()["customer_id"].astype(str))
    if scope.segment:
        tier = set(_tier_customers(ws.table, scope.segment).to_pandas()["customer_id"].astype(str))
        ids = tier if ids is None else ids & tier
    return ids


def _in_scope(frame: pd.DataFrame | None, ids: set[str] | None) -> pd.DataFrame | None:
    if frame is None or ids is None:
        return frame
    return frame[frame["customer_id"].astype(str).isin(ids)]


SEGMENT_COLUMNS = ["segment", "customers", "share", "recency_days", "frequency", "monetary", "total_value"]


def segments(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Customers per RFM segment with mean recency, orders, spend, total spend and predicted value
    (as :func:`cxlens.analyse.customers.rfm.segment_summary`, over the scope's customers)."""
    return CACHE.get(ws, ("segments", scope), lambda: _segments(ws, scope))


def _segments(ws: Workspace, scope: Scope) -> pd.DataFrame:
    models = customer_models(ws)
    scores = _in_scope(models.scores, visible_customers(ws, scope))
    if scores is None or scores.empty:
        return pd.DataFrame(columns=[*SEGMENT_COLUMNS, "predicted_value"])
    g = scores.groupby("segment")
    out = g.agg(
        customers=("customer_id", "size"),
        recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
        total_value=("monetary", "sum"),
    )
    out["share"] = out["customers"] / out["customers"].sum()
    if models.value is not None:
        value = scores[["customer_id", "segment"]].merge(models.value, on="customer_id", how="left")
        out["predicted_value"] = value.groupby("segment")["clv"].sum()
    else:
        out["predicted_value"] = np.nan
    out = out.reset_index().sort_values(["customers", "segment"], ascending=[False, True])
    return out[[*SEGMENT_COLUMNS, "predicted_value"]].reset_index(drop=True)


def _bins(values: pd.Series, edges: np.ndarray) -> pd.DataFrame:
    counts, edges = np.histogram(values.to_numpy(dtype=float), bins=edges)
    total = max(int(counts.sum()), 1)
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "customers": counts, "share": counts / total})


def clv_distribution(ws: Workspace, scope: Scope, bins: int = 20) -> pd.DataFrame:
    """Customers per band of predicted value over the next 90 days (the top 1% fall in the last)."""

    def compute() -> pd.DataFrame:
        value = _in_scope(customer_models(ws).value, visible_customers(ws, scope))
        if value is None or value.empty:
            return pd.DataFrame(columns=["low", "high", "customers", "share"])
        v = value["clv"].fillna(0.0)
        low, cap = float(v.min()), float(np.nanpercentile(v, 99))
        cap = cap if cap > low else low + 1.0
        return _bins(v.clip(upper=cap), np.linspace(low, cap, bins + 1))

    return CACHE.get(ws, ("clv-bins", scope, bins), compute)


def top_value(ws: Workspace, scope: Scope, k: int = 20) -> pd.DataFrame:
    """The ``k`` customers with the highest predicted value, with their segment and history."""

    def compute() -> pd.DataFrame:
        cols = ["rank", "customer_id", "segment", "clv", "p_alive", "expected_purchases", "monetary"]
        models = customer_models(ws)
        value = _in_scope(models.value, visible_customers(ws, scope))
        if value is None or value.empty:
            return pd.DataFrame(columns=cols)
        top = value.sort_values(["clv", "customer_id"], ascending=[False, True]).head(k)
        top = top.merge(models.scores[["customer_id", "segment", "monetary"]], on="customer_id", how="left")
        return display.with_customer_names(ws, top.assign(rank=np.arange(1, len(top) + 1))[cols])

    return CACHE.get(ws, ("clv-top", scope, k), compute)


def churn_distribution(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """Customers per tenth of predicted churn probability (no purchase in the next 90 days)."""

    def compute() -> pd.DataFrame:
        risk = _in_scope(customer_models(ws).risk, visible_customers(ws, scope))
        if risk is None or risk.empty:
            return pd.DataFrame(columns=["low", "high", "customers", "share"])
        return _bins(risk["churn_probability"], np.linspace(0.0, 1.0, 11))

    return CACHE.get(ws, ("churn-bins", scope), compute)


AT_RISK_COLUMNS = [*churn.AT_RISK_COLUMNS[:2], "segment", *churn.AT_RISK_COLUMNS[2:]]


def at_risk(ws: Workspace, scope: Scope, k: int = 20) -> pd.DataFrame:
    """The ``k`` customers with the most value that can still be saved (P(alive) x value if
    retained x churn risk, :func:`cxlens.analyse.customers.churn.rank_at_risk`), with the three
    features that raise their risk most and their RFM segment."""

    def compute() -> pd.DataFrame:
        models = customer_models(ws)
        risk = _in_scope(models.risk, visible_customers(ws, scope))
        if risk is None or risk.empty or models.model is None:
            return pd.DataFrame(columns=AT_RISK_COLUMNS)
        top = churn.rank_at_risk(risk, models.value, models.model, k)
        top = top.merge(models.scores[["customer_id", "segment"]], on="customer_id", how="left")
        return display.with_customer_names(ws, top[AT_RISK_COLUMNS])

    return CACHE.get(ws, ("at-risk", scope, k), compute)


def warm(ws: Workspace, stop: threading.Event | None = None) -> dict[str, float]:
    """Compute the unfiltered figures of the three pages once (seconds per part), so the first
    visitor after a load does not wait for journey paths and model fits; ``stop`` ends it early."""
    scope, seconds = Scope(), {}
    parts: list[tuple[str, Callable[[], Any]]] = [
        ("customer models", lambda: customer_models(ws)),
        ("journey map", lambda: journey_map(ws, scope)),
        ("sankey", lambda: sankey(ws, scope)),
        ("funnel", lambda: funnel(ws, scope)),
        ("emotions", lambda: emotions(ws, scope)),
        ("aspects", lambda: aspects(ws, scope)),
        ("topics", lambda: topic_trends(ws, scope, None)),
    ]
    for name, compute in parts:
        if stop is not None and stop.is_set():
            break
        start = time.perf_counter()
        compute()
        seconds[name] = round(time.perf_counter() - start, 3)
    return seconds
