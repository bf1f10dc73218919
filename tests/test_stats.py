"""The shared interval and test helpers against scipy's own tests and textbook values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from cxlens.analyse import stats


def test_welch_difference_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(4.1, 0.9, 80), rng.normal(3.8, 1.4, 55)
    d, lo, hi, p = stats.diff_mean(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert float(p) == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (float(lo), float(hi)) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert float(d) == pytest.approx(a.mean() - b.mean())


def test_wilson_and_pooled_share_test_match_textbook_values() -> None:
    _p, lo, hi = stats.wilson(np.array([81]), np.array([263]))
    # Newcombe (1998), example: 81/263 -> 0.2553 to 0.3662
    assert (float(lo[0]), float(hi[0])) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    d, _, _, pv = stats.diff_share(56, 70, 48, 80)
    pooled = 104 / 150
    z = (56 / 70 - 48 / 80) / np.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert float(pv) == pytest.approx(2 * sps.norm.sf(abs(z)))
    assert float(d) == pytest.approx(0.2)


def test_nps_interval_and_difference_on_answers() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 11, 400), rng.integers(3, 11, 300)
    score = lambda x: np.where(x >= 9, 1.0, np.where(x <= 6, -1.0, 0.0))  # noqa: E731
    value, var, lo, hi = stats.nps_interval((a >= 9).sum(), (a <= 6).sum(), len(a))
    assert float(value) == pytest.approx(100 * score(a).mean())
    assert float(var) == pytest.approx(score(a).var(ddof=0))
    half = 1.959964 * 100 * score(a).std(ddof=0) / np.sqrt(len(a))
    assert (float(lo), float(hi)) == pytest.approx((float(value) - half, float(value) + half), rel=1e-5)
    d, dlo, dhi, p = stats.diff_nps(
        (a >= 9).sum(), (a <= 6).sum(), len(a), (b >= 9).sum(), (b <= 6).sum(), len(b)
    )
    assert float(d) == pytest.approx(100 * (score(a).mean() - score(b).mean()))
    assert dlo < d < dhi
    assert 0 <= p < 0.05
