"""Merge analyst (human) annotations over model detections."""

from __future__ import annotations

from collections.abc import Sequence

from shapely.geometry import Polygon

from pipeline.model import Detection


def _poly(det: Detection) -> Polygon:
    # (row, col) pixel ring on the tile; orientation does not matter for areas
    poly = Polygon([(c, r) for r, c in det.footprint_px])
    return poly if poly.is_valid else poly.buffer(0)


def overlap_fraction(a: Detection, b: Detection) -> float:
    """Intersection area over the smaller footprint's area (0..1), in tile pixels."""
    pa, pb = _poly(a), _poly(b)
    smaller = min(pa.area, pb.area)
    if smaller <= 0.0:
        return 0.0
    return float(pa.intersection(pb).area / smaller)


def prefer_human(
    model: list[Detection], human: list[Detection], *, min_overlap: float = 0.3
) -> list[Detection]:
    """Human annotations outrank model detections that overlap them on the same tile.

    A model detection is dropped when a human detection on the same tile (same
    ``tile_sha256``) covers at least ``min_overlap`` of the smaller of the two
    footprints (measured in tile pixels). Returns the human detections first,
    then the surviving model detections, each in input order; inputs are not
    modified.

    Parameters
    ----------
    model : list of Detection
        Detections from a detector (``source="model"``).
    human : list of Detection
        Detections drawn or corrected by analysts (``source="human"``).
    min_overlap : float
        Overlap fraction (0..1] above which a model detection is superseded.
    """
    if not 0.0 < min_overlap <= 1.0:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    by_tile: dict[str, list[Detection]] = {}
    for h in human:
        by_tile.setdefault(h.tile_sha256, []).append(h)
    kept: list[Detection] = []
    for m in model:
        rivals: Sequence[Detection] = by_tile.get(m.tile_sha256, ())
        if not any(overlap_fraction(m, h) >= min_overlap for h in rivals):
            kept.append(m)
    return [*human, *kept]
