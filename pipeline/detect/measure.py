"""Measurement-based object detector: no training data, no weights.

Steps, all on one single-band brightness image (mean of the first three bands):

1. **Background** — a large-window median (window ``background_window_m``,
   about twice the largest aircraft) computed on a block-averaged copy and
   interpolated back; the residual ``image - background`` is a top-hat for
   bright *and* dark objects.
2. **Noise / texture** — a local robust sigma (1.4826 x median of
   ``|residual|`` over the same window) normalises the residual, so smooth
   paved surfaces (aprons, taxiways) are sensitive and textured ground
   (grass, buildings) is not. Across a surface boundary (a dark apron in
   light concrete) that coarse sigma swells with the step between the two
   surfaces, so the brightness sigma is lowered to that of the residual to
   the edge-preserving surface background, but never below
   ``sigma_floor_fraction`` of the coarse sigma (unless the coarse sigma is
   many times the fine one, ``sigma_step_ratio``: then it measures the step
   alone) nor ``sigma_floor_contrast`` of the background level (see
   :func:`brightness_sigma`). The paved mask is
   where the fine-scale local standard deviation (window
   ``texture_window_m``) is low.
3. **Candidates** — pixels with ``|residual| > threshold_sigma * sigma``,
   split into bright and dark components.
4. **Shadows** — with a known sun (tile ``sun_azimuth_deg``), shadows lie
   *away* from the sun azimuth: a dark component touching a bright one and
   displaced from it along the anti-sun direction is shadow and is removed.
   With an unknown sun (e.g. plain JPEGs) every dark component touching a
   bright one is treated as shadow.
5. **Measurement** — each remaining object (bright and non-shadow dark parts
   joined by a closing of ``join_m``, holes up to ``max_hole_m2`` filled;
   a larger hole is a surface ringed by edge residuals, e.g. a dark apron in
   concrete, not part of an aircraft) is measured along its axis of mirror
   symmetry (searched over 180 degrees): length along the axis, span across
   it, in metres using the GSD. The nose is the end without a tailplane (the
   end whose last 15 % of length is narrower).
6. **Classification** — :func:`pipeline.detect.classify.classify_dims`.

Units: pixel ``(row, col)``; metres; headings degrees clockwise from grid north.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.morphology import area_closing, area_opening
from skimage.transform import resize

from pipeline.detect.geometry import Ring, oriented_rect, vector_heading


@dataclass(frozen=True)
class MeasureParams:
    """Tunable parameters of the measurement detector (metres unless stated)."""

    background_window_m: float = 160.0
    texture_window_m: float = 3.0
    threshold_sigma: float = 4.0
    min_sigma_fraction: float = 0.004
    join_m: float = 1.5
    min_length_m: float = 3.5
    max_length_m: float = 90.0
    min_area_m2: float = 8.0
    max_fill: float = 1.5
    min_paved_fraction: float = 0.3
    shadow_ratio: float = 0.6
    seed_sigma: float = 0.0
    natural_rb: float = 0.2
    natural_g: float = 0.1
    surface_window_m: float = 0.0
    split_extent_m: float = 90.0
    surface_area_m2: float = 3000.0
    surface_block_m: float = 1.0
    seed_reach_m: float = 3.0
    neutral_chroma: float = 0.15
    angle_step_deg: float = 2.0
    max_shadow_height_m: float = 21.0
    # brightness sigma bounds (fractions; see brightness_sigma): 1.0 = coarse sigma only
    sigma_floor_fraction: float = 0.5
    sigma_floor_contrast: float = 0.08
    # coarse / fine sigma ratios over which the coarse floor fades out (a surface step)
    sigma_step_ratio: tuple[float, float] = (6.0, 10.0)
    # holes up to this area (m^2) inside candidate masks are filled; 0 = every hole
    max_hole_m2: float = 1000.0


@dataclass(frozen=True)
class Blob:
    """One measured object candidate (pixel units unless stated).

    ``center_rc`` is the centre of the oriented footprint; ``axis_heading_deg``
    the nose direction (clockwise from north); ``length_px``/``width_px`` the
    extents along/across the body axis; ``symmetry`` the fraction of the
    object that maps onto itself when mirrored about the axis; ``fill`` the
    object area over ``length_px * width_px``; ``contrast`` mean
    ``|residual| / sigma``; ``polarity`` +1 bright, -1 dark; ``nose_profile``
    the object width (pixels) in 1-pixel steps from the nose tip, and
    ``body_width_px`` the fuselage width (90th percentile at 15-30 % of the
    length); ``touches_edge`` when the object reaches the image border or
    invalid pixels; ``natural_fraction`` the share of its pixels coloured like
    soil (reddish) or vegetation (green).
    """

    center_rc: tuple[float, float]
    axis_heading_deg: float
    length_px: float
    width_px: float
    area_px: int
    symmetry: float
    fill: float
    contrast: float
    polarity: int
    paved_fraction: float
    touches_edge: bool
    shadow_px: int = 0
    nose_profile: tuple[float, ...] = field(default=(), repr=False)
    body_width_px: float = 0.0
    end_ratio: float = 1.0
    natural_fraction: float = 0.0

    @property
    def footprint_px(self) -> Ring:
        """Closed oriented-rectangle ring ``(row, col)`` of the object."""
        return oriented_rect(self.center_rc, self.length_px, self.width_px, self.axis_heading_deg)


# --------------------------------------------------------------------------- preprocessing
def to_gray(image: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Float32 brightness ``(rows, cols)`` of a ``(bands, rows, cols)`` or 2-D image.

    The mean of the first three bands (or the single band) is used. Invalid
    pixels are replaced by the median of the valid ones. The input is not
    modified; any integer or float dtype is accepted.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise ValueError(f"image must be (bands, rows, cols) or (rows, cols), got {arr.shape}")
    gray = arr[: min(3, arr.shape[0])].astype(np.float32).mean(axis=0)
    if valid is not None:
        if valid.shape != gray.shape:
            raise ValueError(f"valid mask shape {valid.shape} != image shape {gray.shape}")
        if not valid.all():
            fill = float(np.median(gray[valid])) if valid.any() else 0.0
            gray = np.where(valid, gray, np.float32(fill))
    return gray


def opponent_channels(image: np.ndarray, valid: np.ndarray | None = None) -> list[np.ndarray]:
    """Opponent-colour channels ``red - blue`` and ``green - (red + blue) / 2`` (float32).

    Empty for images with fewer than three bands. Invalid pixels are set to the
    median of the valid ones.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[0] < 3:
        return []
    r, g, b = (arr[i].astype(np.float32) for i in range(3))
    out = [r - b, g - (r + b) / 2.0]
    if valid is not None and not valid.all():
        out = [
            np.where(valid, c, np.float32(np.median(c[valid]) if valid.any() else 0.0)) for c in out
        ]
    return out


