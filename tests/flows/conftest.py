"""Fixtures of the flows tests: small real tiles on disk and one Prefect runtime per session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
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


@pytest.fixture(scope="session")
def small_tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with three dated tiles of Tartus (built once per session)."""
    folder = tmp_path_factory.mktemp("tiles")
    make_tiles(folder, n=3)
    return folder


@pytest.fixture(scope="session")
def flow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Result store shared by every Prefect test of the session (one sqlite database)."""
    return tmp_path_factory.mktemp("flow-store")


@pytest.fixture(scope="session")
def prefect_api(flow_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One temporary Prefect server for the session, with settings applied as the CLI does."""
    from flows.runtime import prefect_runtime
    from pipeline.config import RunConfig

    cfg = RunConfig.from_env({}, source=tmp_path_factory.getbasetemp(), store=flow_store)
    with prefect_runtime(cfg) as url:
        yield url


@pytest.fixture(scope="session")
def tile_factory() -> object:
    """:func:`make_tiles`, for tests that need their own tiles."""
    return make_tiles
