"""Fixtures of the flows tests: small real tiles on disk and one Prefect runtime per session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import rasterio.shutil  # noqa: F401 - write_cog uses rasterio.shutil without importing it
from affine import Affine
from rasterio.warp import transform as warp_transform

from pipeline.grid import Grid, utm_crs_for
from pipeline.io.rasters import TAG_ACQUIRED, TAG_SENSOR, TAG_SITE, write_cog

SITE_LONLAT = {"tartus": (35.8716, 34.913)}


def make_tiles(
    folder: Path,
    *,
    site: str = "tartus",
    n: int = 3,
    size: int = 192,
    gsd_m: float = 0.5,
    seed: int = 0,
    start: datetime = datetime(2024, 12, 10, 8, 30, tzinfo=UTC),
) -> list[Path]:
    """``n`` dated uint8 3-band tiles of ``site``; tile k has k bright 12x24 px blocks painted.

    Known answer: every consecutive pair differs by exactly one painted block.
    """
    lon, lat = SITE_LONLAT[site]
    crs = utm_crs_for(lon, lat)
    xs, ys = warp_transform("EPSG:4326", crs, [lon], [lat])
    half = size * gsd_m / 2
    grid = Grid(crs, Affine(gsd_m, 0, xs[0] - half, 0, -gsd_m, ys[0] + half), (size, size))
    rng = np.random.default_rng(seed)
    base = rng.normal(90, 6, size=(3, size, size)).clip(0, 255)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        img = base + rng.normal(0, 2, size=base.shape)
        for j in range(k):
            r, c = 20 + 40 * j, 30 + 30 * j
            img[:, r : r + 12, c : c + 24] = 230
        when = start + timedelta(days=k)
        path = folder / f"{site}_{when:%Y%m%d}.tif"
        write_cog(
            path,
            img.clip(0, 255).astype(np.uint8),
            grid,
            tags={
                TAG_ACQUIRED: when.isoformat().replace("+00:00", "Z"),
                TAG_SITE: site,
                TAG_SENSOR: "test",
            },
        )
        paths.append(path)
    return paths
