"""Cloud and cloud-shadow masking for a pair of dates.

Clouds in very-high-resolution imagery look like soft, bright, low-contrast
blobs: they raise brightness over a large area *and* wash out the texture
underneath. A new bright object (an aircraft, a roof) also raises brightness
but adds texture (sharp edges), so the two are told apart by the local
high-pass energy. Shadows are dark, low-contrast blobs next to a cloud.

Inputs are float images already normalised to the before date's units. Only
the fine-texture band-pass runs at full resolution (:func:`cell_features`, a
few pixels of context); everything else runs on cells of a few metres
(:func:`cloud_cells`), where all operations are local (Gaussian filters,
fixed-size morphology), so strips analysed with :func:`cloud_halo` cells of
halo (:class:`CloudStrips`) match the whole scene.

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
from collections.abc import Callable
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
    """Cells (of ``params.factor(gsd_m)`` pixels a side) of context the cell analysis needs.

    A cloud or shadow reaches a cell from a core at most this many cells away
    (smoothing, opening, fringe growth and buffer), so a strip of cells
    analysed with this halo matches the analysis of the whole scene.
    """
    if not params.enabled:
        return 0
    g = gsd_m * params.factor(gsd_m)
    return (
        int(4 * params.sigma(g) + 2)
        + 2 * params.grow_px(g)
        + 2 * params.open_px(g)
        + params.buffer_px(g)
        + 1
    )


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


#: Rows :func:`box3` sums at a time: its temporaries stay in the CPU cache.
_BOX_ROWS = 64


def box3(img: np.ndarray) -> np.ndarray:
    """3 x 3 box mean over the last two axes (edges mirrored, as scipy's ``reflect``).

    Slice sums in float32: the same values as ``ndimage.uniform_filter(img, 3)``
    to float32 rounding, about three times as fast (bands of rows at a time,
    so the intermediate sums stay in the CPU cache).
    """
    x = np.asarray(img, dtype=np.float32)
    rows = x.shape[-2]
    if x.shape[-1] < 2 or rows < 2:
        pad = [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)]
        p = np.pad(x, pad, mode="symmetric")
        return np.asarray(ndimage.uniform_filter(p, [1] * (x.ndim - 2) + [3, 3]))[..., 1:-1, 1:-1]
    out = np.empty_like(x)
    buf = np.empty((*x.shape[:-2], min(_BOX_ROWS, rows), x.shape[-1]), dtype=np.float32)
    for r0 in range(0, rows, _BOX_ROWS):
        r1 = min(r0 + _BOX_ROWS, rows)
        # vertical sums x[r-1] + x[r] + x[r+1] of rows r0..r1, mirrored at the edges
        r = buf[..., : r1 - r0, :]
        lo, hi = max(r0, 1), min(r1, rows - 1)
        if lo < hi:
            np.add(x[..., lo - 1 : hi - 1, :], x[..., lo:hi, :], out=r[..., lo - r0 : hi - r0, :])
            r[..., lo - r0 : hi - r0, :] += x[..., lo + 1 : hi + 1, :]
        if r0 == 0:
            np.add(x[..., 0, :], x[..., 0, :], out=r[..., 0, :])
            r[..., 0, :] += x[..., 1, :]
        if r1 == rows:
            np.add(x[..., -2, :], x[..., -1, :], out=r[..., -1, :])
            r[..., -1, :] += x[..., -1, :]
        # horizontal sums of those
        o = out[..., r0:r1, :]
        np.add(r[..., :-2], r[..., 1:-1], out=o[..., 1:-1])
        o[..., 1:-1] += r[..., 2:]
        np.add(r[..., 0], r[..., 0], out=o[..., 0])
        o[..., 0] += r[..., 1]
        np.add(r[..., -2], r[..., -1], out=o[..., -1])
        o[..., -1] += r[..., -1]
        o *= np.float32(1.0 / 9.0)
    return out


def _bandpass(bright: np.ndarray) -> np.ndarray:
    """Fine texture: difference of 3 x 3 and 11 x 11 box means (about 1.5 to 5 pixels).

    Box means (running sums) approximate a difference of Gaussians with sigma
    0.8 and 3.2 pixels at a fraction of the cost, so pixel noise does not count
    as texture while edges a few pixels wide do.
    """
    fine = box3(bright)
    fine -= ndimage.uniform_filter(bright, 11, mode="reflect")
    return fine


#: Pixels of context :func:`cell_features` needs around its core (half the widest box).
TEXTURE_HALO = 5


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


def _reduce(img: np.ndarray, f: int) -> np.ndarray:
    """Mean over ``f x f`` cells from the first pixel; a partial last cell repeats its edge."""
    if f == 1:
        return np.asarray(img, dtype=np.float32)
    rows, cols = img.shape
    bottom, right = (-rows) % f, (-cols) % f
    x = np.pad(img, ((0, bottom), (0, right)), mode="edge") if bottom or right else img
    # strided sums (rows, then columns) are several times faster than a 4-D mean
    acc = x[0::f].astype(np.float32, copy=True)
    for k in range(1, f):
        acc += x[k::f]
    out = acc[:, 0::f].copy()
    for k in range(1, f):
        out += acc[:, k::f]
    out *= np.float32(1.0 / (f * f))
    return out


def cell_counts(valid: np.ndarray, f: int) -> np.ndarray:
    """Number of True pixels of a bool ``(rows, cols)`` mask in each ``f x f`` cell (int32)."""
    rows, cols = valid.shape
    if valid.all():
        # every pixel valid: full cells hold f * f, the partial last row/column fewer
        rc = np.full(-(-rows // f), f, dtype=np.int32)
        cc = np.full(-(-cols // f), f, dtype=np.int32)
        rc[-1] = rows - (rc.size - 1) * f
        cc[-1] = cols - (cc.size - 1) * f
        return np.outer(rc, cc)
    x = np.pad(np.asarray(valid, dtype=bool), ((0, (-rows) % f), (0, (-cols) % f)))
    x = x.view(np.uint8).reshape(x.shape[0] // f, f, x.shape[1] // f, f)
    return np.asarray(x.sum(axis=(1, 3), dtype=np.int32))


def cells_to_pixels(
    cells: np.ndarray, f: int, row: int, col: int, height: int, width: int
) -> np.ndarray:
    """Window ``(row, col, height, width)`` (pixels) of the full-resolution view of a cell mask.

    ``cells`` covers the whole scene, cell ``(i, j)`` being pixels
    ``[i*f, (i+1)*f) x [j*f, (j+1)*f)``.
    """
    r0, c0 = row // f, col // f
    r1, c1 = -(-(row + height) // f), -(-(col + width) // f)
    sub = cells[r0:r1, c0:c1]
    big = np.repeat(np.repeat(sub, f, axis=0), f, axis=1) if f > 1 else sub
    top, left = row - r0 * f, col - c0 * f
    return np.ascontiguousarray(big[top : top + height, left : left + width])


def cell_brightening(
    diff: np.ndarray, *, scale: float, factor: int, offset: float = 0.0
) -> np.ndarray:
    """Band-mean brightening averaged over ``factor x factor`` pixel cells.

    Parameters
    ----------
    diff : ndarray, (bands, rows, cols), float32
        After minus before, both in the before date's radiometric units; cells
        start at its first pixel.
    scale : float
        Robust spread of scene brightness (e.g. IQR of the before band mean).
    factor : int
        Cell size in pixels (``CloudParams.factor``).
    offset : float
        Scene-typical brightness difference (after - before) in units of ``scale``.

    Returns
    -------
    ndarray of float32, (cell_rows, cell_cols)
        Mean brightening minus ``offset``, in units of ``scale``.
    """
    total = diff[0] if diff.shape[0] == 1 else np.add(diff[0], diff[1], dtype=np.float32)
    for band in diff[2:]:
        total += band
    # the mean is linear: average the band sum over cells, then scale the cells
    d = _reduce(total, factor)
    d *= np.float32(1.0 / (diff.shape[0] * max(scale, 1e-6)))
    d -= np.float32(offset)
    return d


def cell_texture(
    before: np.ndarray,
    after: np.ndarray,
    *,
    scale: float,
    factor: int,
    core: tuple[int, int, int, int] | None = None,
    texture_gain: float = 1.0,
) -> np.ndarray:
    """Band-passed brightness energies averaged over ``factor x factor`` pixel cells.

    Parameters
    ----------
    before, after : ndarray, (bands, rows, cols), float
        A window of both dates in the before date's radiometric units, with at
        least :data:`TEXTURE_HALO` pixels of context around ``core`` (where
        the scene has them).
    scale, factor, core, texture_gain
        As for :func:`cell_features`.

    Returns
    -------
    ndarray of float32, (3, cell_rows, cell_cols)
        Energy of before, of after (divided by ``texture_gain``) and their product.
    """
    rows, cols = before.shape[-2:]
    r, c, h, w = core or (0, 0, rows, cols)
    s = np.float32(max(scale, 1e-6))
    fb = before.mean(axis=0, dtype=np.float32) / s
    fa = after.mean(axis=0, dtype=np.float32) / s
    sl = (slice(r, r + h), slice(c, c + w))
    hb = _bandpass(fb)[sl]
    ha = _bandpass(fa)[sl]
    ha *= np.float32(1.0 / max(texture_gain, 1e-6))
    return np.stack([_reduce(x, factor) for x in (hb * hb, ha * ha, hb * ha)])


def cell_features(
    before: np.ndarray,
    after: np.ndarray,
    *,
    scale: float,
    factor: int,
    core: tuple[int, int, int, int] | None = None,
    offset: float = 0.0,
    texture_gain: float = 1.0,
) -> np.ndarray:
    """Brightness change and texture energies averaged over ``factor x factor`` pixel cells.

    Only this step runs at full resolution; :func:`cloud_cells` analyses its
    output. Cells start at the core's first pixel, so a core starting at a
    multiple of ``factor`` in the full image gives the cells of the scene-wide
    cell grid. :func:`cell_brightening` and :func:`cell_texture` compute the
    two parts separately (the texture is only needed where
    :func:`brightening_cores` finds cells).

    Parameters
    ----------
    before, after : ndarray, (bands, rows, cols), float
        A window of both dates in the before date's radiometric units, with at
        least :data:`TEXTURE_HALO` pixels of context around ``core`` (where
        the scene has them).
    scale : float
        Robust spread of scene brightness (e.g. IQR of the before band mean).
    factor : int
        Cell size in pixels (``CloudParams.factor``).
    core : (row, col, height, width), optional
        Part of the window (pixels) whose cells are returned; default all.
    offset : float
        Scene-typical brightness difference (after - before) in units of ``scale``.
    texture_gain : float
        Scene-typical texture ratio after / before (:func:`scene_texture_gain`).

    Returns
    -------
    ndarray of float32, (4, cell_rows, cell_cols)
        Brightening (after - before - offset, units of ``scale``), then the
        band-passed brightness energy of before, of after (divided by
        ``texture_gain``) and their product.
    """
    rows, cols = before.shape[-2:]
    r, c, h, w = core or (0, 0, rows, cols)
    sl = (slice(None), slice(r, r + h), slice(c, c + w))
    diff = np.subtract(after[sl], before[sl], dtype=np.float32)
    d = cell_brightening(diff, scale=scale, factor=factor, offset=offset)
    tex = cell_texture(
        before, after, scale=scale, factor=factor, core=core, texture_gain=texture_gain
    )
    return np.concatenate([d[np.newaxis], tex])


def brightening_cores(brightening: np.ndarray, *, params: CloudParams, gsd_m: float) -> np.ndarray:
    """Cells (bool) that may hold a cloud or shadow core, judging the brightening alone.

    Every cloud or shadow grows from a core: an opening of cells whose
    smoothed brightening exceeds ``brightness_k`` (or falls below minus it)
    and that also meet texture conditions. Opening is monotone, so every core
    lies inside the openings of the brightening conditions alone, returned
    here: :func:`cloud_cells` depends on the texture only within
    ``2 * cloud_halo`` cells of them (:class:`CloudStrips` computes it there only).
    """
    if not params.enabled:
        return np.zeros(brightening.shape, dtype=bool)
    g = gsd_m * params.factor(gsd_m)
    d = ndimage.gaussian_filter(brightening, params.sigma(g))
    return _cores(d, params, g)


def _cores(d: np.ndarray, p: CloudParams, g: float) -> np.ndarray:
    """Openings of the smoothed brightening ``d`` beyond +-k (bool cells)."""
    k = p.brightness_k
    if not bool(np.any(np.abs(d) > k)):
        return np.zeros(d.shape, dtype=bool)
    half = p.open_px(g)
    return np.asarray(_open(d > k, half) | _open(d < -k, half))


def cloud_cells(features: np.ndarray, *, params: CloudParams, gsd_m: float) -> np.ndarray:
    """Cloud or cloud-shadow cells (bool) from :func:`cell_features`.

    ``gsd_m`` is the pixel size in metres of the full-resolution image; the
    analysis runs on cells of ``params.factor(gsd_m)`` pixels.
    """
    if not params.enabled:
        return np.zeros(features.shape[1:], dtype=bool)
    p = params
    g = gsd_m * p.factor(gsd_m)
    sig = p.sigma(g)
    d = ndimage.gaussian_filter(features[0], sig)
    # every cloud or shadow grows from a core whose smoothed brightness change
    # exceeds brightness_k: without one the mask is empty (exactly)
    if not _cores(d, p, g).any():
        return np.zeros(d.shape, dtype=bool)
    vb = ndimage.gaussian_filter(features[1], sig)
    va = ndimage.gaussian_filter(features[2], sig)
    tb = np.sqrt(vb) + np.float32(0.02)
    ta = np.sqrt(va) + np.float32(0.02)
    corr = ndimage.gaussian_filter(features[3], sig) / np.sqrt(vb * va + np.float32(1e-12))
    half = p.open_px(g)
    out = np.zeros(d.shape, dtype=bool)
    grow = p.grow_px(g)
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
    return _dilate(out, p.buffer_px(g))


def cloud_mask(
    before: np.ndarray,
    after: np.ndarray,
    *,
    scale: float,
    gsd_m: float,
    params: CloudParams | None = None,
    offset: float = 0.0,
    texture_gain: float = 1.0,
) -> np.ndarray:
    """Pixels covered by cloud or cloud shadow in either date, for a whole image.

    :func:`cell_features` then :func:`cloud_cells`, expanded to pixels. The
    block-wise engine uses :class:`CloudStrips` instead (same result).

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
    feats = cell_features(
        before, after, scale=scale, factor=f, offset=offset, texture_gain=texture_gain
    )
    return cells_to_pixels(cloud_cells(feats, params=p, gsd_m=gsd_m), f, 0, 0, rows, cols)


_BATCH_CELLS = 2_000_000


#: ``texture(cell_row, cell_rows, cols)``: :func:`cell_texture` of a full-width band of
#: cells, float32 ``(3, cell_rows, cell_cols)``; needed only in the cell columns where
#: the bool ``cols`` is True (any finite value elsewhere).
TextureFn = Callable[[int, int, np.ndarray], np.ndarray]


@dataclass
class _CellRows:
    """A full-width band of cell features starting at cell row ``row``.

    ``texture`` holds the texture rows of :func:`cell_features` in the cell
    columns where ``have`` is True (zeros elsewhere).
    """

    row: int
    brightening: np.ndarray
    texture: np.ndarray
    have: np.ndarray
    counts: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.brightening.shape[0])


