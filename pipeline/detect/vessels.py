"""Vessel detection on water (training-free, pure functions over arrays).

Steps (brightness = mean of the first three bands; all sizes in metres via the GSD):

1. **Water** -- pixels whose water index (:func:`water_index`: NDWI with a
   NIR band, else blue-red contrast), averaged over ``texture_m``, exceeds
   ``min_index`` and whose brightness is within ``dark_fraction`` of the way
   from the typical water-candidate brightness to the land's, opened by
   ``water_open_m`` (removes narrow strips) and kept only as connected
   regions of at least ``min_water_m2``. Shadows lying on water (darker than
   its 10th percentile and connected to it) join it.
2. **Segments** -- non-water pixels within ``max_beam_m`` of water that are
   enclosed by water and strong colour edges (Sobel magnitude of each band,
   relative to the tile's brightness range) -- a hull against a quay -- and
   not connected to the image border; internal edges (deck, superstructure)
   are bridged by a 2-pixel closing. Pixels (value = largest colour band) darker than
   ``shade_fraction`` of the way from the water's to the land's median brightness (shadows on
   quays) are excluded and count as water for the contact test.
3. **Shape** -- a segment is a vessel when it is elongated and compact:
   length ``min_length_m``..``max_length_m`` along its principal axis, beam
   ``min_beam_m``..``max_beam_m``, length/beam >= ``min_aspect``, fill of the
   oriented rectangle >= ``min_fill``, and at least ``min_water_contact`` of
   its outline bordering water (or shadow).
4. **Type** -- :func:`pipeline.detect.classify.classify_dims` against the
   ``vessel`` rows of the object table (length and beam); generic ``vessel``
   when no row fits.

Headings are the bow/stern axis folded to ``[0, 180)`` degrees clockwise from
grid north (bow and stern are not told apart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.detect.geometry import Ring, oriented_rect
from pipeline.detect.measure import to_gray


@dataclass(frozen=True)
class VesselParams:
    """Parameters of :func:`find_vessels` (metres unless stated)."""

    texture_m: float = 4.0
    min_index: float = 0.06
    dark_fraction: float = 0.25
    water_open_m: float = 6.0
    min_water_m2: float = 20000.0
    edge_fraction: float = 0.08
    min_length_m: float = 20.0
    max_length_m: float = 300.0
    min_beam_m: float = 4.0
    max_beam_m: float = 45.0
    min_aspect: float = 3.0
    min_fill: float = 0.6
    min_water_contact: float = 0.3
    shade_fraction: float = 0.35


@dataclass(frozen=True)
class VesselBlob:
    """One vessel candidate: centre ``(row, col)`` px, axis heading, length/beam px."""

    center_rc: tuple[float, float]
    axis_heading_deg: float
    length_px: float
    beam_px: float
    fill: float
    water_contact: float

    @property
    def footprint_px(self) -> Ring:
        """Closed oriented-rectangle ring ``(row, col)``."""
        return oriented_rect(self.center_rc, self.length_px, self.beam_px, self.axis_heading_deg)


def _disk(radius_px: int) -> np.ndarray:
    r = max(1, radius_px)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return np.asarray(x * x + y * y <= r * r)


def water_index(image: np.ndarray) -> np.ndarray:
    """Per-pixel water index in ``[-1, 1]`` (float32), bands ordered red, green, blue[, nir].

    With a near-infrared band: NDWI ``(green - nir) / (green + nir)`` (water
    absorbs NIR). With three bands: ``(blue - red) / (blue + red)``. Fewer
    bands: zeros (no water can be told from brightness alone).
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[0] < 3:
        shape = arr.shape[-2:]
        return np.zeros(shape, dtype=np.float32)
    a, b = (arr[1], arr[3]) if arr.shape[0] >= 4 else (arr[2], arr[0])
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    return np.asarray((a - b) / np.maximum(a + b, 1e-6), dtype=np.float32)


def water_mask(
    image: np.ndarray,
    *,
    gsd_m: float,
    valid: np.ndarray | None = None,
    params: VesselParams | None = None,
) -> np.ndarray:
    """Boolean ``(rows, cols)`` mask of large, dark, smooth regions (open water)."""
    p = params or VesselParams()
    idx = water_index(image)
    k = max(3, int(round(p.texture_m / gsd_m)) | 1)
    idx = ndimage.uniform_filter(idx, k)
    gray = ndimage.uniform_filter(to_gray(image, valid), k)
    # water is darker than the tile's bright land; its index is clearly positive
    cand = idx > p.min_index
    if not cand.any() or cand.all():
        return np.zeros(idx.shape, dtype=bool)
    # water is also dark: nearer the candidates' typical brightness than the land's
    wg, lg = float(np.median(gray[cand])), float(np.median(gray[~cand]))
    dark = cand & (gray < wg + p.dark_fraction * (lg - wg))
    if valid is not None:
        dark &= valid
    # a few pixels of texture (waves, noise) should not punch holes
    dark = ndimage.binary_closing(dark, iterations=2) | dark
    dark = ndimage.binary_opening(dark, structure=_disk(int(round(p.water_open_m / 2 / gsd_m))))
    lab, n = ndimage.label(dark)
    if n == 0:
        return dark
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    keep = np.nonzero(sizes * gsd_m**2 >= p.min_water_m2)[0]
    water = np.isin(lab, keep)
    if water.any():
        # shadows cast on water are darker than it: grow the water into them
        raw = to_gray(image, valid)
        shade = raw < float(np.percentile(raw[water], 10))
        grown = ndimage.binary_propagation(water, mask=shade | water)
        water = ndimage.binary_opening(grown) | water
    return water


