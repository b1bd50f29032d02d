"""Threshold selection for change scores: a registry keyed by name.

Every threshold function takes a 1-D sample of finite scores (any units) and
returns the score value above which a pixel is called changed. Global
thresholds are computed from a sample so that block-wise processing gives the
same answer as whole-array processing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ThresholdFn = Callable[..., float]

_BINS = 512


def _histogram(sample: np.ndarray, bins: int = _BINS) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(sample, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError("cannot choose a threshold from an empty score sample")
    lo, hi = float(s.min()), float(s.max())
    if hi <= lo:
        hi = lo + 1e-12
    counts, edges = np.histogram(s, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2.0
    return counts.astype(np.float64), centres


def otsu(sample: np.ndarray, **_: float) -> float:
    """Otsu's threshold (maximum between-class variance) of a score sample.

    Parameters
    ----------
    sample : ndarray
        Finite scores (any shape; non-finite values are dropped).

    Returns
    -------
    float
        Threshold in the score's units.
    """
    counts, centres = _histogram(sample)
    w0 = np.cumsum(counts)
    w1 = w0[-1] - w0
    m = np.cumsum(counts * centres)
    mu0 = m / np.maximum(w0, 1e-12)
    mu1 = (m[-1] - m) / np.maximum(w1, 1e-12)
    between = w0 * w1 * (mu0 - mu1) ** 2
    between[w1 <= 0] = -1.0
    return float(centres[int(np.argmax(between))])


def kittler_illingworth(sample: np.ndarray, **_: float) -> float:
    """Kittler-Illingworth minimum-error threshold of a score sample.

    Fits two Gaussians (no change / change) on either side of each candidate
    threshold and returns the one minimising the classification error
    criterion ``J = 1 + 2 (P0 ln s0 + P1 ln s1) - 2 (P0 ln P0 + P1 ln P1)``.

    Returns
    -------
    float
        Threshold in the score's units.
    """
    counts, centres = _histogram(sample)
    total = counts.sum()
    p = counts / total
    p0 = np.cumsum(p)
    p1 = 1.0 - p0
    m0 = np.cumsum(p * centres)
    m1 = m0[-1] - m0
    s0 = np.cumsum(p * centres**2)
    s1 = s0[-1] - s0
    with np.errstate(divide="ignore", invalid="ignore"):
        mu0 = m0 / p0
        mu1 = m1 / p1
        var0 = s0 / p0 - mu0**2
        var1 = s1 / p1 - mu1**2
        j = (
            1.0
            + 2.0 * (p0 * np.log(np.sqrt(var0)) + p1 * np.log(np.sqrt(var1)))
            - 2.0 * (p0 * np.log(p0) + p1 * np.log(p1))
        )
    ok = (p0 > 1e-6) & (p1 > 1e-6) & (var0 > 0) & (var1 > 0) & np.isfinite(j)
    if not np.any(ok):
        return otsu(sample)
    j = np.where(ok, j, np.inf)
    return float(centres[int(np.argmin(j))])


def fixed(sample: np.ndarray, *, value: float | None = None, **_: float) -> float:
    """A fixed threshold ``value`` in the score's units (the sample is ignored)."""
    if value is None:
        raise ValueError("the 'fixed' threshold needs a value (threshold_value=...)")
    return float(value)


THRESHOLDS: dict[str, ThresholdFn] = {
    "otsu": otsu,
    "kittler-illingworth": kittler_illingworth,
    "fixed": fixed,
}


def choose_threshold(sample: np.ndarray, name: str, *, value: float | None = None) -> float:
    """Apply the threshold rule ``name`` (a key of :data:`THRESHOLDS`) to a score sample."""
    try:
        fn = THRESHOLDS[name]
    except KeyError:
        raise ValueError(
            f"unknown threshold {name!r}; choose one of {sorted(THRESHOLDS)}"
        ) from None
    if name == "fixed":
        return fn(sample, value=value)
    return fn(sample)
