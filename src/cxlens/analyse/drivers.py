"""Key drivers: which touchpoints and text aspects move NPS, CSAT and repurchase, and what to fix first.

The unit is the customer. Per customer, one Ibis expression (:func:`driver_matrix_expr`) builds
the outcome and the drivers in the engine:

- outcomes: ``nps`` (mean 0-10 answer), ``csat`` (mean 1-5 answer at ``outcome_touchpoint``, by
  default the touchpoint with the most CSAT answers; its own score is then not a driver, and the
  mean over every touchpoint would be circular, its parts being the drivers), or ``repurchase``
  (1 if the customer ordered again within ``repurchase_days`` after their first scored feedback;
  drivers then come only from that first day, so later experiences cannot leak into the cause);
- touchpoint drivers ``tp:<touchpoint>``: the customer's mean score there, where a score is the
  CSAT answer, else the star rating, else the CES answer turned round onto 1-5 (``1 + (7 - ces) * 2/3``);
- operational drivers: ``op:delivery_on_time`` (share of the customer's deliveries that arrived by
  the promised time) and ``op:queue_wait`` (mean checkout-queue wait in minutes, from
  ``queue_join`` events);
- text drivers ``aspect:<aspect>``: mean aspect sentiment score (-1..1) of the customer's feedback,
  when ``cxlens text analyse`` has filled ``feedback_aspects`` (skipped otherwise).

Importance is the Shapley value decomposition of R² of a linear regression of the outcome on the
standardised drivers (missing driver values imputed by the driver mean), exact over all subsets up
to :data:`EXACT_MAX_DRIVERS` drivers, else Johnson's relative weights (which approximate it closely);
intervals are seeded percentile bootstraps over customers. Regression and Shapley run in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import ibis
import numpy as np
import pandas as pd

from cxlens.analyse.common import TableGetter, Tables, TimeLike, getter, timestamp
from cxlens.storage.workspace import Workspace

if TYPE_CHECKING:
    import ibis.expr.types as ir

Outcome = Literal["nps", "csat", "repurchase"]
OUTCOMES: tuple[str, ...] = ("nps", "csat", "repurchase")
#: Up to this many drivers the Shapley decomposition is exact (2**p subsets); beyond, relative weights.
EXACT_MAX_DRIVERS = 12
#: Drivers seen for fewer than this share of customers are left out (their imputed values carry no signal).
MIN_COVERAGE = 0.03
QUADRANTS = ("fix first", "keep up", "monitor", "possible overkill")


# -- the engine side: one row per customer -----------------------------------------------------


def _score(fb: ir.Table) -> ir.FloatingValue:
    ces = 1 + (7 - fb.ces.cast("float64")) * (2 / 3)
    return ibis.coalesce(fb.csat.cast("float64"), fb.rating.cast("float64"), ces)


def _own_feedback(get: TableGetter, start: TimeLike | None, end: TimeLike | None) -> ir.Table:
    fb = get("feedback")
    preds = [fb.brand.isnull(), fb.customer_id.notnull()]
    if start is not None:
        preds.append(fb.submitted_at >= timestamp(start))
    if end is not None:
        preds.append(fb.submitted_at < timestamp(end))
    return fb.filter(preds)


def _has_text(get: TableGetter) -> bool:
    try:
        get("feedback_aspects").columns  # noqa: B018 - raises when the table is missing
    except Exception:
        return False
    return True


def text_getter(tables: Tables, engine: str | None = None) -> TableGetter:
    """A getter that also serves the text tables of a workspace (when the text extra is installed)."""
    if not isinstance(tables, Workspace):
        return tables
    try:
        from cxlens.text.store import text_tables
    except ImportError:
        return getter(tables) if engine is None else (lambda name: tables.table(name, engine))
    return text_tables(tables, engine)


def _distinct(expr: ir.Column) -> list[str]:
    return sorted(str(v) for v in expr.name("v").as_table().distinct().to_pandas()["v"].dropna())


def driver_matrix_expr(
    tables: Tables,
    outcome: Outcome = "nps",
    *,
    outcome_touchpoint: str | None = None,
    repurchase_days: int = 90,
    text: bool | None = None,
    stores: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> ir.Table:
    """Ibis expression: one row per customer with ``customer_id``, ``outcome`` and a column per driver.

    ``text``: None = use aspects when the tables exist; ``stores`` limits feedback to those stores.
    Driver columns are named ``tp:<touchpoint>``, ``op:<measure>``, ``aspect:<aspect>``.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; choose from {', '.join(OUTCOMES)}")
    if outcome == "csat" and outcome_touchpoint is None:
        # the touchpoint CSAT answers are the drivers: their mean as the outcome would be circular
        raise ValueError("CSAT drivers need the touchpoint whose CSAT is the outcome (outcome_touchpoint)")
    get = getter(tables)
    fb = _own_feedback(get, start, end)
    if stores is not None:
        fb = fb.filter(fb.store_id.isin(list(stores)))
    fb = fb.mutate(score=_score(fb))

    window: ir.Table | None = None
    if outcome == "repurchase":
        first = fb.filter(fb.score.notnull() | fb.nps.notnull())
        first = first.group_by("customer_id").aggregate(anchor=first.submitted_at.min())
        orders = get("orders")
        orders = orders.filter(
            orders.customer_id.notnull() & (orders.status.isnull() | (orders.status != "cancelled"))
        )
        last = orders.ordered_at.max().as_scalar()
        first = first.filter(first.anchor <= last - ibis.interval(days=repurchase_days))
        again = orders.join(first, "customer_id")
        again = again.filter(
            (again.ordered_at > again.anchor + ibis.interval(days=1))
            & (again.ordered_at <= again.anchor + ibis.interval(days=repurchase_days))
        )
        again = again.group_by("customer_id").aggregate(k=again.count())
        units = first.left_join(again, "customer_id").select(
            "customer_id", "anchor", outcome=ibis.ifelse(ibis._.k.notnull(), 1.0, 0.0)
        )
        window = units.select(w_customer_id="customer_id", w_anchor="anchor")
        fb = fb.join(window, fb.customer_id == window.w_customer_id)
        fb = fb.filter(fb.submitted_at <= fb.w_anchor + ibis.interval(days=1)).drop(
            "w_customer_id", "w_anchor"
        )
        units = units.drop("anchor")
    else:
        col = "nps" if outcome == "nps" else "csat"
        o = fb.filter(fb[col].notnull())
        if outcome_touchpoint is not None:
            o = o.filter(o.touchpoint == outcome_touchpoint)
        units = o.group_by("customer_id").aggregate(outcome=o[col].cast("float64").mean())

    scored = fb.filter(fb.score.notnull() & fb.touchpoint.notnull())
    if outcome == "csat" and outcome_touchpoint is not None:
        scored = scored.filter(scored.touchpoint != outcome_touchpoint)
    touchpoints = _distinct(scored.touchpoint)
    parts: list[ir.Table] = []
    if touchpoints:
        parts.append(
            scored.group_by("customer_id").aggregate(
                **{f"tp:{tp}": scored.score.mean(where=scored.touchpoint == tp) for tp in touchpoints}
            )
        )
    parts.extend(_operational(get, window, start, end, stores))
    if text is None:
        text = _has_text(get)
    if text:
        asp = get("feedback_aspects")
        j = asp.join(fb.select("feedback_id", "customer_id"), "feedback_id")
        aspects = _distinct(j.aspect)
        if aspects:
            parts.append(
                j.group_by("customer_id").aggregate(
                    **{f"aspect:{a}": j.score.cast("float64").mean(where=j.aspect == a) for a in aspects}
                )
            )
    out = units
    for part in parts:
        renamed = part.rename(_k="customer_id")
        out = out.left_join(renamed, out.customer_id == renamed._k).drop("_k")
    return out