def _edges(image: np.ndarray, valid: np.ndarray | None, fraction: float) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    mag = np.zeros(arr.shape[1:], dtype=np.float32)
    for b in range(min(3, arr.shape[0])):
        band = ndimage.gaussian_filter(arr[b].astype(np.float32), 0.7)
        lo, hi = np.percentile(band, [1, 99])
        span = float(hi - lo) or 1.0
        g = np.hypot(ndimage.sobel(band, 0), ndimage.sobel(band, 1)) / (4.0 * span)
        mag = np.maximum(mag, g)
    out = mag > fraction
    if valid is not None:
        out |= ~valid
    return out


def _measure(mask: np.ndarray) -> tuple[tuple[float, float], float, float, float]:
    """Principal-axis centre, heading (folded to [0, 180)), length and width in px."""
    rr, cc = np.nonzero(mask)
    r, c = rr + 0.5, cc + 0.5
    cov = np.cov(np.vstack([r - r.mean(), c - c.mean()]))
    w, v = np.linalg.eigh(cov)
    dr, dc = v[:, int(np.argmax(w))]
    heading = math.degrees(math.atan2(dc, -dr)) % 180.0
    th = math.radians(heading)
    ar, ac = -math.cos(th), math.sin(th)
    br, bc = ac, -ar
    u = r * ar + c * ac
    q = r * br + c * bc
    umin, umax, qmin, qmax = float(u.min()), float(u.max()), float(q.min()), float(q.max())
    length, width = umax - umin + 1.0, qmax - qmin + 1.0
    uc, qc = (umin + umax) / 2.0, (qmin + qmax) / 2.0
    return (uc * ar + qc * br, uc * ac + qc * bc), heading, length, width


def find_vessels(
    image: np.ndarray,
    *,
    gsd_m: float,
    valid: np.ndarray | None = None,
    params: VesselParams | None = None,
    water: np.ndarray | None = None,
) -> list[VesselBlob]:
    """Find elongated compact objects on or beside open water.

    Parameters
    ----------
    image : ndarray
        ``(bands, rows, cols)`` or ``(rows, cols)`` pixels, any real dtype.
    gsd_m : float
        Ground sample distance, metres per pixel (> 0).
    valid : ndarray of bool, optional
        True where pixels are valid.
    params : VesselParams, optional
    water : ndarray of bool, optional
        Precomputed :func:`water_mask` of the same image and parameters.

    Returns
    -------
    list of VesselBlob
        Empty when the tile has no open water.
    """
    p = params or VesselParams()
    if not gsd_m or gsd_m <= 0 or not math.isfinite(gsd_m):
        raise ValueError(f"gsd_m must be a positive number of metres, got {gsd_m!r}")
    if water is None:
        water = water_mask(image, gsd_m=gsd_m, valid=valid, params=p)
    if not water.any():
        return []
    near = ~water & (ndimage.distance_transform_edt(~water) * gsd_m <= p.max_beam_m)
    edges = _edges(image, valid, p.edge_fraction)
    # regions enclosed by water and colour edges (a hull against a quay), not reaching the border
    barrier = water | edges
    holes = ndimage.binary_fill_holes(barrier) & ~water & near
    # shadows cast on quays and decks are nearly as dark as water
    # brightness as the largest colour band (a saturated red hull is not dark)
    arr = np.asarray(image)
    gray = (arr[:3].max(axis=0) if arr.ndim == 3 else arr).astype(np.float32)
    wg, lg = float(np.median(gray[water])), float(np.median(gray[~water]))
    shade = ~water & (ndimage.uniform_filter(gray, 3) <= wg + p.shade_fraction * (lg - wg))
    holes &= ~shade
    wet = water | shade
    # bridge the internal edges of one vessel (deck, superstructure)
    holes = ndimage.binary_opening(holes, iterations=2)
    seg = ndimage.binary_closing(holes, iterations=2) & ~water
    lab, _ = ndimage.label(seg)
    rows, cols = water.shape
    out: list[VesselBlob] = []
    min_area_px = p.min_length_m * p.min_beam_m * p.min_fill / gsd_m**2
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        ext = max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) * gsd_m
        if ext < p.min_length_m * 0.7 or ext > p.max_length_m * 1.1:
            continue
        pad = (
            slice(max(0, sl[0].start - 2), min(rows, sl[0].stop + 2)),
            slice(max(0, sl[1].start - 2), min(cols, sl[1].stop + 2)),
        )
        comp = ndimage.binary_fill_holes(lab[pad] == i)
        # the edge pixels themselves belong to the hull: grow by one pixel inside non-water
        comp = (ndimage.binary_dilation(comp) & ~water[pad]) | comp
        area = int(comp.sum())
        if area < min_area_px:
            continue
        center, heading, length, width = _measure(comp)
        length_m, beam_m = length * gsd_m, width * gsd_m
        if not (p.min_length_m <= length_m <= p.max_length_m):
            continue
        if not (p.min_beam_m <= beam_m <= p.max_beam_m) or length / width < p.min_aspect:
            continue
        fill = area / (length * width)
        if fill < p.min_fill:
            continue
        ring = comp & ~ndimage.binary_erosion(comp)
        border = ndimage.binary_dilation(comp) & ~comp
        contact = float(wet[pad][border].mean()) if border.any() else 0.0
        if contact < p.min_water_contact or not ring.any():
            continue
        out.append(
            VesselBlob(
                center_rc=(center[0] + pad[0].start, center[1] + pad[1].start),
                axis_heading_deg=heading,
                length_px=length,
                beam_px=width,
                fill=fill,
                water_contact=contact,
            )
        )
    return out


__all__ = ["VesselBlob", "VesselParams", "find_vessels", "water_index", "water_mask"]
