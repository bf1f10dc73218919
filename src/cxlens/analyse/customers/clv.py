"""Customer lifetime value: BG/NBD for purchase counts and Gamma-Gamma for spend per purchase.

Both are fitted by maximum likelihood on the per-customer summary (:func:`cxlens.analyse.
customers.rfm.summary`), with the likelihoods of Fader, Hardie & Lee (2005) as written in the
``lifetimes`` package, so the fitted parameters agree with it. Customers with the same
(frequency, recency, T) are fitted once with a weight, and the exact gradient is used, which is
why the fit is fast. :func:`validate_holdout` scores the predictions on a holdout period.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, hyp2f1

from cxlens.analyse.common import by_key

Array = NDArray[np.float64]


def _arr(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def _compress(*cols: Array) -> tuple[list[Array], Array]:
    """Unique rows of the given columns and how often each occurs (the fit's weights)."""
    frame = pd.DataFrame({i: c for i, c in enumerate(cols)})
    counts = frame.groupby(list(frame.columns), sort=True).size()
    keys = counts.index.to_frame(index=False)
    weights = np.asarray(counts.to_numpy(), dtype=np.float64)
    return [keys[i].to_numpy(dtype=np.float64) for i in range(len(cols))], weights


#: ``warnings.catch_warnings`` swaps process-wide filters: two fits in two threads (web request
#: and cache warmer) would restore each other's filters and let the warning through.
_WARNINGS_LOCK = threading.Lock()


def _minimise(fun: Any, x0: Array, args: tuple[Any, ...]) -> Array:
    with _WARNINGS_LOCK, warnings.catch_warnings():
        # with the tight gtol, BFGS's line search can stop at the float precision of the optimum
        # (scipy then warns "did not converge"); the result is checked below, and the fits match
        # lifetimes to ~1e-7 in the tests
        warnings.filterwarnings("ignore", "The line search algorithm did not converge", RuntimeWarning)
        res = minimize(fun, x0, args=args, jac=True, method="BFGS", options={"maxiter": 2000, "gtol": 1e-9})
    if not np.all(np.isfinite(res.x)):
        raise RuntimeError(f"the fit did not converge: {res.message}")
    return np.asarray(res.x, dtype=np.float64)


def _bgnbd_nll(
    logp: Array,
    x: Array,
    tx: Array,
    T: Array,  # noqa: N803
    w: Array,
    xu: Array,
    xi: NDArray[np.intp],
) -> tuple[float, Array]:
    """Mean negative log-likelihood and its gradient in log parameters; functions of the purchase
    count alone (gammaln, digamma) are evaluated once per distinct count (``xu``, indexed by ``xi``)."""
    r, alpha, a, b = np.exp(logp)
    rep = x > 0
    xb = np.where(rep, x, 1.0)
    a1 = (gammaln(r + xu) - gammaln(r))[xi] + r * np.log(alpha)
    a2 = (gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu))[xi]
    log_at, log_atx = np.log(alpha + T), np.log(alpha + tx)
    a3 = -(r + x) * log_at
    a4 = np.where(rep, np.log(a) - np.log(b + xb - 1) - (r + x) * log_atx, -np.inf)
    lse = np.logaddexp(a3, a4)
    ll = a1 + a2 + lse
    w3 = np.exp(a3 - lse)
    w4 = 1.0 - w3
    d_r = (digamma(r + xu) - digamma(r))[xi] + np.log(alpha) - w3 * log_at - w4 * log_atx
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + tx))
    dab = digamma(a + b) - digamma(a + b + xu)
    d_a = dab[xi] + w4 / a
    d_b = (dab + digamma(b + xu) - digamma(b))[xi] - w4 / (b + xb - 1)
    total = w.sum()
    grad = -np.array([(w * d).sum() for d in (d_r, d_alpha, d_a, d_b)]) * np.exp(logp) / total
    return float(-(w * ll).sum() / total), grad


