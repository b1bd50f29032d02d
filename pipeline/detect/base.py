"""The detector interface and helpers shared by all detectors.

A detector turns one tile's pixels into :class:`pipeline.model.Detection`
records. Detectors are interchangeable and live in
:data:`pipeline.detect.DETECTORS` keyed by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from pipeline.detect.geometry import Ring
from pipeline.grid import Grid
from pipeline.model import Detection, Tile, stable_id


@runtime_checkable
class Detector(Protocol):
    """Anything that finds objects on a tile.

    Attributes
    ----------
    name : str
        Registry key (e.g. ``"measure"``).
    version : str
        Algorithm/parameter version recorded on every detection.
    """

    @property
    def name(self) -> str:
        """Registry key (e.g. ``"measure"``)."""
        ...

    @property
    def version(self) -> str:
        """Algorithm/parameter version recorded on every detection."""
        ...

    def detect(
        self,
        image: np.ndarray,
        *,
        grid: Grid,
        tile: Tile,
        valid: np.ndarray | None,
    ) -> list[Detection]:
        """Detect objects.

        Parameters
        ----------
        image : ndarray
            ``(bands, rows, cols)`` pixels of the tile (or a window of it).
        grid : Grid
            Grid of ``image`` (a window's grid when ``image`` is a window);
            footprints are returned in this grid's pixel ``(row, col)``.
        tile : Tile
            The tile the pixels come from (id, sha256, GSD, sun angles).
        valid : ndarray of bool or None
            ``(rows, cols)`` True where pixels are valid.

        Returns
        -------
        list of Detection
        """
        ...


def make_detection(
    *,
    cls: str,
    category: str,
    score: float,
    footprint_px: Ring,
    grid: Grid,
    tile: Tile,
    detector: str,
    detector_version: str,
    attributes: Mapping[str, str] | None = None,
    length_m: float | None = None,
    wingspan_m: float | None = None,
    heading_deg: float | None = None,
    model: str | None = None,
) -> Detection:
    """Build a :class:`Detection` with its EPSG:4326 footprint and a stable id.

    The id hashes tile sha256, detector, version and the rounded footprint so
    re-running the same detector on the same pixels reproduces the same ids.
    """
    ring = tuple((float(r), float(c)) for r, c in footprint_px)
    lonlat = tuple(grid.pixel_ring_to_lonlat(ring))
    did = stable_id(
        tile.sha256,
        detector,
        detector_version,
        model or "",
        *(f"{r:.1f},{c:.1f}" for r, c in ring),
    )
    return Detection(
        id=did,
        cls=cls,
        score=float(max(0.0, min(1.0, score))),
        footprint_px=ring,
        footprint_lonlat=lonlat,
        tile_id=tile.id,
        tile_sha256=tile.sha256,
        acquired=tile.acquired,
        detector=detector,
        detector_version=detector_version,
        category=category,
        attributes=dict(attributes or {}),
        length_m=None if length_m is None else round(float(length_m), 2),
        wingspan_m=None if wingspan_m is None else round(float(wingspan_m), 2),
        heading_deg=None if heading_deg is None else round(float(heading_deg) % 360.0, 1),
        model=model,
    )
