"""Seeded synthetic image pairs with known change, for tests, benchmarks and method choice.

Pure functions (no I/O). A scene is smooth terrain texture plus sharp-edged
rectangles (aprons, buildings, parked objects); the after date has a global
gain/offset (illumination/haze), sensor noise, optional sub-pixel shift,
painted changes (objects added or removed), optional cloud (a hazy bright
blob) with its shadow, and optional nodata.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class SyntheticPair:
    """A synthetic pair with its truth.

    ``before``/``after`` ``(bands, rows, cols)`` in ``dtype``; ``truth`` uint8
    (1 change, 0 none, 255 cloud/nodata); ``valid`` bool (False = nodata);
    ``cloud`` bool (cloud or shadow opacity > 10 %); ``painted`` bool (painted
    change, including any under the cloud).
    """

    before: np.ndarray
    after: np.ndarray
    truth: np.ndarray
    valid: np.ndarray
    cloud: np.ndarray
    painted: np.ndarray


def _scene(rng: np.random.Generator, bands: int, rows: int, cols: int) -> np.ndarray:
    base = ndimage.gaussian_filter(rng.normal(0, 1, (rows, cols)), 6) * 1.5
    img = np.stack([base * (1 + 0.1 * b) + 0.35 for b in range(bands)]).astype(np.float64)
    img += rng.normal(0, 0.02, img.shape)
    for _ in range(max(4, rows * cols // 4000)):
        h, w = rng.integers(4, 24, 2)
        r, c = rng.integers(0, rows - h), rng.integers(0, cols - w)
        img[:, r : r + h, c : c + w] = rng.uniform(0.15, 0.75, (bands, 1, 1))
    return img


def make_pair(
    shape: tuple[int, int] = (256, 256),
    *,
    bands: int = 3,
    seed: int = 0,
    n_changes: int = 6,
    change_px: tuple[int, int] = (10, 30),
    gain: float = 1.0,
    offset: float = 0.0,
    noise: float = 0.02,
    shift: tuple[float, float] = (0.0, 0.0),
    cloud: bool = False,
    nodata_corner: bool = False,
    dtype: str = "uint16",
) -> SyntheticPair:
    """Build a pair with known change.

    Parameters
    ----------
    shape : (rows, cols)
        Image size in pixels.
    n_changes : int
        Number of painted change rectangles (sides drawn from ``change_px``).
    gain, offset : float
        Radiometric difference of the after date (reflectance units 0..1).
    noise : float
        Sensor noise standard deviation (reflectance units).
    shift : (d_row, d_col)
        Mis-registration of the after date in pixels; ``coreg.shift_image(after, s)``
        with ``s = shift`` re-aligns it (the truth is in before-date pixels).
    cloud : bool
        Add a hazy bright blob with a shadow to the after date (truth 255 there).
    nodata_corner : bool
        Zero out the after date's lower-right corner (invalid; truth 255).
    dtype : str
        ``uint8`` (0..255), ``uint16`` (0..10000) or ``float32`` (0..1).
    """
    rng = np.random.default_rng(seed)
    rows, cols = shape
    before = _scene(rng, bands, rows, cols)
    after = before.copy()
    truth = np.zeros(shape, dtype=np.uint8)
    for _ in range(n_changes):
        h, w = rng.integers(change_px[0], change_px[1] + 1, 2)
        r, c = rng.integers(8, rows - h - 8), rng.integers(8, cols - w - 8)
        cur = after[:, r : r + h, c : c + w].mean(axis=(1, 2), keepdims=True)
        new = np.where(cur > 0.45, cur - 0.3, cur + 0.3)
        after[:, r : r + h, c : c + w] = new
        truth[r : r + h, c : c + w] = 1
    painted = truth == 1
    if shift != (0.0, 0.0):
        # after shifted by -shift so that shifting it by +shift re-aligns it
        after = ndimage.shift(after, (0, -shift[0], -shift[1]), order=3, mode="nearest")
    after = after * gain + offset
    cloud_mask = np.zeros(shape, dtype=bool)
    if cloud:
        rr, cc = np.mgrid[0:rows, 0:cols]
        cr, ccol = rows * 0.3, cols * 0.65
        rad = min(rows, cols) * 0.15
        blob = np.exp(-(((rr - cr) ** 2 + (cc - ccol) ** 2) / (2 * rad**2)))
        alpha = np.clip(blob * 1.2, 0, 0.85)
        after = after * (1 - alpha) + 0.95 * alpha
        sh = np.exp(-(((rr - cr - rad) ** 2 + (cc - ccol + rad) ** 2) / (2 * rad**2)))
        after = after * (1 - 0.5 * np.clip(sh * 1.2, 0, 1))
        cloud_mask = (blob > 0.1) | (sh > 0.1)
        truth[cloud_mask] = 255
    after = after + rng.normal(0, noise, after.shape)
    before = before + rng.normal(0, noise, before.shape)
    valid = np.ones(shape, dtype=bool)
    if nodata_corner:
        valid[rows * 3 // 4 :, cols * 3 // 4 :] = False
        truth[~valid] = 255
    scale = {"uint8": 255.0, "uint16": 10000.0, "float32": 1.0}[dtype]

    def cast(x: np.ndarray) -> np.ndarray:
        y = np.clip(x, 0, 1) * scale
        return y.astype(np.float32) if dtype == "float32" else np.round(y).astype(dtype)

    b, a = cast(before), cast(after)
    a[:, ~valid] = 0
    return SyntheticPair(b, a, truth, valid, cloud_mask, painted)