class BetaGeoModel:
    """BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

    Learned: ``params_`` (r, alpha, a, b), ``log_likelihood_`` (mean per customer), ``n_customers_``.
    """

    def __init__(self, initial: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> None:
        self.initial = initial

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoModel:  # noqa: N803
        """Fit to each customer's repeat purchases, recency and age (in the same time unit)."""
        x, tx, t = _arr(frequency), _arr(recency), _arr(T)
        if len(x) == 0:
            raise ValueError("no customers to fit")
        if np.any(tx > t) or np.any(x < 0) or np.any((x == 0) & (tx != 0)):
            raise ValueError("inconsistent summary: need 0 <= recency <= T and recency 0 when frequency is 0")
        (ux, utx, ut), w = _compress(x, tx, t)
        xu, xi = np.unique(ux, return_inverse=True)
        args = (ux, utx, ut, w, xu, xi)
        logp = _minimise(_bgnbd_nll, np.log(np.asarray(self.initial, dtype=np.float64)), args)
        self.params_ = dict(zip(("r", "alpha", "a", "b"), (float(v) for v in np.exp(logp)), strict=True))
        self.log_likelihood_ = -_bgnbd_nll(logp, *args)[0]
        self.n_customers_ = len(x)
        return self

    def _p(self) -> tuple[float, float, float, float]:
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def _denominator(self, x: Array, tx: Array, T: Array) -> Array:  # noqa: N803
        r, alpha, a, b = self._p()
        rep = x > 0
        xb = np.where(rep, x, 1.0)
        log_term = np.log(a) - np.log(b + xb - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        return 1.0 + np.where(rep, np.exp(log_term), 0.0)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Array:  # noqa: N803
        """Probability that each customer is still active at the end of their observation."""
        return 1.0 / self._denominator(_arr(frequency), _arr(recency), _arr(T))

    def expected_purchases(
        self,
        t: ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,  # noqa: N803
    ) -> Array:
        """Expected purchases in the next ``t`` units, given each customer's history."""
        r, alpha, a, b = self._p()
        x, tx, big_t, tt = _arr(frequency), _arr(recency), _arr(T), _arr(t)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, tt / (alpha + big_t + tt))
        first = (a + b + x - 1) / (a - 1)
        second = 1 - ((alpha + big_t) / (alpha + big_t + tt)) ** (r + x) * hyp
        return np.asarray(first * second / self._denominator(x, tx, big_t), dtype=np.float64)

    def expected_purchases_new(self, t: ArrayLike) -> Array:
        """Expected purchases of a new customer in a period of length ``t``."""
        r, alpha, a, b = self._p()
        tt = _arr(t)
        hyp = hyp2f1(r, b, a + b - 1, tt / (alpha + tt))
        return np.asarray((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + tt)) ** r * hyp), dtype=np.float64)


def _gg_nll(
    logp: Array, x: Array, m: Array, w: Array, xu: Array, xi: NDArray[np.intp]
) -> tuple[float, Array]:
    """Mean negative log-likelihood of Gamma-Gamma and its gradient in log parameters."""
    p, q, v = np.exp(logp)
    pxu = p * xu
    px = p * x
    log_m, log_xmv = np.log(m), np.log(x * m + v)
    ll = (
        (gammaln(pxu + q) - gammaln(pxu) + pxu * np.log(xu))[xi]
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * log_m
        - (px + q) * log_xmv
    )
    dg = digamma(pxu + q)
    d_p = x * ((dg - digamma(pxu) + np.log(xu))[xi] + log_m - log_xmv)
    d_q = dg[xi] - digamma(q) + np.log(v) - log_xmv
    d_v = q / v - (px + q) / (x * m + v)
    total = w.sum()
    grad = -np.array([(w * d).sum() for d in (d_p, d_q, d_v)]) * np.exp(logp) / total
    return float(-(w * ll).sum() / total), grad


