"""Churn prediction: gradient boosting on behaviour and experience features, validated forward in time.

Features are built in the engine as of a cutoff day (:func:`behaviour_features` from baskets,
:func:`experience_features` from the data model: late deliveries, returns, support contacts,
NPS and CSAT answers). A customer churns when they buy nothing in the ``horizon_days`` after the
cutoff. :class:`ChurnModel` is scikit-learn's ``HistGradientBoostingClassifier`` with calibrated
probabilities; :meth:`ChurnModel.reasons` names the features that raise each customer's risk most
(the drop in risk when a feature is set to its typical value). :func:`time_split_validation`
trains at one cutoff and tests at a later one, and :func:`lift_table` gives the lift chart.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from cxlens.analyse.common import by_key
from cxlens.analyse.customers.prepare import Tables, baskets_from_tables, customer_orders, getter
from cxlens.analyse.customers.rfm import DateLike, as_date
from cxlens.analyse.journeys import customer_rows

if TYPE_CHECKING:
    import ibis.expr.types as ir

ID = "customer_id"
LABEL = "churned"


def behaviour_features(baskets: ir.Table, cutoff: DateLike, horizon_days: int) -> ir.Table:
    """Per customer with a purchase on or before ``cutoff``: RFM-style features and the churn label."""
    c = as_date(cutoff)
    cut = ibis.literal(c)
    end = ibis.literal(c + timedelta(days=horizon_days))
    day = baskets.ordered_at.date()
    past = baskets.filter(day <= cut)
    pd_ = past.ordered_at.date()
    recent = pd_ > ibis.literal(c - timedelta(days=90))
    f = past.group_by(ID).aggregate(
        last_day=pd_.max(),
        first_day=pd_.min(),
        orders=past.count(),
        orders_90d=recent.cast("int64").sum(),
        spend=past.value.sum(),
        spend_90d=ibis.ifelse(recent, past.value, 0.0).sum(),
        stores=past.store_id.nunique(),
    )
    future = baskets.filter((day > cut) & (day <= end))
    buyers = future.select(ID).distinct().mutate(bought=ibis.literal(1))
    j = f.left_join(buyers, f[ID] == buyers[ID])
    return j.select(
        customer_id=f[ID],
        recency_days=cut.delta(f.last_day, unit="day").cast("float64"),
        tenure_days=cut.delta(f.first_day, unit="day").cast("float64"),
        orders=f.orders.cast("float64"),
        orders_90d=f.orders_90d.cast("float64"),
        spend=f.spend,
        avg_basket=f.spend / f.orders.cast("float64"),
        spend_90d=f.spend_90d,
        stores=f.stores.cast("float64"),
        churned=j.bought.isnull().cast("int64"),
    )


def experience_features(tables: Tables, cutoff: DateLike) -> ir.Table:
    """Per customer, experience up to ``cutoff``: late deliveries, returns, online share, support
    contacts, NPS and CSAT answers (means, lowest, detractor count); guest orders, answers and
    contacts linked to the customer in ``identities`` count (:func:`customer_rows`)."""
    t = getter(tables)
    cut = ibis.literal(as_date(cutoff))
    o = customer_orders(tables)
    o = o.filter(o.ordered_at.date() <= cut)
    late = (o.delivered_at > o.promised_delivery_at) & (o.delivered_at.date() <= cut)
    orders = o.group_by(ID).aggregate(
        late_deliveries=late.fill_null(False).cast("int64").sum().cast("float64"),
        deliveries=o.promised_delivery_at.notnull().cast("int64").sum().cast("float64"),
        returns=(o.status == "returned").fill_null(False).cast("int64").sum().cast("float64"),
        online_share=o.channel.isin(["web", "app"]).cast("float64").mean(),
    )
    fb = customer_rows(t("feedback"), tables)
    fb = fb.filter((fb.submitted_at.date() <= cut) & fb.brand.isnull())
    feedback = fb.group_by(ID).aggregate(
        nps_mean=fb.nps.mean(),
        nps_min=fb.nps.min().cast("float64"),
        detractor_answers=(fb.nps <= 6).fill_null(False).cast("int64").sum().cast("float64"),
        csat_mean=fb.csat.mean(),
        feedback_count=fb.count().cast("float64"),
    )
    ev = t("events")
    ev = customer_rows(
        ev.filter((ev.occurred_at.date() <= cut) & (ev.touchpoint == "support_contact")), tables
    )
    contacts = ev.group_by(ID).aggregate(support_contacts=ev.count().cast("float64"))
    j = orders.left_join(feedback, orders[ID] == feedback[ID]).left_join(contacts, orders[ID] == contacts[ID])
    return j.select(
        customer_id=orders[ID],
        late_deliveries=orders.late_deliveries,
        late_share=ibis.ifelse(orders.deliveries > 0, orders.late_deliveries / orders.deliveries, 0.0),
        returns=orders.returns,
        online_share=orders.online_share,
        support_contacts=j.support_contacts.fill_null(0.0),
        nps_mean=j.nps_mean,
        nps_min=j.nps_min,
        detractor_answers=j.detractor_answers.fill_null(0.0),
        csat_mean=j.csat_mean,
        feedback_count=j.feedback_count.fill_null(0.0),
    )


def churn_features(tables: Tables, cutoff: DateLike, horizon_days: int = 90) -> ir.Table:
    """Behaviour and experience features of the data model's customers, with the churn label."""
    b = behaviour_features(baskets_from_tables(tables), cutoff, horizon_days)
    e = experience_features(tables, cutoff)
    j = b.left_join(e, b[ID] == e[ID])
    return j.select(b, *[e[c] for c in e.columns if c != ID]).relocate(LABEL, after=e.columns[-1])


