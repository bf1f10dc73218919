"""Interval estimates and two-sample tests on aggregated counts, shared by every analytic.

Analytics aggregate in the engine (counts, sums, sums of squares) and call these on the small
result in pandas/numpy, so one definition of each interval and test serves metrics, journeys,
drivers and benchmarks alike. Every difference comes with an interval and a p-value from **one**
statistic, so "significant" (p below 1 - confidence) holds exactly when the interval excludes 0:

- a share: Wilson interval (the inverted score test of one proportion); a difference of shares:
  the pooled z-test, which is the score test of equal shares, and the interval made of every
  difference that score test does not reject (Miettinen & Nurminen 1985 without their n/(n-1)
  factor, i.e. Mee 1984; ``statsmodels``' ``method="score", correction=False``);
- a mean: t interval; a difference of means: Welch's t-test and its interval (same standard error,
  same degrees of freedom). A group with one answer, or whose answers are all the same, says
  nothing about spread; then both groups share the pooled variance (Student's t-test and
  interval). If every answer of both groups is the same value, nothing can be said: a difference
  of 0 gets p = 1 and the interval [0, 0]; any other difference gets no p-value and no interval;
- NPS (each answer scored +1 promoter, 0 passive, -1 detractor): a normal interval on the
  per-answer variance; a difference of NPS is a difference of mean scores, tested as a mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

# The normal and t distribution functions from scipy.special, the functions scipy.stats' norm and t
# call themselves (equal to the last bit for the quantiles and tails used here): scipy.stats takes
# half a second to import, which every command and report paid for four functions.

DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_N = 30
#: Bisection steps for the score interval: the bracket halves each step, from 2 to below 1e-15.
_BISECT_STEPS = 60

Arrays = tuple[np.ndarray, ...]


def _f(*values: Any) -> Arrays:
    return tuple(np.asarray(v, float) for v in values)


def z_value(confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The two-sided normal quantile for ``confidence``."""
    return float(special.ndtri(0.5 + confidence / 2))


def p_normal(d: Any, se: Any) -> np.ndarray:
    """Two-sided normal p-value of ``d / se``; 1 when se = 0 (both samples identical)."""
    d, se = _f(d, se)
    safe = np.where(se > 0, se, 1.0)
    return np.where(se > 0, 2 * special.ndtr(-np.abs(d) / safe), np.where(np.isnan(se), np.nan, 1.0))


def wilson(k: Any, n: Any, *, confidence: float = DEFAULT_CONFIDENCE) -> Arrays:
    """Share ``k / n`` with its Wilson interval (NaN where n = 0)."""
    k, n = _f(k, n)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def mean_var(n: Any, total: Any, sumsq: Any) -> Arrays:
    """Mean and sample variance (NaN for n < 2) from n, sum and sum of squares."""
    n, total, sumsq = _f(n, total, sumsq)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = np.where(n >= 2, np.maximum(sumsq - total * mean, 0.0) / np.maximum(n - 1, 1), np.nan)
    return mean, var


def mean_interval(n: Any, total: Any, sumsq: Any, *, confidence: float = DEFAULT_CONFIDENCE) -> Arrays:
    """Mean, sample standard deviation and t interval from n, sum and sum of squares."""
    n = np.asarray(n, float)
    mean, var = mean_var(n, total, sumsq)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(var)
        half = special.stdtrit(np.maximum(n - 1, 1), 0.5 + confidence / 2) * sd / np.sqrt(n)
    return mean, sd, mean - half, mean + half


