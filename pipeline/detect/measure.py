"""Measurement-based object detector: no training data, no weights.

Steps, all on one single-band brightness image (mean of the first three bands):

1. **Background** — a large-window median (window ``background_window_m``,
   about twice the largest aircraft) computed on a block-averaged copy and
   interpolated back; the residual ``image - background`` is a top-hat for
   bright *and* dark objects.
2. **Noise / texture** — a local robust sigma (1.4826 x median of
   ``|residual|`` over the same window) normalises the residual, so smooth
   paved surfaces (aprons, taxiways) are sensitive and textured ground
   (grass, buildings) is not. The paved mask is where the fine-scale local
   standard deviation (window ``texture_window_m``) is low.
3. **Candidates** — pixels with ``|residual| > threshold_sigma * sigma``,
   split into bright and dark components.
4. **Shadows** — with a known sun (tile ``sun_azimuth_deg``), shadows lie
   *away* from the sun azimuth: a dark component touching a bright one and
   displaced from it along the anti-sun direction is shadow and is removed.
   With an unknown sun (e.g. plain JPEGs) every dark component touching a
   bright one is treated as shadow.
5. **Measurement** — each remaining object (bright and non-shadow dark parts
   joined by a closing of ``join_m``) is measured along its axis of mirror
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
    min_paved_fraction: float = 0.0
    angle_step_deg: float = 2.0
    max_shadow_height_m: float = 21.0


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
    ``body_width_px`` the median fuselage width; ``touches_edge`` when the
    object reaches the image border or invalid pixels.
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
    gray: np.ndarray, *, window_px: float, min_sigma: float
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
    resid = gray - bg
    dev_small = _block_reduce(np.abs(resid), s, "median") if s > 1 else np.abs(resid)
    sig_small = 1.4826 * ndimage.median_filter(dev_small, size=k, mode="reflect")
    sig = _upsample(sig_small.astype(np.float32), s, gray.shape)
    return bg, np.maximum(sig, np.float32(min_sigma))


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
    body = float(np.median(seg)) if len(seg) else float(prof.max())
    umin, umax = umin - ext_lo, umax + ext_hi
    uc, vc = (umin + umax) / 2.0, (vmin + vmax) / 2.0
    center = (uc * ar + vc * br, uc * ac + vc * bc)
    return center, heading, length, width, tuple(float(x) for x in nose[:80]), body, end_ratio


def _half_level_mask(comp: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Re-threshold an object at half its own contrast (unbiased edges for measurement).

    Pixels half covered by the object sit at about half its contrast; the
    detection threshold (a few sigma) would include pixels covered only a
    little and overestimate extents by up to a pixel.
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
    return np.asarray(lab == int(np.argmax(sizes)) + 1)


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
    a dark component at least half covered by the smear is shadow. With an
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
    return np.isin(dlab, ids)


# --------------------------------------------------------------------------- detector core
def find_objects(
    image: np.ndarray,
    *,
    gsd_m: float,
    valid: np.ndarray | None = None,
    sun_azimuth_deg: float | None = None,
    sun_elevation_deg: float | None = None,
    params: MeasureParams | None = None,
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

    Returns
    -------
    list of Blob
        Measured candidates in pixel units, in image order.
    """
    p = params or MeasureParams()
    if not gsd_m or gsd_m <= 0 or not math.isfinite(gsd_m):
        raise ValueError(f"gsd_m must be a positive number of metres, got {gsd_m!r}")
    gray = to_gray(image, valid)
    rows, cols = gray.shape
    lo, hi = np.percentile(gray, [1, 99]) if gray.size else (0.0, 1.0)
    span = float(hi - lo) or 1.0
    window_px = p.background_window_m / gsd_m
    bg, sigma = background_and_sigma(
        gray, window_px=window_px, min_sigma=p.min_sigma_fraction * span
    )
    z = (gray - bg) / sigma
    bright = z > p.threshold_sigma
    dark = z < -p.threshold_sigma
    if valid is not None:
        bright &= valid
        dark &= valid
    open_r = 1 if 1.0 / gsd_m >= 1.5 else 0
    if open_r:
        bright = ndimage.binary_opening(bright)
        dark = ndimage.binary_opening(dark)
    tex_size = max(3, int(round(p.texture_window_m / gsd_m)) | 1)
    tex = local_std(gray, tex_size)
    paved = tex < 3.0 * float(np.median(tex)) + 1e-6

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
    obj = bright | (dark & ~shadow)
    join = max(1, int(round(p.join_m / gsd_m)))
    obj = ndimage.binary_closing(obj, iterations=join) | obj
    obj = ndimage.binary_fill_holes(obj)
    lab, n = ndimage.label(obj)
    blobs: list[Blob] = []
    min_area_px = p.min_area_m2 / gsd_m**2
    max_len_px = p.max_length_m / gsd_m
    edge = np.zeros((rows, cols), dtype=bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    if valid is not None:
        edge |= ndimage.binary_dilation(~valid)
    for i, sl0 in enumerate(ndimage.find_objects(lab), start=1):
        if sl0 is None:
            continue
        sl = (
            slice(max(0, sl0[0].start - 4), min(rows, sl0[0].stop + 4)),
            slice(max(0, sl0[1].start - 4), min(cols, sl0[1].stop + 4)),
        )
        comp = lab[sl] == i
        area = int(comp.sum())
        if area < min_area_px:
            continue
        ext = max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
        if ext > 1.5 * max_len_px:
            continue
        comp = _half_level_mask(comp, z[sl])
        area = int(comp.sum())
        axis, sym = symmetry_axis(comp, step_deg=p.angle_step_deg)
        zc_all = z[sl]
        polv = 1.0 if float(np.mean(zc_all[comp])) >= 0 else -1.0
        lvl = max(float(np.median(polv * zc_all[comp])), 1e-6)
        cov = np.clip(polv * zc_all / lvl, 0.0, 1.0) * ndimage.binary_dilation(comp, iterations=3)
        center, heading, length, width, nose, body, endr = measure_mask(comp, axis, coverage=cov)
        if width > length and mirror_score(comp, axis + 90.0) >= sym - 0.02:
            # doubly symmetric (e.g. a vehicle): the body axis is the long one
            axis = (axis + 90.0) % 180.0
            center, heading, length, width, nose, body, endr = measure_mask(
                comp, axis, coverage=cov
            )
        if length * gsd_m < p.min_length_m or length > max_len_px:
            continue
        fill = area / max(length * width, 1.0)
        if fill > p.max_fill:
            continue
        zc = z[sl][comp]
        pol = 1 if float(np.mean(zc)) >= 0 else -1
        g0r, g0c = sl[0].start, sl[1].start
        ring_sl = (
            slice(max(0, g0r - 4), min(rows, sl[0].stop + 4)),
            slice(max(0, g0c - 4), min(cols, sl[1].stop + 4)),
        )
        around = ~(lab[ring_sl] == i)
        paved_frac = float(paved[ring_sl][around].mean()) if around.any() else 0.0
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
                contrast=float(np.mean(np.abs(zc))),
                polarity=pol,
                paved_fraction=paved_frac,
                touches_edge=bool(edge[sl][comp].any()),
                shadow_px=int(shadow[sl].sum()),
                nose_profile=nose,
                body_width_px=body,
                end_ratio=endr,
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
    "find_objects",
    "measure_mask",
    "mirror_score",
    "symmetry_axis",
    "to_gray",
    "vector_heading",
]
