"""Image chips for Label Studio: windows around detections/changes, 8-bit quick-looks, sidecars.

A chip is a small window of one tile. Its sidecar (:class:`Chip`) carries the
tile id and sha256, the CRS, the chip's pixel-to-map affine (6 coefficients
``a, b, c, d, e, f`` mapping chip ``(col, row)`` to map ``(x, y)``) and the
window in tile pixels, so any box an analyst draws on the PNG maps back to map
coordinates exactly. Everything here is pure except :func:`write_chip`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from affine import Affine

from pipeline.grid import Grid
from pipeline.io.atomic import write_bytes_atomic, write_json_atomic
from pipeline.model import Tile, isoformat_z, parse_utc, stable_id

ChipKind = Literal["detection", "change"]
Window = tuple[int, int, int, int]


@dataclass(frozen=True)
class Chip:
    """Sidecar of one PNG chip.

    Attributes
    ----------
    id : str
        Stable id: hash of the tile sha256 and the window.
    tile_id, tile_sha256 : str
        The tile the pixels come from.
    acquired : datetime
        Tile acquisition time (UTC).
    crs : str
        CRS of ``transform`` (``EPSG:nnnn`` or WKT).
    transform : tuple of 6 float
        Chip pixel-to-map affine ``(a, b, c, d, e, f)``: ``(col, row) -> (x, y)``.
    window : tuple of 4 int
        ``(row_off, col_off, height, width)`` in tile pixels.
    kind : str
        ``"detection"`` or ``"change"``.
    site_id : str
        Registry site id of the tile.
    """

    id: str
    tile_id: str
    tile_sha256: str
    acquired: datetime
    crs: str
    transform: tuple[float, float, float, float, float, float]
    window: Window
    kind: ChipKind = "detection"
    site_id: str = ""

    @property
    def height(self) -> int:
        """Chip height in pixels."""
        return self.window[2]

    @property
    def width(self) -> int:
        """Chip width in pixels."""
        return self.window[3]

    @property
    def affine(self) -> Affine:
        """Chip pixel-to-map transform as an :class:`affine.Affine`."""
        return Affine(*self.transform)

    @property
    def grid(self) -> Grid:
        """The chip's own :class:`~pipeline.grid.Grid`."""
        return Grid(self.crs, self.affine, (self.height, self.width))

    @property
    def png_name(self) -> str:
        """File name of the chip image."""
        return f"{self.id}.png"

    @property
    def sidecar_name(self) -> str:
        """File name of the JSON sidecar."""
        return f"{self.id}.json"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "kind": self.kind,
            "tile_id": self.tile_id,
            "tile_sha256": self.tile_sha256,
            "acquired": isoformat_z(self.acquired),
            "site_id": self.site_id,
            "crs": self.crs,
            "transform": list(self.transform),
            "window": list(self.window),
            "width": self.width,
            "height": self.height,
            "image": self.png_name,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Chip:
        """Inverse of :meth:`to_dict`."""
        t = [float(v) for v in d["transform"]]
        w = [int(v) for v in d["window"]]
        if len(t) != 6 or len(w) != 4:
            raise ValueError(f"chip {d.get('id')!r}: transform needs 6 and window 4 numbers")
        return cls(
            id=str(d["id"]),
            kind=d.get("kind", "detection"),
            tile_id=str(d["tile_id"]),
            tile_sha256=str(d["tile_sha256"]),
            acquired=parse_utc(str(d["acquired"])),
            site_id=str(d.get("site_id", "")),
            crs=str(d["crs"]),
            transform=(t[0], t[1], t[2], t[3], t[4], t[5]),
            window=(w[0], w[1], w[2], w[3]),
        )


def chip_id(tile_sha256: str, window: Window) -> str:
    """Stable chip id from the tile's sha256 and the window ``(row_off, col_off, h, w)``."""
    return stable_id(tile_sha256, *window)


def make_chip(tile: Tile, window: Window, *, kind: ChipKind = "detection") -> Chip:
    """Sidecar for ``window`` of ``tile`` (the chip affine is the tile's, shifted)."""
    row_off, col_off, h, w = window
    sub = tile.grid.window(row_off, col_off, h, w)
    t = tuple(float(v) for v in tuple(sub.transform)[:6])
    return Chip(
        id=chip_id(tile.sha256, window),
        kind=kind,
        tile_id=tile.id,
        tile_sha256=tile.sha256,
        acquired=tile.acquired,
        site_id=tile.site_id,
        crs=tile.grid.crs,
        transform=(t[0], t[1], t[2], t[3], t[4], t[5]),
        window=window,
    )


