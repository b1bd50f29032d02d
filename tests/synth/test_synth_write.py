"""Writer: COG tags, truth GeoJSON, change masks, STAC catalog, idempotent reruns, --check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pystac
import pytest
from typer.testing import CliRunner

from pipeline.cli import build_app
from pipeline.io.rasters import (
    TAG_ACQUIRED,
    TAG_SENSOR,
    TAG_SITE,
    TAG_SUN_AZIMUTH,
    TAG_SUN_ELEVATION,
    read_array,
    read_grid,
    read_tags,
)
from pipeline.synth.scenario import random_scenario
from pipeline.synth.write import compare_folders, folder_digests, generate


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("synth")
    specs = random_scenario(11, 0.5, 2, size_px=192, site_id="al-jufra", n_objects=4)
    generate(specs, out, seed=11)
    return out, specs


def test_tiles_have_tags_names_and_truth(small_set):
    out, specs = small_set
    for s in specs:
        tif = out / f"{s.stem}.tif"
        tags = read_tags(tif)
        assert tags[TAG_SITE] == "al-jufra"
        assert tags[TAG_ACQUIRED].endswith("Z") and tags[TAG_ACQUIRED][:10] == str(
            s.acquired.date()
        )
        assert float(tags[TAG_SUN_AZIMUTH]) == pytest.approx(s.sun_azimuth_deg, abs=1e-3)
        assert float(tags[TAG_SUN_ELEVATION]) == pytest.approx(s.sun_elevation_deg, abs=1e-3)
        assert tags[TAG_SENSOR]
        arr, valid = read_array(tif)
        assert arr.dtype == np.uint16 and arr.shape == (4, 192, 192) and valid.all()
        assert read_grid(tif).crs == "EPSG:32633"
        fc = json.loads((out / f"{s.stem}.truth.geojson").read_text())
        assert fc["type"] == "FeatureCollection" and fc["tile"]["id"] == s.stem
        assert fc["features"], "objects are on the tile"
        for f in fc["features"]:
            p = f["properties"]
            assert {"object_id", "class", "category", "attributes", "length_m", "wingspan_m",
                    "heading_deg", "footprint_px", "footprint_map"} <= set(p)  # fmt: skip
            assert len(p["footprint_px"]) == 5 and p["footprint_px"][0] == p["footprint_px"][-1]
            lon, lat = f["geometry"]["coordinates"][0][0]
            assert 15 < lon < 17 and 28 < lat < 30


def test_change_mask_values_and_grid(small_set):
    out, specs = small_set
    path = (
        out
        / f"al-jufra_{specs[0].stem.split('_')[1]}__{specs[1].stem.split('_')[1]}.change_truth.tif"
    )
    arr, _ = read_array(path)
    assert arr.dtype == np.uint8
    assert set(np.unique(arr)) <= {0, 1, 255}
    assert read_grid(path) == read_grid(out / f"{specs[1].stem}.tif")


def test_stac_catalog_reads_back(small_set):
    out, specs = small_set
    cat = pystac.Catalog.from_file(str(out / "catalog.json"))
    cols = list(cat.get_children())
    assert [c.id for c in cols] == ["al-jufra"]
    items = sorted(cols[0].get_items(), key=lambda i: i.datetime)
    assert [i.id for i in items] == [s.stem for s in specs]
    for it, s in zip(items, specs, strict=True):
        assert it.datetime == s.acquired
        assert it.properties["gsd"] == 0.5
        assert it.properties["proj:code"] == "EPSG:32633"
        assert it.properties["view:sun_elevation"] == pytest.approx(s.sun_elevation_deg)
        img = it.assets["image"]
        assert "data" in img.roles and img.extra_fields["file:checksum"].startswith("1220")
        assert Path(img.get_absolute_href()).exists()
    assert "change_truth" in items[1].assets and "change_truth" not in items[0].assets
    raw = json.loads((out / "al-jufra" / f"{specs[0].stem}.json").read_text())
    assert raw["properties"]["proj:epsg"] == 32633
    assert all(not link["href"].startswith("/") for link in raw["links"])


def test_rerun_is_byte_identical_and_check_sees_changes(small_set, tmp_path):
    out, specs = small_set
    before = folder_digests(out)
    generate(specs, out, seed=11)
    assert folder_digests(out) == before
    other = tmp_path / "again"
    generate(specs, other, seed=11)
    assert compare_folders(other, out) == []
    generate(specs, tmp_path / "seed12", seed=12)
    diffs = compare_folders(tmp_path / "seed12", out)
    assert any(d.startswith("differs:") and d.endswith(".tif") for d in diffs)


def test_cli_random_then_check(tmp_path):
    runner = CliRunner()
    app = build_app()
    args = ["synth", "--scenario", "random", "--seed", "5", "--size", "96", "--tiles", "2",
            "--gsd", "0.8", "--site", "benina", "--out", str(tmp_path)]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("benina_*Z.tif"))) == 2
    ok = runner.invoke(app, [*args, "--check"])
    assert ok.exit_code == 0, ok.output
    victim = sorted(tmp_path.glob("*.truth.geojson"))[0]
    victim.write_text(victim.read_text() + " ")
    bad = runner.invoke(app, [*args, "--check"])
    assert bad.exit_code == 1
    assert victim.name in bad.output


def test_cli_rejects_unknown_site_clearly(tmp_path):
    res = CliRunner().invoke(
        build_app(), ["synth", "--scenario", "random", "--site", "Atlantis", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2
    assert "Atlantis" in res.output
    assert not list(tmp_path.iterdir())


def test_random_scene_at_any_icao_airfield_with_three_bands(tmp_path):
    specs = random_scenario(4, 0.8, 1, size_px=96, site_id="UUEE", bands=3)
    generate(specs, tmp_path, seed=4)
    arr, _ = read_array(tmp_path / f"{specs[0].stem}.tif")
    assert specs[0].site.id == "uuee" and arr.shape == (3, 96, 96)


def test_truth_and_scenario_read_back(small_set, tmp_path):
    out, specs = small_set
    from pipeline.synth import render_scene
    from pipeline.synth.write import read_scenario, read_truth

    tile_meta, objs = read_truth(out / f"{specs[1].stem}.truth.geojson")
    assert tile_meta["id"] == specs[1].stem and tile_meta["site_id"] == "al-jufra"
    fresh = render_scene(specs[1], 11)
    assert [o.object_id for o in objs] == [o.object_id for o in fresh.objects]
    for a, b in zip(objs, fresh.objects, strict=True):
        assert a.type_name == b.type_name and a.attributes == b.attributes
        assert np.allclose(a.footprint_px, b.footprint_px, atol=1e-4)
        assert np.allclose(a.footprint_lonlat, b.footprint_lonlat, atol=1e-7)
    seed, again = read_scenario(out / "scenario.json")
    assert seed == 11 and [s.to_dict() for s in again] == [s.to_dict() for s in specs]
    generate(again, tmp_path, seed=seed)
    assert compare_folders(tmp_path, out) == []


def test_unreadable_truth_names_the_file(tmp_path):
    from pipeline.errors import CatalogError
    from pipeline.synth.write import read_truth

    bad = tmp_path / "x.truth.geojson"
    bad.write_text('{"type": "Feature"}')
    with pytest.raises(CatalogError, match="x.truth.geojson"):
        read_truth(bad)
