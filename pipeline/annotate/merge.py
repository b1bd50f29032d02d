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


def _inside(det: Detection, window: Sequence[int]) -> bool:
    r0, c0, h, w = window
    return all(r0 <= r <= r0 + h and c0 <= c <= c0 + w for r, c in det.footprint_px)


def prefer_human(
    model: list[Detection],
    human: list[Detection],
    *,
    min_overlap: float = 0.3,
    reviewed: Sequence[tuple[str, Sequence[int]]] = (),
) -> list[Detection]:
    """Human annotations outrank model detections that overlap them on the same tile.

    A model detection is dropped when a human detection on the same tile (same
    ``tile_sha256``) covers at least ``min_overlap`` of the smaller of the two
    footprints (measured in tile pixels). With ``reviewed`` (pairs of tile
    sha256 and chip window ``(row_off, col_off, height, width)`` that an analyst
    submitted), a model detection lying inside a reviewed window with no human
    detection over it is dropped too: the analyst deleted it as a false
    positive. Returns the human detections first, then the surviving model
    detections, each in input order; inputs are not modified.

    Parameters
    ----------
    model : list of Detection
        Detections from a detector (``source="model"``).
    human : list of Detection
        Detections drawn or corrected by analysts (``source="human"``).
    min_overlap : float
        Overlap fraction (0..1] above which a model detection is superseded.
    reviewed : sequence of (str, window)
        Chips analysts reviewed (see ``PullReport.reviewed``).
    """
    if not 0.0 < min_overlap <= 1.0:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    by_tile: dict[str, list[Detection]] = {}
    for h in human:
        by_tile.setdefault(h.tile_sha256, []).append(h)
    windows: dict[str, list[Sequence[int]]] = {}
    for sha, window in reviewed:
        windows.setdefault(sha, []).append(window)
    kept: list[Detection] = []
    for m in model:
        rivals: Sequence[Detection] = by_tile.get(m.tile_sha256, ())
        if any(overlap_fraction(m, h) >= min_overlap for h in rivals):
            continue
        if any(_inside(m, w) for w in windows.get(m.tile_sha256, ())):
            continue
        kept.append(m)
    return [*human, *kept]