class GammaGammaModel:
    """Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005), maximum likelihood.

    Fitted on repeat customers only (frequency > 0, mean repeat spend > 0). Learned: ``params_``
    (p, q, v), ``n_customers_``.
    """

    def __init__(self, initial: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        self.initial = initial

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaModel:
        """Fit to repeat purchase counts and mean spend of the repeat purchases."""
        x, m = _arr(frequency), _arr(monetary_value)
        keep = (x > 0) & (m > 0)
        if keep.sum() < 3:
            raise ValueError("need at least 3 repeat customers with positive spend")
        (ux, um), w = _compress(x[keep], m[keep])
        xu, xi = np.unique(ux, return_inverse=True)
        logp = _minimise(_gg_nll, np.log(np.asarray(self.initial, dtype=np.float64)), (ux, um, w, xu, xi))
        self.params_ = dict(zip(("p", "q", "v"), (float(v) for v in np.exp(logp)), strict=True))
        self.n_customers_ = int(keep.sum())
        return self

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> Array:
        """Expected mean spend per purchase of each customer (population mean for non-repeaters)."""
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        x, m = _arr(frequency), _arr(monetary_value)
        return np.asarray((p * (v + x * m)) / (p * x + q - 1), dtype=np.float64)


#: The naive predictions every holdout score is shown beside (see :func:`baseline_predictions`).
BASELINES = ("zero", "repeat_rate", "carry_forward")


@dataclass(frozen=True)
class HoldoutScore:
    """Accuracy of predicted purchases and spend on the holdout period, beside naive baselines.

    Baselines (:func:`baseline_predictions`): ``zero`` (nobody buys again), ``repeat_rate`` (each
    customer's repeat purchases per unit of time so far, carried forward) and ``carry_forward``
    (the same counting the first purchase, the old single baseline: it over-predicts new
    customers). MAE favours predicting zero when most customers never return, so read it with
    the RMSE and the correlation: :attr:`best_baseline` names the baseline with the lowest MAE.
    """

    customers: int
    actual_purchases: float
    predicted_purchases: float
    mae: float
    rmse: float
    correlation: float
    zero_mae: float
    zero_rmse: float
    repeat_rate_mae: float
    repeat_rate_rmse: float
    carry_forward_mae: float
    carry_forward_rmse: float
    actual_spend: float
    predicted_spend: float
    spend_mae: float
    spend_correlation: float
    spend_zero_mae: float
    spend_repeat_rate_mae: float

    @property
    def best_baseline(self) -> tuple[str, float]:
        """The baseline with the lowest purchase MAE, and that MAE."""
        return min(((b, float(getattr(self, f"{b}_mae"))) for b in BASELINES), key=lambda item: item[1])

    @property
    def beats_baselines(self) -> bool:
        """True when the model's purchase MAE is below every baseline's."""
        return self.mae < self.best_baseline[1]

    def summary(self) -> str:
        """One honest sentence: the model's MAE beside the best baseline's, and which is lower."""
        name, mae = self.best_baseline
        verdict = "better than" if self.beats_baselines else "not better than"
        others = ", ".join(
            f"{b.replace('_', '-')} {getattr(self, f'{b}_mae'):.2f}" for b in BASELINES if b != name
        )
        return (
            f"holdout MAE {self.mae:.2f} purchases per customer, {verdict} the best naive baseline "
            f"({name.replace('_', '-')} {mae:.2f}; {others}); RMSE {self.rmse:.2f} "
            f"(predicting zero {self.zero_rmse:.2f}), correlation {self.correlation:.2f}"
        )

    def table(self) -> pd.DataFrame:
        """One row per predictor (model, then the baselines): purchase MAE and RMSE, spend MAE."""
        rows = [("model", self.mae, self.rmse, self.spend_mae)]
        for b in BASELINES:
            spend = getattr(self, f"spend_{b}_mae", float("nan"))
            rows.append((b, getattr(self, f"{b}_mae"), getattr(self, f"{b}_rmse"), spend))
        return pd.DataFrame(rows, columns=["predictor", "purchases_mae", "purchases_rmse", "spend_mae"])

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary (for JSON), with the best baseline and whether the model beats it."""
        out: dict[str, Any] = {
            k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()
        }
        out["best_baseline"], out["best_baseline_mae"] = (
            self.best_baseline[0],
            round(self.best_baseline[1], 6),
        )
        out["beats_baselines"] = self.beats_baselines
        return out


def baseline_predictions(cal_hold: pd.DataFrame) -> dict[str, Array]:
    """Naive holdout purchase predictions per customer from the calibration summary: ``zero``,
    ``repeat_rate`` = frequency / T x holdout length (0 for a customer first seen at the
    calibration end) and ``carry_forward`` = (frequency + 1) / max(T, 1) x holdout length."""
    f = cal_hold["frequency_cal"].to_numpy(dtype=float)
    t = cal_hold["T_cal"].to_numpy(dtype=float)
    dur = cal_hold["duration_holdout"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat = np.where(t > 0, f / np.where(t > 0, t, 1.0), 0.0)
    return {
        "zero": np.zeros(len(f)),
        "repeat_rate": repeat * dur,
        "carry_forward": (f + 1) / np.maximum(t, 1.0) * dur,
    }


def predict_clv(
    bgnbd: BetaGeoModel,
    gg: GammaGammaModel,
    summary: pd.DataFrame,
    horizon: float,
) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases and spend over ``horizon`` units, and their product."""
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy()})
    out["p_alive"] = bgnbd.probability_alive(f, r, t)
    out["expected_purchases"] = bgnbd.expected_purchases(horizon, f, r, t)
    out["expected_spend"] = gg.expected_spend(f, summary["monetary_value"])
    out["clv"] = out["expected_purchases"] * out["expected_spend"]
    return out


