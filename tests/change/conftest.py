"""Fixtures for the change-detection tests: write small georeferenced tiles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from pipeline.grid import Grid
from pipeline.io.rasters import TAG_ACQUIRED, TAG_SITE

# Tartus (registry site without ICAO), UTM zone 36N
SITE = "tartus"
LON, LAT = 35.8716, 34.9130
CRS = "EPSG:32636"
GSD = 0.5


def site_grid(
    shape: tuple[int, int], *, gsd: float = GSD, offset_px: tuple[int, int] = (0, 0)
) -> Grid:
    """A north-up UTM grid centred on the test site, shifted by whole pixels."""
    g0 = Grid(CRS, Affine(1, 0, 0, 0, -1, 0), (1, 1))
    x, y = g0.from_lonlat(LON, LAT)
    rows, cols = shape
    left = float(x[0]) - cols / 2 * gsd + offset_px[1] * gsd
    top = float(y[0]) + rows / 2 * gsd - offset_px[0] * gsd
    return Grid(CRS, Affine(gsd, 0, left, 0, -gsd, top), shape)


TileWriter = Callable[..., Path]


@pytest.fixture
def write_tile(tmp_path: Path) -> TileWriter:
    """``write_tile(name, array, grid, when, nodata=None, site=SITE) -> path``."""

    def _write(
        name: str,
        array: np.ndarray,
        grid: Grid,
        when: datetime,
        *,
        nodata: float | None = None,
        site: str = SITE,
    ) -> Path:
        arr = array if array.ndim == 3 else array[np.newaxis]
        path = tmp_path / name
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=grid.width,
            height=grid.height,
            count=arr.shape[0],
            dtype=arr.dtype.name,
            crs=grid.crs,
            transform=grid.transform,
            nodata=nodata,
        ) as ds:
            ds.write(arr)
            ds.update_tags(**{TAG_ACQUIRED: when.astimezone(UTC).isoformat(), TAG_SITE: site})
        return path

    return _write