def short_history(first: Any, last: Any, needed_days: int, horizon_days: int) -> str | None:
    """Why a churn model cannot be fitted on orders from ``first`` to ``last`` (None if it can):
    it learns who bought again within ``horizon_days`` from customers seen ``needed_days`` before
    the last order, so the orders must span at least that long."""
    span = (pd.Timestamp(last) - pd.Timestamp(first)).days
    if span >= needed_days:
        return None
    return (
        f"Churn model not fitted: it learns who buys again within {horizon_days} days, so it needs "
        f"orders over at least {needed_days} days; these span {span}."
    )


class ChurnModel:
    """Calibrated gradient-boosted churn classifier over a feature frame (columns but id and label).

    ``n_threads`` caps OpenMP threads: 1 by default, because on a busy 2-core machine the model
    fitted 7x faster on one thread (20,000 customers); None uses every core, for large data.
    Learned: ``features_``, ``model_`` (CalibratedClassifierCV), ``reference_`` (feature medians).
    """

    def __init__(
        self,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: int = 15,
        calibration: str = "isotonic",
        cv: int = 3,
        random_state: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state
        self.n_threads = n_threads

    def _limits(self) -> Any:
        """OpenMP thread limit for fitting and scoring (None: every core)."""
        from threadpoolctl import threadpool_limits

        return threadpool_limits(self.n_threads, user_api="openmp") if self.n_threads else nullcontext()

    def fit(self, frame: pd.DataFrame, y: Any = None) -> ChurnModel:
        """Fit on a feature frame; the label is ``y`` or the frame's ``churned`` column."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier

        if y is None and ID in frame.columns:
            frame = by_key(frame, ID)  # the same folds whatever order the engine returned
        labels = np.asarray(frame[LABEL] if y is None else y, dtype=int)
        X = self._matrix(frame, fitting=True)  # noqa: N806
        base = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            random_state=self.random_state,
        )
        with self._limits():
            self.model_ = CalibratedClassifierCV(base, method=self.calibration, cv=self.cv).fit(X, labels)
        self.reference_ = np.nanmedian(X, axis=0)
        return self

    def _matrix(self, frame: pd.DataFrame, fitting: bool = False) -> np.ndarray:
        if fitting:  # a feature nobody has (no NPS in a shop's own data) cannot be split on
            self.features_ = [c for c in frame.columns if c not in (ID, LABEL) and frame[c].notna().any()]
        return frame[self.features_].to_numpy(dtype=np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability per row."""
        with self._limits():
            return np.asarray(self.model_.predict_proba(self._matrix(frame))[:, 1], dtype=np.float64)

    def reasons(self, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """Each customer's top features by how much setting them to their typical value lowers risk."""
        X = self._matrix(frame)  # noqa: N806
        contrib = np.empty_like(X)
        with self._limits():
            p = self.model_.predict_proba(X)[:, 1]
            for j in range(X.shape[1]):
                Xj = X.copy()  # noqa: N806
                Xj[:, j] = self.reference_[j]
                contrib[:, j] = p - self.model_.predict_proba(Xj)[:, 1]
        order = np.argsort(-contrib, axis=1)[:, :top]
        names = np.asarray(self.features_, dtype=object)
        out = pd.DataFrame(
            {ID: frame[ID].to_numpy() if ID in frame else np.arange(len(frame)), "churn_probability": p}
        )
        for k in range(top):
            idx = order[:, k]
            gain = contrib[np.arange(len(X)), idx]
            out[f"reason_{k + 1}"] = [n if g > 0 else None for n, g in zip(names[idx], gain, strict=True)]
            out[f"reason_{k + 1}_effect"] = np.where(gain > 0, gain, 0.0)
        return out


def lift_table(y: Any, p: Any, bins: int = 10) -> pd.DataFrame:
    """Lift chart data: customers ranked by risk in ``bins`` groups, churn rate, lift and capture."""
    df = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    df = df.sort_values("p", ascending=False, kind="stable").reset_index(drop=True)
    df["decile"] = np.arange(len(df)) * bins // max(len(df), 1) + 1
    g = df.groupby("decile").agg(
        customers=("y", "size"), churners=("y", "sum"), mean_probability=("p", "mean")
    )
    base = df["y"].mean()
    g["churn_rate"] = g["churners"] / g["customers"]
    g["lift"] = g["churn_rate"] / base if base > 0 else np.nan
    g["cumulative_capture"] = g["churners"].cumsum() / max(df["y"].sum(), 1)
    return g.reset_index()


@dataclass
class ChurnValidation:
    """Forward-in-time validation: the model trained at one cutoff, scored at a later one."""

    model: ChurnModel
    auc: float
    recency_auc: float
    brier: float
    base_rate: float
    train_customers: int
    test_customers: int
    lift: pd.DataFrame
    test: pd.DataFrame

    def as_dict(self) -> dict[str, Any]:
        """Headline figures (for JSON)."""
        return {
            "auc": round(self.auc, 4),
            "recency_only_auc": round(self.recency_auc, 4),
            "brier": round(self.brier, 4),
            "base_rate": round(self.base_rate, 4),
            "train_customers": self.train_customers,
            "test_customers": self.test_customers,
            "top_decile_lift": round(float(self.lift["lift"].iloc[0]), 3),
        }


def time_split_validation(
    train: pd.DataFrame, test: pd.DataFrame, model: ChurnModel | None = None
) -> ChurnValidation:
    """Fit on features at an earlier cutoff and score on a later one (AUC, Brier, lift)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    train, test = by_key(train, ID), by_key(test, ID)
    m = (model or ChurnModel()).fit(train)
    p = m.predict_proba(test)
    y = test[LABEL].to_numpy(dtype=int)
    return ChurnValidation(
        model=m,
        auc=float(roc_auc_score(y, p)),
        recency_auc=float(roc_auc_score(y, test["recency_days"])),
        brier=float(brier_score_loss(y, p)),
        base_rate=float(y.mean()),
        train_customers=len(train),
        test_customers=len(test),
        lift=lift_table(y, p),
        test=test.assign(churn_probability=p),
    )


#: Columns of :func:`rank_at_risk` (``reason_i``/``reason_i_effect``: :meth:`ChurnModel.reasons`).
AT_RISK_COLUMNS = (
    "rank",
    "customer_id",
    "value_at_risk",
    "p_alive",
    "value_if_retained",
    "churn_probability",
    "recency_days",
    "orders",
    "spend",
    *(f"reason_{i}{part}" for i in (1, 2, 3) for part in ("", "_effect")),
)


def rank_at_risk(
    risk: pd.DataFrame, value: pd.DataFrame | None, model: ChurnModel, k: int = 20
) -> pd.DataFrame:
    """Customers still worth saving, most value at risk first, with the reasons for their risk.

    ``value_at_risk`` = P(alive) x value if retained x churn risk: ``p_alive`` and the value come
    from the CLV models (:func:`cxlens.analyse.customers.clv.predict_clv`: value if retained =
    expected spend over its horizon given the customer is still active, so P(alive) x it is the
    predicted value), the churn risk from ``model`` (no purchase within its horizon). A customer
    gone for a year has P(alive) near 0 and ranks low however sure the churn is; a loyal customer
    the model expects to stay has little at risk; a valuable customer who is slipping ranks first.
    ``risk``: churn features with ``churn_probability``; ``value``: ``customer_id``, ``p_alive``,
    ``clv`` (None when the CLV models could not be fitted: ranked by churn risk, then spend, with
    the value columns empty). Columns: :data:`AT_RISK_COLUMNS`.
    """
    if risk.empty:
        return pd.DataFrame(columns=list(AT_RISK_COLUMNS))
    frame = risk.copy()
    if value is not None:
        frame = frame.merge(value[[ID, "p_alive", "clv"]], on=ID, how="left")
        p_alive = frame["p_alive"].fillna(0.0).to_numpy(float)
        clv = frame["clv"].fillna(0.0).to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["value_if_retained"] = np.where(p_alive > 0, clv / np.where(p_alive > 0, p_alive, 1), 0.0)
        frame["p_alive"] = p_alive
        frame["value_at_risk"] = p_alive * frame["value_if_retained"] * frame["churn_probability"]
        order = ["value_at_risk", "churn_probability", ID]
    else:
        frame["p_alive"] = frame["value_if_retained"] = frame["value_at_risk"] = np.nan
        order = ["churn_probability", "spend", ID]
    top = frame.sort_values(order, ascending=[False, False, True], kind="stable").head(k)
    reasons = model.reasons(top).drop(columns="churn_probability")
    top = top.merge(reasons, on=ID, how="left").assign(rank=np.arange(1, len(top) + 1))
    return top[list(AT_RISK_COLUMNS)].reset_index(drop=True)