def validate_holdout(
    bgnbd: BetaGeoModel,
    gg: GammaGammaModel,
    cal_hold: pd.DataFrame,
) -> HoldoutScore:
    """Compare predicted with actual holdout purchases and spend (from ``rfm.calibration_holdout``),
    beside the naive baselines of :func:`baseline_predictions` (spend: their purchases times the
    customer's calibration spend per purchase)."""
    f, r, t = cal_hold["frequency_cal"], cal_hold["recency_cal"], cal_hold["T_cal"]
    dur = cal_hold["duration_holdout"].to_numpy(dtype=float)
    actual = cal_hold["frequency_holdout"].to_numpy(dtype=float)
    pred = bgnbd.expected_purchases(dur, f, r, t)
    base = baseline_predictions(cal_hold)
    spend = actual * cal_hold["monetary_value_holdout"].to_numpy(dtype=float)
    pred_spend = pred * gg.expected_spend(f, cal_hold["monetary_value_cal"])
    cal_spend = cal_hold["monetary_value_cal"].to_numpy(dtype=float)

    def corr(a: Array, b: Array) -> float:
        return float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and a.std() > 0 and b.std() > 0 else float("nan")

    def mae(p: Array, a: Array = actual) -> float:
        return float(np.abs(p - a).mean())

    def rmse(p: Array) -> float:
        return float(np.sqrt(((p - actual) ** 2).mean()))

    return HoldoutScore(
        customers=len(cal_hold),
        actual_purchases=float(actual.sum()),
        predicted_purchases=float(pred.sum()),
        mae=mae(pred),
        rmse=rmse(pred),
        correlation=corr(pred, actual),
        zero_mae=mae(base["zero"]),
        zero_rmse=rmse(base["zero"]),
        repeat_rate_mae=mae(base["repeat_rate"]),
        repeat_rate_rmse=rmse(base["repeat_rate"]),
        carry_forward_mae=mae(base["carry_forward"]),
        carry_forward_rmse=rmse(base["carry_forward"]),
        actual_spend=float(spend.sum()),
        predicted_spend=float(pred_spend.sum()),
        spend_mae=mae(pred_spend, spend),
        spend_correlation=corr(pred_spend, spend),
        spend_zero_mae=mae(np.zeros(len(spend)), spend),
        spend_repeat_rate_mae=mae(base["repeat_rate"] * cal_spend, spend),
    )


