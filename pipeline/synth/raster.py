"""Anti-aliased rasterisation of convex polygons and procedural value noise.

Coverage uses the polygon's signed distance: for a convex polygon the signed
distance of a pixel centre is approximately the largest signed distance to its
edge lines, and the fraction of the pixel covered is ``clip(0.5 - d, 0, 1)``
with ``d`` in pixels (exact for straight edges, slightly generous at sharp
corners). This places sub-pixel geometry right without supersampling.

Noise is hash-based value noise evaluated at map coordinates, so a texture is
identical wherever (and at whatever GSD or sub-pixel offset) it is sampled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Window = tuple[int, int, int, int]  # (row0, row1, col0, col1), half-open

_M64 = (1 << 64) - 1


def convex_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (Andrew's monotone chain), counter-clockwise, no repeated point."""
    pts = sorted({(float(a), float(b)) for a, b in points})
    if len(pts) <= 2:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def convex_coverage(
    ring_rc: np.ndarray, shape: tuple[int, int], *, feather: float = 1.0
) -> tuple[Window, np.ndarray] | None:
    """Fractional pixel coverage of a convex polygon given in pixel coordinates.

    Parameters
    ----------
    ring_rc : ndarray, shape (n, 2)
        Vertices as continuous ``(row, col)`` pixel coordinates (either winding;
        a closing repeat of the first vertex is allowed).
    shape : tuple of int
        ``(rows, cols)`` of the raster.
    feather : float
        Width in pixels of the anti-aliased ramp (1.0 = box-filter pixel coverage).

    Returns
    -------
    tuple or None
        ``((row0, row1, col0, col1), coverage)`` with ``coverage`` float32 in
        ``[0, 1]`` over that window, or ``None`` when the polygon misses the raster.
    """
    pts = np.asarray(ring_rc, dtype=np.float64)
    if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
        pts = pts[:-1]
    if len(pts) < 3:
        return None
    hull = np.asarray(convex_hull([(float(a), float(b)) for a, b in pts]))
    if len(hull) < 3:
        return None
    r0 = max(int(np.floor(hull[:, 0].min() - feather)), 0)
    r1 = min(int(np.ceil(hull[:, 0].max() + feather)) + 1, shape[0])
    c0 = max(int(np.floor(hull[:, 1].min() - feather)), 0)
    c1 = min(int(np.ceil(hull[:, 1].max() + feather)) + 1, shape[1])
    if r0 >= r1 or c0 >= c1:
        return None
    rr = (np.arange(r0, r1, dtype=np.float64) + 0.5)[:, None]
    cc = (np.arange(c0, c1, dtype=np.float64) + 0.5)[None, :]
    centroid = hull.mean(axis=0)
    dist = np.full((r1 - r0, c1 - c0), -np.inf)
    n = len(hull)
    for i in range(n):
        a, b = hull[i], hull[(i + 1) % n]
        er, ec = b[0] - a[0], b[1] - a[1]
        ln = float(np.hypot(er, ec))
        if ln < 1e-12:
            continue
        nr, nc = ec / ln, -er / ln
        if nr * (centroid[0] - a[0]) + nc * (centroid[1] - a[1]) > 0:
            nr, nc = -nr, -nc
        d = nr * (rr - a[0]) + nc * (cc - a[1])
        np.maximum(dist, d, out=dist)
    cov = np.clip(0.5 - dist / feather, 0.0, 1.0).astype(np.float32)
    if not cov.any():
        return None
    return (r0, r1, c0, c1), cov


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic uniform [0, 1) value per integer lattice point (splitmix-style)."""
    s = np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _M64)
    h = ix.astype(np.int64).view(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (iy.astype(np.int64).view(np.uint64) * np.uint64(0x94D049BB133111EB)) ^ s
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def value_noise(xs: np.ndarray, ys: np.ndarray, scale_m: float, seed: int) -> np.ndarray:
    """Smooth value noise in ``[0, 1]`` on the separable grid ``ys[:, None] x xs[None, :]``.

    Parameters
    ----------
    xs, ys : ndarray
        1-D map coordinates (metres) of the pixel columns and rows.
    scale_m : float
        Lattice spacing in metres (feature size).
    seed : int
        Texture seed.

    Returns
    -------
    ndarray, shape (len(ys), len(xs)), float32
    """
    gx = np.asarray(xs, dtype=np.float64) / scale_m
    gy = np.asarray(ys, dtype=np.float64) / scale_m
    ix = np.floor(gx)
    iy = np.floor(gy)
    fx = gx - ix
    fy = gy - iy
    fx = fx * fx * (3 - 2 * fx)
    fy = fy * fy * (3 - 2 * fy)
    ix = ix.astype(np.int64)
    iy = iy.astype(np.int64)
    # hash each lattice point once (the lattice is far coarser than the pixels), then gather
    x0, y0 = int(ix.min()), int(iy.min())
    lattice = _hash01(
        np.arange(x0, int(ix.max()) + 2, dtype=np.int64)[None, :],
        np.arange(y0, int(iy.max()) + 2, dtype=np.int64)[:, None],
        seed,
    )
    cx = (ix - x0)[None, :]
    cy = (iy - y0)[:, None]
    n00 = lattice[cy, cx]
    n10 = lattice[cy, cx + 1]
    n01 = lattice[cy + 1, cx]
    n11 = lattice[cy + 1, cx + 1]
    fxb = fx[None, :]
    fyb = fy[:, None]
    top = n00 + (n10 - n00) * fxb
    bot = n01 + (n11 - n01) * fxb
    return (top + (bot - top) * fyb).astype(np.float32)


def fbm(
    xs: np.ndarray, ys: np.ndarray, scale_m: float, seed: int, *, octaves: int = 4
) -> np.ndarray:
    """Fractal sum of :func:`value_noise` octaves, normalised to about ``[0, 1]``."""
    total = np.zeros((len(ys), len(xs)), dtype=np.float32)
    amp, norm, s = 1.0, 0.0, scale_m
    for k in range(octaves):
        total += np.float32(amp) * value_noise(xs, ys, s, seed * 131 + k)
        norm += amp
        amp *= 0.5
        s /= 2.0
    return total / np.float32(norm)
