"""Coordinate conversion between Label Studio regions, chip pixels and map coordinates.

Label Studio rectangles are ``x, y, width, height`` in percent of the image
(``x``/``width`` of the image width, ``y``/``height`` of its height) plus
``rotation`` in degrees, clockwise on screen, about the rectangle's top-left
corner ``(x, y)``. Chip pixels are continuous ``(row, col)`` coordinates from
the chip's upper-left corner; a chip's pixel-to-map affine maps ``(col, row)``
to map ``(x, y)`` in the chip's CRS (see :class:`pipeline.annotate.chips.Chip`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from affine import Affine
from shapely.geometry import MultiPoint, Polygon

RowCol = tuple[float, float]


@dataclass(frozen=True)
class PercentRect:
    """A Label Studio rectangle: percent of image size, rotation in degrees (clockwise)."""

    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0

    def to_value(self) -> dict[str, float]:
        """The ``value`` geometry keys of a Label Studio rectangle result."""
        return {
            "x": self.x,
            "y": self.y,
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
        }


def percent_to_pixel_ring(rect: PercentRect, image_width: int, image_height: int) -> list[RowCol]:
    """Corners of a Label Studio rectangle as continuous chip pixel ``(row, col)``.

    Parameters
    ----------
    rect : PercentRect
        Rectangle in percent of the image, rotation in degrees clockwise about
        its top-left corner.
    image_width, image_height : int
        Image size in pixels.

    Returns
    -------
    list of (row, col)
        Closed ring TL, TR, BR, BL, TL in pixels.
    """
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
    x0 = rect.x / 100.0 * image_width
    y0 = rect.y / 100.0 * image_height
    w = rect.width / 100.0 * image_width
    h = rect.height / 100.0 * image_height
    th = math.radians(rect.rotation)
    ux, uy = math.cos(th), math.sin(th)  # along the width (screen coords, y down)
    vx, vy = -math.sin(th), math.cos(th)  # along the height
    pts = [
        (x0, y0),
        (x0 + w * ux, y0 + w * uy),
        (x0 + w * ux + h * vx, y0 + w * uy + h * vy),
        (x0 + h * vx, y0 + h * vy),
    ]
    ring = [(py, px) for px, py in pts]
    return ring + [ring[0]]


def _signed_area_xy(pts: list[tuple[float, float]]) -> float:
    s = 0.0
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
        s += x1 * y2 - x2 * y1
    return s / 2.0


def pixel_ring_to_percent(
    ring_rowcol: Sequence[RowCol], image_width: int, image_height: int
) -> PercentRect:
    """Label Studio rectangle enclosing a pixel ring (its minimum rotated rectangle).

    An oriented rectangle ring converts exactly (up to corner order); any other
    ring is replaced by its minimum-area enclosing rectangle. The rotation is
    chosen in ``[0, 90)`` degrees so the result is canonical.

    Parameters
    ----------
    ring_rowcol : sequence of (row, col)
        Continuous chip pixel coordinates (closed or open ring).
    image_width, image_height : int
        Image size in pixels.
    """
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
    xy = [(float(c), float(r)) for r, c in ring_rowcol]
    if len(xy) > 1 and xy[0] == xy[-1]:
        xy = xy[:-1]
    if len(xy) < 3:
        raise ValueError(f"a ring needs at least 3 distinct points, got {len(xy)}")
    corners = _rectangle_corners(xy)
    if _signed_area_xy(corners) < 0:  # make it clockwise on screen (y down)
        corners = corners[::-1]
    best = 0
    best_angle = 400.0
    for i in range(4):
        (x1, y1), (x2, y2) = corners[i], corners[(i + 1) % 4]
        ang = math.degrees(math.atan2(y2 - y1, x2 - x1)) % 360.0
        if ang >= 360.0 - 1e-9:
            ang = 0.0
        if ang < best_angle:
            best, best_angle = i, ang
    p0, p1, p3 = corners[best], corners[(best + 1) % 4], corners[(best + 3) % 4]
    w = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    h = math.hypot(p3[0] - p0[0], p3[1] - p0[1])
    return PercentRect(
        x=p0[0] / image_width * 100.0,
        y=p0[1] / image_height * 100.0,
        width=w / image_width * 100.0,
        height=h / image_height * 100.0,
        rotation=best_angle,
    )


def _rectangle_corners(xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Four corners of ``xy`` if it already is a rectangle, else its minimum rotated rectangle."""
    if len(xy) == 4 and _is_rectangle(xy):
        return xy
    hull = MultiPoint(xy).minimum_rotated_rectangle
    if not isinstance(hull, Polygon):
        raise ValueError(f"ring is degenerate (zero area): {xy}")
    pts = [(float(x), float(y)) for x, y in hull.exterior.coords[:-1]]
    if len(pts) != 4:
        raise ValueError(f"ring is degenerate (zero area): {xy}")
    return pts


def _is_rectangle(pts: list[tuple[float, float]], *, tol: float = 1e-6) -> bool:
    for i in range(4):
        ax, ay = pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]
        bx, by = pts[(i + 1) % 4][0] - pts[i][0], pts[(i + 1) % 4][1] - pts[i][1]
        na, nb = math.hypot(ax, ay), math.hypot(bx, by)
        if na <= tol or nb <= tol or abs(ax * bx + ay * by) > tol * na * nb * 10:
            return False
    return True


def chip_to_tile_ring(ring_rowcol: Sequence[RowCol], row_off: int, col_off: int) -> list[RowCol]:
    """Shift a chip pixel ring to tile pixels (add the chip window offset)."""
    return [(float(r) + row_off, float(c) + col_off) for r, c in ring_rowcol]


def tile_to_chip_ring(ring_rowcol: Sequence[RowCol], row_off: int, col_off: int) -> list[RowCol]:
    """Shift a tile pixel ring to chip pixels (subtract the chip window offset)."""
    return [(float(r) - row_off, float(c) - col_off) for r, c in ring_rowcol]


def pixel_to_map(ring_rowcol: Sequence[RowCol], transform: Affine) -> list[tuple[float, float]]:
    """Map ``(x, y)`` (CRS units) of continuous pixel ``(row, col)`` points under ``transform``."""
    return [transform * (float(c), float(r)) for r, c in ring_rowcol]


def map_to_pixel(points_xy: Sequence[tuple[float, float]], transform: Affine) -> list[RowCol]:
    """Continuous pixel ``(row, col)`` of map ``(x, y)`` points under ``transform``."""
    inv = ~transform
    out: list[RowCol] = []
    for x, y in points_xy:
        c, r = inv * (float(x), float(y))
        out.append((r, c))
    return out
