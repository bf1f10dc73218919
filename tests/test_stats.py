"""The shared interval and test helpers against scipy's own tests and textbook values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats import proportion as sm_proportion

from conftest import score_interval_reference
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


#: Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (Mee's score interval):
#: the eight published examples with their 95% limits.
NEWCOMBE_MEE = [
    ((56, 70, 48, 80), (0.0533, 0.3377)),
    ((9, 10, 3, 10), (0.1821, 0.8370)),
    ((6, 7, 2, 7), (0.0544, 0.8478)),
    ((5, 56, 0, 29), (-0.0313, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.7225, 1.0)),
    ((10, 10, 0, 10), (0.6777, 1.0)),
]


@pytest.mark.parametrize(("counts", "limits"), NEWCOMBE_MEE)
def test_share_difference_interval_matches_published_values(
    counts: tuple[int, int, int, int], limits: tuple[float, float]
) -> None:
    _d, lo, hi, _p = stats.diff_share(*counts)
    assert (float(lo), float(hi)) == pytest.approx(limits, abs=5e-5)


def test_share_difference_interval_matches_brute_force_inversion_and_the_pooled_test() -> None:
    rng = np.random.default_rng(11)
    for _ in range(15):
        n_a, n_b = (int(v) for v in rng.integers(5, 400, 2))
        k_a, k_b = int(rng.integers(1, n_a)), int(rng.integers(1, n_b))
        _d, lo, hi, p = stats.diff_share(k_a, n_a, k_b, n_b)
        assert (float(lo), float(hi)) == pytest.approx(score_interval_reference(k_a, n_a, k_b, n_b), abs=1e-7)
        ref = sm_proportion.test_proportions_2indep(k_a, n_a, k_b, n_b, method="score", correction=False)
        assert float(p) == pytest.approx(ref.pvalue, rel=1e-9)


def _pooled_variance_t(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Student's t on the pooled variance, written out (p, interval) as a reference."""
    df = len(a) + len(b) - 2
    ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
    se = np.sqrt(ss / df * (1 / len(a) + 1 / len(b)))
    d = a.mean() - b.mean()
    half = sps.t.ppf(0.975, df) * se
    return float(2 * sps.t.sf(abs(d) / se, df)), float(d - half), float(d + half)


def test_significance_always_agrees_with_the_interval() -> None:
    """p < 0.05 exactly when the 95% interval excludes 0, for shares, NPS and means alike, small
    groups, single answers and identical answers included (the old pairing of a Newcombe or
    unpooled interval with a pooled test broke this)."""
    rng = np.random.default_rng(7)
    size = 20_000
    n_a, n_b = rng.integers(1, 80, size), rng.integers(1, 80, size)
    # per group: counts of answers 1..5 (some groups all one answer)
    counts = []
    for n in (n_a, n_b):
        c = np.stack([rng.multinomial(k, rng.dirichlet(np.ones(5))) for k in n])
        flat = rng.random(size) < 0.15
        c[flat] = 0
        c[flat, rng.integers(0, 5, flat.sum())] = n[flat]
        counts.append(c)
    ca, cb = counts
    values = np.arange(1, 6)
    sums = [c @ values for c in counts]
    sumsq = [c @ values**2 for c in counts]
    mean_a, var_a = stats.mean_var(n_a, sums[0], sumsq[0])
    mean_b, var_b = stats.mean_var(n_b, sums[1], sumsq[1])
    results = [
        stats.diff_share(ca[:, 3:].sum(1), n_a, cb[:, 3:].sum(1), n_b),
        stats.diff_mean(mean_a, var_a, n_a, mean_b, var_b, n_b),
        stats.diff_nps(ca[:, 4], ca[:, :2].sum(1), n_a, cb[:, 4], cb[:, :2].sum(1), n_b),
    ]
    for _d, lo, hi, p in results:
        tested = ~np.isnan(p)
        assert np.isnan(lo[~tested]).all()
        assert np.isnan(hi[~tested]).all()
        clear = tested & (np.abs(p - 0.05) > 1e-9)
        assert clear.sum() > 0.9 * size
        assert ((p[clear] < 0.05) == ((lo[clear] > 0) | (hi[clear] < 0))).all()


def test_shares_where_the_newcombe_interval_contradicted_the_pooled_test() -> None:
    """Share differences where the old Newcombe interval and the pooled test disagreed (found by
    search): the score interval, the inverted pooled test, agrees with it."""
    for k_a, n_a, k_b, n_b in [(249, 257, 124, 124), (233, 263, 3, 5), (5, 45, 0, 38), (4, 168, 0, 172)]:
        pa, pb = k_a / n_a, k_b / n_b
        _p, la, ua = stats.wilson(k_a, n_a)
        _p, lb, ub = stats.wilson(k_b, n_b)
        newcombe = (
            pa - pb - np.sqrt((pa - la) ** 2 + (ub - pb) ** 2),
            pa - pb + np.sqrt((ua - pa) ** 2 + (pb - lb) ** 2),
        )
        _d, lo, hi, p = stats.diff_share(k_a, n_a, k_b, n_b)
        significant = float(p) < 0.05
        assert significant != (newcombe[0] > 0 or newcombe[1] < 0)
        assert significant == (float(lo) > 0 or float(hi) < 0)


def test_mean_difference_with_no_spread_uses_the_pooled_variance() -> None:
    """A group with one answer or identical answers has no usable variance: Welch would treat its
    mean as known (p near 0 against a few identical ratings); Student's pooled t is used instead."""
    ours = np.array([4, 3, 5, 2, 5, 4, 3, 1, 5, 4, 2, 3] * 20, float)
    theirs = np.array([5, 5, 5], float)
    _d, lo, hi, p = stats.diff_mean(theirs.mean(), 0.0, 3, ours.mean(), ours.var(ddof=1), len(ours))
    with warnings.catch_warnings():  # scipy warns that [5, 5, 5] has no spread, which is the point
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = sps.ttest_ind(theirs, ours, equal_var=True)
    assert float(p) == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (float(lo), float(hi)) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert float(p) > 1e-3  # Welch: about 1e-20
    _d, lo, hi, p = stats.diff_mean(1.0, float("nan"), 1, ours.mean(), ours.var(ddof=1), len(ours))
    assert (float(p), float(lo), float(hi)) == pytest.approx(_pooled_variance_t(np.array([1.0]), ours))
    # every answer the same in both groups: equal means are no difference, unequal ones untestable
    assert [float(v) for v in stats.diff_mean(5.0, 0.0, 3, 5.0, 0.0, 4)] == [0.0, 0.0, 0.0, 1.0]
    d, lo, hi, p = stats.diff_mean(5.0, 0.0, 3, 4.0, 0.0, 4)
    assert float(d) == 1.0
    assert np.isnan([lo, hi, p]).all()


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
    ref = sps.ttest_ind(score(a), score(b), equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert float(d) == pytest.approx(100 * (score(a).mean() - score(b).mean()))
    assert (float(dlo), float(dhi)) == pytest.approx((100 * ci.low, 100 * ci.high), rel=1e-9)
    assert float(p) == pytest.approx(ref.pvalue, rel=1e-9)
