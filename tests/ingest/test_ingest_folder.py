"""ingest() over folders and STAC catalogs: mixed inputs, duplicates, idempotency, round trips."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import numpy as np
import pystac
import pytest

from pipeline.errors import CatalogError, TileReadError
from pipeline.ingest import IngestConfig, IngestReport, ingest, read_report, write_report
from pipeline.io.stac import read_catalog, write_catalog


@pytest.fixture
def mixed_folder(tmp_path, make_tile):
    """Three good tiles (two sites) and four bad files, some in sub-folders."""
    root = tmp_path / "tiles"
    make_tile(root / "khmeimim_20241213T083000Z.tif", seed=1)
    make_tile(root / "sub" / "khmeimim_20241220T083000Z.tif", seed=2, dtype="uint16")
    make_tile(root / "sub" / "deeper" / "Southfield_20240301.tif", "test-south", seed=3)
    (root / "empty_20241213.tif").write_bytes(b"")
    (root / "notes_20241213.tif").write_text("not a raster")
    make_tile(root / "sub" / "khmeimim_20241230.tif", nodata=0, data=np.zeros((1, 64, 64), "uint8"))
    make_tile(root / "nodate.tif", seed=4)
    (root / "readme.txt").write_text("ignored: not a .tif")
    (root / ".hidden_20241213.tif").write_text("ignored: hidden")
    return root


def test_mixed_folder_keeps_good_and_lists_bad(mixed_folder, registry):
    report = ingest(mixed_folder, registry=registry)
    assert [t.id for t in report.tiles] == [
        "khmeimim_20241213T083000Z",
        "khmeimim_20241220T083000Z",
        "test-south_20240301T000000Z",
    ]
    rejected = {r.path.rsplit("/", 1)[-1]: r.reason for r in report.rejected}
    assert set(rejected) == {
        "empty_20241213.tif",
        "notes_20241213.tif",
        "khmeimim_20241230.tif",
        "nodate.tif",
    }
    assert "empty" in rejected["empty_20241213.tif"]
    assert "cannot open as a raster" in rejected["notes_20241213.tif"]
    assert "nodata" in rejected["khmeimim_20241230.tif"]
    assert "no acquisition time" in rejected["nodate.tif"]
    assert all(r.path.startswith(str(mixed_folder.resolve())) for r in report.rejected)
    sites = report.by_site()
    assert list(sites) == ["khmeimim", "test-south"]
    pairs = report.pairs()
    assert [(a.id, b.id) for a, b in pairs] == [
        ("khmeimim_20241213T083000Z", "khmeimim_20241220T083000Z")
    ]
    assert report.provenance["test-south_20240301T000000Z"] == {
        "acquired": "filename",
        "site": "filename",
    }


def test_report_round_trips_through_json(mixed_folder, registry, tmp_path):
    report = ingest(mixed_folder, registry=registry)
    again = IngestReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert again.to_dict() == report.to_dict()
    saved = write_report(report, tmp_path / "run" / "tiles.json")
    assert read_report(saved) == report
    (tmp_path / "bad.json").write_text('{"rejected": []}')
    with pytest.raises(CatalogError, match="not an ingest report"):
        read_report(tmp_path / "bad.json")


def test_ingest_is_idempotent_and_duplicates_reported_once(mixed_folder, registry):
    first = ingest(mixed_folder, registry=registry)
    second = ingest(mixed_folder, registry=registry, config=IngestConfig(workers=3))
    assert first == second
    copy = mixed_folder / "zz_copy" / "khmeimim_20241213T083000Z_copy.tif"
    copy.parent.mkdir()
    shutil.copyfile(mixed_folder / "khmeimim_20241213T083000Z.tif", copy)
    third = ingest(mixed_folder, registry=registry)
    assert [t.id for t in third.tiles] == [t.id for t in first.tiles]
    dup = [r for r in third.rejected if r.path == str(copy.resolve())]
    assert len(dup) == 1 and "duplicate of" in dup[0].reason
    assert len({t.sha256 for t in third.tiles}) == len(third.tiles)


def test_same_site_and_time_different_content(tmp_path, make_tile):
    make_tile(tmp_path / "a" / "khmeimim_20241213.tif", seed=1)
    make_tile(tmp_path / "b" / "khmeimim_20241213.tif", seed=2)
    report = ingest(tmp_path)
    assert len(report.tiles) == 1
    assert len(report.rejected) == 1
    assert "same site and acquisition time" in report.rejected[0].reason


def test_stac_round_trip(mixed_folder, registry, tmp_path):
    report = ingest(mixed_folder, registry=registry)
    cat = write_catalog(report.tiles, tmp_path / "stac")
    # Self-contained: relative links and asset hrefs, one collection per site.
    catalog = pystac.Catalog.from_file(str(cat))
    assert sorted(c.id for c in catalog.get_children()) == ["khmeimim", "test-south"]
    item_files = sorted((tmp_path / "stac").rglob("*_*.json"))
    assert len(item_files) == 3
    item = json.loads(item_files[0].read_text())
    assert not item["assets"]["data"]["href"].startswith("/")
    assert item["properties"]["proj:code"].startswith("EPSG:")
    assert item["assets"]["data"]["file:checksum"].startswith("1220")
    assert all(link["href"].startswith(".") for link in item["links"])
    # Ingesting the catalog gives the same tiles, now dated and sited from STAC metadata.
    again = ingest(cat, registry=registry)
    assert again.tiles == report.tiles
    assert again.rejected == ()
    assert {p["acquired"] for p in again.provenance.values()} == {"stac:datetime"}
    # Moving catalog and tiles together keeps the relative hrefs valid.
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path, moved / tmp_path.name, ignore=shutil.ignore_patterns("moved"))
    records, problems = read_catalog(moved / tmp_path.name / "stac" / "catalog.json")
    assert problems == [] and len(records) == 3
    assert all(str(moved) in r.path for r in records)
    # Re-writing is safe and makes no duplicates.
    write_catalog(report.tiles, tmp_path / "stac")
    assert sorted((tmp_path / "stac").rglob("*_*.json")) == item_files


def test_standard_catalog_with_visual_asset_and_view_extension(tmp_path, make_tile, registry):
    """A catalog written by someone else: relative 'visual' hrefs, no sitewatch properties."""
    root = tmp_path / "sample"
    make_tile(root / "images" / "scene_a.tif", seed=1)
    make_tile(root / "images" / "scene_b.tif", seed=2)
    catalog = pystac.Catalog(id="sample", description="sample tiles")
    for name, day in (("scene_a", 13), ("scene_b", 20)):
        item = pystac.Item(
            id=name,
            geometry=None,
            bbox=None,
            datetime=datetime(2024, 12, day, 8, 30, tzinfo=UTC),
            properties={"view:sun_azimuth": 150.0, "view:sun_elevation": 30.0, "gsd": 0.5},
        )
        item.add_asset(
            "visual",
            pystac.Asset(
                href=str(root / "images" / f"{name}.tif"), media_type=pystac.MediaType.COG
            ),
        )
        make_tile(root / "labels" / f"{name}_labels.tif", bands=1, seed=day)
        item.add_asset(
            "labels",
            pystac.Asset(href=str(root / "labels" / f"{name}_labels.tif"), roles=["labels"]),
        )
        catalog.add_item(item)
    catalog.normalize_hrefs(str(root))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    report = ingest(root / "catalog.json", registry=registry)
    assert [t.id for t in report.tiles] == [
        "khmeimim_20241213T083000Z",
        "khmeimim_20241220T083000Z",
    ]
    assert all(t.sun_azimuth_deg == 150.0 and t.sun_elevation_deg == 30.0 for t in report.tiles)
    assert {p["site"] for p in report.provenance.values()} == {"footprint"}
    # Ingesting the folder uses the root catalog.json: same tiles and metadata; rasters the
    # catalog lists as other assets (labels) are skipped, files it does not mention are
    # ingested like any other file.
    assert ingest(root, registry=registry).tiles == report.tiles
    make_tile(root / "extra" / "khmeimim_20241230T083000Z.tif", seed=9)
    with_extra = ingest(root, registry=registry)
    assert [t.id for t in with_extra.tiles] == [
        "khmeimim_20241213T083000Z",
        "khmeimim_20241220T083000Z",
        "khmeimim_20241230T083000Z",
    ]
    assert with_extra.rejected == ()


def test_stac_problems_reported(tmp_path, make_tile):
    root = tmp_path / "cat"
    make_tile(root / "khmeimim_20241213.tif")
    catalog = pystac.Catalog(id="c", description="c")
    ok = pystac.Item("ok", None, None, datetime(2024, 12, 13, tzinfo=UTC), {})
    ok.add_asset("data", pystac.Asset(href=str(root / "khmeimim_20241213.tif")))
    thumb_only = pystac.Item("thumb", None, None, datetime(2024, 12, 13, tzinfo=UTC), {})
    thumb_only.add_asset("thumbnail", pystac.Asset(href="t.png", media_type="image/png"))
    remote = pystac.Item("remote", None, None, datetime(2024, 12, 13, tzinfo=UTC), {})
    remote.add_asset("data", pystac.Asset(href="https://example.com/x.tif"))
    missing = pystac.Item("missing", None, None, datetime(2024, 12, 14, tzinfo=UTC), {})
    missing.add_asset("data", pystac.Asset(href=str(root / "gone.tif")))
    for it in (ok, thumb_only, remote, missing):
        catalog.add_item(it)
    catalog.normalize_hrefs(str(root))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    report = ingest(root / "catalog.json")
    assert [t.id for t in report.tiles] == ["khmeimim_20241213T000000Z"]
    reasons = " | ".join(r.reason for r in report.rejected)
    assert "has no GeoTIFF asset" in reasons
    assert "remote" in reasons
    assert "file not found" in reasons


def test_checksum_mismatch_rejected(tmp_path, make_tile):
    root = tmp_path / "t"
    p = make_tile(root / "khmeimim_20241213.tif", seed=1)
    report = ingest(root)
    cat = write_catalog(report.tiles, tmp_path / "stac")
    make_tile(p, seed=2)  # same name, different pixels
    again = ingest(cat)
    assert again.tiles == ()
    assert "differs from the STAC file:checksum" in again.rejected[0].reason


def test_bad_sources(tmp_path):
    with pytest.raises(TileReadError, match="not found"):
        ingest(tmp_path / "missing")
    bad = tmp_path / "catalog.json"
    bad.write_text("{not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        ingest(bad)
    bad.write_text('{"hello": 1}')
    with pytest.raises(CatalogError, match="not a STAC object"):
        ingest(bad)
    with pytest.raises(CatalogError, match="no tiles"):
        write_catalog([], tmp_path / "out")


def test_sample_tiles_ingest(sample_tiles):
    """The committed sample tiles ingest (folder and, when present, its STAC catalog)."""
    tifs = [p for p in sample_tiles.rglob("*.tif") if not p.name.startswith(".")]
    if not tifs:
        pytest.skip("sample_tiles/ has no GeoTIFFs yet")
    report = ingest(sample_tiles)
    assert len(report.tiles) >= 2, report.rejected
    assert report.pairs()
    assert all(r.reason for r in report.rejected)
    catalog = sample_tiles / "catalog.json"
    if catalog.is_file():
        from_stac = ingest(catalog)
        assert {t.id for t in from_stac.tiles} <= {t.id for t in report.tiles}
        assert from_stac.tiles


def test_folder_with_broken_catalog_still_ingests_files(tmp_path, make_tile):
    make_tile(tmp_path / "khmeimim_20241213.tif")
    (tmp_path / "catalog.json").write_text('{"type": "Catalog", "id": "x"}')
    report = ingest(tmp_path)
    assert [t.id for t in report.tiles] == ["khmeimim_20241213T000000Z"]
    assert [r.path for r in report.rejected] == [str(tmp_path / "catalog.json")]
    assert "malformed STAC catalog" in report.rejected[0].reason


def test_nan_nodata_written_as_strict_json(tmp_path, make_tile):
    make_tile(tmp_path / "khmeimim_20241213.tif", dtype="float32", nodata=float("nan"))
    report = ingest(tmp_path)
    text = json.dumps(report.to_dict(), allow_nan=False)  # raises on a bare NaN
    again = IngestReport.from_dict(json.loads(text))
    assert np.isnan(again.tiles[0].nodata)
    assert again.tiles[0].sha256 == report.tiles[0].sha256