def chip_window(
    ring_rowcol: Sequence[tuple[float, float]],
    tile_shape: tuple[int, int],
    *,
    pad_px: int = 32,
    min_size: int = 128,
) -> Window:
    """Window ``(row_off, col_off, height, width)`` in tile pixels around a pixel ring.

    The window holds the ring's bounding box plus ``pad_px`` pixels on each
    side, at least ``min_size`` pixels square, centred on the ring and shifted
    (then clipped) to stay inside the tile of ``tile_shape = (rows, cols)``.
    """
    if not ring_rowcol:
        raise ValueError("cannot place a chip around an empty ring")
    rows_n, cols_n = tile_shape
    rs = [float(p[0]) for p in ring_rowcol]
    cs = [float(p[1]) for p in ring_rowcol]

    def span(lo: float, hi: float, n: int) -> tuple[int, int]:
        first, last = math.floor(lo - pad_px), math.ceil(hi + pad_px)
        size = min(max(min_size, last - first), n)
        centred = math.floor((lo + hi) / 2.0 - size / 2.0)
        start = min(first, max(centred, last - size))
        return max(0, min(start, n - size)), size

    r0, h = span(min(rs), max(rs), rows_n)
    c0, w = span(min(cs), max(cs), cols_n)
    return (r0, c0, h, w)


def quicklook(
    array: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    low_pct: float = 2.0,
    high_pct: float = 98.0,
) -> np.ndarray:
    """8-bit RGBA quick-look of ``(bands, rows, cols)`` pixels.

    Each band is stretched linearly between its ``low_pct`` and ``high_pct``
    percentiles over valid pixels. One band gives grey; three or more use the
    first three as red, green, blue. Invalid pixels (``valid`` False, or NaN)
    are black and fully transparent.

    Parameters
    ----------
    array : ndarray
        ``(bands, rows, cols)`` or ``(rows, cols)``; any integer or float dtype.
    valid : ndarray of bool, optional
        ``(rows, cols)`` validity mask; default all valid.

    Returns
    -------
    ndarray of uint8, shape ``(rows, cols, 4)``
    """
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ValueError(f"array must be (bands, rows, cols), got shape {np.shape(array)}")
    data = arr.astype(np.float64)  # copy; the caller's array is untouched
    mask = np.ones(data.shape[1:], dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if mask.shape != data.shape[1:]:
        raise ValueError(f"valid mask shape {mask.shape} does not match pixels {data.shape[1:]}")
    mask = mask & np.all(np.isfinite(data), axis=0)
    bands = [0, 0, 0] if data.shape[0] < 3 else [0, 1, 2]
    out = np.zeros((*data.shape[1:], 4), dtype=np.uint8)
    for i, b in enumerate(bands):
        band = data[b]
        vals = band[mask]
        if vals.size == 0:
            continue
        lo, hi = np.percentile(vals, [low_pct, high_pct])
        if hi > lo:
            scaled = (band - lo) / (hi - lo)
        else:
            scaled = np.full(band.shape, 0.5)
        out[..., i] = np.clip(np.rint(np.nan_to_num(scaled) * 255.0), 0, 255).astype(np.uint8)
    out[..., 3] = np.where(mask, 255, 0).astype(np.uint8)
    out[~mask, :3] = 0
    return out


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an ``(rows, cols, 4)`` uint8 image (deterministic: no metadata)."""
    from PIL import Image

    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected (rows, cols, 4) uint8, got {rgba.shape} {rgba.dtype}")
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_chip(chips_dir: str | Path, chip: Chip, rgba: np.ndarray) -> Path:
    """Write ``<id>.png`` and ``<id>.json`` into ``chips_dir`` atomically; returns the PNG path."""
    if rgba.shape[:2] != (chip.height, chip.width):
        raise ValueError(
            f"chip {chip.id}: image is {rgba.shape[:2]} but the window is "
            f"{(chip.height, chip.width)} pixels"
        )
    folder = Path(chips_dir)
    png = write_bytes_atomic(folder / chip.png_name, encode_png(rgba))
    write_json_atomic(folder / chip.sidecar_name, chip.to_dict())
    return png


def read_chip_sidecar(path: str | Path) -> Chip:
    """Read a chip sidecar JSON; raises :class:`ValueError` naming the file when malformed."""
    import json

    p = Path(path)
    try:
        return Chip.from_dict(json.loads(p.read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{p}: not a valid chip sidecar ({exc})") from exc