def _operational(
    get: TableGetter,
    window: ir.Table | None,
    start: TimeLike | None,
    end: TimeLike | None,
    stores: Sequence[str] | None,
) -> list[ir.Table]:
    """Per-customer delivery punctuality (orders) and checkout-queue wait (events)."""
    orders = get("orders")
    d = orders.filter(
        orders.customer_id.notnull()
        & orders.delivered_at.notnull()
        & orders.promised_delivery_at.notnull()
        & (orders.fulfilment == "delivery")
    )
    q = get("events")
    q = q.filter(q.customer_id.notnull() & (q.event_type == "queue_join") & q.value.notnull())
    if stores is not None:
        d = d.filter(d.store_id.isin(list(stores)))
        q = q.filter(q.store_id.isin(list(stores)))
    if start is not None:
        d = d.filter(d.ordered_at >= timestamp(start))
        q = q.filter(q.occurred_at >= timestamp(start))
    if end is not None:
        d = d.filter(d.ordered_at < timestamp(end))
        q = q.filter(q.occurred_at < timestamp(end))
    if window is not None:
        d = d.join(window, d.customer_id == window.w_customer_id)
        d = d.filter(d.delivered_at <= d.w_anchor + ibis.interval(days=1))
        q = q.join(window, q.customer_id == window.w_customer_id)
        q = q.filter(q.occurred_at <= q.w_anchor + ibis.interval(days=1))
    on_time = d.group_by("customer_id").aggregate(
        **{"op:delivery_on_time": (d.delivered_at <= d.promised_delivery_at).cast("float64").mean()}
    )
    wait = q.group_by("customer_id").aggregate(**{"op:queue_wait": q.value.cast("float64").mean() / 60.0})
    return [on_time, wait]


