"""validate_tile: good tiles accepted with correct fields, each bad input rejected precisely."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from pipeline.errors import (
    ConfigError,
    TileReadError,
    TileValidationError,
)
from pipeline.ingest import IngestConfig, ingest, validate_tile
from pipeline.ingest.reader import scan_pixels
from pipeline.io.atomic import sha256_file

# (site id, CRS kind): UTM north, UTM south (made-up southern site), Web Mercator.
CRS_CASES = {
    "utm-north": ("khmeimim", "utm"),
    "utm-south": ("test-south", "utm"),
    "web-mercator": ("khmeimim", "EPSG:3857"),
}
T0 = datetime(2024, 12, 13, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("case", list(CRS_CASES), ids=list(CRS_CASES))
def test_good_tile_accepted(tmp_path, geo, make_tile, registry, dtype, case):
    site_id, crs_kind = CRS_CASES[case]
    site = registry.get(site_id)
    nodata = 0.0 if dtype != "float32" else float("nan")
    path = make_tile(
        tmp_path / "scene.tif",
        site_id=site_id,
        crs=crs_kind,
        dtype=dtype,
        nodata=nodata,
        tags={
            "ACQUISITION_DATETIME": "2024-12-13T08:30:00Z",
            "SITEWATCH_SITE_ID": site_id,
            "SENSOR": "test-sensor",
            "SUN_AZIMUTH": "143.5",
            "SUN_ELEVATION": "31.25",
        },
    )
    tile = validate_tile(path, registry=registry)
    assert tile.id == f"{site_id}_20241213T083000Z"
    assert tile.site_id == site_id
    assert tile.acquired == T0
    assert tile.path == str(path.resolve())
    assert tile.dtype == dtype
    assert tile.band_count == 3
    assert tile.grid.shape == (96, 128)
    assert tile.grid.crs == geo.site_crs(site, crs_kind)
    assert tile.sha256 == sha256_file(path)
    assert tile.sensor == "test-sensor"
    assert tile.sun_azimuth_deg == pytest.approx(143.5)
    assert tile.sun_elevation_deg == pytest.approx(31.25)
    if dtype == "float32":
        assert tile.nodata is not None and math.isnan(tile.nodata)
    else:
        assert tile.nodata == 0.0
    # GSD is measured on the ground: 0.5 m in UTM (scale factor ~1), 0.5 * cos(lat) in 3857.
    expected = 0.5 * (math.cos(math.radians(site.lat)) if crs_kind == "EPSG:3857" else 1.0)
    assert tile.gsd_m == pytest.approx(expected, rel=2e-3)
    # The footprint lies inside the site AOI and contains the site centre.
    lons = [p[0] for p in tile.footprint_lonlat]
    lats = [p[1] for p in tile.footprint_lonlat]
    assert min(lons) < site.lon < max(lons) and min(lats) < site.lat < max(lats)


def test_site_and_time_from_filename_and_footprint(tmp_path, make_tile, registry):
    by_name = make_tile(tmp_path / "Hmeimim_20240105T101112Z.tif")
    tile = validate_tile(by_name, registry=registry)
    assert tile.site_id == "khmeimim"
    assert tile.acquired == datetime(2024, 1, 5, 10, 11, 12, tzinfo=UTC)
    by_footprint = make_tile(tmp_path / "south" / "unknownplace_2023-07-30.tif", "test-south")
    tile2 = validate_tile(by_footprint, registry=registry)
    assert tile2.site_id == "test-south"
    assert tile2.id == "test-south_20230730T000000Z"


def test_acquisition_tag_beats_filename_and_tifftag_is_last_resort(tmp_path, make_tile):
    tagged = make_tile(
        tmp_path / "khmeimim_20200101.tif",
        tags={"ACQUISITION_DATETIME": "2024-12-13T10:30:00+02:00"},
    )
    assert validate_tile(tagged).acquired == T0
    named = make_tile(
        tmp_path / "a" / "khmeimim_20200101.tif", tags={"TIFFTAG_DATETIME": "2031:01:01 00:00:00"}
    )
    assert validate_tile(named).acquired == datetime(2020, 1, 1, tzinfo=UTC)
    tiff_only = make_tile(
        tmp_path / "b" / "scene.tif", tags={"TIFFTAG_DATETIME": "2024:12:13 08:30:00"}
    )
    assert validate_tile(tiff_only).acquired == T0


def _reject(path: Path, exc_type: type[Exception], *words: str, **kwargs) -> str:
    """validate_tile raises exc_type naming the file; ingest lists it with the same reason."""
    with pytest.raises(exc_type) as info:
        validate_tile(path, **kwargs)
    msg = str(info.value)
    assert msg.startswith(str(path.resolve())), msg
    for w in words:
        assert w in msg.lower(), msg
    report = ingest(path, **kwargs)
    assert report.tiles == ()
    assert [r.path for r in report.rejected] == [str(path.resolve())]
    assert report.rejected[0].reason in msg
    return msg


def test_zero_byte_file(tmp_path):
    p = tmp_path / "khmeimim_20241213.tif"
    p.write_bytes(b"")
    _reject(p, TileReadError, "empty")


def test_text_file_named_tif(tmp_path):
    p = tmp_path / "khmeimim_20241213.tif"
    p.write_text("this is not a raster\n")
    _reject(p, TileReadError, "cannot open as a raster")


@pytest.mark.parametrize("keep", [0.03, 0.6])
def test_truncated_geotiff(tmp_path, make_tile, keep):
    good = make_tile(tmp_path / "full.tif", rows=256, cols=256)
    data = good.read_bytes()
    p = tmp_path / "khmeimim_20241213.tif"
    p.write_bytes(data[: int(len(data) * keep)])
    _reject(p, TileReadError, "truncated" if keep > 0.5 else "")


def test_no_crs(tmp_path, make_tile):
    p = make_tile(tmp_path / "khmeimim_20241213.tif", crs=None)
    _reject(p, TileValidationError, "no crs")


def test_identity_transform(tmp_path, make_tile):
    p = make_tile(tmp_path / "khmeimim_20241213.tif", transform=Affine.identity())
    _reject(p, TileValidationError, "identity")


def test_rotated_transform(tmp_path, geo, make_tile, registry):
    site = registry.get("khmeimim")
    base = geo.centred_transform(
        geo.site_crs(site, "utm"), site.lon, site.lat, res=0.5, rows=96, cols=128
    )
    rotated = base * Affine.rotation(80)
    p = make_tile(tmp_path / "khmeimim_20241213.tif", transform=rotated)
    _reject(p, TileValidationError, "rotated")


def test_no_acquisition_time(tmp_path, make_tile):
    p = make_tile(tmp_path / "scene_final.tif")
    _reject(p, TileValidationError, "no acquisition time")


def test_bad_acquisition_tag(tmp_path, make_tile):
    p = make_tile(tmp_path / "khmeimim_20241213.tif", tags={"ACQUISITION_DATETIME": "yesterday"})
    _reject(p, TileValidationError, "acquisition_datetime")


def test_outside_every_site(tmp_path, geo, registry):
    from pipeline.model import Site

    nowhere = Site(id="nowhere", name="Nowhere", lon=-40.0, lat=-60.0)
    p = geo.write_tile(tmp_path / "scene_20241213.tif", site=nowhere)
    _reject(p, TileValidationError, "outside every registered site", registry=registry)


def test_site_tag_contradicted_by_footprint(tmp_path, make_tile):
    p = make_tile(tmp_path / "scene_20241213.tif", tags={"SITEWATCH_SITE_ID": "benina"})
    _reject(p, TileValidationError, "does not intersect the aoi of site 'benina'")


def test_unknown_site_tag(tmp_path, make_tile):
    p = make_tile(tmp_path / "scene_20241213.tif", tags={"SITEWATCH_SITE_ID": "atlantis"})
    _reject(p, TileValidationError, "names no registered site")


def test_huge_declared_dimensions_rejected_without_allocating(tmp_path, geo, make_tile, registry):
    site = registry.get("khmeimim")
    p = tmp_path / "khmeimim_20241213.tif"
    crs = geo.site_crs(site, "utm")
    with rasterio.open(
        p,
        "w",
        driver="GTiff",
        width=200_000,
        height=200_000,
        count=1,
        dtype="uint8",
        crs=crs,
        transform=geo.centred_transform(
            crs, site.lon, site.lat, res=0.5, rows=200_000, cols=200_000
        ),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        SPARSE_OK=True,
    ) as ds:
        ds.write(np.full((1, 512, 512), 7, np.uint8), window=((0, 512), (0, 512)))
    assert p.stat().st_size < 10_000_000
    start = time.perf_counter()
    msg = _reject(p, TileValidationError, "exceeds the cap")
    assert "200000 x 200000" in msg
    assert time.perf_counter() - start < 30  # header only; a pixel read would take far longer
    # With the cap raised, the header passes (it is a valid sparse file) until the pixel scan.
    assert IngestConfig(max_pixels=10**11).max_pixels == 10**11


def test_all_nodata(tmp_path, make_tile):
    p = make_tile(
        tmp_path / "khmeimim_20241213.tif",
        nodata=0,
        data=np.zeros((3, 96, 128), np.uint16),
    )
    _reject(p, TileValidationError, "all 12,288 pixels are nodata")


def test_all_nan_float(tmp_path, make_tile):
    p = make_tile(
        tmp_path / "khmeimim_20241213.tif",
        data=np.full((1, 96, 128), np.nan, np.float32),
    )
    _reject(p, TileValidationError, "nodata or masked")


def test_constant_blank_tile(tmp_path, make_tile):
    p = make_tile(tmp_path / "khmeimim_20241213.tif", data=np.full((3, 96, 128), 9, np.uint8))
    _reject(p, TileValidationError, "blank tile")
    with pytest.raises(TileValidationError, match="blank tile"):
        validate_tile(p, config=IngestConfig(quick_scan=True))
    accepted = validate_tile(p, config=IngestConfig(reject_constant=False))
    assert accepted.site_id == "khmeimim"


def test_unsupported_dtype_and_band_count(tmp_path, make_tile):
    p = make_tile(tmp_path / "khmeimim_20241213.tif", dtype="int32")
    _reject(p, TileValidationError, "int32 not supported")
    q = make_tile(tmp_path / "b" / "khmeimim_20241213.tif", bands=9)
    _reject(q, TileValidationError, "9 bands")
    assert validate_tile(q, config=IngestConfig(max_bands=9)).band_count == 9


def test_nodata_not_fitting_dtype(tmp_path, make_tile):
    p = make_tile(tmp_path / "khmeimim_20241213.tif", dtype="uint8", nodata=0.5)
    _reject(p, TileValidationError, "nodata")


def test_wrong_units_gsd(tmp_path, geo, make_tile, registry):
    # Degrees-sized pixels in a metre CRS: 1e-5 m ground pixels.
    site = registry.get("khmeimim")
    t = geo.centred_transform(
        geo.site_crs(site, "utm"), site.lon, site.lat, res=1e-5, rows=96, cols=128
    )
    p = make_tile(tmp_path / "khmeimim_20241213.tif", transform=t)
    _reject(p, TileValidationError, "ground sample distance")


def test_pixel_scan_streams_windows_and_counts_valid(tmp_path, make_tile):
    data = np.full((2, 200, 150), 5, np.uint16)
    data[:, :, :50] = 0  # one third nodata
    data[1, 10, 100] = 999
    p = make_tile(tmp_path / "khmeimim_20241213.tif", data=data, nodata=0)
    quick = scan_pixels(p, chunk_pixels=1024, stop_when_varied=True)
    assert 0 < quick.total < 200 * 150  # stopped at the window holding the 999
    assert (quick.vmin, quick.vmax) == (5.0, 999.0)
    small = scan_pixels(p, chunk_pixels=1024)
    whole = scan_pixels(p, chunk_pixels=10**7)
    assert small == whole
    assert small.total == 200 * 150 and small.valid == 200 * 100
    assert (small.vmin, small.vmax) == (5.0, 999.0)


def test_config_rejects_nonsense():
    with pytest.raises(ConfigError):
        IngestConfig(max_pixels=0)
    with pytest.raises(ConfigError):
        IngestConfig(min_bands=4, max_bands=2)


def test_vendor_imagery_metadata_and_sun_zenith(tmp_path, make_tile):
    p = make_tile(
        tmp_path / "scene.tif",
        tags={"SUN_AZIMUTH_ANGLE": "-20", "SUN_ZENITH": "60"},
    )
    with rasterio.open(p, "r+") as ds:
        ds.update_tags(ns="IMAGERY", ACQUISITIONDATETIME="2024-12-13 08:30:00", SATELLITEID="PHR1A")
    tile = validate_tile(p)
    assert tile.acquired == T0
    assert tile.sensor == "PHR1A"
    assert tile.sun_azimuth_deg == pytest.approx(340.0)
    assert tile.sun_elevation_deg == pytest.approx(30.0)


def test_gcp_only_raster_explains_what_to_do(tmp_path, make_tile, registry):
    from rasterio.control import GroundControlPoint

    site = registry.get("khmeimim")
    p = make_tile(tmp_path / "khmeimim_20241213.tif", crs=None, transform=Affine.identity())
    gcps = [
        GroundControlPoint(row=r, col=c, x=site.lon + c * 1e-5, y=site.lat - r * 1e-5)
        for r, c in ((0, 0), (0, 128), (96, 0), (96, 128))
    ]
    with rasterio.open(p, "r+") as ds:
        ds.gcps = (gcps, "EPSG:4326")
    _reject(p, TileValidationError, "only by gcps", "orthorectify")
