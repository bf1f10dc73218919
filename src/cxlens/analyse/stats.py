"""Interval estimates and two-sample tests on aggregated counts, shared by every analytic.

Analytics aggregate in the engine (counts, sums, sums of squares) and call these on the small
result in pandas/numpy, so one definition of each interval and test serves metrics, journeys,
drivers and benchmarks alike:

- a share: Wilson interval; a difference of shares: Newcombe's hybrid interval with a pooled
  z-test;
- NPS (+1/0/-1 per answer): normal interval on the per-answer variance; a difference: the
  unpooled interval with a pooled z-test (the null is one common distribution);
- a mean: t interval; a difference: Welch's t-test and interval.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_N = 30

Arrays = tuple[np.ndarray, ...]


def _f(*values: Any) -> Arrays:
    return tuple(np.asarray(v, float) for v in values)


def z_value(confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The two-sided normal quantile for ``confidence``."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def p_normal(d: Any, se: Any) -> np.ndarray:
    """Two-sided normal p-value of ``d / se``; 1 when se = 0 (both samples identical)."""
    d, se = _f(d, se)
    safe = np.where(se > 0, se, 1.0)
    return np.where(se > 0, 2 * stats.norm.sf(np.abs(d) / safe), np.where(np.isnan(se), np.nan, 1.0))


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
        half = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
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
    """NPS a - b in points: difference, unpooled interval and pooled two-sided p-value."""
    pro_a, det_a, n_a, pro_b, det_b, n_b = _f(pro_a, det_a, n_a, pro_b, det_b, n_b)
    va, var_a, _, _ = nps_interval(pro_a, det_a, n_a, confidence=confidence)
    vb, var_b, _, _ = nps_interval(pro_b, det_b, n_b, confidence=confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = va - vb
        half = z_value(confidence) * 100 * np.sqrt(var_a / n_a + var_b / n_b)
        pro = (pro_a + pro_b) / (n_a + n_b)
        det = (det_a + det_b) / (n_a + n_b)
        se0 = 100 * np.sqrt(np.maximum(pro + det - (pro - det) ** 2, 0) * (1 / n_a + 1 / n_b))
    return d, d - half, d + half, p_normal(d, se0)


def diff_share(k_a: Any, n_a: Any, k_b: Any, n_b: Any, *, confidence: float = DEFAULT_CONFIDENCE) -> Arrays:
    """Share a - b (0-1): difference, Newcombe interval and pooled z-test p-value."""
    k_a, n_a, k_b, n_b = _f(k_a, n_a, k_b, n_b)
    pa, la, ua = wilson(k_a, n_a, confidence=confidence)
    pb, lb, ub = wilson(k_b, n_b, confidence=confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = pa - pb
        pooled = (k_a + k_b) / (n_a + n_b)
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        low = d - np.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
        high = d + np.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return d, low, high, p_normal(d, se0)


def diff_mean(
    mean_a: Any,
    var_a: Any,
    n_a: Any,
    mean_b: Any,
    var_b: Any,
    n_b: Any,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Arrays:
    """Mean a - b: difference, Welch interval and Welch two-sided p-value."""
    mean_a, var_a, n_a, mean_b, var_b, n_b = _f(mean_a, var_a, n_a, mean_b, var_b, n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = mean_a - mean_b
        qa, qb = var_a / n_a, var_b / n_b
        se = np.sqrt(qa + qb)
        ok = np.isfinite(se) & (se > 0)
        df = np.where(ok, (qa + qb) ** 2 / (qa**2 / (n_a - 1) + qb**2 / (n_b - 1)), 1.0)
        tcrit = stats.t.ppf(0.5 + confidence / 2, df)
        tval = np.where(ok, np.abs(d) / np.where(ok, se, 1.0), 0.0)
        p = np.where(ok, 2 * stats.t.sf(tval, df), np.nan)
        flat = np.isfinite(se) & (se == 0)
        p = np.where(flat, np.where(d == 0, 1.0, 0.0), p)
        half = np.where(flat, 0.0, tcrit * se)
    return d, d - half, d + half, p
