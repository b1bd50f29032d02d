"""Oriented-rectangle geometry on pixel rings (pure functions).

Pixel coordinates are continuous ``(row, col)`` from the tile's upper-left
corner (see :mod:`pipeline.model`). Headings are degrees clockwise from grid
north (up, i.e. towards decreasing row). A heading ``h`` is the unit vector
``(drow, dcol) = (-cos h, sin h)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from shapely.geometry import Polygon

Ring = tuple[tuple[float, float], ...]


def heading_vector(heading_deg: float) -> tuple[float, float]:
    """Unit ``(drow, dcol)`` vector pointing along ``heading_deg`` (clockwise from north)."""
    h = math.radians(heading_deg)
    return (-math.cos(h), math.sin(h))


def vector_heading(drow: float, dcol: float) -> float:
    """Heading in degrees ``[0, 360)`` clockwise from north of a ``(drow, dcol)`` vector."""
    return math.degrees(math.atan2(dcol, -drow)) % 360.0


def oriented_rect(
    center_rc: tuple[float, float], length_px: float, width_px: float, heading_deg: float
) -> Ring:
    """Closed ring of a rectangle centred on ``center_rc`` (pixels).

    ``length_px`` runs along ``heading_deg``, ``width_px`` across it. The ring
    starts at the front-left corner and is closed (first point repeated).
    """
    ur, uc = heading_vector(heading_deg)
    vr, vc = uc, -ur  # perpendicular (to the right of the heading in image space)
    hl, hw = length_px / 2.0, width_px / 2.0
    r0, c0 = center_rc
    pts = [
        (r0 + ur * hl - vr * hw, c0 + uc * hl - vc * hw),
        (r0 + ur * hl + vr * hw, c0 + uc * hl + vc * hw),
        (r0 - ur * hl + vr * hw, c0 - uc * hl + vc * hw),
        (r0 - ur * hl - vr * hw, c0 - uc * hl - vc * hw),
    ]
    pts.append(pts[0])
    return tuple((float(r), float(c)) for r, c in pts)


def ring_polygon(ring: Sequence[Sequence[float]]) -> Polygon:
    """Shapely polygon (x=col, y=row) of a ``(row, col)`` ring; invalid rings are repaired."""
    poly = Polygon([(float(p[1]), float(p[0])) for p in ring])
    if not poly.is_valid:
        poly = poly.buffer(0)
    return poly


def ring_dims(ring: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """Length, width (pixels) and axis angle of a ring's minimum rotated rectangle.

    Returns ``(long_side_px, short_side_px, axis_heading_deg)`` where the heading
    is that of the long side, folded into ``[0, 180)``.
    """
    poly = ring_polygon(ring)
    mrr = poly.minimum_rotated_rectangle
    coords = np.asarray(mrr.exterior.coords)[:4]  # (x=col, y=row)
    if len(coords) < 4:
        return (0.0, 0.0, 0.0)
    e1 = coords[1] - coords[0]
    e2 = coords[2] - coords[1]
    l1, l2 = float(np.hypot(*e1)), float(np.hypot(*e2))
    long_edge = e1 if l1 >= l2 else e2
    heading = vector_heading(float(long_edge[1]), float(long_edge[0])) % 180.0
    return (max(l1, l2), min(l1, l2), heading)


def ring_iou(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    """Intersection over union of two polygon rings (same coordinate space)."""
    pa, pb = ring_polygon(a), ring_polygon(b)
    if pa.is_empty or pb.is_empty:
        return 0.0
    inter = pa.intersection(pb).area
    union = pa.area + pb.area - inter
    return float(inter / union) if union > 0 else 0.0


def envelope(ring: Sequence[Sequence[float]]) -> Ring:
    """Axis-aligned bounding box of a ring, as a closed ``(row, col)`` ring."""
    arr = np.asarray(ring, dtype=np.float64)
    r0, c0 = arr.min(axis=0)
    r1, c1 = arr.max(axis=0)
    return ((r0, c0), (r0, c1), (r1, c1), (r1, c0), (r0, c0))


def box_iou(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    """IoU of the axis-aligned envelopes of two rings (for axis-aligned truth boxes)."""
    aa, bb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ar0, ac0 = aa.min(axis=0)
    ar1, ac1 = aa.max(axis=0)
    br0, bc0 = bb.min(axis=0)
    br1, bc1 = bb.max(axis=0)
    ih = max(0.0, min(ar1, br1) - max(ar0, br0))
    iw = max(0.0, min(ac1, bc1) - max(ac0, bc0))
    inter = ih * iw
    union = (ar1 - ar0) * (ac1 - ac0) + (br1 - br0) * (bc1 - bc0) - inter
    return float(inter / union) if union > 0 else 0.0
