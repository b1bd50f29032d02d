"""File-level change detection: compare_tiles outputs, errors, vector writer, CLI."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from PIL import Image
from shapely.geometry import shape
from typer.testing import CliRunner

from pipeline.change.engine import ChangeParams
from pipeline.change.evaluate import evaluate, find_tile_pairs, load_plain_pairs, score_tiles
from pipeline.change.run import common_grid, compare_tiles, tile_from_file
from pipeline.cli import build_app
from pipeline.errors import OverlapError, TilePairError, TileValidationError
from pipeline.grid import Grid
from pipeline.io.vector import feature_collection, write_features
from pipeline.model import ChangeRegion

from .conftest import CRS, GSD, site_grid

T0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
T1 = datetime(2024, 4, 2, 8, 30, tzinfo=UTC)


def _scene(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    base = ndimage.gaussian_filter(rng.normal(0, 1, shape), 3) * 3000 + 3000
    img = np.stack([base, base * 0.9, base * 1.1]) + rng.normal(0, 30, (3, *shape))
    return np.clip(img, 1, 10000).astype(np.uint16)


def _painted(before: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    r0, r1, c0, c1 = box
    after = before.copy()
    after[:, r0:r1, c0:c1] = 9000
    return after


@pytest.fixture
def pair(write_tile):  # type: ignore[no-untyped-def]
    shape = (200, 240)
    grid = site_grid(shape)
    before = _scene(shape)
    box = (80, 110, 100, 140)  # rows 80-110, cols 100-140: 30 x 40 px = 300 m2
    after = _painted(before, box)
    b = write_tile("tartus_20240301T083000Z.tif", before, grid, T0)
    a = write_tile("tartus_20240402T083000Z.tif", after, grid, T1)
    return b, a, grid, box


def test_compare_tiles_writes_all_outputs(pair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b, a, grid, box = pair
    tb, ta = tile_from_file(b), tile_from_file(a)
    out = tmp_path / "changes" / "tartus" / f"{tb.id}__{ta.id}"
    res = compare_tiles(tb, ta, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "changes.geojson",
        "changes.gpkg",
        "mask.tif",
        "regions.json",
        "score.tif",
        "summary.json",
    ]
    with rasterio.open(res.score) as ds:
        assert ds.dtypes[0] == "float32" and ds.crs.to_string() == CRS
        assert ds.transform == grid.transform
    with rasterio.open(res.mask) as ds:
        m = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255
    r0, r1, c0, c1 = box
    assert m[r0 + 2 : r1 - 2, c0 + 2 : c1 - 2].all()
    assert (m == 1).sum() < 1.3 * (r1 - r0) * (c1 - c0)

    assert len(res.regions) == 1
    region = res.regions[0]
    assert region.area_m2 == pytest.approx(300.0, rel=0.15)
    assert region.before_sha256 == tb.sha256 and region.after_tile_id == ta.id
    # the polygon lands where the change was painted, in lon/lat
    poly = shape(region.geometry)
    lon_c, lat_c = grid.pixel_ring_to_lonlat([((r0 + r1) / 2, (c0 + c1) / 2)])[0]
    assert poly.centroid.x == pytest.approx(lon_c, abs=2 * GSD / 1e5)
    assert poly.centroid.y == pytest.approx(lat_c, abs=2 * GSD / 1e5)
    ul = grid.pixel_ring_to_lonlat([(r0, c0)])[0]
    lr = grid.pixel_ring_to_lonlat([(r1, c1)])[0]
    minx, miny, maxx, maxy = poly.bounds
    assert minx == pytest.approx(ul[0], abs=1.5 * GSD / 1e5)
    assert maxy == pytest.approx(ul[1], abs=1.5 * GSD / 1e5)
    assert maxx == pytest.approx(lr[0], abs=1.5 * GSD / 1e5)
    assert miny == pytest.approx(lr[1], abs=1.5 * GSD / 1e5)

    regions = [ChangeRegion.from_dict(d) for d in json.loads((out / "regions.json").read_text())]
    assert regions == list(res.regions)
    gj = json.loads((out / "changes.geojson").read_text())
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == 1
    info = pyogrio.read_info(out / "changes.gpkg", layer="changes")
    assert info["features"] == 1 and info["crs"] == "EPSG:4326"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "cva" and summary["regions"] == 1
    assert {"row_px", "col_px", "row_m", "col_m", "peak_ratio", "applied"} <= set(summary["shift"])
    assert summary["threshold"]["name"] == "otsu"
    assert summary["params"]["method"] == "cva"
    assert summary["before"]["sha256"] == tb.sha256

    # re-running replaces the outputs: same files, same content, no leftovers
    again = compare_tiles(tb, ta, out)
    assert sorted(p.name for p in out.iterdir()) == names
    assert again.regions == res.regions


def test_disk_stores_and_blocks_match_in_memory(write_tile, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # a cloudy pair: the on-disk stores of large scenes with small blocks (cloud
    # known only after the score pass, blanked in the stored score) write the
    # same score, mask and regions as one in-memory block
    import pipeline.change.run as run_mod
    from pipeline.change.synthetic import make_pair

    p = make_pair((320, 320), seed=1, cloud=True)
    grid = site_grid((320, 320))
    tb = tile_from_file(write_tile("tartus_20240301T083000Z.tif", p.before, grid, T0))
    ta = tile_from_file(write_tile("tartus_20240402T083000Z.tif", p.after, grid, T1))
    mem = compare_tiles(tb, ta, tmp_path / "mem")
    monkeypatch.setattr(run_mod, "_IN_MEMORY_PX", 0)
    disk = compare_tiles(tb, ta, tmp_path / "disk", params=ChangeParams(block_size=64))
    assert mem.summary["cloud_px"] > 0.1 * p.cloud.size
    assert disk.summary["cloud_px"] == mem.summary["cloud_px"]
    assert disk.summary["valid_px"] == mem.summary["valid_px"]
    for x_path, y_path in ((mem.score, disk.score), (mem.mask, disk.mask)):
        with rasterio.open(x_path) as x, rasterio.open(y_path) as y:
            for ds in (x, y):
                assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
                assert ds.compression.name == "zstd"
            np.testing.assert_allclose(x.read(), y.read(), rtol=1e-5, atol=1e-5, equal_nan=True)
    for res in (mem, disk):
        with rasterio.open(res.mask) as ds, rasterio.open(res.score) as dsc:
            m, score = ds.read(1), dsc.read(1)
        assert (m[p.cloud] == 255).mean() > 0.75
        # cloud found after scoring is blanked in the written score too
        np.testing.assert_array_equal(np.isnan(score), m == 255)
    assert [r.area_m2 for r in disk.regions] == [r.area_m2 for r in mem.regions]


def test_no_change_pair_gives_no_regions(pair, write_tile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b, _, grid, _ = pair
    before = rasterio.open(b).read()
    brighter = (before.astype(np.float64) * 1.2 + 200).clip(0, 65535).astype(np.uint16)
    a2 = write_tile("tartus_20240501T083000Z.tif", brighter, grid, datetime(2024, 5, 1, tzinfo=UTC))
    res = compare_tiles(tile_from_file(b), tile_from_file(a2), tmp_path / "out")
    assert res.regions == ()
    assert json.loads((tmp_path / "out" / "changes.geojson").read_text())["features"] == []


def test_different_crs_is_warped(write_tile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shape = (200, 200)
    grid = site_grid(shape, gsd=1.0)
    before = _scene(shape, seed=3)
    after = _painted(before, (60, 100, 60, 100))
    # the before tile is the same scene resampled to Web Mercator
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    left, bottom, right, top = grid.bounds
    t, w, h = calculate_default_transform(CRS, "EPSG:3857", 200, 200, left, bottom, right, top)
    merc = np.zeros((3, h, w), dtype=np.uint16)
    reproject(
        before,
        merc,
        src_transform=grid.transform,
        src_crs=CRS,
        dst_transform=t,
        dst_crs="EPSG:3857",
        resampling=Resampling.bilinear,
    )
    b = write_tile("tartus_20240301.tif", merc, Grid("EPSG:3857", t, (h, w)), T0, nodata=0)
    a = write_tile("tartus_20240402.tif", after, grid, T1)
    res = compare_tiles(tile_from_file(b), tile_from_file(a), tmp_path / "out")
    big = [r for r in res.regions if r.area_m2 > 500]
    assert len(big) == 1
    assert big[0].area_m2 == pytest.approx(1600, rel=0.2)


def test_partial_overlap_uses_the_after_grid_clipped(write_tile) -> None:  # type: ignore[no-untyped-def]
    shape = (100, 100)
    b = write_tile("tartus_20240301.tif", _scene(shape), site_grid(shape), T0)
    a = write_tile("tartus_20240402.tif", _scene(shape), site_grid(shape, offset_px=(0, 30)), T1)
    g = common_grid(tile_from_file(b), tile_from_file(a))
    assert g.shape == (100, 70)
    with pytest.raises(OverlapError, match="tartus_20240301.tif.*tartus_20240402.tif"):
        common_grid(tile_from_file(b), tile_from_file(a), min_overlap=0.9)


def test_bad_pairs_have_clear_errors(write_tile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shape = (80, 80)
    grid = site_grid(shape)
    b = tile_from_file(write_tile("tartus_20240301.tif", _scene(shape), grid, T0))
    far = site_grid(shape, offset_px=(0, 500))
    a_far = tile_from_file(write_tile("tartus_20240402.tif", _scene(shape), far, T1))
    with pytest.raises(OverlapError, match="overlap"):
        compare_tiles(b, a_far, tmp_path / "x")
    other = (
        tile_from_file(
            write_tile("khmeimim_20240402.tif", _scene(shape), grid, T1, site="khmeimim")
        )
        if False
        else None
    )
    assert other is None

    a_other_site = dataclasses.replace(b, site_id="khmeimim", id="khmeimim_x")
    with pytest.raises(TilePairError, match="different sites"):
        compare_tiles(b, a_other_site, tmp_path / "y")
    # all-nodata over the overlap: ingest accepts the header, the pair is refused
    half = np.zeros((3, *shape), dtype=np.uint16)
    half[:, :, :10] = _scene(shape)[:, :, :10]
    a_half = tile_from_file(
        write_tile("tartus_20240403.tif", half, site_grid(shape, offset_px=(0, -70)), T1, nodata=0)
    )
    with pytest.raises(TilePairError, match="no valid pixels"):
        compare_tiles(b, a_half, tmp_path / "z", params=ChangeParams(min_overlap=0.1))
    empty = np.zeros((3, *shape), dtype=np.uint16)
    with pytest.raises(TileValidationError, match="tartus_20240404.tif"):
        tile_from_file(write_tile("tartus_20240404.tif", empty, grid, T1, nodata=0))


def test_write_features_geojson_and_gpkg(tmp_path: Path) -> None:
    ring = ((35.0, 34.0), (35.001, 34.0), (35.001, 34.001), (35.0, 34.0))
    r = ChangeRegion("r1", "cva", "b", "a", "s1", "s2", (ring,), 12.5, 3.0, 7.0)
    feats = [r, {"type": "Feature", "geometry": r.geometry, "properties": {"note": None}}]
    for name in ("f.geojson", "f.gpkg"):
        p = write_features(tmp_path / name, feats, layer="changes")
        info = pyogrio.read_info(p, layer="changes")
        assert info["features"] == 2 and info["crs"] == "EPSG:4326"
    fc = feature_collection([r])
    assert fc["features"][0]["properties"]["area_m2"] == 12.5
    with pytest.raises(ValueError, match="unsupported vector format"):
        write_features(tmp_path / "f.shp", feats)
    empty = write_features(tmp_path / "e.gpkg", [], layer="changes")
    assert pyogrio.read_info(empty, layer="changes")["features"] == 0


def test_gpkg_reads_back_through_gdal(tmp_path: Path) -> None:
    # our sqlite GeoPackage writer: GDAL (pyogrio) reads back every geometry,
    # value, type and NULL, and the layer extent
    from pyogrio.raw import read
    from shapely import from_wkb

    outer = ((35.0, 34.0), (35.01, 34.0), (35.01, 34.01), (35.0, 34.01), (35.0, 34.0))
    hole = ((35.002, 34.002), (35.004, 34.002), (35.004, 34.004), (35.002, 34.002))
    r = ChangeRegion("r1", "cva", "b", "a", "s1", "s2", (outer, hole), 12.5, 3.0, 7.0)
    other = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[36, 35], [36.5, 35], [36, 35.5], [36, 35]]],
        },
        "properties": {"note": 'é "quoted"', "n": 3, "ok": True, "nested": {"k": [1, 2]}},
    }
    p = write_features(tmp_path / "f.gpkg", [r, other], layer="my layer")
    info = pyogrio.read_info(p, layer="my layer")
    assert info["features"] == 2 and info["crs"] == "EPSG:4326"
    assert info["geometry_type"] == "Polygon"
    assert info["total_bounds"] == pytest.approx((35.0, 34.0, 36.5, 35.5))
    _, _, wkb, values = read(p, layer="my layer")
    assert from_wkb(wkb[0]).equals(shape(r.geometry))
    assert from_wkb(wkb[1]).equals(shape(other["geometry"]))
    cols = dict(zip(info["fields"], values, strict=True))
    assert list(cols["id"]) == ["r1", None] and list(cols["note"]) == [None, 'é "quoted"']
    assert cols["area_m2"][0] == 12.5 and np.isnan(cols["area_m2"][1])
    assert dict(zip(info["fields"], info["ogr_subtypes"], strict=True))["ok"] == "OFSTBoolean"
    assert cols["n"][1] == 3 and cols["ok"][1] == 1
    assert json.loads(cols["nested"][1]) == {"k": [1, 2]}


def test_cli_change_and_errors(pair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b, a, _, _ = pair
    runner = CliRunner()
    app = build_app()
    out = tmp_path / "cli"
    res = runner.invoke(app, ["change", str(b), str(a), "--out", str(out), "--method", "irmad"])
    assert res.exit_code == 0, res.output
    assert "change region" in res.output
    assert json.loads((out / "summary.json").read_text())["method"] == "irmad"
    res = runner.invoke(app, ["change", str(b), str(a), "--out", str(out), "--method", "magic"])
    assert res.exit_code == 2 and "unknown method" in res.output
    res = runner.invoke(app, ["change", str(b), str(a), "--out", str(out), "--threshold", "fixed"])
    assert res.exit_code == 2


def _levir_like(root: Path, n: int = 2) -> None:
    from pipeline.change.synthetic import make_pair

    for sub in ("A", "B", "label", "list"):
        (root / sub).mkdir(parents=True)
    names = []
    for i in range(n):
        p = make_pair((96, 96), seed=20 + i, dtype="uint8", change_px=(12, 20))
        name = f"pair_{i}"
        names.append(name + ".png")
        Image.fromarray(np.moveaxis(p.before, 0, -1)).save(root / "A" / f"{name}.png")
        Image.fromarray(np.moveaxis(p.after, 0, -1)).save(root / "B" / f"{name}.png")
        Image.fromarray(np.where(p.truth == 1, 255, 0).astype(np.uint8)).save(
            root / "label" / f"{name}.png"
        )
    (root / "list" / "demo.txt").write_text(names[0] + "\n")


def test_eval_on_plain_pairs(tmp_path: Path) -> None:
    _levir_like(tmp_path / "levir")
    pairs = load_plain_pairs(tmp_path / "levir")
    assert [p.name for p in pairs] == ["pair_0", "pair_1"]
    assert pairs[0].before.shape == (3, 96, 96)
    scores = evaluate(["cva"], levir=tmp_path / "levir")
    by = {s.dataset: s for s in scores}
    assert set(by) == {"levir-test", "levir-other", "levir-all"}
    assert list(by["levir-test"].per_pair) == ["pair_0"]
    assert by["levir-all"].total.f1 > 0.8
    res = CliRunner().invoke(
        build_app(),
        ["eval", "change", "--levir", str(tmp_path / "levir"), "--method", "cva", "--json"],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {d["dataset"] for d in data} == {"levir-test", "levir-other", "levir-all"}


def test_eval_on_sample_tile_pairs(pair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b, a, grid, box = pair
    truth = np.zeros(grid.shape, dtype=np.uint8)
    r0, r1, c0, c1 = box
    truth[r0:r1, c0:c1] = 1
    truth[:5] = 255
    with rasterio.open(
        b.parent / "tartus_20240301T083000Z__20240402T083000Z.change_truth.tif",
        "w",
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype="uint8",
        crs=grid.crs,
        transform=grid.transform,
    ) as ds:
        ds.write(truth, 1)
    found = find_tile_pairs(b.parent)
    assert [f.before.name for f in found] == [b.name]
    scores = evaluate(["cva"], sample_tiles=b.parent, params=ChangeParams())
    assert scores[0].dataset == "sample-tiles"
    assert scores[0].total.f1 > 0.85
    assert scores[0].total.tp + scores[0].total.fn == (r1 - r0) * (c1 - c0)


def test_sample_tile_pair_against_its_truth(sample_tiles: Path) -> None:
    pairs = [p for p in find_tile_pairs(sample_tiles) if p.name.startswith("tartus")]
    if not pairs:
        pytest.skip("sample tiles with change truth not generated yet")
    score = score_tiles(pairs[:1], ChangeParams())
    assert score.total.f1 > 0.5, score.total.to_dict()
