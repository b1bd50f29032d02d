"""Builders of small test rasters with known georeferencing for the ingest tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform as warp_transform

from pipeline.grid import utm_crs_for
from pipeline.model import Site
from pipeline.sites import SiteRegistry, default_registry, square_aoi

# A made-up southern-hemisphere site so UTM south zones are exercised too.
SOUTH_SITE = Site(
    id="test-south",
    name="Test South Airfield",
    lon=18.6017,
    lat=-33.9648,
    aliases=("Southfield",),
    aoi=square_aoi(18.6017, -33.9648, 2500.0),
)

# (site id, CRS kind) combinations the good-tile tests run over.
CRS_CASES = {
    "utm-north": ("khmeimim", "utm"),
    "utm-south": ("test-south", "utm"),
    "web-mercator": ("khmeimim", "EPSG:3857"),
}


@pytest.fixture(scope="session")
def registry() -> SiteRegistry:
    return default_registry().with_sites([SOUTH_SITE])


def site_crs(site: Site, kind: str) -> str:
    return utm_crs_for(site.lon, site.lat) if kind == "utm" else kind


def centred_transform(
    crs: str, lon: float, lat: float, *, res: float, rows: int, cols: int
) -> Affine:
    """North-up transform of a ``rows x cols`` grid of ``res`` map units centred on lon/lat."""
    xs, ys = warp_transform("EPSG:4326", crs, [lon], [lat])
    return Affine(res, 0.0, xs[0] - cols * res / 2, 0.0, -res, ys[0] + rows * res / 2)


def textured(shape: tuple[int, int, int], dtype: str, seed: int = 0) -> np.ndarray:
    """Random pixel values 1..200 (never 0, the nodata used in tests) in ``dtype``."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 200, size=shape).astype(dtype)


def write_tile(
    path: Path,
    *,
    site: Site,
    crs: str | None = "utm",
    dtype: str = "uint8",
    bands: int = 3,
    rows: int = 96,
    cols: int = 128,
    res: float = 0.5,
    nodata: float | None = None,
    tags: Mapping[str, Any] | None = None,
    data: np.ndarray | None = None,
    transform: Affine | None = None,
    seed: int = 0,
    **creation: Any,
) -> Path:
    """Write a small tiled GeoTIFF centred on ``site`` and return its path."""
    resolved = None if crs is None else site_crs(site, crs)
    if transform is None:
        transform = centred_transform(
            resolved or "EPSG:32636", site.lon, site.lat, res=res, rows=rows, cols=cols
        )
    arr = textured((bands, rows, cols), dtype, seed) if data is None else data
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": arr.shape[2],
        "height": arr.shape[1],
        "count": arr.shape[0],
        "dtype": arr.dtype.name,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 32,
        "blockysize": 32,
        "compress": "deflate",
    }
    if resolved is not None:
        profile["crs"] = resolved
    profile.update(creation)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(arr)
        if tags:
            ds.update_tags(**{k: str(v) for k, v in tags.items()})
    return path


@pytest.fixture
def make_tile(registry: SiteRegistry) -> Callable[..., Path]:
    """``make_tile(path, site_id="khmeimim", **write_tile_kwargs)``."""

    def _make(path: Path, site_id: str = "khmeimim", **kwargs: Any) -> Path:
        return write_tile(path, site=registry.get(site_id), **kwargs)

    return _make


@pytest.fixture(scope="session")
def geo() -> Any:
    """Helper functions for tests (test modules cannot import conftest under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        site_crs=site_crs,
        centred_transform=centred_transform,
        write_tile=write_tile,
        textured=textured,
        south_site=SOUTH_SITE,
    )
