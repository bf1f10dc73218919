"""CX metrics (NPS, CSAT, CES) by any dimension, always with n, a confidence interval and a small-n flag.

The counts, sums and sums of squares are computed in the engine by one Ibis aggregation
(:func:`metric_expr`), so the same code runs on DuckDB and Spark and scales to tens of millions of
feedback rows; intervals and significance tests are then computed on the small aggregated frame.

Metric values: NPS in points (-100..100); CSAT as the percentage of 4-5 answers (``csat``) and
the mean on 1-5 (``csat_mean``); CES as the mean on 1-7, where **lower is better** (1 = very easy);
``rating`` as the mean star rating on 1-5. Only rows with a non-null score count towards a metric.
By default only feedback about our own brand (``brand IS NULL``) is used.

Example::

    metric_table(ws, "nps", by=["region"], grain="month")
    compare_periods(ws, ["nps", "csat"], grain="quarter", by=["store_id"])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import ibis
import numpy as np
import pandas as pd

from cxlens.analyse import stats as st
from cxlens.analyse.common import TableGetter, Tables, TimeLike, getter, journey_map_of, predicate, timestamp
from cxlens.journey.map import JourneyMap

if TYPE_CHECKING:
    import ibis.expr.types as ir

MetricName = Literal["nps", "csat", "csat_mean", "ces", "rating"]
Grain = Literal["day", "week", "month", "quarter"]

#: ``brand=ALL_BRANDS`` uses feedback about every brand (ours and competitors').
ALL_BRANDS = "*"
DEFAULT_MIN_N = 30
DEFAULT_CONFIDENCE = 0.95
#: Label of the comparison group "every other value" in :func:`compare_segments`.
REST = "(rest)"

STAT_COLUMNS = ("n", "top", "bottom", "sum", "sumsq")


@dataclass(frozen=True)
class Score:
    """A score column of the feedback table, its scale and its top and bottom boxes."""

    column: str
    low: int
    high: int
    top: tuple[int, int] | None = None
    bottom: tuple[int, int] | None = None


SCORES: dict[str, Score] = {
    "nps": Score("nps", 0, 10, top=(9, 10), bottom=(0, 6)),
    "csat": Score("csat", 1, 5, top=(4, 5), bottom=(1, 2)),
    "ces": Score("ces", 1, 7),
    "rating": Score("rating", 1, 5),
}


@dataclass(frozen=True)
class Metric:
    """How a metric is computed from a score and which way is better (shown in output metadata)."""

    name: str
    score: str
    kind: Literal["net", "share", "mean"]
    label: str
    unit: str
    range: tuple[float, float]
    higher_is_better: bool
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "nps",
            "nps",
            "net",
            "NPS",
            "points",
            (-100.0, 100.0),
            True,
            "% promoters (9-10) minus % detractors (0-6) on the 0-10 likelihood-to-recommend scale; "
            "95% CI by the normal approximation.",
        ),
        Metric(
            "csat",
            "csat",
            "share",
            "CSAT",
            "%",
            (0.0, 100.0),
            True,
            "Percentage of satisfied answers (4-5) on the 1-5 satisfaction scale; Wilson interval.",
        ),
        Metric(
            "csat_mean",
            "csat",
            "mean",
            "CSAT (mean)",
            "1-5",
            (1.0, 5.0),
            True,
            "Mean satisfaction on the 1-5 scale (5 best); t interval.",
        ),
        Metric(
            "ces",
            "ces",
            "mean",
            "CES",
            "1-7",
            (1.0, 7.0),
            False,
            "Mean customer effort on the 1-7 scale; lower is better (1 = very easy, 7 = very hard); "
            "t interval.",
        ),
        Metric(
            "rating",
            "rating",
            "mean",
            "Rating",
            "1-5",
            (1.0, 5.0),
            True,
            "Mean star rating on the 1-5 scale (5 best); t interval.",
        ),
    )
}


@dataclass(frozen=True)
class Dimension:
    """A dimension metrics can be broken down or filtered by, and the table it comes from."""

    name: str
    source: Literal["feedback", "stores", "customers", "orders", "journey"]
    column: str
    description: str


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("store_id", "feedback", "store_id", "Store the feedback is about."),
        Dimension("channel", "feedback", "channel", "Channel the feedback is about."),
        Dimension("touchpoint", "feedback", "touchpoint", "Touchpoint the feedback is about."),
        Dimension("source", "feedback", "source", "Kind of feedback (survey, review, ...)."),
        Dimension("survey_id", "feedback", "survey_id", "Survey that collected it."),
        Dimension("product_id", "feedback", "product_id", "Product the feedback is about."),
        Dimension("brand", "feedback", "brand", "Brand (empty = our own); use with brand='*'."),
        Dimension("language", "feedback", "language", "Language of the feedback text."),
        Dimension("stage", "journey", "touchpoint", "Journey stage of the touchpoint (journey map)."),
        Dimension("region", "stores", "region", "Sales region of the store."),
        Dimension("store_name", "stores", "name", "Name of the store."),
        Dimension("store_format", "stores", "format", "Format of the store."),
        Dimension("city", "stores", "city", "City of the store."),
        Dimension("country", "stores", "country", "Country of the store."),
        Dimension("loyalty_tier", "customers", "loyalty_tier", "Customer's loyalty tier."),
        Dimension("age_band", "customers", "age_band", "Customer's age band."),
        Dimension("gender", "customers", "gender", "Customer's gender."),
        Dimension("income_band", "customers", "income_band", "Customer's income band."),
        Dimension("preferred_channel", "customers", "preferred_channel", "Customer's preferred channel."),
        Dimension(
            "late_delivery",
            "orders",
            "late_delivery",
            "Whether the order arrived after the promised time (null: not delivered or no promise).",
        ),
        Dimension("fulfilment", "orders", "fulfilment", "How the order reached the customer."),
        Dimension("order_channel", "orders", "channel", "Channel the order was placed in."),
    )
}

_TRUNC_UNIT = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}
_STEP = {
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(days=7),
    "month": pd.DateOffset(months=1),
    "quarter": pd.DateOffset(months=3),
}


#: The headline metrics, in the order every summary shows them (those the data has).
HEADLINE_METRICS: tuple[MetricName, ...] = ("nps", "csat", "ces", "rating")


# -- inputs ---------------------------------------------------------------------------------------


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _metrics(metric: MetricName | Sequence[MetricName]) -> list[Metric]:
    names = _as_list(metric)
    if not names:
        raise ValueError("no metric given; choose from " + ", ".join(METRICS))
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
    return [METRICS[m] for m in dict.fromkeys(names)]


def _dimensions(names: Sequence[str]) -> list[str]:
    for name in names:
        if name not in DIMENSIONS:
            raise ValueError(f"unknown dimension {name!r}; choose from {', '.join(DIMENSIONS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"dimension listed twice: {list(names)}")
    return list(names)


def _grain(grain: Grain | None) -> Grain | None:
    if grain is not None and grain not in _TRUNC_UNIT:
        raise ValueError(f"unknown grain {grain!r}; choose from {', '.join(_TRUNC_UNIT)}")
    return grain


def period_start(value: TimeLike, grain: Grain) -> pd.Timestamp:
    """Start of the ``grain`` period holding ``value`` (weeks start on Monday, as in the engines)."""
    ts = pd.Timestamp(timestamp(value)).normalize()
    if grain == "day":
        return ts
    if grain == "week":
        return ts - pd.Timedelta(days=ts.weekday())
    if grain == "month":
        return ts.replace(day=1)
    return ts.replace(month=3 * ((ts.month - 1) // 3) + 1, day=1)


# -- the engine side: one aggregation ----------------------------------------------------------


def metric_expr(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    by: str | Sequence[str] = (),
    grain: Grain | None = None,
    *,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> ir.Table:
    """The Ibis aggregation behind every metric: per group (``period`` if a grain is given, then
    ``by``), ``<score>_n`` (non-null answers), ``<score>_sum``, ``<score>_sumsq`` and, for NPS and
    CSAT, ``<score>_top``/``<score>_bottom`` (promoters/detractors, 4-5/1-2). Runs in the engine.

    ``brand``: None (default) = our own brand only, ``"*"`` = all brands, else a brand or a list.
    ``filters``: dimension -> value, list of values (IN) or None (IS NULL). ``start`` is
    inclusive and ``end`` exclusive, on ``submitted_at``.
    """
    specs = _metrics(metric)
    keys = _dimensions(_as_list(by))
    filters = dict(filters or {})
    _dimensions(list(filters))
    grain = _grain(grain)
    get = getter(tables)
    scores = [SCORES[s] for s in dict.fromkeys(m.score for m in specs)]

    fb = get("feedback")
    preds: list[ir.BooleanValue] = [ibis.or_(*(fb[s.column].notnull() for s in scores))]
    if brand is None:
        preds.append(fb.brand.isnull())
    elif isinstance(brand, str):
        if brand != ALL_BRANDS:
            preds.append(fb.brand == brand)
    else:
        preds.append(fb.brand.isin(list(brand)))
    if start is not None:
        preds.append(fb.submitted_at >= timestamp(start))
    if end is not None:
        preds.append(fb.submitted_at < timestamp(end))
    late_filters: dict[str, Any] = {}
    for name, value in filters.items():
        dim = DIMENSIONS[name]
        if dim.source == "feedback":
            preds.append(predicate(fb[dim.column], value))
        else:
            late_filters[name] = value

    needed = [DIMENSIONS[d] for d in dict.fromkeys([*keys, *late_filters])]
    fb_cols = {s.column for s in scores}
    fb_cols |= {d.column for d in needed if d.source in ("feedback", "journey")}
    if any(d.source == "stores" for d in needed):
        fb_cols.add("store_id")
    if any(d.source == "customers" for d in needed):
        fb_cols.add("customer_id")
    if any(d.source == "orders" for d in needed):
        fb_cols.add("order_id")
    if grain is not None:
        fb_cols.add("submitted_at")
    t = fb.filter(preds).select(*sorted(fb_cols))

    t = _join(t, get, "stores", "store_id", [d for d in needed if d.source == "stores"])
    t = _join(t, get, "customers", "customer_id", [d for d in needed if d.source == "customers"])
    t = _join(t, _with_order_facts(get), "orders", "order_id", [d for d in needed if d.source == "orders"])
    derived: dict[str, ir.Value] = {}
    if any(d.source == "journey" for d in needed):
        jm = journey_map_of(tables, journey_map)
        derived["stage"] = t.touchpoint.cases(*jm.stage_of.items())
    if grain is not None:
        derived["period"] = t.submitted_at.truncate(_TRUNC_UNIT[grain])
    if derived:
        t = t.mutate(**derived)
    if late_filters:
        t = t.filter([predicate(t[name], value) for name, value in late_filters.items()])

    aggs: dict[str, ir.Scalar] = {}
    for s in scores:
        col = t[s.column]
        x = col.cast("float64")
        aggs[f"{s.column}_n"] = col.count()
        if s.top is not None and s.bottom is not None:
            aggs[f"{s.column}_top"] = col.count(where=col.between(*s.top))
            aggs[f"{s.column}_bottom"] = col.count(where=col.between(*s.bottom))
        aggs[f"{s.column}_sum"] = x.sum()
        aggs[f"{s.column}_sumsq"] = (x * x).sum()
    group = (["period"] if grain is not None else []) + keys
    if group:
        return t.group_by(group).aggregate(**aggs)
    return t.aggregate(**aggs)


def _with_order_facts(get: TableGetter) -> TableGetter:
    """A getter whose orders table also has ``late_delivery`` (delivered after the promise)."""

    def getter(name: str) -> ir.Table:
        table = get(name)
        if name == "orders":
            table = table.mutate(late_delivery=table.delivered_at > table.promised_delivery_at)
        return table

    return getter


def _join(t: ir.Table, get: TableGetter, table: str, key: str, dims: list[Dimension]) -> ir.Table:
    """Left-join the columns of ``dims`` from ``table`` (one row per ``key``) onto ``t``."""
    if not dims:
        return t
    other = get(table)
    right = other.select(_cx_key=other[key], **{d.name: other[d.column] for d in dims})
    joined = t.left_join(right, t[key] == right._cx_key)
    return joined.drop("_cx_key")


# -- the pandas side: estimates on the aggregated frame ---------------------------------------


def _moments(agg: pd.DataFrame, specs: list[Metric], keys: list[str]) -> pd.DataFrame:
    """Long frame: keys, metric, n, top, bottom, sum, sumsq (groups with n = 0 dropped)."""
    agg = agg.copy()
    if "period" in agg.columns:
        period = agg["period"]
        if isinstance(period.dtype, pd.DatetimeTZDtype):
            period = period.dt.tz_convert("UTC").dt.tz_localize(None)
        agg["period"] = pd.to_datetime(period).astype("datetime64[us]")
    parts = []
    for m in specs:
        s = m.score
        part = agg[keys].copy()
        part.insert(len(keys), "metric", m.name)
        for stat in STAT_COLUMNS:
            col = f"{s}_{stat}"
            values = agg[col] if col in agg.columns else 0.0
            part[stat] = pd.to_numeric(pd.Series(values, index=agg.index), errors="coerce")
        part[list(STAT_COLUMNS)] = part[list(STAT_COLUMNS)].astype("float64").fillna(0.0)
        parts.append(part[part["n"] > 0])
    out = pd.concat(parts, ignore_index=True)
    out["metric"] = out["metric"].astype(object)
    return out


def _kind(metric: pd.Series) -> np.ndarray:
    return metric.map(lambda m: METRICS[m].kind).to_numpy()


def _cols(m: pd.DataFrame, suffix: str, *names: str) -> tuple[np.ndarray, ...]:
    return tuple(m[f"{name}{suffix}"].to_numpy(float) for name in names)


def _estimate(m: pd.DataFrame, confidence: float, min_n: int) -> pd.DataFrame:
    """Add value, ci_low, ci_high and small_n to a moments frame."""
    out = m.copy()
    size = len(out)
    value, low, high = np.full(size, np.nan), np.full(size, np.nan), np.full(size, np.nan)
    kind = _kind(out["metric"]) if size else np.array([], dtype=object)
    sel = kind == "net"
    if sel.any():
        v, _, lo, hi = st.nps_interval(*_cols(out[sel], "", "top", "bottom", "n"), confidence=confidence)
        value[sel], low[sel], high[sel] = v, lo, hi
    sel = kind == "share"
    if sel.any():
        p, lo, hi = st.wilson(*_cols(out[sel], "", "top", "n"), confidence=confidence)
        value[sel], low[sel], high[sel] = 100 * p, 100 * lo, 100 * hi
    sel = kind == "mean"
    if sel.any():
        mean, _, lo, hi = st.mean_interval(*_cols(out[sel], "", "n", "sum", "sumsq"), confidence=confidence)
        value[sel], low[sel], high[sel] = mean, lo, hi
    out["n"] = out["n"].astype("int64")
    out["value"], out["ci_low"], out["ci_high"] = value, low, high
    out["small_n"] = out["n"] < min_n
    return out


def _compare(
    a: pd.DataFrame, b: pd.DataFrame, keys: list[str], confidence: float, min_n: int
) -> pd.DataFrame:
    """Join two moments frames on ``keys`` and test a - b: difference, CI, p-value, flags."""
    cols = [*keys, *STAT_COLUMNS]
    m = a[cols].merge(b[cols], on=keys, how="outer", suffixes=("_a", "_b"))
    size = len(m)
    ea = _estimate(m[keys].assign(**{s: m[f"{s}_a"].fillna(0.0) for s in STAT_COLUMNS}), confidence, min_n)
    eb = _estimate(m[keys].assign(**{s: m[f"{s}_b"].fillna(0.0) for s in STAT_COLUMNS}), confidence, min_n)
    diff, low, high, p = (np.full(size, np.nan) for _ in range(4))
    kind = _kind(m["metric"]) if size else np.array([], dtype=object)
    sel = kind == "net"
    if sel.any():
        sub = m[sel]
        res = st.diff_nps(
            *_cols(sub, "_a", "top", "bottom", "n"),
            *_cols(sub, "_b", "top", "bottom", "n"),
            confidence=confidence,
        )
        diff[sel], low[sel], high[sel], p[sel] = res
    sel = kind == "share"
    if sel.any():
        sub = m[sel]
        d, lo, hi, pv = st.diff_share(
            *_cols(sub, "_a", "top", "n"), *_cols(sub, "_b", "top", "n"), confidence=confidence
        )
        diff[sel], low[sel], high[sel], p[sel] = 100 * d, 100 * lo, 100 * hi, pv
    sel = kind == "mean"
    if sel.any():
        sub = m[sel]
        ma, var_a = st.mean_var(*_cols(sub, "_a", "n", "sum", "sumsq"))
        mb, var_b = st.mean_var(*_cols(sub, "_b", "n", "sum", "sumsq"))
        res = st.diff_mean(ma, var_a, sub["n_a"], mb, var_b, sub["n_b"], confidence=confidence)
        diff[sel], low[sel], high[sel], p[sel] = res
    out = m[keys].copy()
    out["n_a"], out["value_a"] = m["n_a"].fillna(0).astype("int64"), ea["value"].to_numpy()
    out["n_b"], out["value_b"] = m["n_b"].fillna(0).astype("int64"), eb["value"].to_numpy()
    out["diff"], out["diff_ci_low"], out["diff_ci_high"], out["p_value"] = diff, low, high, p
    out["significant"] = np.nan_to_num(p, nan=1.0) < 1 - confidence
    out["small_n"] = (out["n_a"] < min_n) | (out["n_b"] < min_n)
    return out


def _order(df: pd.DataFrame, keys: list[str], specs: list[Metric], jm: JourneyMap | None) -> pd.DataFrame:
    """Sort by keys (stages and touchpoints in journey order, nulls last) then metric order."""
    rank_of: dict[str, dict[str, int]] = {"metric": {m.name: i for i, m in enumerate(specs)}}
    if jm is not None:
        rank_of["stage"] = {s.id: i for i, s in enumerate(jm.stages)}
        rank_of["touchpoint"] = {t: i for i, t in enumerate(jm.touchpoint_ids)}

    def key(col: pd.Series) -> pd.Series:
        order = rank_of.get(str(col.name))
        if order is None:
            return col
        return col.map(lambda v: order.get(v, len(order)) if isinstance(v, str) else np.nan)

    cols = [k for k in [*keys, "metric"] if k in df.columns]
    if df.empty or not cols:
        return df.reset_index(drop=True)
    return df.sort_values(cols, key=key, na_position="last", kind="stable").reset_index(drop=True)


def _with_meta(df: pd.DataFrame, specs: list[Metric], confidence: float, min_n: int) -> pd.DataFrame:
    df.attrs = {
        "metrics": {m.name: asdict(m) for m in specs},
        "higher_is_better": {m.name: m.higher_is_better for m in specs},
        "confidence": confidence,
        "min_n": min_n,
    }
    return df


def _keys(by: str | Sequence[str], grain: Grain | None) -> list[str]:
    return (["period"] if grain is not None else []) + _dimensions(_as_list(by))


def _jm_if_needed(tables: Tables, journey_map: JourneyMap | None, keys: list[str]) -> JourneyMap | None:
    if "stage" in keys or "touchpoint" in keys:
        return journey_map_of(tables, journey_map)
    return None


# -- public functions ---------------------------------------------------------------------------


def metric_table(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    by: str | Sequence[str] = (),
    grain: Grain | None = None,
    *,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """One or more metrics by period and dimensions, as a tidy frame with n and a CI.

    Columns: ``period`` (if ``grain``), the ``by`` columns, ``metric``, ``n``, ``value``,
    ``ci_low``, ``ci_high``, ``small_n`` (n < ``min_n``). Groups without answers are left out.
    ``df.attrs["metrics"]`` describes each metric (scale, unit, ``higher_is_better``).
    Arguments as in :func:`metric_expr`.
    """
    specs = _metrics(metric)
    keys = _keys(by, grain)
    expr = metric_expr(
        tables,
        metric,
        by,
        grain,
        journey_map=journey_map,
        brand=brand,
        filters=filters,
        start=start,
        end=end,
    )
    est = _estimate(_moments(expr.to_pandas(), specs, keys), confidence, min_n)
    out = est[[*keys, "metric", "n", "value", "ci_low", "ci_high", "small_n"]]
    out = _order(out, keys, specs, _jm_if_needed(tables, journey_map, keys))
    return _with_meta(out, specs, confidence, min_n)


def trend(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    grain: Grain = "month",
    by: str | Sequence[str] = (),
    **options: Any,
) -> pd.DataFrame:
    """Metrics per period of ``grain`` (and ``by``), for trend charts; see :func:`metric_table`."""
    return metric_table(tables, metric, by, grain, **options)


def breakdown(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    dimensions: Sequence[str] = ("region", "channel", "stage", "loyalty_tier"),
    **options: Any,
) -> pd.DataFrame:
    """Metrics by each of several dimensions in turn, stacked in one long frame.

    Columns: ``dimension``, ``level`` (the dimension's value), then as :func:`metric_table`.
    """
    parts = []
    for dim in _dimensions(list(dimensions)):
        part = metric_table(tables, metric, [dim], None, **options)
        part = part.rename(columns={dim: "level"})
        part.insert(0, "dimension", dim)
        part["level"] = part["level"].astype(object)
        parts.append(part)
    specs = _metrics(metric)
    out = pd.concat(parts, ignore_index=True)
    return _with_meta(
        out, specs, options.get("confidence", DEFAULT_CONFIDENCE), options.get("min_n", DEFAULT_MIN_N)
    )


def compare_periods(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    grain: Grain = "month",
    by: str | Sequence[str] = (),
    *,
    period: TimeLike | None = None,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """This period (``a``) against the previous one (``b``) for each metric and ``by`` group.

    ``period`` is any time inside the period of interest; default: the latest period with data.
    Columns: ``period_a``, ``period_b``, the ``by`` columns, ``metric``, ``n_a``, ``value_a``,
    ``n_b``, ``value_b``, ``diff`` (a - b), ``diff_ci_low``, ``diff_ci_high``, ``p_value``
    (two-sample z test for NPS and CSAT share, Welch t for means), ``significant``
    (p < 1 - confidence) and ``small_n`` (either n < ``min_n``). Groups seen in only one of the two
    periods are kept, with missing values.
    """
    specs = _metrics(metric)
    grain_ = _grain(grain)
    if grain_ is None:
        raise ValueError("compare_periods needs a grain: day, week, month or quarter")
    dims = _dimensions(_as_list(by))

    def moments(start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
        expr = metric_expr(
            tables,
            metric,
            dims,
            grain_,
            journey_map=journey_map,
            brand=brand,
            filters=filters,
            start=start,
            end=end,
        )
        return _moments(expr.to_pandas(), specs, ["period", *dims])

    mom, this = _two_periods(tables, grain_, period, moments)
    prev = this - _STEP[grain_]
    a = mom[mom["period"] == this].drop(columns="period")
    b = mom[mom["period"] == prev].drop(columns="period")
    out = _compare(a, b, [*dims, "metric"], confidence, min_n)
    out.insert(0, "period_b", prev)
    out.insert(0, "period_a", this)
    out = _order(out, dims, specs, _jm_if_needed(tables, journey_map, dims))
    return _with_meta(out, specs, confidence, min_n)


def _latest(mom: pd.DataFrame) -> pd.Timestamp:
    """The latest period with data (NaT when no feedback with a score matches)."""
    if mom.empty:
        return pd.Timestamp("NaT")
    return pd.Timestamp(mom["period"].max())


def _two_periods(
    tables: Tables,
    grain: Grain,
    period: TimeLike | None,
    moments: Callable[[pd.Timestamp | None, pd.Timestamp | None], pd.DataFrame],
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Moments of the period of interest and the one before, and that period's start.

    Without ``period`` the latest period with data is wanted. Scanning only the store's last two
    periods finds it whenever the filtered feedback has data in the store's latest period (the
    usual case, and 2-3x faster than the whole history); otherwise the whole history is read.
    When nothing matches, the period is NaT and the moments are empty ("no data" downstream).
    """
    step = _STEP[grain]
    if period is not None:
        this = period_start(period, grain)
        return moments(this - step, this + step), this
    latest = getter(tables)("feedback").submitted_at.max().execute()
    if latest is not None and not pd.isna(latest):
        this = period_start(latest, grain)
        mom = moments(this - step, this + step)
        if (mom["period"] == this).any():
            return mom, this
    mom = moments(None, None)
    return mom, _latest(mom)


def compare_segments(
    tables: Tables,
    metric: MetricName | Sequence[MetricName] = "nps",
    dimension: str = "loyalty_tier",
    a: Any = None,
    b: Any = None,
    by: str | Sequence[str] = (),
    grain: Grain | None = None,
    *,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Segment ``a`` against segment ``b`` of ``dimension`` (within each period/``by`` group).

    ``b=None`` compares ``a`` with all other (non-null) values together; ``a=None`` compares every
    value with the rest. Columns: ``period`` (if ``grain``), the ``by`` columns, ``dimension``,
    ``segment_a``, ``segment_b`` (a value or ``"(rest)"``), ``metric``, then as
    :func:`compare_periods` from ``n_a`` on.
    """
    specs = _metrics(metric)
    (dim,) = _dimensions([dimension])
    dims = _dimensions(_as_list(by))
    if dim in dims:
        raise ValueError(f"{dim!r} is the compared dimension; it cannot also be in by")
    keys = (["period"] if _grain(grain) is not None else []) + dims
    expr = metric_expr(
        tables,
        metric,
        [*dims, dim],
        grain,
        journey_map=journey_map,
        brand=brand,
        filters=filters,
        start=start,
        end=end,
    )
    mom = _moments(expr.to_pandas(), specs, [*keys, dim])
    mom = mom[mom[dim].notna()]
    group = [*keys, "metric"]
    stat = list(STAT_COLUMNS)
    if a is not None and b is not None:
        sa = mom[mom[dim] == a].drop(columns=dim)
        sb = mom[mom[dim] == b].drop(columns=dim)
        out = _compare(sa, sb, group, confidence, min_n)
        out.insert(len(keys), "segment_b", b)
        out.insert(len(keys), "segment_a", a)
    else:
        totals = mom.groupby(group, dropna=False, sort=False)[stat].sum().reset_index()
        seg = mom if a is None else mom[mom[dim] == a]
        rest = seg[[*group, dim]].merge(totals, on=group, how="left")
        rest[stat] = rest[stat].to_numpy() - seg[stat].to_numpy()
        seg = seg.rename(columns={dim: "segment_a"})
        rest = rest.rename(columns={dim: "segment_a"})
        out = _compare(seg, rest, [*keys, "segment_a", "metric"], confidence, min_n)
        out.insert(len(keys) + 1, "segment_b", REST)
    out.insert(len(keys), "dimension", dim)
    out["segment_a"] = out["segment_a"].astype(object)
    out["segment_b"] = out["segment_b"].astype(object)
    order_keys = [*keys, "segment_a"]
    jm = _jm_if_needed(tables, journey_map, [*keys, dim])
    if jm is not None and dim in ("stage", "touchpoint"):
        out = out.rename(columns={"segment_a": dim})
        out = _order(out, [*keys, dim], specs, jm).rename(columns={dim: "segment_a"})
    else:
        out = _order(out, order_keys, specs, jm)
    return _with_meta(out, specs, confidence, min_n)


def available_metrics(
    tables: Tables,
    metrics: Sequence[MetricName] = HEADLINE_METRICS,
    *,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    journey_map: JourneyMap | None = None,
) -> list[MetricName]:
    """The ``metrics`` that have at least one answer in the (filtered) feedback, in their order.

    Summaries show these: review exports have star ratings but no NPS, surveys the opposite.
    """
    specs = _metrics(list(metrics))
    expr = metric_expr(tables, list(metrics), journey_map=journey_map, brand=brand, filters=filters)
    counts = expr.to_pandas()
    if counts.empty:
        return []
    row = counts.iloc[0]
    return [m.name for m in specs if int(row.get(f"{m.score}_n", 0) or 0) > 0]  # type: ignore[misc]


def headline(
    tables: Tables,
    metrics: Sequence[MetricName] = ("nps", "csat", "csat_mean", "ces"),
    grain: Grain = "month",
    *,
    period: TimeLike | None = None,
    journey_map: JourneyMap | None = None,
    brand: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Overall metrics for the latest (or given) period with CI, and the change vs the previous one.

    One row per metric: ``metric``, ``label``, ``unit``, ``higher_is_better``, ``period``, ``n``,
    ``value``, ``ci_low``, ``ci_high``, ``small_n``, ``previous_period``, ``previous_n``,
    ``previous_value``, ``change``, ``change_ci_low``, ``change_ci_high``, ``p_value``,
    ``significant``, ``verdict`` ("better", "worse", "no significant change" or "no data").
    """
    specs = _metrics(list(metrics))
    grain_ = _grain(grain)
    if grain_ is None:
        raise ValueError("headline needs a grain: day, week, month or quarter")

    def moments(start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
        expr = metric_expr(
            tables,
            list(metrics),
            (),
            grain_,
            journey_map=journey_map,
            brand=brand,
            filters=filters,
            start=start,
            end=end,
        )
        return _moments(expr.to_pandas(), specs, ["period"])

    mom, this = _two_periods(tables, grain_, period, moments)
    prev = this - _STEP[grain_]
    names = [m.name for m in specs]
    cur = _estimate(mom[mom["period"] == this], confidence, min_n).set_index("metric").reindex(names)
    cmp = _compare(
        mom[mom["period"] == this].drop(columns="period"),
        mom[mom["period"] == prev].drop(columns="period"),
        ["metric"],
        confidence,
        min_n,
    )
    cmp = cmp.set_index("metric").reindex(names)
    higher = np.array([m.higher_is_better for m in specs])
    change = cmp["diff"].to_numpy(float)
    # reindex leaves NaN for metrics with no answers: those are not significant, and small n
    significant = cmp["significant"].eq(True).to_numpy(bool)
    verdict = np.select(
        [np.isnan(change), ~significant, (change > 0) == higher],
        ["no data", "no significant change", "better"],
        "worse",
    )
    out = pd.DataFrame(
        {
            "metric": names,
            "label": [m.label for m in specs],
            "unit": [m.unit for m in specs],
            "higher_is_better": higher,
            "period": this,
            "n": cur["n"].fillna(0).to_numpy("int64"),
            "value": cur["value"].to_numpy(float),
            "ci_low": cur["ci_low"].to_numpy(float),
            "ci_high": cur["ci_high"].to_numpy(float),
            "small_n": ~cur["small_n"].eq(False).to_numpy(bool),
            "previous_period": prev,
            "previous_n": cmp["n_b"].fillna(0).to_numpy("int64"),
            "previous_value": cmp["value_b"].to_numpy(float),
            "change": change,
            "change_ci_low": cmp["diff_ci_low"].to_numpy(float),
            "change_ci_high": cmp["diff_ci_high"].to_numpy(float),
            "p_value": cmp["p_value"].to_numpy(float),
            "significant": significant,
            "verdict": verdict,
        }
    )
    return _with_meta(out, specs, confidence, min_n)


@dataclass
class Ranking:
    """Best and worst groups by a metric; groups with n < min_n are not ranked but listed apart."""

    metric: str
    by: list[str]
    min_n: int
    #: Every rankable group, best first, with a ``rank`` column (1 = best).
    ranked: pd.DataFrame
    #: The ``k`` best groups, best first.
    best: pd.DataFrame
    #: The ``k`` worst groups, worst first.
    worst: pd.DataFrame
    #: Groups left out of the ranking because n < min_n (with their values, flagged small_n).
    excluded: pd.DataFrame

    @property
    def note(self) -> str:
        """A sentence for reports saying what was left out of the ranking and why."""
        if self.excluded.empty:
            return f"All {len(self.ranked)} groups have n >= {self.min_n} and are ranked."
        return (
            f"{len(self.excluded)} of {len(self.ranked) + len(self.excluded)} groups have fewer than "
            f"{self.min_n} answers and are not ranked."
        )


def best_worst(
    tables: Tables,
    metric: MetricName = "nps",
    by: str | Sequence[str] = ("store_id", "store_name"),
    *,
    k: int = 5,
    **options: Any,
) -> Ranking:
    """Rank groups (stores by default) by a metric, best first (lowest first for CES).

    Groups whose first ``by`` column is null, or with n < ``min_n``, are not ranked; the latter are
    returned in ``excluded``. Ties share a rank. Other options as in :func:`metric_table`.
    """
    spec = _metrics(metric)[0]
    dims = _dimensions(_as_list(by))
    if not dims:
        raise ValueError("best_worst needs at least one dimension to rank")
    if "grain" in options:
        raise ValueError("best_worst ranks over one time range; use start and end instead of grain")
    table = metric_table(tables, metric, dims, None, **options)
    table = table[table[dims[0]].notna()]
    eligible = table[~table["small_n"]]
    excluded = table[table["small_n"]].reset_index(drop=True)
    ranked = eligible.sort_values(
        ["value", "n"], ascending=[not spec.higher_is_better, False], kind="stable"
    ).reset_index(drop=True)
    score = ranked["value"] if spec.higher_is_better else -ranked["value"]
    ranked.insert(0, "rank", score.rank(method="min", ascending=False).astype("int64"))
    worst = ranked.iloc[::-1].head(k).reset_index(drop=True)
    attrs = table.attrs
    for frame in (ranked, excluded, worst):
        frame.attrs = attrs
    best = ranked.head(k).reset_index(drop=True)
    best.attrs = attrs
    return Ranking(spec.name, dims, int(attrs["min_n"]), ranked, best, worst, excluded)


def biggest_movers(
    tables: Tables,
    metric: MetricName = "nps",
    by: str | Sequence[str] = "store_id",
    grain: Grain = "month",
    *,
    k: int = 10,
    include_small_n: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """The ``k`` largest significant changes vs the previous period among ``by`` groups.

    Columns as :func:`compare_periods` plus ``direction`` ("better" or "worse", taking into
    account which way the metric runs), ordered by the size of the change. Small-n groups are left
    out unless ``include_small_n``; groups with a null first ``by`` column are left out.
    """
    spec = _metrics(metric)[0]
    dims = _dimensions(_as_list(by))
    if not dims:
        raise ValueError("biggest_movers needs at least one dimension")
    cmp = compare_periods(tables, metric, grain, dims, **options)
    attrs = cmp.attrs
    moved = cmp[cmp["significant"] & cmp[dims[0]].notna()]
    if not include_small_n:
        moved = moved[~moved["small_n"]]
    moved = moved.assign(_size=moved["diff"].abs())
    moved = moved.sort_values("_size", ascending=False, kind="stable").drop(columns="_size").head(k)
    better = (moved["diff"] > 0) == spec.higher_is_better
    moved = moved.assign(direction=np.where(better, "better", "worse")).reset_index(drop=True)
    moved.attrs = attrs
    return moved