# -- the numpy side: Shapley / relative weights with bootstrap ----------------------------------


def _corr_stats(z: np.ndarray) -> np.ndarray:
    """Correlation matrix of the columns of z (outcome last); constant columns get zero correlation."""
    c = np.cov(z, rowvar=False)
    sd = np.sqrt(np.clip(np.diag(c), 0, None))
    safe = np.where(sd > 0, sd, 1.0)
    r = c / np.outer(safe, safe)
    r[sd == 0, :] = 0.0
    r[:, sd == 0] = 0.0
    np.fill_diagonal(r, 1.0)
    return r


def _subset_r2(r: np.ndarray) -> np.ndarray:
    """R² of every subset of predictors (bitmask index) from correlation matrices r (B, p+1, p+1)."""
    b, p = r.shape[0], r.shape[1] - 1
    v = np.zeros((1 << p, b))
    for mask in range(1, 1 << p):
        idx = [j for j in range(p) if mask >> j & 1]
        rxx = r[:, idx][:, :, idx] + 1e-10 * np.eye(len(idx))
        rxy = r[:, idx, p]
        beta = np.linalg.solve(rxx, rxy[..., None])[..., 0]
        v[mask] = np.einsum("bi,bi->b", beta, rxy)
    return v


def _shapley(r: np.ndarray) -> np.ndarray:
    """Exact Shapley decomposition of R²: (B, p)."""
    from math import factorial

    p = r.shape[1] - 1
    v = _subset_r2(r)
    masks = np.arange(1 << p)
    size = np.array([bin(m).count("1") for m in masks])
    weight = np.array([factorial(s) * factorial(p - s - 1) / factorial(p) if s < p else 0.0 for s in size])
    out = np.zeros((r.shape[0], p))
    for j in range(p):
        without = masks[(masks >> j) & 1 == 0]
        out[:, j] = (weight[without, None] * (v[without | (1 << j)] - v[without])).sum(axis=0)
    return out


