"""Small numerical kernels that running and fitting share (one of each): weighted quantiles, and the
cut points that turn a weighted sum of two uniform draws into the three capacity bins."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

__all__ = ["capacity_cuts", "two_uniform_cdf", "weighted_quantile"]


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float | np.ndarray) -> float | np.ndarray:
    """Quantile of a weighted sample (linear interpolation of the mid-point weighted ECDF; ties keep
    their order: a stable sort)."""
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    c = (np.cumsum(w) - 0.5 * w) / w.sum()
    out = np.interp(q, c, x)
    return float(out) if np.ndim(out) == 0 else out


def two_uniform_cdf(x: float, a: float, b: float) -> float:
    """CDF of a U1 + b U2 (U1, U2 independent uniforms on [0, 1]; a, b >= 0)."""
    if a < b:
        a, b = b, a
    if b == 0:
        return min(max(x / a, 0.0), 1.0)
    if x <= 0:
        return 0.0
    if x >= a + b:
        return 1.0
    if x <= b:
        return x * x / (2 * a * b)
    if x <= a:
        return (x - b / 2) / a
    return 1.0 - (a + b - x) ** 2 / (2 * a * b)


def capacity_cuts(marginal: Sequence[float], level_weight: float) -> tuple[float, float]:
    """Cut points t1 < t2 on z = (1 - w) u_e + w u_level (w = ``level_weight``; u_e, u_level
    uniform) such that P(z < t1), P(t1 <= z < t2), P(z >= t2) are the ``marginal`` shares of
    did_not_exist, emergent, established. Solved by bisection on the exact CDF of z, to the last bit."""
    return _cuts(tuple(float(m) for m in marginal), float(level_weight))


@functools.lru_cache(maxsize=64)
def _cuts(marginal: tuple[float, ...], level_weight: float) -> tuple[float, float]:
    p = np.asarray(marginal, float) / float(np.sum(marginal))
    a, b = 1.0 - level_weight, level_weight
    cuts = []
    for q in (p[0], p[0] + p[1]):
        lo, hi = 0.0, 1.0
        for _ in range(80):  # 2**-80: past a double's resolution, so lo and hi end adjacent
            mid = 0.5 * (lo + hi)
            if two_uniform_cdf(mid, a, b) < q:
                lo = mid
            else:
                hi = mid
        cuts.append(0.5 * (lo + hi))
    return cuts[0], cuts[1]
