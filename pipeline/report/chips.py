"""Chip rendering from tile pixels (pure: arrays in, PNG bytes / data URIs out)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw


def chip_window(
    ring_px: Sequence[Sequence[float]], *, margin_px: int = 24, min_size_px: int = 64
) -> tuple[int, int, int, int]:
    """Pixel window ``(row_off, col_off, height, width)`` around a ``(row, col)`` ring."""
    rows = [float(p[0]) for p in ring_px]
    cols = [float(p[1]) for p in ring_px]
    r0, r1 = int(np.floor(min(rows))) - margin_px, int(np.ceil(max(rows))) + margin_px
    c0, c1 = int(np.floor(min(cols))) - margin_px, int(np.ceil(max(cols))) + margin_px
    if r1 - r0 < min_size_px:
        pad = (min_size_px - (r1 - r0)) // 2 + 1
        r0, r1 = r0 - pad, r1 + pad
    if c1 - c0 < min_size_px:
        pad = (min_size_px - (c1 - c0)) // 2 + 1
        c0, c1 = c0 - pad, c1 + pad
    return r0, c0, r1 - r0, c1 - c0


def percentile_stretch(array: np.ndarray, *, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    """``(bands, rows, cols)`` of any dtype -> ``(rows, cols, 3)`` uint8 with a percentile stretch.

    One band is shown grey; three or more use the first three bands as RGB.
    The caller's array is not modified; NaNs are ignored.
    """
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 2:
        a = a[np.newaxis]
    bands = a[:3] if a.shape[0] >= 3 else np.repeat(a[:1], 3, axis=0)
    out = np.zeros((bands.shape[1], bands.shape[2], 3), dtype=np.uint8)
    for i in range(3):
        b = bands[i]
        finite = b[np.isfinite(b)]
        if finite.size == 0:
            continue
        lo, hi = np.percentile(finite, [low, high])
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        out[..., i] = np.clip((np.nan_to_num(b, nan=lo) - lo) * scale, 0, 255).astype(np.uint8)
    return out


def draw_rings(
    rgb: np.ndarray,
    rings_px: Sequence[Sequence[Sequence[float]]],
    *,
    offset: tuple[int, int] = (0, 0),
    colour: tuple[int, int, int] = (255, 40, 40),
    scale: int = 1,
) -> Image.Image:
    """Draw ``(row, col)`` rings (tile pixel coordinates) on an RGB chip.

    ``offset`` is the chip's ``(row_off, col_off)`` in the tile; ``scale`` enlarges
    small chips (nearest neighbour) before drawing so lines stay thin.
    """
    img = Image.fromarray(rgb, mode="RGB")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)
    for ring in rings_px:
        pts = [((float(c) - offset[1]) * scale, (float(r) - offset[0]) * scale) for r, c in ring]
        if len(pts) >= 2:
            draw.line(pts + [pts[0]], fill=colour, width=2)
    return img


def png_bytes(img: Image.Image) -> bytes:
    """PNG encoding of a Pillow image (in memory)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` URI for inline ``<img>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def draw_on_png(
    png: bytes,
    rings_px: Sequence[Sequence[Sequence[float]]],
    window: tuple[int, int, int, int],
    *,
    colour: tuple[int, int, int] = (255, 40, 40),
) -> Image.Image:
    """Draw tile-pixel rings on an existing chip PNG that shows ``window`` of the tile.

    The PNG may be resampled: its size over the window size gives the scale.
    """
    with Image.open(io.BytesIO(png)) as src:
        img = src.convert("RGB")
    sy = img.height / max(window[2], 1)
    sx = img.width / max(window[3], 1)
    draw = ImageDraw.Draw(img)
    for ring in rings_px:
        pts = [((float(c) - window[1]) * sx, (float(r) - window[0]) * sy) for r, c in ring]
        if len(pts) >= 2:
            draw.line(pts + [pts[0]], fill=colour, width=2)
    return img
