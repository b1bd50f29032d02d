"""Chip features for the learned refinement (pure functions).

For one object (an oriented footprint ring on a tile) the feature vector is:

* ``hog`` -- HOG (9 orientations, 8x8-pixel cells, 2x2 blocks) of a 32x32
  chip resampled from the footprint rectangle enlarged by 20 %, aligned with
  the body axis and normalised to zero median / unit robust spread. The HOG of
  the chip and of its three mirror/180-degree flips are summed, so the
  features do not depend on which end is the nose or on left/right.
* ``dims`` -- measured length and span (metres), their ratio, the GSD, and
  the blob's symmetry, fill, contrast and the nose-end / tail-end bluntness.
* ``type_loglik`` -- for every aircraft/helicopter/vehicle row of the type
  table, ``-chi2/2`` of the measured dimensions (see
  :func:`pipeline.detect.classify.type_chi2`), clipped at -50.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.feature import hog

from pipeline.detect.classify import DEFAULT_CATEGORIES, type_chi2
from pipeline.detect.geometry import ring_dims
from pipeline.detect.measure import Blob, to_gray
from pipeline.detect.nose import nose_width_ratio
from pipeline.objects import object_types

CHIP = 32


def type_names() -> list[str]:
    """Reference types used as likelihood features, in table order."""
    return [t.name for t in object_types().values() if t.category in DEFAULT_CATEGORIES]


def feature_names() -> list[str]:
    """Names of the columns of :func:`object_features`."""
    n_hog = len(_hog(np.zeros((CHIP, CHIP))))
    dims = [
        "length_m",
        "span_m",
        "ratio",
        "gsd_m",
        "symmetry",
        "fill",
        "contrast",
        "nose_blunt",
        "tail_blunt",
    ]
    return [f"hog{i}" for i in range(n_hog)] + dims + [f"ll:{n}" for n in type_names()]


def _hog(chip: np.ndarray) -> np.ndarray:
    return np.asarray(
        hog(
            chip,
            orientations=9,
            pixels_per_cell=(8, 8),
            cells_per_block=(2, 2),
            feature_vector=True,
        ),
        dtype=np.float64,
    )


def oriented_chip(
    gray: np.ndarray,
    center_rc: tuple[float, float],
    length_px: float,
    width_px: float,
    axis_deg: float,
    *,
    size: int = CHIP,
    margin: float = 1.2,
) -> np.ndarray:
    """Resample a square chip aligned with the body axis (rows run along the axis).

    The chip covers ``margin * max(length_px, width_px)`` pixels on a side,
    centred on ``center_rc``; bilinear sampling; values normalised to zero
    median and unit robust spread.
    """
    side = margin * max(length_px, width_px, 2.0)
    t = (np.arange(size) + 0.5) / size - 0.5
    uu, vv = np.meshgrid(-t * side, t * side, indexing="ij")  # row 0 = nose end
    th = math.radians(axis_deg)
    ar, ac = -math.cos(th), math.sin(th)
    br, bc = ac, -ar
    rr = center_rc[0] - 0.5 + uu * ar + vv * br
    cc = center_rc[1] - 0.5 + uu * ac + vv * bc
    chip = ndimage.map_coordinates(gray.astype(np.float64), [rr, cc], order=1, mode="nearest")
    med = float(np.median(chip))
    spread = float(np.percentile(chip, 95) - np.percentile(chip, 5)) or 1.0
    return (chip - med) / spread


def symmetric_hog(chip: np.ndarray) -> np.ndarray:
    """HOG summed over the chip and its vertical, horizontal and 180-degree flips."""
    return (_hog(chip) + _hog(chip[::-1]) + _hog(chip[:, ::-1]) + _hog(chip[::-1, ::-1])) / 4.0


def dims_loglik(length_m: float, span_m: float, *, gsd_m: float) -> np.ndarray:
    """``-chi2/2`` of the dimensions against every type in :func:`type_names` (clipped)."""
    types = object_types()
    out = [
        -0.5
        * type_chi2(
            length_m,
            span_m,
            types[n],
            gsd_m=gsd_m,
            length_shortfall_m=6.0 if types[n].visor_nose else 0.0,
        )
        for n in type_names()
    ]
    return np.clip(np.asarray(out, dtype=np.float64), -50.0, 0.0)


def object_features(
    image: np.ndarray,
    *,
    gsd_m: float,
    ring: Sequence[Sequence[float]] | None = None,
    blob: Blob | None = None,
    gray: np.ndarray | None = None,
) -> np.ndarray:
    """Feature vector (see module docstring) of one object on ``image``.

    Parameters
    ----------
    image : ndarray
        ``(bands, rows, cols)`` pixels (ignored when ``gray`` is given).
    gsd_m : float
        Ground sample distance, metres per pixel.
    ring : sequence of (row, col), optional
        Footprint ring in pixels; used when no ``blob`` is given.
    blob : Blob, optional
        The measured object (preferred: gives symmetry, fill and nose cues).
    gray : ndarray, optional
        Precomputed :func:`pipeline.detect.measure.to_gray` of ``image``.
    """
    g = to_gray(image) if gray is None else gray
    if blob is not None:
        center = blob.center_rc
        length_px, width_px, axis = blob.length_px, blob.width_px, blob.axis_heading_deg
        extra = [blob.symmetry, blob.fill, blob.contrast]
        nose_b = nose_width_ratio(
            blob.nose_profile, body_width_px=blob.body_width_px, length_px=blob.length_px
        )
        tail_b = blob.end_ratio
    elif ring is not None:
        arr = np.asarray(ring, dtype=np.float64)[:-1]
        center = (float(arr[:, 0].mean()), float(arr[:, 1].mean()))
        length_px, width_px, axis = ring_dims(ring)
        extra = [np.nan, np.nan, np.nan]
        nose_b, tail_b = np.nan, np.nan
    else:
        raise ValueError("object_features needs a ring or a blob")
    chip = oriented_chip(g, center, length_px, width_px, axis)
    lm, sm = length_px * gsd_m, width_px * gsd_m
    dims = [
        lm,
        sm,
        lm / max(sm, 1e-6),
        gsd_m,
        *extra,
        nose_b if np.isfinite(nose_b) else np.nan,
        tail_b,
    ]
    return np.concatenate(
        [symmetric_hog(chip), np.asarray(dims, dtype=np.float64), dims_loglik(lm, sm, gsd_m=gsd_m)]
    )
