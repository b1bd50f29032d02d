"""Cloud and cloud-shadow masking for a pair of dates.

Clouds in very-high-resolution imagery look like soft, bright, low-contrast
blobs: they raise brightness over a large area *and* wash out the texture
underneath. A new bright object (an aircraft, a roof) also raises brightness
but adds texture (sharp edges), so the two are told apart by the local
high-pass energy. Shadows are dark, low-contrast blobs next to a cloud.

Inputs are float images already normalised to the before date's units; all
operations are local (Gaussian filters, fixed-size morphology), so block-wise
processing with :func:`cloud_halo` pixels of halo matches the whole array.

Everything is judged *relative to the scene itself*: brightening is measured
against the scene-wide typical difference between the dates (``offset``) and
texture against the scene-wide typical texture ratio (``texture_gain``, see
:func:`scene_texture_gain`). A date that is hazy, brighter or lower in contrast
everywhere therefore shows no cloud: a cloud is a *local* departure. The
caller also drops the whole mask when it covers more than
``CloudParams.max_fraction`` of the scene (an implausible cloud; when unsure,
do not mask).
"""

from __future__ import annotations

import math
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
    dates must exceed ``shadow_corr``. ``max_fraction`` is the largest share
    of the valid scene a cloud mask may cover; a larger one is implausible
    (a whole-scene brightening or change, not a cloud) and is dropped.
    """

    enabled: bool = True
    brightness_k: float = 0.45
    texture_ratio: float = 0.7
    min_size_m: float = 30.0
    buffer_m: float = 8.0
    grow_m: float = 60.0
    shadow_corr: float = 0.3
    shadow_texture_ratio: float = 0.9
    max_fraction: float = 0.6

    def factor(self, gsd_m: float) -> int:
        """Power-of-two reduction factor: clouds are analysed at about ``min_size_m / 10``."""
        f = 1
        while f * 2 * gsd_m <= self.min_size_m / 10.0 and f < 16:
            f *= 2
        return f

    def open_px(self, gsd_m: float) -> int:
        """Radius (pixels) of the opening that removes areas narrower than ``min_size_m``."""
        return max(1, int(round(self.min_size_m / 2.0 / max(gsd_m, 1e-9))))

    def sigma(self, gsd_m: float) -> float:
        """Gaussian sigma (pixels) over which brightening and texture are averaged."""
        return max(1.5, self.open_px(gsd_m) / 4.0)

    def grow_px(self, gsd_m: float) -> int:
        """Fringe growth distance in pixels."""
        return max(1, int(round(self.grow_m / max(gsd_m, 1e-9))))

    def buffer_px(self, gsd_m: float) -> int:
        """Final safety buffer in pixels."""
        return int(math.ceil(self.buffer_m / max(gsd_m, 1e-9)))


def cloud_halo(params: CloudParams, gsd_m: float) -> int:
    """Full-resolution pixels of context :func:`cloud_mask` needs around a block."""
    if not params.enabled:
        return 0
    f = params.factor(gsd_m)
    g = gsd_m * f
    low = (
        int(4 * params.sigma(g) + 2)
        + 13
        + params.open_px(g)
        + params.buffer_px(g)
        + params.grow_px(g)
    )
    return (low + 1) * f + 5


def scene_texture_gain(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None
) -> float:
    """Scene-typical ratio of fine texture, after / before.

    Median over patches of the ratio of band-passed brightness energy, so a
    partial cloud (a minority of patches) does not move it while a date that is
    hazy or lower in contrast everywhere does.

    Parameters
    ----------
    before, after : ndarray, (patches, bands, rows, cols), float
        Sample patches of both dates in the before date's units.
    valid : ndarray of bool, (patches, rows, cols), optional
        Pixels valid in both dates.

    Returns
    -------
    float
        Ratio of texture amplitudes (1.0 when it cannot be measured).
    """
    ratios = []
    for i in range(before.shape[0]):
        hb = _bandpass(before[i].mean(axis=0, dtype=np.float32))
        ha = _bandpass(after[i].mean(axis=0, dtype=np.float32))
        v = np.ones(hb.shape, bool) if valid is None else valid[i]
        if v.sum() < 16:
            continue
        eb = float(np.mean(hb[v] ** 2))
        ea = float(np.mean(ha[v] ** 2))
        if eb > 0 and ea > 0:
            ratios.append(math.sqrt(ea / eb))
    if not ratios:
        return 1.0
    return float(np.median(ratios))


def _bandpass(bright: np.ndarray) -> np.ndarray:
    """Fine texture: difference of 3 x 3 and 11 x 11 box means (about 1.5 to 5 pixels).

    Box means (running sums) approximate a difference of Gaussians with sigma
    0.8 and 3.2 pixels at a fraction of the cost, so pixel noise does not count
    as texture while edges a few pixels wide do.
    """
    fine = ndimage.uniform_filter(bright, 3, mode="reflect")
    coarse = ndimage.uniform_filter(bright, 11, mode="reflect")
    fine -= coarse
    return np.asarray(fine)


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


def _reduce(img: np.ndarray, f: int, origin: tuple[int, int]) -> np.ndarray:
    """Mean over ``f x f`` cells aligned to global pixel multiples of ``f``."""
    if f == 1:
        return img
    rows, cols = img.shape
    top, left = origin[0] % f, origin[1] % f
    bottom = (-(top + rows)) % f
    right = (-(left + cols)) % f
    x = img
    if top or bottom or left or right:
        x = np.pad(img, ((top, bottom), (left, right)), mode="edge")
    # strided sums (rows, then columns) are several times faster than a 4-D mean
    acc = x[0::f].astype(np.float32, copy=True)
    for k in range(1, f):
        acc += x[k::f]
    out = acc[:, 0::f].copy()
    for k in range(1, f):
        out += acc[:, k::f]
    out *= np.float32(1.0 / (f * f))
    return out


def _expand(
    mask: np.ndarray, f: int, origin: tuple[int, int], shape: tuple[int, int]
) -> np.ndarray:
    if f == 1:
        return mask
    top, left = origin[0] % f, origin[1] % f
    big = np.repeat(np.repeat(mask, f, axis=0), f, axis=1)
    return big[top : top + shape[0], left : left + shape[1]]


def cloud_mask(
    before: np.ndarray,
    after: np.ndarray,
    *,
    scale: float,
    gsd_m: float,
    params: CloudParams | None = None,
    origin: tuple[int, int] = (0, 0),
    offset: float = 0.0,
    texture_gain: float = 1.0,
) -> np.ndarray:
    """Pixels covered by cloud or cloud shadow in either date.

    The analysis runs on brightness averaged over ``f x f`` pixel cells
    (``CloudParams.factor``), aligned to multiples of ``f`` in the full image,
    so the result of a window does not depend on where the window starts.

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
    origin : (row, col)
        Position of this window's first pixel in the full image.
    offset : float
        Scene-typical brightness difference (after - before) in units of
        ``scale``; brightening is measured relative to it.
    texture_gain : float
        Scene-typical texture ratio after / before (:func:`scene_texture_gain`);
        the after date's texture is divided by it before comparing dates.

    Returns
    -------
    ndarray of bool, (rows, cols)
    """
    p = params or CloudParams()
    rows, cols = before.shape[-2:]
    if not p.enabled:
        return np.zeros((rows, cols), dtype=bool)
    f = p.factor(gsd_m)
    s = np.float32(max(scale, 1e-6))
    fb = before.mean(axis=0, dtype=np.float32) / s
    fa = after.mean(axis=0, dtype=np.float32) / s - np.float32(offset)
    bb, ba = _reduce(fb, f, origin), _reduce(fa, f, origin)
    # every cloud or shadow grows from a core whose smoothed brightness change
    # exceeds brightness_k: without one the mask is empty, and the costly
    # full-resolution texture analysis can be skipped (exactly the same result)
    d = ndimage.gaussian_filter(ba - bb, p.sigma(gsd_m * f))
    if not bool(np.any(np.abs(d) > p.brightness_k)):
        return np.zeros((rows, cols), dtype=bool)
    # fine texture (about 1.5 to 4.5 pixels) at full resolution, relative to the
    # scene-typical contrast of each date
    hb = _bandpass(fb)
    ha = _bandpass(fa) / np.float32(max(texture_gain, 1e-6))
    cells = [bb, ba] + [_reduce(x, f, origin) for x in (hb * hb, ha * ha, hb * ha)]
    low = _cloud_low(*cells, p=p, gsd_m=gsd_m * f)
    return _expand(low, f, origin, (rows, cols))


def _cloud_low(
    bb: np.ndarray,
    ba: np.ndarray,
    eb: np.ndarray,
    ea: np.ndarray,
    eab: np.ndarray,
    *,
    p: CloudParams,
    gsd_m: float,
) -> np.ndarray:
    rows, cols = bb.shape
    sig = p.sigma(gsd_m)
    d = ndimage.gaussian_filter(ba - bb, sig)
    vb = ndimage.gaussian_filter(eb, sig)
    va = ndimage.gaussian_filter(ea, sig)
    tb = np.sqrt(vb) + np.float32(0.02)
    ta = np.sqrt(va) + np.float32(0.02)
    corr = ndimage.gaussian_filter(eab, sig) / np.sqrt(vb * va + np.float32(1e-12))
    half = p.open_px(gsd_m)
    out = np.zeros((rows, cols), dtype=bool)
    grow = p.grow_px(gsd_m)
    for sign, t_cloudy, t_clear in ((1.0, ta, tb), (-1.0, tb, ta)):
        sd = sign * d
        washed = t_cloudy < p.texture_ratio * t_clear
        not_sharper = t_cloudy < t_clear
        cloud = _open((sd > p.brightness_k) & washed, half)
        # hazy fringe: grow the cloud core through still-brighter pixels (a cloud's
        # own texture can make its fringe look sharper than the ground)
        cloud = _grow(cloud, sd > p.brightness_k / 3, grow)
        # shadow: darker and washed out in the same date, ground texture still visible
        dim = t_cloudy < p.shadow_texture_ratio * t_clear
        shadow = _open((sd < -p.brightness_k) & dim & (corr > p.shadow_corr), half)
        shadow = _grow(shadow, (sd < -p.brightness_k / 3) & not_sharper, grow)
        # where a cloud overlaps its shadow the brightness change cancels out but
        # the texture stays washed out: grow through washed-out pixels too
        out |= _grow(cloud | shadow, washed, grow)
    return _dilate(out, p.buffer_px(gsd_m))