@dataclass
class ClvResult:
    """Fitted models, holdout accuracy and the split used (the ``clv`` command's output)."""

    bgnbd: BetaGeoModel
    gamma_gamma: GammaGammaModel
    holdout: HoldoutScore
    calibration_end: str
    observation_end: str
    unit: str
    fit_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary of parameters, split and accuracy (for JSON)."""
        return {
            "bgnbd": self.bgnbd.params_,
            "gamma_gamma": self.gamma_gamma.params_,
            "bgnbd_log_likelihood": self.bgnbd.log_likelihood_,
            "customers": self.bgnbd.n_customers_,
            "repeat_customers": self.gamma_gamma.n_customers_,
            "calibration_end": self.calibration_end,
            "observation_end": self.observation_end,
            "time_unit": self.unit,
            "holdout": self.holdout.as_dict(),
            "fit_seconds": round(self.fit_seconds, 4),
        }


def fit_clv(
    baskets: Any,
    calibration_end: Any,
    observation_end: Any | None = None,
    *,
    unit: str = "days",
) -> ClvResult:
    """Summarise baskets in the engine, fit BG/NBD and Gamma-Gamma on the calibration period and
    score them on the holdout (observation end defaults to the last purchase day)."""
    import time

    from cxlens.analyse.customers import rfm

    if observation_end is None:
        observation_end = baskets.ordered_at.max().to_pandas()
    cal_end, obs_end = rfm.as_date(calibration_end), rfm.as_date(observation_end)
    cal_hold = by_key(
        rfm.calibration_holdout(baskets, cal_end, obs_end, unit=unit).to_pandas(), "customer_id"
    )
    if cal_hold.empty:
        raise ValueError(f"no customers bought on or before the calibration end {cal_end}")
    start = time.perf_counter()
    bg = BetaGeoModel().fit(cal_hold["frequency_cal"], cal_hold["recency_cal"], cal_hold["T_cal"])
    gg = GammaGammaModel().fit(cal_hold["frequency_cal"], cal_hold["monetary_value_cal"])
    seconds = time.perf_counter() - start
    score = validate_holdout(bg, gg, cal_hold)
    return ClvResult(bg, gg, score, cal_end.isoformat(), obs_end.isoformat(), unit, seconds)


def customer_values(
    baskets: Any,
    observation_end: Any | None = None,
    *,
    horizon: float = 90.0,
    unit: str = "days",
) -> pd.DataFrame:
    """One row per customer with BG/NBD + Gamma-Gamma fitted on every purchase up to
    ``observation_end`` (default: the last one): purchase history (``frequency``, ``recency``,
    ``T``, ``monetary_value``), ``p_alive``, ``expected_purchases`` and ``expected_spend`` per
    purchase over the next ``horizon`` units, and ``clv``, their product (undiscounted)."""
    from cxlens.analyse.customers import rfm

    if observation_end is None:
        observation_end = baskets.ordered_at.max().to_pandas()
    summary = rfm.summary(baskets, rfm.as_date(observation_end), unit=unit).to_pandas()
    if summary.empty:
        raise ValueError("no customer bought anything on or before the observation end")
    summary = summary.sort_values("customer_id", kind="stable").reset_index(drop=True)
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    gg = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    values = predict_clv(bg, gg, summary, float(horizon))
    history = summary[["customer_id", "frequency", "recency", "T", "monetary_value", "total_value"]]
    return history.merge(values, on="customer_id", how="left")
