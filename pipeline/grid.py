"""An immutable pixel grid: CRS + affine transform + shape.

Pixel indices are (row, col); map coordinates are (x, y) in the grid's CRS
(metres for the projected UTM CRSs sitewatch works in); geographic
coordinates are (lon, lat) in EPSG:4326 degrees. Pixel (row, col) covers the
square whose upper-left corner is ``transform * (col, row)``; its centre is at
``transform * (col + 0.5, row + 0.5)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform

from pipeline.errors import CRSMismatchError, GridError

LONLAT = "EPSG:4326"


def _crs_string(crs: Any) -> str:
    parsed = CRS.from_user_input(crs)
    epsg = parsed.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else parsed.to_wkt()


@dataclass(frozen=True)
class Grid:
    """A georeferenced pixel grid.

    Parameters
    ----------
    crs : str
        CRS as ``"EPSG:nnnn"`` or WKT. Normalised on creation.
    transform : affine.Affine
        Pixel-to-map transform (col, row) -> (x, y).
    shape : tuple of int
        ``(rows, cols)`` in pixels.
    """

    crs: str
    transform: Affine
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "crs", _crs_string(self.crs))
        except Exception as exc:  # rasterio raises CRSError subclasses of various bases
            raise GridError(f"invalid CRS {self.crs!r}: {exc}") from exc
        if not isinstance(self.transform, Affine):
            object.__setattr__(self, "transform", Affine(*tuple(self.transform)[:6]))
        rows, cols = (int(v) for v in self.shape)
        if rows <= 0 or cols <= 0:
            raise GridError(f"grid shape must be positive, got {self.shape}")
        object.__setattr__(self, "shape", (rows, cols))
        if self.transform.is_degenerate:
            raise GridError(f"degenerate affine transform {tuple(self.transform)[:6]}")
        if self.transform == Affine.identity():
            raise GridError("identity transform: the raster has no georeferencing")

    # -- basic properties -------------------------------------------------
    @property
    def height(self) -> int:
        """Number of rows (pixels)."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """Number of columns (pixels)."""
        return self.shape[1]

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` in CRS units (metres for UTM), both positive."""
        t = self.transform
        return (math.hypot(t.a, t.d), math.hypot(t.b, t.e))

    @property
    def gsd(self) -> float:
        """Mean ground sample distance in CRS units (metres for projected CRSs)."""
        rx, ry = self.res
        return (rx + ry) / 2.0

    @property
    def is_projected(self) -> bool:
        """True when the CRS is projected (map units are linear)."""
        return bool(CRS.from_user_input(self.crs).is_projected)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in map units over all four corners."""
        xs, ys = self.corners_xy()
        return (min(xs), min(ys), max(xs), max(ys))

    def corners_xy(self) -> tuple[list[float], list[float]]:
        """Map coordinates of the four outer corners (UL, UR, LR, LL)."""
        t = self.transform
        pts = [t * (0, 0), t * (self.width, 0), t * (self.width, self.height), t * (0, self.height)]
        return [p[0] for p in pts], [p[1] for p in pts]

    # -- coordinate conversion -------------------------------------------
    def xy(self, row: Any, col: Any, *, offset: str = "center") -> tuple[np.ndarray, np.ndarray]:
        """Map ``(x, y)`` of pixel ``(row, col)``; ``offset`` is ``"center"`` or ``"ul"``.

        Fractional indices are allowed: ``offset="ul"`` treats them as continuous
        pixel coordinates (col, row) measured from the upper-left image corner.
        """
        r = np.asarray(row, dtype=np.float64)
        c = np.asarray(col, dtype=np.float64)
        if offset == "center":
            r, c = r + 0.5, c + 0.5
        elif offset != "ul":
            raise ValueError(f"offset must be 'center' or 'ul', got {offset!r}")
        t = self.transform
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f

    def rowcol(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Continuous pixel coordinates ``(row, col)`` of map points (not rounded).

        ``floor`` of the result gives the index of the containing pixel.
        """
        inv = ~self.transform
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        c = inv.a * xa + inv.b * ya + inv.c
        r = inv.d * xa + inv.e * ya + inv.f
        return r, c

    def to_lonlat(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Transform map ``(x, y)`` in this CRS to ``(lon, lat)`` degrees (EPSG:4326)."""
        xa = np.atleast_1d(np.asarray(x, dtype=np.float64))
        ya = np.atleast_1d(np.asarray(y, dtype=np.float64))
        lon, lat = warp_transform(self.crs, LONLAT, xa.ravel().tolist(), ya.ravel().tolist())
        return np.asarray(lon).reshape(xa.shape), np.asarray(lat).reshape(ya.shape)

    def from_lonlat(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Transform ``(lon, lat)`` degrees (EPSG:4326) to map ``(x, y)`` in this CRS."""
        lo = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        la = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        xs, ys = warp_transform(LONLAT, self.crs, lo.ravel().tolist(), la.ravel().tolist())
        return np.asarray(xs).reshape(lo.shape), np.asarray(ys).reshape(la.shape)

    def pixel_ring_to_lonlat(
        self, ring_rowcol: Sequence[tuple[float, float]]
    ) -> list[tuple[float, float]]:
        """Convert a ring of continuous pixel ``(row, col)`` points to ``(lon, lat)`` pairs."""
        rows = [p[0] for p in ring_rowcol]
        cols = [p[1] for p in ring_rowcol]
        x, y = self.xy(rows, cols, offset="ul")
        lon, lat = self.to_lonlat(x, y)
        return [(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]

    def footprint_lonlat(self) -> list[tuple[float, float]]:
        """Closed ring of the grid's outer boundary in ``(lon, lat)`` degrees."""
        xs, ys = self.corners_xy()
        lon, lat = self.to_lonlat(xs, ys)
        ring = [(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]
        return ring + [ring[0]]

    # -- derived grids ----------------------------------------------------
    def window(self, row_off: int, col_off: int, height: int, width: int) -> Grid:
        """Sub-grid of ``height x width`` pixels starting at pixel ``(row_off, col_off)``."""
        t = self.transform * Affine.translation(col_off, row_off)
        return Grid(self.crs, t, (height, width))

    def same_crs(self, other: Grid) -> bool:
        """True when both grids share a CRS."""
        return CRS.from_user_input(self.crs) == CRS.from_user_input(other.crs)

    def require_same_crs(self, other: Grid) -> None:
        """Raise :class:`CRSMismatchError` unless ``other`` has this grid's CRS."""
        if not self.same_crs(other):
            raise CRSMismatchError(
                f"CRS mismatch: {self.crs} vs {other.crs}; reproject one tile first"
            )

    # -- serialisation ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: crs string, 6 affine coefficients (a, b, c, d, e, f), shape."""
        return {
            "crs": self.crs,
            "transform": list(tuple(self.transform)[:6]),
            "shape": list(self.shape),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grid:
        """Inverse of :meth:`to_dict`."""
        rows, cols = d["shape"]
        return cls(d["crs"], Affine(*d["transform"][:6]), (int(rows), int(cols)))


def utm_crs_for(lon: float, lat: float) -> str:
    """EPSG code string of the WGS 84 / UTM zone containing ``(lon, lat)`` degrees."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise GridError(f"lon/lat out of range: ({lon}, {lat})")
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"
