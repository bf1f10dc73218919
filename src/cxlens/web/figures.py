"""The data behind every dashboard figure, scoped to what the caller may see.

Each function returns the tidy frame a chart is drawn from (its data twin): the pages draw it
with :mod:`cxlens.report.charts` and the REST API serves it as JSON or CSV. All numbers come from
:mod:`cxlens.analyse.metrics`; the filters and the caller's store scope become metric filters.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import HTTPException, Query

from cxlens.analyse import metrics as m
from cxlens.display import DisplayNames, workspace_names
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web.auth import Principal

log = logging.getLogger(__name__)

#: Metrics the overview can show, in order; it shows those the data has (:func:`shown_metrics`).
OVERVIEW_METRICS: tuple[m.MetricName, ...] = m.HEADLINE_METRICS
#: The customer dimension the "segment" filter selects on (customer segments come later).
SEGMENT_DIMENSION = "loyalty_tier"


@dataclass(frozen=True)
class Filters:
    """The dashboard filters: an inclusive date range, channel, region, store and segment."""

    start: date | None = None
    end: date | None = None
    channel: str | None = None
    region: str | None = None
    store_id: str | None = None
    segment: str | None = None

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for links and the API twin of a chart)."""
        return {k: str(v) for k, v in vars(self).items() if v not in (None, "")}


#: A day in the query string (empty: none). One Query per parameter: a Query nested in another
#: makes pydantic warn (UnsupportedFieldAttributeWarning) whenever FastAPI rebuilds the dependency.
DATE_PATTERN = r"^(\d{4}-\d{2}-\d{2})?$"


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not 1900 <= day.year <= 2200:
        raise HTTPException(422, f"{name} is not a valid date between 1900 and 2200: {value}")
    return day


def filters_param(
    start: Annotated[
        str | None, Query(pattern=DATE_PATTERN, description="First day (inclusive), YYYY-MM-DD.")
    ] = None,
    end: Annotated[
        str | None, Query(pattern=DATE_PATTERN, description="Last day (inclusive), YYYY-MM-DD.")
    ] = None,
    channel: Annotated[str | None, Query(max_length=256)] = None,
    region: Annotated[str | None, Query(max_length=256)] = None,
    store_id: Annotated[str | None, Query(max_length=256)] = None,
    segment: Annotated[str | None, Query(max_length=256, description="Loyalty tier.")] = None,
) -> Filters:
    """Read the filters from the query string (empty values, as plain forms send, mean none)."""
    first, last = _day(start, "start"), _day(end, "end")
    return Filters(first, last, channel or None, region or None, store_id or None, segment or None)


def metric_options(filters: Filters, who: Principal) -> dict[str, Any]:
    """Keyword arguments for :mod:`cxlens.analyse.metrics`: filters plus the caller's stores."""
    where: dict[str, Any] = {}
    stores = who.scope_stores(filters.store_id)
    if stores is not None:
        where["store_id"] = stores
    if filters.channel:
        where["channel"] = filters.channel
    if filters.region:
        where["region"] = filters.region
    if filters.segment:
        where[SEGMENT_DIMENSION] = filters.segment
    end = filters.end + timedelta(days=1) if filters.end else None
    return {"filters": where, "start": filters.start, "end": end}


class FigureCache:
    """Recent figure frames per (workspace load version, figure, filters, scope): dashboards ask
    the same questions over and over, and the answer only changes when data is loaded."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ws: Workspace, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value for ``key`` at the workspace's current data version, else computed."""
        full = (id(ws), ws.data_version(), key)
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                return _copy(self._items[full])
        value = compute()
        with self._lock:
            self._items[full] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return _copy(value)

    def clear(self) -> None:
        """Forget every cached figure."""
        with self._lock:
            self._items.clear()


def _copy(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return value.copy()
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, list) else v for k, v in value.items()}
    return value


CACHE = FigureCache()


def _scope_key(filters: Filters, who: Principal) -> tuple[Any, ...]:
    return (filters, who.stores)


