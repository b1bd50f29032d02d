"""Cloud and cloud-shadow masking for a pair of dates.

Clouds in very-high-resolution imagery look like soft, bright, low-contrast
blobs: they raise brightness over a large area *and* wash out the texture
underneath. A new bright object (an aircraft, a roof) also raises brightness
but adds texture (sharp edges), so the two are told apart by the local
high-pass energy. Shadows are dark, low-contrast blobs next to a cloud.

Inputs are float images already normalised to the before date's units; all
operations are local (Gaussian filters, fixed-size morphology), so block-wise
processing with :func:`cloud_halo` pixels of halo matches the whole array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class CloudParams:
    """Tuning of :func:`cloud_mask` (pixel sizes are in pixels of the common grid).

    ``brightness_k`` is the smoothed brightening needed, in units of the scene's
    robust brightness spread; ``texture_ratio`` the largest ratio of local
    texture (cloudy date / clear date) for a pixel to count as washed out.
    ``min_size_m`` is the smallest cloud (or shadow) width in metres: brighter,
    washed-out areas narrower than this are left to the change methods (new
    flat roofs, aprons, aircraft are smaller than clouds).
    ``grow_m`` is how far (metres) a cloud or shadow core is grown into its
    fainter fringe. Shadows are told from departed objects by keeping the
    ground texture: the local correlation of band-passed brightness between
    dates must exceed ``shadow_corr``.
    """

    enabled: bool = True
    sigma_px: float = 3.0
    brightness_k: float = 0.45
    texture_ratio: float = 0.7
    min_size_m: float = 30.0
    buffer_px: int = 8
    grow_m: float = 60.0
    shadow_corr: float = 0.3
    shadow_texture_ratio: float = 0.9

    def open_px(self, gsd_m: float) -> int:
        """Radius (pixels) of the opening that removes areas narrower than ``min_size_m``."""
        return max(1, int(round(self.min_size_m / 2.0 / max(gsd_m, 1e-9))))

    def sigma(self, gsd_m: float) -> float:
        """Gaussian sigma (pixels) over which brightening and texture are averaged."""
        return max(self.sigma_px, self.open_px(gsd_m) / 4.0)

    def grow_px(self, gsd_m: float) -> int:
        """Fringe growth distance in pixels."""
        return max(1, int(round(self.grow_m / max(gsd_m, 1e-9))))


def cloud_halo(params: CloudParams, gsd_m: float) -> int:
    """Pixels of context :func:`cloud_mask` needs around a block at ``gsd_m`` m/px."""
    if not params.enabled:
        return 0
    return (
        int(4 * params.sigma(gsd_m) + 2)
        + 13
        + params.open_px(gsd_m)
        + params.buffer_px
        + params.grow_px(gsd_m)
    )


def _bandpass(bright: np.ndarray) -> np.ndarray:
    # difference of Gaussians so pixel noise does not count as texture
    return np.asarray(ndimage.gaussian_filter(bright, 1.0) - ndimage.gaussian_filter(bright, 3.0))


def _open(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask
    size = 2 * r + 1
    er = ndimage.minimum_filter(mask.astype(np.uint8), size=size, mode="nearest")
    return np.asarray(ndimage.maximum_filter(er, size=size, mode="nearest") > 0)


def _grow(seed: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """Geodesic dilation of ``seed`` inside ``allowed`` by at most ``steps`` pixels."""
    if steps <= 0 or not seed.any():
        return seed
    step = max(1, steps // 8)
    out = seed.copy()
    for _ in range(0, steps, step):
        nxt = _dilate(out, step) & (allowed | out)
        if np.array_equal(nxt, out):
            break
        out = nxt
    return out


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask
    return np.asarray(
        ndimage.maximum_filter(mask.astype(np.uint8), size=2 * r + 1, mode="nearest") > 0
    )


def cloud_mask(
    before: np.ndarray,
    after: np.ndarray,
    *,
    scale: float,
    gsd_m: float,
    params: CloudParams | None = None,
) -> np.ndarray:
    """Pixels covered by cloud or cloud shadow in either date.

    Parameters
    ----------
    before, after : ndarray, (bands, rows, cols), float
        Both dates in the before date's radiometric units.
    scale : float
        Robust spread of scene brightness (e.g. IQR of the before band mean),
        in the same units.
    gsd_m : float
        Pixel size in metres.
    params : CloudParams, optional
        Thresholds and sizes.

    Returns
    -------
    ndarray of bool, (rows, cols)
    """
    p = params or CloudParams()
    rows, cols = before.shape[-2:]
    if not p.enabled:
        return np.zeros((rows, cols), dtype=bool)
    s = np.float32(max(scale, 1e-6))
    bb = before.mean(axis=0, dtype=np.float32) / s
    ba = after.mean(axis=0, dtype=np.float32) / s
    sig = p.sigma(gsd_m)
    d = ndimage.gaussian_filter(ba - bb, sig)
    hb, ha = _bandpass(bb), _bandpass(ba)
    vb = ndimage.gaussian_filter(hb * hb, sig)
    va = ndimage.gaussian_filter(ha * ha, sig)
    tb = np.sqrt(vb) + np.float32(0.02)
    ta = np.sqrt(va) + np.float32(0.02)
    corr = ndimage.gaussian_filter(hb * ha, sig) / np.sqrt(vb * va + np.float32(1e-12))
    half = p.open_px(gsd_m)
    out = np.zeros((rows, cols), dtype=bool)
    grow = p.grow_px(gsd_m)
    for sign, t_cloudy, t_clear in ((1.0, ta, tb), (-1.0, tb, ta)):
        sd = sign * d
        washed = t_cloudy < p.texture_ratio * t_clear
        not_sharper = t_cloudy < t_clear
        cloud = _open((sd > p.brightness_k) & washed, half)
        # hazy fringe: grow the cloud core through still-brighter, not-sharper pixels
        cloud = _grow(cloud, (sd > p.brightness_k / 3) & not_sharper, grow)
        # shadow: darker and washed out in the same date, ground texture still visible
        dim = t_cloudy < p.shadow_texture_ratio * t_clear
        shadow = _open((sd < -p.brightness_k) & dim & (corr > p.shadow_corr), half)
        shadow = _grow(shadow, (sd < -p.brightness_k / 3) & not_sharper, grow)
        # where a cloud overlaps its shadow the brightness change cancels out but
        # the texture stays washed out: grow through washed-out pixels too
        out |= _grow(cloud | shadow, washed, grow)
    return _dilate(out, p.buffer_px)