def _block_reduce(a: np.ndarray, s: int, func: str = "mean") -> np.ndarray:
    h, w = a.shape
    hh, ww = -(-h // s) * s, -(-w // s) * s
    p = np.pad(a, ((0, hh - h), (0, ww - w)), mode="edge")
    blocks = p.reshape(hh // s, s, ww // s, s)
    return blocks.mean(axis=(1, 3)) if func == "mean" else np.median(blocks, axis=(1, 3))


def _upsample(small: np.ndarray, s: int, shape: tuple[int, int]) -> np.ndarray:
    full = resize(
        small,
        (small.shape[0] * s, small.shape[1] * s),
        order=1,
        mode="edge",
        anti_aliasing=False,
        preserve_range=True,
    )
    return np.ascontiguousarray(full[: shape[0], : shape[1]], dtype=np.float32)


def background_and_sigma(
    gray: np.ndarray,
    *,
    window_px: float,
    min_sigma: float,
    sigma_source: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Large-window median background and local robust noise sigma (same units as ``gray``).

    Computed on a block-averaged copy (block ``s`` px so that the window is
    about 25 blocks) and interpolated back to full resolution.
    """
    s = max(1, int(window_px // 25))
    small = _block_reduce(gray, s)
    k = max(3, int(round(window_px / s)) | 1)
    bg_small = ndimage.median_filter(small, size=k, mode="reflect")
    bg = _upsample(bg_small, s, gray.shape)
    resid = (gray if sigma_source is None else sigma_source) - bg
    return bg, robust_sigma(resid, window_px=window_px, min_sigma=min_sigma)


def robust_sigma(residual: np.ndarray, *, window_px: float, min_sigma: float) -> np.ndarray:
    """Local robust noise sigma of a residual: 1.4826 x median ``|residual|`` (same units).

    Median over a ``window_px`` window, computed on blocks (about 25 per
    window) and interpolated back; at least ``min_sigma``. With the residual
    to an edge-preserving background (:func:`surface_background`) a step
    between two surfaces does not count as noise.
    """
    s = max(1, int(window_px // 25))
    k = max(3, int(round(window_px / s)) | 1)
    dev = np.abs(residual)
    dev_small = _block_reduce(dev, s, "median") if s > 1 else dev
    sig_small = 1.4826 * ndimage.median_filter(dev_small, size=k, mode="reflect")
    sig = _upsample(sig_small.astype(np.float32), s, residual.shape)
    return np.maximum(sig, np.float32(min_sigma))


def brightness_sigma(
    coarse_sigma: np.ndarray,
    fine_sigma: np.ndarray,
    background: np.ndarray,
    *,
    floor_fraction: float,
    floor_contrast: float,
    step_ratio: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Noise sigma of the brightness channel: the fine estimate, bounded (units of the image).

    ``min(coarse, max(fine, w * floor_fraction * coarse, floor_contrast * |background|))``:
    never above the coarse (large-window) sigma, so nothing gets less
    sensitive than before; at most ``1 / floor_fraction`` times more
    sensitive, except at a surface step (below); and a residual must
    exceed ``threshold_sigma * floor_contrast`` of the local background
    level where the fine sigma is small (pavement joints and stains are
    that strong). Only the brightness channel uses it:
    on the opponent-colour channels a fine sigma turns paint and soil
    patches into candidates.

    ``w`` falls from 1 to 0 as ``coarse / fine`` rises from ``step_ratio[0]``
    to ``step_ratio[1]`` (``w = 1`` throughout when the second is not above
    the first). The coarse floor stands for clutter: on the Airbus sample's
    airfields the 90th percentile of ``coarse / fine`` is 3.4-7.6 per image.
    Far above that, the window straddles one surface step on otherwise
    smooth ground (a dark apron in light concrete), the coarse sigma
    measures the step, and only the contrast floor is left.
    """
    w: np.ndarray | float = 1.0
    lo, hi = step_ratio
    if hi > lo:
        ratio = coarse_sigma / np.maximum(fine_sigma, 1e-12)
        w = np.clip((hi - ratio) / (hi - lo), 0.0, 1.0)
    lower = np.maximum(w * floor_fraction * coarse_sigma, floor_contrast * np.abs(background))
    return np.minimum(coarse_sigma, np.maximum(fine_sigma, lower)).astype(np.float32)


def surface_background(
    channel: np.ndarray, *, gsd_m: float, max_area_m2: float, block_m: float = 1.0
) -> np.ndarray:
    """Edge-preserving background: area opening then area closing (max-tree attribute filters).

    Removes every bright and dark structure smaller than ``max_area_m2``
    (aircraft, vehicles and their shadows) while keeping the exact outlines of
    larger surfaces (aprons, asphalt patches, grass, soil), so objects next to
    a surface boundary are measured against their own surface. Computed on a
    ``block_m`` block-averaged copy (values quantised to 4096 levels) and
    interpolated back.
    """
    s = max(1, int(round(block_m / gsd_m)))
    small = _block_reduce(channel.astype(np.float32), s)
    lo, hi = float(small.min()), float(small.max())
    step = max(hi - lo, 1e-12) / 4095.0
    q = np.round((small - lo) / step).clip(0, 4095).astype(np.uint16)
    area = max(4, int(round(max_area_m2 / (gsd_m * s) ** 2)))
    filt = area_closing(area_opening(q, area), area).astype(np.float32) * step + lo
    return _upsample(filt, s, channel.shape)


def refine_background(
    image: np.ndarray,
    coarse_bg: np.ndarray,
    objects: np.ndarray,
    *,
    window_px: float,
    min_sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Second-pass background that follows surface boundaries (aprons, roads, soil).

    Pixels under ``objects`` (strong first-pass detections) are replaced by the
    coarse background, then a median with the *small* window ``window_px`` is
    taken, so the estimate adapts within about half a window of a surface
    edge while the objects themselves do not bias it. Returns
    ``(background, sigma)`` like :func:`background_and_sigma`.
    """
    filled = np.where(objects, coarse_bg, image).astype(np.float32)
    return background_and_sigma(filled, window_px=window_px, min_sigma=min_sigma)


def fill_small_holes(mask: np.ndarray, *, max_px: float | None) -> np.ndarray:
    """``mask`` with its holes of at most ``max_px`` pixels filled (every hole when ``None``)."""
    filled = ndimage.binary_fill_holes(mask)
    if max_px is None:
        return filled
    lab, n = ndimage.label(filled & ~mask)
    if n == 0:
        return filled
    small = np.bincount(lab.ravel(), minlength=n + 1) <= max_px
    small[0] = False  # label 0: not a hole
    return mask | small[lab]


def local_std(gray: np.ndarray, size: int) -> np.ndarray:
    """Local standard deviation in a ``size x size`` pixel window."""
    g = gray.astype(np.float64)
    m = ndimage.uniform_filter(g, size)
    m2 = ndimage.uniform_filter(g * g, size)
    return np.sqrt(np.maximum(m2 - m * m, 0.0)).astype(np.float32)


# --------------------------------------------------------------------------- measurement
def mirror_score(mask: np.ndarray, axis_deg: float, *, slack: np.ndarray | None = None) -> float:
    """Fraction of ``mask`` pixels whose mirror image about an axis through the centroid is in it.

    One pixel of slack is allowed (the mask is dilated once for the lookup).
    """
    rr, cc = np.nonzero(mask)
    if rr.size == 0:
        return 0.0
    r0, c0 = rr.mean(), cc.mean()
    pr, pc = rr - r0, cc - c0
    look = ndimage.binary_dilation(mask) if slack is None else slack
    h, w = mask.shape
    ar, ac = -math.cos(math.radians(axis_deg)), math.sin(math.radians(axis_deg))
    u = pr * ar + pc * ac
    mr = np.rint(2 * u * ar - pr + r0).astype(np.int64)
    mc = np.rint(2 * u * ac - pc + c0).astype(np.int64)
    ok = (mr >= 0) & (mr < h) & (mc >= 0) & (mc < w)
    hit = np.zeros(mr.shape, dtype=bool)
    hit[ok] = look[mr[ok], mc[ok]]
    return float(hit.mean())


def symmetry_axis(mask: np.ndarray, *, step_deg: float = 2.0) -> tuple[float, float]:
    """Axis (heading folded to ``[0, 180)``) about which ``mask`` is most mirror-symmetric.

    Returns ``(axis_deg, symmetry)`` where symmetry is :func:`mirror_score`
    at that axis (coarse search every ``step_deg``, then a 4x finer one).
    """
    if int(mask.sum()) < 3:
        return (0.0, 0.0)
    slack = ndimage.binary_dilation(mask)
    coarse = np.arange(0.0, 180.0, step_deg)
    scores = np.array([mirror_score(mask, float(d), slack=slack) for d in coarse])
    best = float(coarse[int(np.argmax(scores))])
    fine = np.arange(best - step_deg, best + step_deg + 1e-9, step_deg / 4)
    fscores = np.array([mirror_score(mask, float(d), slack=slack) for d in fine])
    i = int(np.argmax(fscores))
    return (float(fine[i]) % 180.0, float(fscores[i]))


def body_axis(mask: np.ndarray, *, step_deg: float = 2.0) -> tuple[float, float]:
    """Body axis of an object mask: its mirror-symmetry axis, the long one when doubly symmetric.

    Returns ``(axis_deg folded to [0, 180), symmetry)``. Rectangles (vehicles)
    are symmetric about both axes; then the axis along the longer extent wins.
    """
    axis, sym = symmetry_axis(mask, step_deg=step_deg)
    rr, cc = np.nonzero(mask)
    if rr.size < 3:
        return axis, sym
    th = math.radians(axis)
    u = rr * -math.cos(th) + cc * math.sin(th)
    v = rr * math.sin(th) + cc * math.cos(th)
    if np.ptp(v) > np.ptp(u) and mirror_score(mask, axis + 90.0) >= sym - 0.02:
        return (axis + 90.0) % 180.0, sym
    return axis, sym


def _end_extensions(
    coverage: np.ndarray,
    mask: np.ndarray,
    ar: float,
    ac: float,
    umin: float,
    umax: float,
    base: float,
) -> tuple[float, float]:
    """Sub-pixel extension of both axis ends from partial coverage beyond the mask."""
    rows, cols = np.nonzero(~mask & (coverage > 0))
    if rows.size == 0:
        return base, base
    u = (rows + 0.5) * ar + (cols + 0.5) * ac
    cov = coverage[rows, cols]
    out = []
    for sign, end in ((-1.0, umin), (1.0, umax)):
        d = sign * (u - end)
        ext = 0.0
        for k in (1, 2):
            sel = (d > k - 1) & (d <= k)
            c = float(cov[sel].max()) if sel.any() else 0.0
            if c <= 0.0:
                break
            ext += c
            if c < 0.5:
                break
        out.append(base + min(ext, 2.0))
    return out[0], out[1]


def measure_mask(
    mask: np.ndarray, axis_deg: float, *, coverage: np.ndarray | None = None
) -> tuple[tuple[float, float], float, float, float, tuple[float, ...], float, float]:
    """Measure a binary object along a body axis.

    Returns ``(center_rc, heading_deg, length_px, width_px, nose_profile,
    body_width_px, end_ratio)``. The heading is ``axis_deg`` or
    ``axis_deg + 180`` -- whichever end has the narrower last 15 % (the nose;
    the tail carries the tailplane).

    Pixel centres inside the mask span the object minus about half a pixel
    at each end (one pixel in all when the axis is aligned with the grid).
    With ``coverage`` (per-pixel object fraction in ``[0, 1]``), the length
    is extended at each end by the largest coverage found in the next two
    one-pixel bins beyond the mask, which recovers pointed tips (nose cones).
    """
    rr, cc = np.nonzero(mask)
    r = rr + 0.5
    c = cc + 0.5
    th = math.radians(axis_deg)
    ar, ac = -math.cos(th), math.sin(th)
    br, bc = ac, -ar
    u = r * ar + c * ac
    v = r * br + c * bc
    aligned = min(abs(math.cos(th)), abs(math.sin(th))) < 0.05
    pad = 1.0 if aligned else 0.5
    umin, umax = float(u.min()), float(u.max())
    vmin, vmax = float(v.min()), float(v.max())
    ext_lo = ext_hi = pad / 2.0
    if coverage is not None:
        ext_lo, ext_hi = _end_extensions(coverage, mask, ar, ac, umin, umax, pad / 2.0)
    length = umax - umin + ext_lo + ext_hi
    width = vmax - vmin + pad
    # width profile along the axis in one-pixel bins
    nb = max(2, int(math.ceil(umax - umin)) + 1)
    idx = np.clip((u - umin).astype(np.int64), 0, nb - 1)
    vlo = np.full(nb, np.inf)
    vhi = np.full(nb, -np.inf)
    np.minimum.at(vlo, idx, v)
    np.maximum.at(vhi, idx, v)
    prof = np.where(np.isfinite(vlo), vhi - vlo + 1.0, 0.0)
    k = max(1, int(round(0.15 * nb)))
    front = float(prof[-k:].max())  # end at +a (heading axis_deg)
    back = float(prof[:k].max())
    if front <= back:
        heading = axis_deg % 360.0
        nose = prof[::-1]
    else:
        heading = (axis_deg + 180.0) % 360.0
        nose = prof
    end_ratio = min(front, back) / max(front, back, 1e-9)
    seg = nose[int(0.15 * nb) : max(int(0.15 * nb) + 1, int(0.3 * nb))]
    # 90th percentile: the flat fuselage sides, robust to a shaded (darker) side
    body = float(np.percentile(seg, 90)) if len(seg) else float(prof.max())
    umin, umax = umin - ext_lo, umax + ext_hi
    uc, vc = (umin + umax) / 2.0, (vmin + vmax) / 2.0
    center = (uc * ar + vc * br, uc * ac + vc * bc)
    return center, heading, length, width, tuple(float(x) for x in nose[:80]), body, end_ratio


def _half_level_mask(comp: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Re-threshold an object at half its own contrast (unbiased edges for measurement).

    Pixels half covered by the object sit at about half its contrast; the
    detection threshold (a few sigma) would include pixels covered only a
    little and overestimate extents by up to a pixel. Every part of the
    re-thresholded mask that lies mostly (>= 50 %) inside ``comp`` and is at
    least 5 % of the largest part is kept: shading can split a wing or
    tailplane from the fuselage at half contrast, and the largest part alone
    loses it.
    """
    zc = z[comp]
    pol = 1.0 if float(np.mean(zc)) >= 0 else -1.0
    level = float(np.median(pol * zc))
    grown = ndimage.binary_dilation(comp, iterations=3)
    refined = grown & (pol * z > 0.5 * level)
    refined = ndimage.binary_closing(refined) | refined
    refined = ndimage.binary_fill_holes(refined)
    lab, n = ndimage.label(refined)
    if n == 0:
        return comp
    sizes = np.bincount(lab.ravel())[1:]
    inside = np.bincount(lab[comp].ravel(), minlength=n + 1)[1:]
    keep = np.nonzero((inside >= 0.5 * sizes) & (sizes >= 0.05 * sizes.max()))[0] + 1
    if keep.size == 0:
        return np.asarray(lab == int(np.argmax(sizes)) + 1)
    return np.isin(lab, keep)


def _candidates(
    obj: np.ndarray,
    ev: np.ndarray,
    *,
    min_area_px: float,
    max_extent_px: float,
    strong: float,
    join: int,
) -> list[tuple[tuple[slice, slice], np.ndarray]]:
    """Connected components of ``obj`` as ``(slice, mask)`` with 4 pixels of margin.

    A component larger than ``max_extent_px`` (objects merged with a surface
    edge or with each other) is split by keeping only its strong-evidence
    pixels (``ev > strong``) and relabelling.
    """
    rows, cols = obj.shape
    out: list[tuple[tuple[slice, slice], np.ndarray]] = []

    def pad(sl: tuple[slice, slice], r0: int = 0, c0: int = 0) -> tuple[slice, slice]:
        return (
            slice(max(0, r0 + sl[0].start - 4), min(rows, r0 + sl[0].stop + 4)),
            slice(max(0, c0 + sl[1].start - 4), min(cols, c0 + sl[1].stop + 4)),
        )

    lab, _ = ndimage.label(obj)
    for i, sl0 in enumerate(ndimage.find_objects(lab), start=1):
        if sl0 is None:
            continue
        ext = max(sl0[0].stop - sl0[0].start, sl0[1].stop - sl0[1].start)
        if ext <= max_extent_px:
            sl = pad(sl0)
            comp = lab[sl] == i
            if comp.sum() >= min_area_px:
                out.append((sl, comp))
            continue
        core = (lab[sl0] == i) & (ev[sl0] > strong)
        core = ndimage.binary_opening(core)
        core = ndimage.binary_closing(core, iterations=join) | core
        sub, _ = ndimage.label(core)
        for j, s1 in enumerate(ndimage.find_objects(sub), start=1):
            if s1 is None:
                continue
            if max(s1[0].stop - s1[0].start, s1[1].stop - s1[1].start) > max_extent_px:
                continue
            sl = pad(s1, sl0[0].start, sl0[1].start)
            full = np.zeros(obj.shape, dtype=bool)
            full[sl0][sub == j] = True
            comp = full[sl]
            if comp.sum() >= min_area_px:
                out.append((sl, comp))
    return out


def _annulus_fraction(
    mask: np.ndarray, exclude: np.ndarray, sl: tuple[slice, slice], m_in: int, m_out: int
) -> float:
    """Share of ``mask`` in a box annulus ``m_in..m_out`` px around ``sl``, minus ``exclude``."""
    rows, cols = mask.shape
    r0, r1 = max(0, sl[0].start - m_out), min(rows, sl[0].stop + m_out)
    c0, c1 = max(0, sl[1].start - m_out), min(cols, sl[1].stop + m_out)
    sel = np.ones((r1 - r0, c1 - c0), dtype=bool)
    ir0, ir1 = max(0, sl[0].start - m_in - r0), min(r1 - r0, sl[0].stop + m_in - r0)
    ic0, ic1 = max(0, sl[1].start - m_in - c0), min(c1 - c0, sl[1].stop + m_in - c0)
    sel[ir0:ir1, ic0:ic1] = False
    sel &= ~exclude[r0:r1, c0:c1]
    return float(mask[r0:r1, c0:c1][sel].mean()) if sel.any() else 0.0


# --------------------------------------------------------------------------- shadows
def shadow_mask(
    bright: np.ndarray,
    dark: np.ndarray,
    dlab: np.ndarray,
    nd: int,
    *,
    gsd_m: float,
    sun_azimuth_deg: float | None,
    sun_elevation_deg: float | None = None,
    max_height_m: float = 21.0,
) -> np.ndarray:
    """Dark components that are shadows of bright objects.

    With a known sun, the bright mask is smeared away from the sun (along
    azimuth + 180 degrees) by up to ``max_height_m / tan(elevation)`` metres;
    a dark component at least half covered by the smear is shadow, and so is
    every dark pixel under the smear. With an
    unknown sun a dark component touching a bright one is shadow.
    """
    shadow = np.zeros_like(dark)
    if not nd or not bright.any():
        return shadow
    if sun_azimuth_deg is None:
        near = ndimage.binary_dilation(bright, iterations=2)
        touching = np.unique(dlab[near & dark])
        touching = touching[touching > 0]
        return np.isin(dlab, touching)
    elev = sun_elevation_deg if sun_elevation_deg is not None else 30.0
    elev = min(max(elev, 10.0), 89.0)
    reach_px = max(2.0, max_height_m / math.tan(math.radians(elev)) / gsd_m + 2.0)
    s = math.radians(sun_azimuth_deg)
    dr, dc = math.cos(s), -math.sin(s)  # away from the sun
    smear = bright.copy()
    rows, cols = bright.shape
    for t in range(1, int(math.ceil(reach_px)) + 1):
        orr, occ = int(round(t * dr)), int(round(t * dc))
        src = bright[max(0, -orr) : rows - max(0, orr), max(0, -occ) : cols - max(0, occ)]
        smear[
            max(0, orr) : rows - max(0, -orr) if orr < 0 else rows,
            max(0, occ) : cols - max(0, -occ) if occ < 0 else cols,
        ] |= src
    covered = ndimage.sum(smear & dark, dlab, index=np.arange(1, nd + 1))
    sizes = ndimage.sum(dark, dlab, index=np.arange(1, nd + 1))
    ids = np.nonzero(np.asarray(covered) >= 0.5 * np.asarray(sizes))[0] + 1
    return np.isin(dlab, ids) | (dark & smear)


# --------------------------------------------------------------------------- detector core
@dataclass(frozen=True)
class Evidence:
    """Per-pixel evidence maps of one image (all ``(rows, cols)``).

    ``z`` is the brightness residual over the local background in units of the
    local noise sigma (signed); ``zc`` the largest opponent-colour residual
    (unsigned, sigma units); ``dark`` strong dark pixels (shadow-like, isolated
    one-pixel lines removed), ``bright`` object pixels brighter than the ground or
    coloured unlike it; ``paved`` smooth neutral ground; ``natural`` soil- or
    vegetation-coloured pixels; ``tex_size`` the texture window in pixels.
    """

    gray: np.ndarray
    z: np.ndarray
    zc: np.ndarray
    dark: np.ndarray
    bright: np.ndarray
    paved: np.ndarray
    natural: np.ndarray
    tex_size: int


def evidence(
    image: np.ndarray,
    *,
    gsd_m: float,
    valid: np.ndarray | None = None,
    params: MeasureParams | None = None,
) -> Evidence:
    """Background, noise and object evidence of an image (steps 1-3 of the module docstring).

    ``gsd_m`` is the ground sample distance in metres per pixel (> 0).
    """
    p = params or MeasureParams()
    if not gsd_m or gsd_m <= 0 or not math.isfinite(gsd_m):
        raise ValueError(f"gsd_m must be a positive number of metres, got {gsd_m!r}")
    gray = to_gray(image, valid)
    lo, hi = np.percentile(gray, [1, 99]) if gray.size else (0.0, 1.0)
    span = float(hi - lo) or 1.0
    window_px = p.background_window_m / gsd_m
    min_sigma = p.min_sigma_fraction * span
    chans = [gray, *opponent_channels(image, valid)]
    first = [background_and_sigma(c, window_px=window_px, min_sigma=min_sigma) for c in chans]
    if p.surface_area_m2 > 0:
        first = [
            (
                surface_background(
                    c,
                    gsd_m=gsd_m,
                    max_area_m2=p.surface_area_m2,
                    block_m=p.surface_block_m * (1 if i == 0 else 2),
                ),
                sg,
            )
            for i, (c, (_, sg)) in enumerate(zip(chans, first, strict=True))
        ]
        if p.sigma_floor_fraction < 1.0:
            b0, coarse0 = first[0]
            fine0 = robust_sigma(gray - b0, window_px=window_px, min_sigma=min_sigma)
            first[0] = (
                b0,
                brightness_sigma(
                    coarse0,
                    fine0,
                    b0,
                    floor_fraction=p.sigma_floor_fraction,
                    floor_contrast=p.sigma_floor_contrast,
                    step_ratio=p.sigma_step_ratio,
                ),
            )
    if p.surface_window_m > 0:
        # pass 2: mask strong compact evidence, re-estimate with a small window
        ev1 = np.max([np.abs(c - b) / sg for c, (b, sg) in zip(chans, first, strict=True)], axis=0)
        strong = ndimage.binary_dilation(
            ev1 > p.seed_sigma, iterations=max(1, int(round(3.0 / gsd_m)))
        )
        small_px = p.surface_window_m / gsd_m
        first = [
            refine_background(c, b, strong, window_px=small_px, min_sigma=min_sigma)
            for c, (b, _) in zip(chans, first, strict=True)
        ]
    bg, sigma = first[0]
    z = (gray - bg) / sigma
    # colour contrast: opponent channels (red - blue, green - magenta), each in its own sigma
    zc = np.zeros_like(z)
    neutral = np.ones_like(z, dtype=bool)
    natural = np.zeros_like(z, dtype=bool)
    if len(chans) == 3:
        g_pos = np.maximum(gray, 1e-6)
        natural = (chans[1] > p.natural_rb * g_pos) | (chans[2] > p.natural_g * g_pos)
    for ch, (cbg, csig) in zip(chans[1:], first[1:], strict=True):
        zc = np.maximum(zc, np.abs(ch - cbg) / csig)
        # paved ground is not reddish/brown (soil) nor green (vegetation); bluish is fine
        # (asphalt under haze and sensor offsets)
        neutral &= ch <= p.neutral_chroma * np.maximum(gray, 1e-6)
    ratio = gray / np.maximum(bg, 1e-6)
    dark = (z < -p.threshold_sigma) & (ratio < p.shadow_ratio)
    mid_dark = (z < -p.threshold_sigma) & ~dark
    if valid is not None:
        dark &= valid
        mid_dark &= valid
    # thin dark lines (pavement joints, markings' edges) would chain objects together
    dark = ndimage.binary_opening(dark)
    bright = ((z > p.threshold_sigma) | (zc > p.threshold_sigma)) & ~dark
    if valid is not None:
        bright &= valid
    bright |= ndimage.binary_opening(mid_dark)
    tex_size = max(3, int(round(p.texture_window_m / gsd_m)) | 1)
    tex = local_std(gray, tex_size)
    paved = (tex < float(np.percentile(tex, 95)) + 1e-6) & neutral

    return Evidence(gray, z, zc, dark, bright, paved, natural, tex_size)


def find_objects(
    image: np.ndarray,
    *,
    gsd_m: float,
    valid: np.ndarray | None = None,
    sun_azimuth_deg: float | None = None,
    sun_elevation_deg: float | None = None,
    params: MeasureParams | None = None,
    ev_maps: Evidence | None = None,
) -> list[Blob]:
    """Find and measure bright/dark objects on smooth ground.

    Parameters
    ----------
    image : ndarray
        ``(bands, rows, cols)`` or ``(rows, cols)`` pixels, any real dtype.
    gsd_m : float
        Ground sample distance, metres per pixel (> 0).
    valid : ndarray of bool, optional
        ``(rows, cols)`` True where pixels are valid.
    sun_azimuth_deg : float, optional
        Sun azimuth clockwise from north; ``None`` when unknown.
    sun_elevation_deg : float, optional
        Sun elevation above the horizon; bounds the shadow length.
    params : MeasureParams, optional
    ev_maps : Evidence, optional
        Precomputed :func:`evidence` of this image with these ``params``.

    Returns
    -------
    list of Blob
        Measured candidates in pixel units, in image order.
    """
    p = params or MeasureParams()
    if not gsd_m or gsd_m <= 0 or not math.isfinite(gsd_m):
        raise ValueError(f"gsd_m must be a positive number of metres, got {gsd_m!r}")
    e = ev_maps or evidence(image, gsd_m=gsd_m, valid=valid, params=p)
    gray, z, zc, dark, bright = e.gray, e.z, e.zc, e.dark, e.bright
    paved, natural, tex_size = e.paved, e.natural, e.tex_size
    rows, cols = gray.shape
    dlab, nd = ndimage.label(dark)
    shadow = shadow_mask(
        bright,
        dark,
        dlab,
        nd,
        gsd_m=gsd_m,
        sun_azimuth_deg=sun_azimuth_deg,
        max_height_m=p.max_shadow_height_m,
        sun_elevation_deg=sun_elevation_deg,
    )
    # evidence for the object itself (unsigned), shadows zeroed
    ev = np.where(shadow, 0.0, np.maximum(np.abs(z), zc)).astype(np.float32)
    obj = bright | (dark & ~shadow)
    join = max(1, int(round(p.join_m / gsd_m)))
    if p.seed_sigma > 0:
        # hysteresis: keep weak evidence only within seed_reach_m of strong evidence, so
        # long low-contrast surface edges do not chain objects together
        seeds = obj & (ev > p.seed_sigma)
        reach = max(1, int(round(p.seed_reach_m / gsd_m)))
        obj &= ndimage.binary_dilation(seeds, iterations=reach)
    obj = ndimage.binary_closing(obj, iterations=join) | obj
    # fill holes inside objects, not surfaces ringed by edge residuals (a dark apron in concrete)
    obj = fill_small_holes(obj, max_px=p.max_hole_m2 / gsd_m**2 if p.max_hole_m2 > 0 else None)
    obj &= ~shadow
    blobs: list[Blob] = []
    min_area_px = p.min_area_m2 / gsd_m**2
    max_len_px = p.max_length_m / gsd_m
    edge = np.zeros((rows, cols), dtype=bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    if valid is not None:
        edge |= ndimage.binary_dilation(~valid)
    others = obj | dark
    margin_in = tex_size // 2 + 2
    margin_out = margin_in + max(3, int(round(8.0 / gsd_m)))
    split_px = p.split_extent_m / gsd_m
    for sl, comp in _candidates(
        obj,
        ev,
        min_area_px=min_area_px,
        max_extent_px=split_px,
        strong=2.0 * p.threshold_sigma,
        join=join,
    ):
        # pixels of the opposite polarity (shadow edges beside a bright object) are not object
        pol_c = 1.0 if float(np.mean(z[sl][comp])) >= 0 else -1.0
        ev_sl = np.where(pol_c * z[sl] < -p.threshold_sigma, 0.0, ev[sl])
        comp = _half_level_mask(comp, ev_sl)
        area = int(comp.sum())
        axis, sym = body_axis(comp, step_deg=p.angle_step_deg)
        lvl = max(float(np.median(ev_sl[comp])), 1e-6)
        cov = np.clip(ev_sl / lvl, 0.0, 1.0) * ndimage.binary_dilation(comp, iterations=3)

        center, heading, length, width, nose, body, endr = measure_mask(comp, axis, coverage=cov)
        if length * gsd_m < p.min_length_m or length > max_len_px:
            continue
        fill = area / max(length * width, 1.0)
        if fill > p.max_fill:
            continue
        zc_comp = z[sl][comp]
        pol = 1 if float(np.mean(zc_comp)) >= 0 else -1
        g0r, g0c = sl[0].start, sl[1].start
        paved_frac = _annulus_fraction(paved, others, sl, margin_in, margin_out)
        if paved_frac < p.min_paved_fraction:
            continue
        blobs.append(
            Blob(
                center_rc=(center[0] + g0r, center[1] + g0c),
                axis_heading_deg=heading,
                length_px=length,
                width_px=width,
                area_px=area,
                symmetry=sym,
                fill=fill,
                contrast=float(np.mean(ev_sl[comp])),
                polarity=pol,
                paved_fraction=paved_frac,
                touches_edge=bool(edge[sl][comp].any()),
                shadow_px=int(shadow[sl].sum()),
                nose_profile=nose,
                body_width_px=body,
                end_ratio=endr,
                natural_fraction=float(natural[sl][comp].mean()),
            )
        )
    return blobs


def blob_heading_vector(blob: Blob) -> tuple[float, float]:
    """Unit ``(drow, dcol)`` of a blob's nose direction."""
    h = math.radians(blob.axis_heading_deg)
    return (-math.cos(h), math.sin(h))


__all__ = [
    "Blob",
    "MeasureParams",
    "background_and_sigma",
    "blob_heading_vector",
    "body_axis",
    "find_objects",
    "measure_mask",
    "mirror_score",
    "symmetry_axis",
    "to_gray",
    "vector_heading",
]
