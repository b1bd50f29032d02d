"""Raster file access for ingest: header-only reads and a bounded-memory pixel scan.

This is the only ingest module that opens files. :func:`read_header` never
reads pixels, so a file declaring a 200000 x 200000 raster costs nothing;
:func:`scan_pixels` streams the pixels in row windows of bounded size.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from pipeline.errors import TileReadError


@dataclass(frozen=True)
class RasterHeader:
    """What a raster header declares (no pixels read).

    ``data_end`` is the largest byte offset a TIFF block reaches (offset plus
    size), or ``None`` when the driver does not expose block offsets; a value
    above ``file_size`` means the file is truncated. ``tags`` merges GDAL's
    ``IMAGERY`` domain (vendor metadata sidecars: ``ACQUISITIONDATETIME``,
    ``SATELLITEID``...) under the default-domain tags, which win. ``georef_hint``
    says ``"gcps"`` or ``"rpcs"`` when the file is georeferenced only that way.
    """

    path: str
    driver: str
    width: int
    height: int
    count: int
    dtypes: tuple[str, ...]
    crs: str | None
    transform: Affine
    nodata: float | None
    tags: dict[str, str] = field(default_factory=dict)
    file_size: int = 0
    data_end: int | None = None
    block_shape: tuple[int, int] = (1, 1)
    georef_hint: str | None = None


@dataclass(frozen=True)
class PixelStats:
    """Result of :func:`scan_pixels`: valid pixel count and value range over all bands."""

    total: int
    valid: int
    vmin: float | None
    vmax: float | None

    @property
    def valid_fraction(self) -> float:
        """Share of pixels (0..1) valid in every band."""
        return self.valid / self.total if self.total else 0.0


def _open(path: str) -> rasterio.DatasetReader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def _tiff_data_end(ds: rasterio.DatasetReader, max_queries: int = 8192) -> int | None:
    """Largest ``BLOCK_OFFSET + BLOCK_SIZE`` of the TIFF blocks (bytes), or ``None``.

    Every block of the first and last band is checked when there are at most
    ``max_queries`` of them; otherwise the last block row of each band (where a
    truncated file loses its data first).
    """
    if ds.driver not in ("GTiff", "COG"):
        return None
    bh, bw = ds.block_shapes[0]
    nby, nbx = math.ceil(ds.height / bh), math.ceil(ds.width / bw)
    bands = sorted({1, ds.count})
    if nbx * nby * len(bands) <= max_queries:
        cells = [(x, y) for y in range(nby) for x in range(nbx)]
    else:
        bands = list(range(1, ds.count + 1))
        cells = [(x, nby - 1) for x in range(min(nbx, max_queries // ds.count))]
    end: int | None = None
    for b in bands:
        for x, y in cells:
            off = ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=b)
            size = ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=b)
            if off is None or size is None:
                continue  # sparse (never written) block
            stop = int(off) + int(size)
            end = stop if end is None else max(end, stop)
    return end


def read_header(path: str | os.PathLike[str]) -> RasterHeader:
    """Read a raster's header (size, dtype, CRS, transform, nodata, tags); no pixels.

    Raises
    ------
    TileReadError
        When the file is missing, empty, truncated before its header, or not a
        raster GDAL recognises. The message starts with the path.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise TileReadError(f"{p}: file not found")
    try:
        size = os.path.getsize(p)
    except OSError as exc:
        raise TileReadError(f"{p}: cannot stat the file ({exc})") from exc
    if size == 0:
        raise TileReadError(f"{p}: file is empty (0 bytes)")
    try:
        with _open(p) as ds:
            crs = None if ds.crs is None else ds.crs.to_string()
            tags = {str(k): str(v) for k, v in ds.tags(ns="IMAGERY").items()}
            tags.update({str(k): str(v) for k, v in ds.tags().items()})
            hint = None
            if ds.gcps[0]:
                hint = "gcps"
            elif ds.rpcs is not None:
                hint = "rpcs"
            return RasterHeader(
                path=p,
                driver=ds.driver,
                width=int(ds.width),
                height=int(ds.height),
                count=int(ds.count),
                dtypes=tuple(str(d) for d in ds.dtypes),
                crs=crs or None,
                transform=ds.transform,
                nodata=None if ds.nodata is None else float(ds.nodata),
                tags=tags,
                file_size=size,
                data_end=_tiff_data_end(ds),
                block_shape=(int(ds.block_shapes[0][0]), int(ds.block_shapes[0][1])),
                georef_hint=hint,
            )
    except RasterioError as exc:
        raise TileReadError(f"{p}: cannot open as a raster ({exc})") from exc


def scan_pixels(
    path: str | os.PathLike[str], *, chunk_pixels: int = 1_048_576, stop_when_varied: bool = False
) -> PixelStats:
    """Stream every pixel once, in row windows of about ``chunk_pixels`` per band.

    A pixel is valid when every band is unmasked (GDAL mask: nodata, internal
    mask or alpha) and, for float data, not NaN. Peak memory is about
    ``chunk_pixels * bands * itemsize`` bytes whatever the image size.

    Parameters
    ----------
    path : path-like
        Raster file.
    chunk_pixels : int
        Pixels per band per window (rounded to whole block rows).
    stop_when_varied : bool
        Stop early once valid pixels with two different values have been seen
        (the caller then only learns that the tile is neither empty nor blank,
        and ``valid`` / ``total`` cover the part scanned).

    Raises
    ------
    TileReadError
        When a block cannot be decoded (truncated or corrupt file).
    """
    p = os.fspath(path)
    total = valid = 0
    vmin: float | None = None
    vmax: float | None = None
    try:
        with _open(p) as ds:
            bh = max(1, ds.block_shapes[0][0])
            rows = max(bh, (max(1, chunk_pixels // max(1, ds.width)) // bh) * bh)
            all_valid = all(MaskFlags.all_valid in flags for flags in ds.mask_flag_enums)
            is_float = np.issubdtype(np.dtype(ds.dtypes[0]), np.floating)
            for row in range(0, ds.height, rows):
                win = Window(0, row, ds.width, min(rows, ds.height - row))
                data = ds.read(window=win)
                ok = np.ones(data.shape[1:], dtype=bool)
                if not all_valid:
                    ok &= np.all(ds.read_masks(window=win) > 0, axis=0)
                if is_float:
                    ok &= ~np.any(np.isnan(data), axis=0)
                n = int(ok.sum())
                total += ok.size
                valid += n
                if n:
                    vals = data if n == ok.size else data[:, ok]
                    lo, hi = float(vals.min()), float(vals.max())
                    vmin = lo if vmin is None else min(vmin, lo)
                    vmax = hi if vmax is None else max(vmax, hi)
                    if stop_when_varied and vmin != vmax:
                        break
    except RasterioError as exc:
        raise TileReadError(
            f"{p}: pixel data cannot be read, the file is truncated or corrupt ({exc})"
        ) from exc
    return PixelStats(total=total, valid=valid, vmin=vmin, vmax=vmax)
