"""Small interval helpers shared by the journey analytics (on aggregated counts, in pandas)."""

from __future__ import annotations

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_N = 30


def z_value(confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The two-sided normal quantile for ``confidence``."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson(
    k: np.ndarray, n: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share ``k / n`` with its Wilson interval (NaN where n = 0)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def mean_interval(
    n: np.ndarray, total: np.ndarray, sumsq: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample standard deviation and t interval from n, sum and sum of squares."""
    n, total, sumsq = (np.asarray(x, float) for x in (n, total, sumsq))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = np.where(n >= 2, np.maximum(sumsq - total * mean, 0.0) / np.maximum(n - 1, 1), np.nan)
        sd = np.sqrt(var)
        half = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    return mean, sd, mean - half, mean + half


def nps_interval(
    promoters: np.ndarray, detractors: np.ndarray, n: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NPS points, its per-answer variance and normal-approximation interval (clipped to ±100)."""
    promoters, detractors, n = (np.asarray(x, float) for x in (promoters, detractors, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        pro, det = promoters / n, detractors / n
        value = 100 * (pro - det)
        var = np.maximum(pro + det - (pro - det) ** 2, 0.0)
        half = z_value(confidence) * 100 * np.sqrt(var / n)
    return value, var, np.clip(value - half, -100, 100), np.clip(value + half, -100, 100)


def diff_interval(
    a: np.ndarray,
    var_a: np.ndarray,
    n_a: np.ndarray,
    b: np.ndarray,
    var_b: np.ndarray,
    n_b: np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Difference a - b of two independent estimates (per-observation variances given), with its
    normal interval and two-sided p-value."""
    a, var_a, n_a, b, var_b, n_b = (np.asarray(x, float) for x in (a, var_a, n_a, b, var_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = a - b
        se = np.sqrt(var_a / n_a + var_b / n_b)
        half = z_value(confidence) * se
        p = np.where(se > 0, 2 * stats.norm.sf(np.abs(d) / se), np.where(d == 0, 1.0, 0.0))
    return d, d - half, d + half, p