class _TableMemo:
    """Ibis tables of a workspace by name, made once per data version (each ``ws.table`` call
    reads the table's schema from DuckDB, a noticeable share of a small figure's time)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.tables: dict[tuple[int, str], tuple[Any, Any]] = {}

    def __call__(self, name: str) -> Any:
        # per backend, i.e. per thread: each thread queries through its own DuckDB cursor (the
        # entry keeps its backend alive, so the id cannot be reused by another backend)
        backend = self.ws.backend()
        hit = self.tables.get((id(backend), name))
        if hit is None:
            hit = self.tables[(id(backend), name)] = (backend, self.ws.table(name))
        return hit[1]


def _tables(ws: Workspace) -> _TableMemo:
    memo: _TableMemo = CACHE.get(ws, ("tables",), lambda: _TableMemo(ws))
    return memo


def _has_feedback(ws: Workspace) -> bool:
    return bool(_counts(ws).get("feedback", 0))


def _counts(ws: Workspace) -> dict[str, int]:
    """Row counts per table, cached per data version (a count per table on every request adds up)."""
    return dict(CACHE.get(ws, ("counts",), ws.counts))


def table_counts(ws: Workspace) -> dict[str, int]:
    """Rows per data-model table, plus ``texts`` (feedback with text): what each page has to show."""

    def texts() -> int:
        if not _has_feedback(ws):
            return 0
        fb = _tables(ws)("feedback")
        return int(fb.text.count().to_pandas())

    return {**_counts(ws), "texts": int(CACHE.get(ws, ("texts",), texts))}


def shown_metrics(ws: Workspace) -> list[m.MetricName]:
    """The overview metrics the workspace has answers for (NPS, CSAT, CES, star rating)."""

    def compute() -> list[m.MetricName]:
        if not _has_feedback(ws):
            return []
        return m.available_metrics(_tables(ws), OVERVIEW_METRICS, journey_map=ws.journey_map)

    return list(CACHE.get(ws, ("metrics",), compute))


def headline(ws: Workspace, filters: Filters, who: Principal) -> pd.DataFrame:
    """Headline NPS, CSAT, CES and star rating (those the data has) for the latest month in range,
    with CIs and the change; empty when no answer matches the filters."""
    opts = metric_options(filters, who)
    return CACHE.get(ws, ("headline", _scope_key(filters, who)), lambda: _headline(ws, filters, opts))


def _headline(ws: Workspace, filters: Filters, opts: dict[str, Any]) -> pd.DataFrame:
    metrics = shown_metrics(ws)
    if not metrics:
        return pd.DataFrame()
    tables: Any = _tables(ws)
    if filters.start is not None or opts["end"] is not None:
        # answers outside the dates count in no month, the previous one included; an end inside a
        # month makes it a partial month, compared with the same days of the month before
        first, stop, every = filters.start, opts["end"], tables

        def in_range(name: str) -> Any:
            table = every(name)
            if name != "feedback":
                return table
            if first is not None:
                table = table.filter(table.submitted_at >= pd.Timestamp(first))
            if stop is not None:
                table = table.filter(table.submitted_at < pd.Timestamp(stop))
            return table

        tables = in_range
    try:
        head = m.headline(
            tables,
            metrics,
            "month",
            period=filters.end,
            journey_map=ws.journey_map,
            filters=opts["filters"],
        )
    except ValueError:  # no answer matches the filters
        return pd.DataFrame()
    return head if int(head["n"].sum()) > 0 else pd.DataFrame()


def trend(ws: Workspace, filters: Filters, who: Principal) -> pd.DataFrame:
    """NPS, CSAT, CES and star rating (those the data has) per month with intervals."""
    opts = metric_options(filters, who)
    return CACHE.get(ws, ("trend", _scope_key(filters, who)), lambda: _trend(ws, opts))


def _trend(ws: Workspace, opts: dict[str, Any]) -> pd.DataFrame:
    metrics = shown_metrics(ws)
    if not metrics:
        return pd.DataFrame(columns=["period", "metric", "n", "value", "ci_low", "ci_high", "small_n"])
    return m.trend(_tables(ws), metrics, "month", journey_map=ws.journey_map, **opts)


def stores_metric(ws: Workspace, metric: m.MetricName | None) -> m.MetricName:
    """The metric the stores table ranks by: the one asked for, else the first the data has."""
    if metric is not None:
        return metric
    shown = shown_metrics(ws)
    return shown[0] if shown else "nps"


def stores(ws: Workspace, filters: Filters, who: Principal, metric: m.MetricName = "nps") -> pd.DataFrame:
    """Stores league table: value, CI, n, rank and whether each store differs from the others.

    ``vs_rest`` is "above", "below" or "" (no significant difference from the other stores in
    the caller's scope at 95%); direction takes into account which way the metric runs.
    """
    opts = metric_options(filters, who)
    return CACHE.get(ws, ("stores", metric, _scope_key(filters, who)), lambda: _stores(ws, opts, metric))


def _stores(ws: Workspace, opts: dict[str, Any], metric: m.MetricName) -> pd.DataFrame:
    cols = ["rank", "store_id", "store_name", "region", "n", "value", "ci_low", "ci_high", "small_n"]
    if metric not in shown_metrics(ws):
        return pd.DataFrame(columns=[*cols, "vs_rest", "p_value"])
    spec = m.METRICS[metric]
    tables, jm = _tables(ws), ws.journey_map
    table = m.metric_table(tables, metric, ["store_id", "store_name", "region"], None, journey_map=jm, **opts)
    table = table[table["store_id"].notna()].copy()
    if _counts(ws).get("stores"):  # only stores the stores table knows: any string is not a store
        known = set(tables("stores").store_id.execute().dropna().astype(str))
        table = table[table["store_id"].astype(str).isin(known)].copy()
    cmp = m.compare_segments(tables, metric, "store_id", journey_map=jm, unknowns=False, **opts)
    cmp = cmp.rename(columns={"segment_a": "store_id"})[["store_id", "p_value", "significant", "diff"]]
    table = table.merge(cmp, on="store_id", how="left")
    higher = (table["diff"] > 0) == spec.higher_is_better
    sig = table["significant"].eq(True) & ~table["small_n"]
    table["vs_rest"] = np.where(sig, np.where(higher, "above", "below"), "")
    table = table.sort_values(
        ["small_n", "value"], ascending=[True, not spec.higher_is_better], kind="stable"
    )
    score = table["value"] if spec.higher_is_better else -table["value"]
    table["rank"] = score.where(~table["small_n"]).rank(method="min", ascending=False).astype("Int64")
    return table[[*cols, "vs_rest", "p_value"]].reset_index(drop=True)


def chain_vs_stores(
    ws: Workspace, filters: Filters, who: Principal, metric: m.MetricName = "nps"
) -> pd.DataFrame:
    """The chain's figure next to the stores' own, and the channel split that explains a gap: rows
    ``scope`` ("chain": every answer; "stores": answers about a store; "channel": one per channel),
    ``channel``, ``n``, ``value``, ``ci_low``, ``ci_high``, ``small_n``. Online answers name no
    store, so they count in the chain's figure only. Empty for a store manager (their figures are
    their stores') or when every answer names a store."""
    if who.stores is not None or metric not in shown_metrics(ws):
        return pd.DataFrame(columns=CHAIN_COLUMNS)
    opts = metric_options(filters, who)
    return CACHE.get(ws, ("chain", metric, _scope_key(filters, who)), lambda: _chain(ws, opts, metric))


CHAIN_COLUMNS = ["scope", "channel", "n", "value", "ci_low", "ci_high", "small_n"]


def _chain(ws: Workspace, opts: dict[str, Any], metric: m.MetricName) -> pd.DataFrame:
    tables, jm = _tables(ws), ws.journey_map
    try:
        chain = m.metric_table(tables, metric, [], None, journey_map=jm, **opts)
        channels = m.metric_table(tables, metric, ["channel"], None, journey_map=jm, **opts)
        stores = m.metric_table(tables, metric, ["store_id"], None, journey_map=jm, **opts)
    except ValueError:
        return pd.DataFrame(columns=CHAIN_COLUMNS)
    stores = stores[stores["store_id"].notna()]
    if chain.empty or stores.empty or int(stores["n"].sum()) >= int(chain["n"].sum()):
        return pd.DataFrame(columns=CHAIN_COLUMNS)
    n = int(stores["n"].sum())
    # NPS, shares and means are averages over answers, so the stores' pooled value is n-weighted
    pooled = float((stores["value"] * stores["n"]).sum() / n)
    rows = [
        {**chain.iloc[0][["n", "value", "ci_low", "ci_high", "small_n"]].to_dict(), "scope": "chain"},
        {"scope": "stores", "n": n, "value": pooled, "ci_low": None, "ci_high": None, "small_n": n < 30},
    ]
    for rec in channels.sort_values("n", ascending=False).to_dict("records"):
        rows.append({**rec, "scope": "channel"})
    out = pd.DataFrame(rows)
    for col in CHAIN_COLUMNS:
        if col not in out:
            out[col] = None
    return out[CHAIN_COLUMNS]


def display_names(ws: Workspace, locale: str = "en") -> DisplayNames:
    """Display names of ids (stores, touchpoints, channels, aspects...) in ``locale``, cached per
    data version (the stores table may change)."""
    names: DisplayNames = CACHE.get(ws, ("names", locale), lambda: workspace_names(ws, locale))
    return names


def filter_choices(ws: Workspace, who: Principal) -> dict[str, list[str]]:
    """Values for the filter drop-downs, limited to the caller's stores."""
    return dict(CACHE.get(ws, ("choices", who.stores), lambda: _choices(ws, who)))


def _choices(ws: Workspace, who: Principal) -> dict[str, list[str]]:
    """Every value for an unscoped caller; for a store manager only values in their stores' data."""
    counts = _counts(ws)
    out: dict[str, list[str]] = {"channel": [], "region": [], "store_id": [], "segment": []}
    scope = list(who.stores or [""]) if who.stores is not None else None
    tables = _tables(ws)
    if counts.get("stores"):
        st = tables("stores")
        if scope is not None:
            st = st.filter(st.store_id.isin(scope))
        frame = st.select("store_id", "region").to_pandas()
        out["store_id"] = sorted(frame["store_id"].dropna().astype(str).unique())
        out["region"] = sorted(frame["region"].dropna().astype(str).unique())
    fb = tables("feedback") if counts.get("feedback") else None
    if fb is not None and scope is not None:
        fb = fb.filter(fb.store_id.isin(scope))
    if fb is not None:
        out["channel"] = _distinct(fb.select("channel").distinct().to_pandas()["channel"])
    if counts.get("customers") and (scope is None or fb is not None):
        cu = tables("customers")
        if fb is not None and scope is not None:  # tiers of customers who answered about the stores
            cu = cu.filter(cu.customer_id.isin(fb.select("customer_id").distinct().customer_id))
        out["segment"] = _distinct(cu.select(SEGMENT_DIMENSION).distinct().to_pandas()[SEGMENT_DIMENSION])
    return out


def _distinct(values: pd.Series) -> list[str]:
    return sorted(values.dropna().astype(str).unique())


class CacheWarmer:
    """Computes the dashboards' common figures ahead of the first request, at start-up and again
    whenever a load changes the data: unfiltered and single-filter (channel, region, segment)
    figures for unscoped users, and unfiltered ones for each store manager's scope.

    Start-up waits for it (requests and the warm-up would otherwise share the workspace's one
    DuckDB connection); about 15-30 s on the 1-million-customer demo, under a second on small data.
    """

    def __init__(self, ws: Workspace, ops: OpsStore, *, max_combinations: int = 64) -> None:
        self.ws, self.ops, self.max_combinations = ws, ops, max_combinations
        self.warmed_version: int | None = None
        self.done = threading.Event()
        self._stop = threading.Event()

    def combinations(self) -> list[tuple[Filters, Principal]]:
        """The (filters, caller) pairs warmed, most common first."""
        everyone = Principal(0, "cache-warmer", "analyst", None, "warm")
        out: list[tuple[Filters, Principal]] = [(Filters(), everyone)]
        for stores_ in _manager_scopes(self.ops):
            out.append((Filters(), Principal(0, "cache-warmer", "store_manager", stores_, "warm")))
        choices = filter_choices(self.ws, everyone)
        out += [(Filters(channel=value), everyone) for value in choices["channel"]]
        out += [(Filters(region=value), everyone) for value in choices["region"]]
        out += [(Filters(segment=value), everyone) for value in choices["segment"]]
        return out[: self.max_combinations]

    def run(self) -> None:
        """Warm the cache if the data changed since the last run (a periodic job of the exporter)."""
        version = self.ws.data_version()
        if version == self.warmed_version:
            return
        for filters, who in self.combinations():
            if self._stop.is_set():
                return
            filter_choices(self.ws, who)
            headline(self.ws, filters, who)
            trend(self.ws, filters, who)
            # the stores page opens on the first metric; the others are warmed unfiltered only
            shown = shown_metrics(self.ws)
            for metric in shown if filters == Filters() else shown[:1]:
                stores(self.ws, filters, who, metric)
        self.warmed_version = version
        self.done.set()

    def run_logged(self) -> None:
        """:meth:`run`, logging a failure instead of raising (a cold cache only costs speed)."""
        try:
            self.run()
        except Exception:
            log.exception("warming the figure cache failed")
        finally:
            self.done.set()

    def stop(self) -> None:
        """Stop warming at the next figure."""
        self._stop.set()


def _manager_scopes(ops: OpsStore) -> list[tuple[str, ...]]:
    """The distinct store sets of active store managers."""
    from cxlens.web.auth import list_users

    scopes = {tuple(u.stores or ()) for u in list_users(ops) if u.role == "store_manager" and u.active}
    return sorted(s for s in scopes if s)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: timestamps as ISO dates, NaN as null, numpy scalars as Python ones."""
    rows: list[dict[str, Any]] = []
    for rec in frame.to_dict(orient="records"):
        rows.append({str(k): _jsonable(v) for k, v in rec.items()})
    return rows


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
