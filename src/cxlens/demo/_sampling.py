"""Vectorised sampling helpers for the demo generator: scores with exact means, categories, ids.

Scores are drawn from a rounded and clipped normal whose latent mean is solved so that the
*expected observed mean* equals the planted value; this keeps the planted effects exact on the
scale analysts measure (an NPS answer of 0-10, a CSAT of 1-5), not just on a hidden scale.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Alphabet of the random-looking anonymous ids (Crockford base 32, lower case).
_B32 = np.frombuffer(b"0123456789abcdefghjkmnpqrstvwxyz", dtype=np.uint8)
_MASK64 = (1 << 64) - 1


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def expected_score(mu: float, sd: float, lo: int, hi: int) -> float:
    """Expected value of ``clip(round(N(mu, sd)), lo, hi)``."""
    total = 0.0
    for k in range(lo, hi + 1):
        upper = 1.0 if k == hi else _phi((k + 0.5 - mu) / sd)
        lower = 0.0 if k == lo else _phi((k - 0.5 - mu) / sd)
        total += k * (upper - lower)
    return total


@lru_cache(maxsize=4096)
def latent_mean(target: float, sd: float, lo: int, hi: int) -> float:
    """Latent normal mean whose rounded, clipped draws have expected value ``target``."""
    if not lo < target < hi:
        raise ValueError(f"target mean {target} must lie strictly between {lo} and {hi}")
    a, b = lo - 10.0 * sd, hi + 10.0 * sd
    for _ in range(80):
        mid = (a + b) / 2.0
        if expected_score(mid, sd, lo, hi) < target:
            a = mid
        else:
            b = mid
    return (a + b) / 2.0


def scores(rng: np.random.Generator, means: np.ndarray, sd: float, lo: int, hi: int) -> np.ndarray:
    """Integer scores in ``[lo, hi]`` whose expected value is ``means`` (one target per row)."""
    means = np.asarray(means, dtype=np.float64)
    uniq, inverse = np.unique(means, return_inverse=True)
    latent = np.array([latent_mean(float(m), sd, lo, hi) for m in uniq])[inverse]
    draws = np.rint(latent + sd * rng.standard_normal(len(means)))
    return np.clip(draws, lo, hi).astype(np.int64)


def choice(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """``n`` category codes drawn with probabilities ``probs`` (which need not sum exactly to 1)."""
    cum = np.cumsum(np.asarray(probs, dtype=np.float64))
    return np.searchsorted(cum / cum[-1], rng.random(n), side="right").astype(np.int64)


def choice_rows(rng: np.random.Generator, prob_rows: np.ndarray) -> np.ndarray:
    """One category code per row of ``prob_rows`` (n x k), each row its own distribution."""
    cum = np.cumsum(prob_rows, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(prob_rows))
    return np.minimum((u[:, None] >= cum).sum(axis=1), prob_rows.shape[1] - 1).astype(np.int64)


def mix64(values: np.ndarray, seed: int) -> np.ndarray:
    """A bijective 64-bit scramble (splitmix64 finaliser) of ``values`` keyed by ``seed``.

    Distinct inputs give distinct outputs, so ids built from it are unique without a lookup.
    """
    x = values.astype(np.uint64) ^ np.uint64((seed * 0x9E3779B97F4A7C15) & _MASK64)
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def base32_chars(values: np.ndarray, width: int = 13) -> np.ndarray:
    """Fixed-width base-32 digits of unsigned 64-bit ``values`` as an (n, width) uint8 matrix."""
    out = np.empty((len(values), width), dtype=np.uint8)
    x = values.astype(np.uint64)
    for i in range(width):
        out[:, width - 1 - i] = _B32[(x & np.uint64(31)).astype(np.int64)]
        x = x >> np.uint64(5)
    return out


def decimal_chars(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative ``values`` as an (n, width) uint8 matrix."""
    x = values.astype(np.int64)
    if len(x) and int(x.max()) >= 10**width:
        raise ValueError(f"value {int(x.max())} does not fit in {width} digits")
    out = np.empty((len(x), width), dtype=np.uint8)
    for i in range(width):
        out[:, width - 1 - i] = (x % 10 + 48).astype(np.uint8)
        x = x // 10
    return out
