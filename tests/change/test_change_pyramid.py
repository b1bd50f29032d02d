"""Overviews computed in numpy against GDAL's own, and in the written COGs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling

from pipeline.change.pyramid import halve_mean, halve_nearest, halvings

from .conftest import site_grid

T0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
T1 = datetime(2024, 4, 2, 8, 30, tzinfo=UTC)


def _gdal_average(a: np.ndarray) -> np.ndarray:
    with rasterio.open(
        "",
        "w+",
        driver="MEM",
        width=a.shape[1],
        height=a.shape[0],
        count=1,
        dtype="float32",
        nodata=np.nan,
    ) as ds:
        ds.write(a, 1)
        ds.build_overviews([2], Resampling.average)
        h, w = -(-a.shape[0] // 2), -(-a.shape[1] // 2)
        return ds.read(1, out_shape=(h, w), resampling=Resampling.average)


# even sides: GDAL stretches an odd side's window (65 px -> 33 at 1.97 px each),
# halve_mean keeps 2 px windows and averages what is left at the edge
@pytest.mark.parametrize("shape", [(64, 64), (2, 130)])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.3, 1.0])
def test_halve_mean_matches_gdal_average(shape: tuple[int, int], nan_fraction: float) -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(5, 2, shape).astype(np.float32)
    a[rng.random(shape) < nan_fraction] = np.nan
    before = a.copy()
    got = halve_mean(a)
    np.testing.assert_array_equal(a, before)  # the input is not modified
    assert got.dtype == np.float32 and got.shape == (-(-shape[0] // 2), -(-shape[1] // 2))
    np.testing.assert_allclose(got, _gdal_average(a), rtol=1e-6, equal_nan=True)


def test_halve_mean_known_values() -> None:
    a = np.array([[1, 3, 5], [np.nan, 2, np.nan], [4, 4, np.nan]], dtype=np.float32)
    got = halve_mean(a)
    np.testing.assert_allclose(got, [[2.0, 5.0], [4.0, np.nan]], equal_nan=True)


def test_halvings_shapes_and_nearest() -> None:
    a = np.zeros((700, 1301), np.float32)
    assert [lv.shape for lv in halvings(a, 3)] == [(350, 651), (175, 326), (88, 163)]
    assert halvings(a, 0) == []
    m = np.arange(25, dtype=np.uint8).reshape(5, 5)
    np.testing.assert_array_equal(halve_nearest(m), m[::2, ::2])
    np.testing.assert_array_equal(halvings(m, 2, nearest=True)[1], m[::4, ::4])
    with pytest.raises(ValueError, match="2-D"):
        halve_mean(np.zeros((2, 2, 2), np.float32))


@pytest.mark.parametrize("nearest", [False, True])
def test_block_pyramids_tile_the_whole_pyramid(nearest: bool) -> None:
    # the engine halves each block: blocks starting on multiples of 2**levels
    # (odd sides only at the scene's edge) give exactly the whole scene's pyramid
    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, (203, 157)).astype(np.float32)
    a[rng.random(a.shape) < 0.2] = np.nan
    if nearest:
        a = (np.nan_to_num(a) > 0).astype(np.uint8)
    whole = halvings(a, 3, nearest=nearest)
    tiled = [np.full_like(lv, 7) for lv in whole]
    block = 64
    for r in range(0, a.shape[0], block):
        for c in range(0, a.shape[1], block):
            for k, lv in enumerate(
                halvings(a[r : r + block, c : c + block], 3, nearest=nearest), 1
            ):
                tiled[k - 1][r >> k : (r >> k) + lv.shape[0], c >> k : (c >> k) + lv.shape[1]] = lv
    for w, t in zip(whole, tiled, strict=True):
        np.testing.assert_array_equal(w, t)


def test_cog_overviews_in_memory_match_disk_stores(write_tile, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # a cloudy scene larger than one COG tile: both paths compute the overviews
    # block by block (cloud blanked after scoring included), in numpy arrays or
    # in GeoTIFF files; both COGs carry the same pyramid
    import pipeline.change.run as run_mod
    from pipeline.change.engine import ChangeParams
    from pipeline.change.run import tile_from_file
    from pipeline.change.synthetic import make_pair

    shape = (700, 1100)
    p = make_pair(shape, seed=2, cloud=True)
    grid = site_grid(shape)
    tb = tile_from_file(write_tile("tartus_20240301T083000Z.tif", p.before, grid, T0))
    ta = tile_from_file(write_tile("tartus_20240402T083000Z.tif", p.after, grid, T1))
    params = ChangeParams(block_size=256)
    mem = run_mod.compare_tiles(tb, ta, tmp_path / "mem", params=params)
    monkeypatch.setattr(run_mod, "_IN_MEMORY_PX", 0)
    disk = run_mod.compare_tiles(tb, ta, tmp_path / "disk", params=params)
    assert mem.summary["cloud_px"] > 0
    for x_path, y_path in ((mem.score, disk.score), (mem.mask, disk.mask)):
        with rasterio.open(x_path) as x, rasterio.open(y_path) as y:
            assert x.overviews(1) == y.overviews(1) == [2, 4]
            assert x.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert x.nodata == y.nodata or (np.isnan(x.nodata) and np.isnan(y.nodata))
            np.testing.assert_array_equal(x.read(1), y.read(1))
            for k in (0, 1):
                with (
                    rasterio.open(x_path, overview_level=k) as xo,
                    rasterio.open(y_path, overview_level=k) as yo,
                ):
                    np.testing.assert_array_equal(xo.read(1), yo.read(1))