class CloudStrips:
    """Scene-wide cloud cells from cell features arriving block by block.

    Blocks must arrive in row-major order, each starting at a multiple of the
    cell size. Whenever a full-width row of blocks is complete, the cells that
    are far enough (:func:`cloud_halo`) from rows still missing are analysed,
    so only a few rows of blocks' features are held at a time while
    :attr:`cells` (one bool per cell) covers the scene.

    Blocks may bring their brightening only (row 0 of :func:`cell_features`):
    the texture is then asked of ``texture`` only near cells that
    :func:`brightening_cores` finds (a scene without cloud-sized brightening
    never computes texture at all; a few large bright roofs only around
    them). The cells are the same either way.

    Parameters
    ----------
    shape : (rows, cols)
        Scene size in full-resolution pixels.
    params : CloudParams
        Cloud parameters (must be enabled).
    gsd_m : float
        Full-resolution pixel size in metres.
    texture : callable, optional
        :data:`TextureFn`; needed when blocks are added with their brightening only.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        params: CloudParams,
        gsd_m: float,
        texture: TextureFn | None = None,
    ) -> None:
        self.factor = params.factor(gsd_m)
        f = self.factor
        self.cells = np.zeros((-(-shape[0] // f), -(-shape[1] // f)), dtype=bool)
        #: Valid pixels under cloud cells analysed so far.
        self.cloud_px = 0
        #: Cells whose texture was asked of ``texture``.
        self.texture_cells = 0
        self._p, self._gsd = params, gsd_m
        self._texture = texture
        self._halo = cloud_halo(params, gsd_m)
        # analyse at least a halo's rows and about 2 M cells at a time: fewer,
        # larger strips overlap less (a strip re-reads a halo above and below)
        self._batch = max(self._halo, _BATCH_CELLS // max(self.cells.shape[1], 1))
        self._pending: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        self._held: list[_CellRows] = []
        self._done = 0

    def add(self, row: int, col: int, features: np.ndarray, counts: np.ndarray) -> None:
        """Add the block at pixel ``(row, col)``: its cell features and valid counts.

        ``features`` is :func:`cell_features` (4 rows) or, when the strips
        were given ``texture``, its brightening row alone (1 row).
        """
        f = self.factor
        if row % f or col % f:
            raise ValueError(f"block at ({row}, {col}) is not aligned to {f}-pixel cells")
        if features.shape[0] not in (1, 4) or (features.shape[0] == 1 and self._texture is None):
            raise ValueError(
                f"block at ({row}, {col}) has {features.shape[0]} feature rows: give the 4 of "
                "cell_features, or the brightening alone to strips made with texture="
            )
        r = row // f
        parts = self._pending.setdefault(r, [])
        parts.append((col // f, features, counts))
        if sum(p[1].shape[2] for p in parts) < self.cells.shape[1]:
            return
        del self._pending[r]
        parts.sort(key=lambda p: p[0])
        feats = np.concatenate([p[1] for p in parts], axis=2)
        cnts = np.concatenate([p[2] for p in parts], axis=1)
        full = feats.shape[0] == 4
        tex = feats[1:] if full else np.zeros((3, *feats.shape[1:]), dtype=np.float32)
        have = np.full(feats.shape[2], full)
        self._held.append(_CellRows(r, feats[0], tex, have, cnts))
        self._analyse(r + feats.shape[1])

    def _fill_texture(self, held: list[_CellRows], s0: int, cores: np.ndarray) -> None:
        """Ask ``texture`` for the held cells within ``2 * halo`` cells of ``cores``.

        ``cores`` covers cell rows ``s0`` onwards; cells farther from every
        core cannot change :func:`cloud_cells` (see :func:`brightening_cores`).
        """
        reach = 2 * self._halo
        for h in held:
            lo, hi = max(h.row - s0 - reach, 0), max(h.row - s0 + h.rows + reach, 0)
            near: np.ndarray = np.asarray(cores[lo:hi].any(axis=0))
            if not near.any():
                continue
            need = np.asarray(_dilate(near[np.newaxis], reach))[0] & ~h.have
            if not need.any() or self._texture is None:
                continue
            tex = self._texture(h.row, h.rows, need)
            h.texture[:, :, need] = tex[:, :, need]
            h.have |= need
            self.texture_cells += int(need.sum()) * h.rows

    def _analyse(self, avail: int) -> None:
        total = self.cells.shape[0]
        end = total if avail >= total else avail - self._halo
        # analyse in batches of at least a halo's rows (fewer overlapping strips)
        if end <= self._done or (end < total and end - self._done < self._batch):
            return
        s0 = max(self._done - self._halo, 0)
        held = [h for h in self._held if h.row + h.rows > s0]
        first = held[0].row
        a, b = self._done - s0, end - s0
        d = np.concatenate([h.brightening for h in held], axis=0)[s0 - first :]
        cores = brightening_cores(d, params=self._p, gsd_m=self._gsd)
        if cores.any():
            self._fill_texture(held, s0, cores)
            feats = np.concatenate(
                [d[np.newaxis], np.concatenate([h.texture for h in held], axis=1)[:, s0 - first :]]
            )
            low = cloud_cells(feats, params=self._p, gsd_m=self._gsd)
            cnts = np.concatenate([h.counts for h in held], axis=0)
            self.cloud_px += int(cnts[s0 - first :][a:b][low[a:b]].sum())
        else:
            low = np.zeros((b, d.shape[1]), dtype=bool)
        self.cells[self._done : end] = low[a:b]
        self._done = end
        self._held = [h for h in held if h.row + h.rows > end - self._halo]

    @property
    def complete(self) -> bool:
        """True once every cell row has been analysed."""
        return self._done >= self.cells.shape[0]