def _relative_weights(r: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights: (B, p); they sum to R² like Shapley values."""
    p = r.shape[1] - 1
    out = np.zeros((r.shape[0], p))
    for i in range(r.shape[0]):
        rxx, rxy = r[i, :p, :p], r[i, :p, p]
        evals, evecs = np.linalg.eigh(rxx)
        lam = evecs @ np.diag(np.sqrt(np.clip(evals, 0, None))) @ evecs.T
        beta = np.linalg.lstsq(lam, rxy, rcond=None)[0]
        out[i] = (lam**2) @ (beta**2)
    return out


class KeyDriverModel:
    """Relative importance of drivers for an outcome: Shapley R² decomposition with bootstrap intervals.

    ``method``: "auto" (exact Shapley up to :data:`EXACT_MAX_DRIVERS` drivers, else relative
    weights), "shapley" or "relative_weights". Learned: ``importance_``, ``ci_low_``, ``ci_high_``
    (per driver, R² units), ``r2_``, ``r2_ci_``, ``coef_`` (standardised), ``method_``, ``n_``.
    """

    def __init__(
        self, method: str = "auto", n_boot: int = 200, confidence: float = 0.95, seed: int = 0
    ) -> None:
        self.method = method
        self.n_boot = n_boot
        self.confidence = confidence
        self.seed = seed

    def _decompose(self, r: np.ndarray) -> np.ndarray:
        return _shapley(r) if self.method_ == "shapley" else _relative_weights(r)

    def fit(self, X: np.ndarray | pd.DataFrame, y: np.ndarray | pd.Series) -> KeyDriverModel:  # noqa: N803
        """Fit on a complete (imputed) driver matrix ``X`` (n, p) and outcome ``y`` (n,)."""
        x = np.asarray(X, dtype=float)
        yv = np.asarray(y, dtype=float)
        if x.ndim != 2 or len(x) != len(yv):
            raise ValueError("X must be (n, p) and y (n,)")
        if len(yv) < max(10, x.shape[1] + 2):
            raise ValueError(f"too few units ({len(yv)}) for {x.shape[1]} drivers")
        if self.method not in ("auto", "shapley", "relative_weights"):
            raise ValueError(f"unknown method {self.method!r}")
        p = x.shape[1]
        self.method_ = (
            ("shapley" if p <= EXACT_MAX_DRIVERS else "relative_weights")
            if self.method == "auto"
            else self.method
        )
        z = np.column_stack([x, yv])
        full = _corr_stats(z)[None]
        self.importance_ = self._decompose(full)[0]
        self.r2_ = float(self.importance_.sum())
        self.coef_ = np.linalg.solve(full[0, :p, :p] + 1e-10 * np.eye(p), full[0, :p, p])
        rng = np.random.default_rng(self.seed)
        n = len(yv)
        boots = np.stack([_corr_stats(z[rng.integers(0, n, n)]) for _ in range(self.n_boot)])
        imp = self._decompose(boots)
        lo, hi = 50 * (1 - self.confidence), 100 - 50 * (1 - self.confidence)
        self.ci_low_, self.ci_high_ = np.percentile(imp, lo, axis=0), np.percentile(imp, hi, axis=0)
        self.r2_ci_ = (float(np.percentile(imp.sum(1), lo)), float(np.percentile(imp.sum(1), hi)))
        self.n_ = n
        return self


# -- public analysis ---------------------------------------------------------------------------


@dataclass
class KeyDrivers:
    """Result of :func:`key_drivers`: one row per driver, ranked, plus model facts and cost of inaction."""

    outcome: str
    method: str
    n_units: int
    r2: float
    r2_ci: tuple[float, float]
    drivers: pd.DataFrame
    cost: dict[str, Any] = field(default_factory=dict)
    outcome_touchpoint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        rows = self.drivers.replace({np.nan: None}).to_dict("records")
        return {
            "outcome": self.outcome,
            "outcome_touchpoint": self.outcome_touchpoint,
            "method": self.method,
            "n_units": self.n_units,
            "r2": self.r2,
            "r2_ci": list(self.r2_ci),
            "drivers": rows,
            "cost_of_inaction": self.cost,
        }


def _label(name: str) -> tuple[str, str]:
    kind, _, what = name.partition(":")
    labels = {"tp": "touchpoint", "op": "operations", "aspect": "text aspect"}
    return labels.get(kind, kind), what


def _good(name: str, values: pd.Series) -> pd.Series:
    """Per unit: does the driver perform well? (score 4-5, all deliveries on time, wait <= 5 min, positive)"""
    if name == "op:delivery_on_time":
        return values >= 1.0
    if name == "op:queue_wait":
        return values <= 5.0
    if name.startswith("aspect:"):
        return values > 0
    return values >= 4.0


def main_csat_touchpoint(
    tables: Tables,
    *,
    stores: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> str:
    """The touchpoint with the most CSAT answers in scope: the default CSAT outcome of
    :func:`key_drivers` (the other touchpoints' scores are then its drivers)."""
    fb = _own_feedback(getter(tables), start, end)
    fb = fb.filter(fb.csat.notnull() & fb.touchpoint.notnull())
    if stores is not None:
        fb = fb.filter(fb.store_id.isin(list(stores)))
    top = fb.group_by("touchpoint").aggregate(n=fb.count()).order_by([ibis.desc("n"), "touchpoint"]).limit(1)
    rows = top.to_pandas()
    if rows.empty:
        raise ValueError("no CSAT answers in scope")
    return str(rows["touchpoint"].iloc[0])


def key_drivers(
    tables: Tables,
    outcome: Outcome = "nps",
    *,
    outcome_touchpoint: str | None = None,
    repurchase_days: int = 90,
    text: bool | None = None,
    stores: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    method: str = "auto",
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    min_coverage: float = MIN_COVERAGE,
    value: Literal["auto", "clv", "spend"] = "auto",
) -> KeyDrivers:
    """Rank the drivers of ``outcome`` by relative importance, with the priority matrix and cost of inaction.

    ``drivers`` columns: ``rank``, ``driver``, ``kind``, ``name``, ``importance`` (share of R² it
    explains, in R² units), ``ci_low``, ``ci_high``, ``share`` (of total R²), ``direction`` (+1 /
    -1: sign of its standardised coefficient), ``performance`` (share of customers for whom it
    performs well), ``mean`` (its mean value), ``coverage`` (share of customers with a value),
    ``quadrant``, ``revenue_at_risk`` (value of detractors for whom it performs badly; NPS only).
    ``value``: how a customer is valued for the cost of inaction (see :func:`customer_value`).
    Raises ValueError when there are too few customers with the outcome or no driver.
    """
    get = getter(tables)
    if outcome == "csat" and outcome_touchpoint is None:
        outcome_touchpoint = main_csat_touchpoint(get, stores=stores, start=start, end=end)
    df = driver_matrix_expr(
        get,
        outcome,
        outcome_touchpoint=outcome_touchpoint,
        repurchase_days=repurchase_days,
        text=text,
        stores=stores,
        start=start,
        end=end,
    ).to_pandas()
    # engines return rows in any order: sort so that the seeded bootstrap is reproducible
    df = df[df["outcome"].notna()].sort_values("customer_id", kind="stable").reset_index(drop=True)
    names = [c for c in df.columns if c not in ("customer_id", "outcome")]
    coverage = {c: float(df[c].notna().mean()) if len(df) else 0.0 for c in names}
    names = [c for c in names if coverage[c] >= min_coverage and df[c].nunique() > 1]
    if not names:
        raise ValueError(
            f"no driver has values for at least {min_coverage:.0%} of the customers with an outcome"
        )
    x = df[names].astype(float)
    model = KeyDriverModel(method, n_boot, confidence, seed).fit(
        x.fillna(x.mean()), df["outcome"].astype(float)
    )
    imp = model.importance_
    perf = {c: float(_good(c, x[c].dropna()).mean()) for c in names}
    table = pd.DataFrame(
        {
            "driver": names,
            "kind": [_label(c)[0] for c in names],
            "name": [_label(c)[1] for c in names],
            "importance": imp,
            "ci_low": model.ci_low_,
            "ci_high": model.ci_high_,
            "share": imp / model.r2_ if model.r2_ > 0 else np.nan,
            "direction": np.sign(model.coef_).astype(int),
            "performance": [perf[c] for c in names],
            "mean": [float(x[c].mean()) for c in names],
            "coverage": [coverage[c] for c in names],
        }
    )
    table["quadrant"] = quadrants(table["importance"], table["performance"])
    cost: dict[str, Any] = {}
    if outcome == "nps":
        cost, at_risk = cost_of_inaction(tables, df[["customer_id", "outcome"]], x, value=value)
        table["revenue_at_risk"] = [at_risk.get(c, 0.0) for c in names]
    table = table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return KeyDrivers(
        outcome, model.method_, model.n_, model.r2_, model.r2_ci_, table, cost, outcome_touchpoint
    )


def quadrants(importance: pd.Series, performance: pd.Series) -> list[str]:
    """Priority-matrix quadrant per driver, split at the mean importance and mean performance."""
    hi_imp = importance >= importance.mean()
    hi_perf = performance >= performance.mean()
    return [
        (QUADRANTS[1] if p else QUADRANTS[0]) if i else (QUADRANTS[3] if p else QUADRANTS[2])
        for i, p in zip(hi_imp, hi_perf, strict=True)
    ]


def customer_value(
    tables: Tables, value: Literal["auto", "clv", "spend"] = "auto"
) -> tuple[pd.DataFrame, str]:
    """Per customer ``value``: predicted 12-month CLV (BG/NBD + Gamma-Gamma, when ``value`` is clv or
    auto and the customers extra fits) else spend in the trailing 12 months of orders; and which one."""
    get = getter(tables)
    if value in ("auto", "clv"):
        try:
            from cxlens.analyse.customers import clv, prepare, rfm

            baskets = prepare.baskets_from_tables(get)
            newest = baskets.ordered_at.max().to_pandas()
            if newest is None or pd.isna(newest):
                raise ValueError("no orders of known customers")
            last = pd.Timestamp(newest).date()
            fitted = clv.fit_clv(baskets, last - timedelta(days=90), last)
            summary = rfm.summary(baskets, last).to_pandas()
            pred = clv.predict_clv(fitted.bgnbd, fitted.gamma_gamma, summary, 365.0)
            return pred[["customer_id"]].assign(value=pred["clv"].astype(float)), "clv"
        except (ImportError, ValueError, RuntimeError):
            if value == "clv":
                raise
    orders = get("orders")
    orders = orders.filter(
        orders.customer_id.notnull() & (orders.status.isnull() | (orders.status != "cancelled"))
    )
    last = orders.ordered_at.max().as_scalar()
    recent = orders.filter(orders.ordered_at > last - ibis.interval(days=365))
    spend = recent.group_by("customer_id").aggregate(value=recent.total_amount.cast("float64").sum())
    return spend.to_pandas(), "trailing 12-month spend"


def cost_of_inaction(
    tables: Tables,
    units: pd.DataFrame,
    drivers: pd.DataFrame | None = None,
    *,
    value: Literal["auto", "clv", "spend"] = "auto",
) -> tuple[dict[str, Any], dict[str, float]]:
    """Revenue at risk from detractors (mean NPS answer <= 6) in ``units`` (customer_id, outcome).

    Returns the totals and, per driver column of ``drivers`` (aligned with ``units``), the value of
    the detractors for whom that driver performs badly.
    """
    values, basis = customer_value(tables, value)
    v = units[["customer_id"]].merge(values, on="customer_id", how="left")["value"].fillna(0.0).to_numpy()
    detractor = (units["outcome"] <= 6).to_numpy()
    total = float(v.sum())
    at_risk = float(v[detractor].sum())
    summary = {
        "basis": basis,
        "customers": len(units),
        "detractors": int(detractor.sum()),
        "revenue_at_risk": round(at_risk, 2),
        "revenue_total": round(total, 2),
        "share_at_risk": round(at_risk / total, 4) if total > 0 else None,
    }
    per: dict[str, float] = {}
    if drivers is not None:
        for c in drivers.columns:
            col = drivers[c]
            bad = (col.notna() & ~_good(c, col)).to_numpy()
            per[c] = round(float(v[detractor & bad].sum()), 2)
    return summary, per