def nps_interval(
    promoters: Any, detractors: Any, n: Any, *, confidence: float = DEFAULT_CONFIDENCE
) -> Arrays:
    """NPS points, its per-answer variance (of the ±1/0 score) and normal interval clipped to ±100."""
    promoters, detractors, n = _f(promoters, detractors, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        pro, det = promoters / n, detractors / n
        value = 100 * (pro - det)
        var = np.maximum(pro + det - (pro - det) ** 2, 0.0)
        half = z_value(confidence) * 100 * np.sqrt(var / n)
    return value, var, np.clip(value - half, -100, 100), np.clip(value + half, -100, 100)


def diff_mean(
    mean_a: Any,
    var_a: Any,
    n_a: Any,
    mean_b: Any,
    var_b: Any,
    n_b: Any,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Arrays:
    """Mean a - b: difference, interval and two-sided p-value of one t statistic.

    Welch's t when both groups have a spread (n >= 2 and a variance above 0); otherwise Student's
    t on the pooled variance (see the module notes). ``var_*`` are sample variances (NaN for n < 2).
    """
    mean_a, var_a, n_a, mean_b, var_b, n_b = _f(mean_a, var_a, n_a, mean_b, var_b, n_b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = mean_a - mean_b
        spread_a = (n_a >= 2) & (np.nan_to_num(var_a) > 0)
        spread_b = (n_b >= 2) & (np.nan_to_num(var_b) > 0)
        welch = spread_a & spread_b
        qa, qb = var_a / n_a, var_b / n_b
        se_w = np.sqrt(qa + qb)
        df_w = (qa + qb) ** 2 / (qa**2 / (n_a - 1) + qb**2 / (n_b - 1))
        # Student: sum of squared deviations over the pooled degrees of freedom
        ss = np.where(n_a >= 2, np.nan_to_num(var_a) * (n_a - 1), 0.0)
        ss = ss + np.where(n_b >= 2, np.nan_to_num(var_b) * (n_b - 1), 0.0)
        df_s = n_a + n_b - 2
        se_s = np.sqrt(ss / df_s * (1 / n_a + 1 / n_b))
        se = np.where(welch, se_w, np.where(df_s >= 1, se_s, np.nan))
        df = np.where(welch, df_w, np.where(df_s >= 1, df_s, np.nan))
        ok = np.isfinite(se) & (se > 0) & np.isfinite(d)
        safe_df = np.where(ok, df, 1.0)
        p = np.where(ok, 2 * special.stdtr(safe_df, -np.abs(d) / np.where(ok, se, 1.0)), np.nan)
        half = np.where(ok, special.stdtrit(safe_df, 0.5 + confidence / 2) * se, np.nan)
        # no spread anywhere: equal values are no difference, unequal ones cannot be tested
        flat = np.isfinite(se) & (se == 0) & (d == 0)
        p = np.where(flat, 1.0, p)
        half = np.where(flat, 0.0, half)
    return d, d - half, d + half, p


def diff_nps(
    pro_a: Any,
    det_a: Any,
    n_a: Any,
    pro_b: Any,
    det_b: Any,
    n_b: Any,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Arrays:
    """NPS a - b in points: the difference of mean ±1/0 scores, tested as means (:func:`diff_mean`),
    the interval clipped to -200..200."""
    pro_a, det_a, n_a, pro_b, det_b, n_b = _f(pro_a, det_a, n_a, pro_b, det_b, n_b)
    # per answer: score = +1 / 0 / -1, so sum = pro - det and sum of squares = pro + det
    mean_a, var_a = mean_var(n_a, pro_a - det_a, pro_a + det_a)
    mean_b, var_b = mean_var(n_b, pro_b - det_b, pro_b + det_b)
    d, low, high, p = diff_mean(mean_a, var_a, n_a, mean_b, var_b, n_b, confidence)
    # an NPS difference lies in -200..200; clipping keeps each end on its side of 0
    return 100 * d, np.clip(100 * low, -200, 200), np.clip(100 * high, -200, 200), p


def _restricted_shares(
    k_a: np.ndarray, n_a: np.ndarray, k_b: np.ndarray, n_b: np.ndarray, delta: np.ndarray
) -> Arrays:
    """Maximum-likelihood shares of a and b under pa - pb = ``delta``: the closed-form root of the
    likelihood's cubic (Miettinen & Nurminen 1985, as written in ``statsmodels``)."""
    n, k = n_a + n_b, k_a + k_b
    l3 = n
    l2 = (n_a + 2 * n_b) * delta - n - k
    l1 = (n_b * delta - n - 2 * k_b) * delta + k
    l0 = k_b * delta * (1 - delta)
    q = (l2 / (3 * l3)) ** 3 - l1 * l2 / (6 * l3**2) + l0 / (2 * l3)
    p = np.sign(q) * np.sqrt(np.maximum((l2 / (3 * l3)) ** 2 - l1 / (3 * l3), 0.0))
    ratio = np.where(p != 0, q / np.where(p != 0, p, 1.0) ** 3, 0.0)
    angle = (np.pi + np.arccos(np.clip(ratio, -1.0, 1.0))) / 3
    share_b = np.clip(2 * p * np.cos(angle) - l2 / (3 * l3), 0.0, 1.0)
    return np.clip(share_b + delta, 0.0, 1.0), share_b


def _score_z(
    k_a: np.ndarray, n_a: np.ndarray, k_b: np.ndarray, n_b: np.ndarray, delta: np.ndarray
) -> np.ndarray:
    """Score statistic of H0: pa - pb = ``delta``, decreasing in ``delta`` (at 0: the pooled z)."""
    sa, sb = _restricted_shares(k_a, n_a, k_b, n_b, delta)
    num = k_a / n_a - k_b / n_b - delta
    se = np.sqrt(sa * (1 - sa) / n_a + sb * (1 - sb) / n_b)
    return np.where(se > 0, num / np.where(se > 0, se, 1.0), np.where(num == 0, 0.0, np.sign(num) * np.inf))


def diff_share(k_a: Any, n_a: Any, k_b: Any, n_b: Any, *, confidence: float = DEFAULT_CONFIDENCE) -> Arrays:
    """Share a - b (0-1): difference, score interval and pooled z-test p-value (see module notes)."""
    k_a, n_a, k_b, n_b = _f(k_a, n_a, k_b, n_b)
    ok = (n_a > 0) & (n_b > 0)
    na, nb = np.where(ok, n_a, 1.0), np.where(ok, n_b, 1.0)
    ka, kb = np.where(ok, k_a, 0.0), np.where(ok, k_b, 0.0)
    pa, pb = ka / na, kb / nb
    d = pa - pb
    pooled = (pa * na + pb * nb) / (na + nb)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    p = p_normal(d, se0)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # the interval: the differences whose score statistic stays within +-z, found by bisection
        # on the monotone statistic; the ends are -1 and 1 when nothing short of them is rejected
        bounds = []
        for target, lo, hi in ((z, np.full_like(d, -1.0), d.copy()), (-z, d.copy(), np.full_like(d, 1.0))):
            for _ in range(_BISECT_STEPS):
                mid = (lo + hi) / 2
                above = _score_z(ka, na, kb, nb, mid) > target
                lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
            bounds.append((lo + hi) / 2)
    nan = np.full_like(d, np.nan)
    return (
        np.where(ok, d, nan),
        np.where(ok, bounds[0], nan),
        np.where(ok, bounds[1], nan),
        np.where(ok, p, nan),
    )
