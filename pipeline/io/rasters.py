"""Raster reading and writing (GeoTIFF / COG) through rasterio.

Tag convention for sitewatch tiles (GDAL default metadata domain):

``ACQUISITION_DATETIME``  ISO 8601 UTC, e.g. ``2024-12-13T08:30:00Z``
``SITEWATCH_SITE_ID``     registry site id, e.g. ``khmeimim``
``SENSOR``                free text, e.g. ``synthetic-pleiades``
``SUN_AZIMUTH``           degrees clockwise from north
``SUN_ELEVATION``         degrees above the horizon

Filenames of the form ``<site>_<YYYYMMDD>[T<HHMMSS>Z].tif`` also carry site and
time (see :mod:`pipeline.ingest`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil  # noqa: F401  (submodule must be imported for rasterio.shutil.copy)
from rasterio.enums import Resampling

from pipeline.errors import TileReadError
from pipeline.grid import Grid
from pipeline.io.atomic import atomic_path

TAG_ACQUIRED = "ACQUISITION_DATETIME"
TAG_SITE = "SITEWATCH_SITE_ID"
TAG_SENSOR = "SENSOR"
TAG_SUN_AZIMUTH = "SUN_AZIMUTH"
TAG_SUN_ELEVATION = "SUN_ELEVATION"


def write_cog(
    path: str | os.PathLike[str],
    array: np.ndarray,
    grid: Grid,
    *,
    nodata: float | None = None,
    tags: Mapping[str, Any] | None = None,
    band_descriptions: tuple[str, ...] | None = None,
    compress: str = "DEFLATE",
    predictor: int | None = None,
    overview_resampling: str = "average",
    blocksize: int = 512,
) -> Path:
    """Write a ``(bands, rows, cols)`` array as a Cloud-Optimised GeoTIFF, atomically.

    A 2-D array is written as one band. ``predictor`` defaults to 2 (horizontal
    differencing) for integers and 3 for floats. Output is deterministic for
    identical inputs (no timestamps are written).
    """
    arr = array[np.newaxis] if array.ndim == 2 else array
    if arr.ndim != 3:
        raise ValueError(f"array must be (bands, rows, cols) or (rows, cols), got {array.shape}")
    if arr.shape[1:] != grid.shape:
        raise ValueError(f"array shape {arr.shape[1:]} does not match grid shape {grid.shape}")
    if predictor is None:
        predictor = 3 if np.issubdtype(arr.dtype, np.floating) else 2
    profile = {
        "driver": "COG",
        "count": arr.shape[0],
        "height": grid.height,
        "width": grid.width,
        "dtype": arr.dtype.name,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "compress": compress,
        "predictor": predictor,
        "blocksize": blocksize,
        "overview_resampling": overview_resampling,
        "BIGTIFF": "IF_SAFER",
    }
    target = Path(path)
    with atomic_path(target, suffix=".tif") as tmp:
        # The COG driver needs a source dataset: build it in memory, then copy.
        with rasterio.MemoryFile() as mem:
            gtiff = dict(profile, driver="GTiff")
            for k in ("blocksize", "overview_resampling", "BIGTIFF", "compress", "predictor"):
                gtiff.pop(k)
            with mem.open(**gtiff) as ds:
                ds.write(arr)
                if tags:
                    ds.update_tags(**{k: str(v) for k, v in tags.items()})
                if band_descriptions:
                    for i, d in enumerate(band_descriptions, start=1):
                        ds.set_band_description(i, d)
            with mem.open() as src:
                rasterio.shutil.copy(
                    src,
                    tmp,
                    **{
                        k: v
                        for k, v in profile.items()
                        if k
                        not in ("count", "height", "width", "dtype", "crs", "transform", "nodata")
                    },
                )
    return target


def read_grid(path: str | os.PathLike[str]) -> Grid:
    """The :class:`Grid` of a raster file (header only, no pixels read)."""
    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise TileReadError(f"{path}: raster has no CRS")
            return Grid(ds.crs.to_string(), ds.transform, (ds.height, ds.width))
    except rasterio.errors.RasterioIOError as exc:
        raise TileReadError(f"{path}: cannot open as a raster ({exc})") from exc


def read_array(
    path: str | os.PathLike[str],
    *,
    window: tuple[int, int, int, int] | None = None,
    bands: list[int] | None = None,
    out_shape: tuple[int, int] | None = None,
    resampling: Resampling = Resampling.average,
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``(bands, rows, cols)`` pixels and a boolean validity mask ``(rows, cols)``.

    ``window`` is ``(row_off, col_off, height, width)`` in pixels. The mask is
    True where every band holds valid data (not nodata / not masked).
    """
    from rasterio.windows import Window

    try:
        with rasterio.open(path) as ds:
            win = None if window is None else Window(window[1], window[0], window[3], window[2])
            idx = bands or list(range(1, ds.count + 1))
            kwargs: dict[str, Any] = {"window": win}
            if out_shape is not None:
                kwargs["out_shape"] = (len(idx), *out_shape)
                kwargs["resampling"] = resampling
            data = ds.read(idx, **kwargs)
            mask = ds.read_masks(idx, **kwargs)
    except rasterio.errors.RasterioIOError as exc:
        raise TileReadError(f"{path}: cannot read pixels ({exc})") from exc
    return data, np.all(mask > 0, axis=0)


def read_tags(path: str | os.PathLike[str]) -> dict[str, str]:
    """Dataset-level tags (GDAL default metadata domain) of a raster file."""
    try:
        with rasterio.open(path) as ds:
            return dict(ds.tags())
    except rasterio.errors.RasterioIOError as exc:
        raise TileReadError(f"{path}: cannot open as a raster ({exc})") from exc
