"""detect_tile / train / load_model / CLI on tiles the tests write themselves."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipeline.cli import build_app
from pipeline.detect import get_detector
from pipeline.detect.learned import LearnedDetector
from pipeline.detect.run import detect_tile, load_model, object_changes_for_tiles, read_detections
from pipeline.errors import ModelFileError
from pipeline.model import Detection


def _scene_tile(scene, tmp_path, name, planes, **kw):
    img, truth = scene.render(planes, gsd=0.5, **kw)
    return scene.write_tile(tmp_path / f"{name}.tif", img, gsd=0.5, truth=truth)


@pytest.fixture()
def two_tiles(scene, tmp_path):
    from datetime import UTC, datetime

    p = scene.Plane
    a = _scene_tile(
        scene,
        tmp_path,
        "khmeimim_20241212",
        [
            p("An-124", 69.1, 73.3, (70.0, 80.0), 10.0, visor_open=False),
            p("Il-76", 46.6, 50.5, (175.0, 175.0), 100.0),
        ],
    )
    b_img, b_truth = scene.render(
        [
            p("An-124", 69.1, 73.3, (70.0, 80.0), 10.0, visor_open=True),
            p("An-26", 23.8, 29.2, (180.0, 60.0), 200.0),
        ],
        gsd=0.5,
        seed=1,
    )
    b = scene.write_tile(
        tmp_path / "khmeimim_20241213.tif",
        b_img,
        gsd=0.5,
        truth=b_truth,
        acquired=datetime(2024, 12, 13, 8, 30, tzinfo=UTC),
    )
    return a, b


def test_detect_tile_writes_all_formats_and_is_idempotent(two_tiles, tmp_path):
    a, _ = two_tiles
    out = tmp_path / "run" / "detections"
    dets = detect_tile(a, out)
    assert sorted(d.cls for d in dets) == ["An-124", "Il-76"]
    for ext in ("json", "geojson", "gpkg"):
        assert (out / f"{a.id}.{ext}").is_file()
    back = read_detections(out / f"{a.id}.json")
    assert back == dets
    assert all(Detection.from_dict(d.to_dict()) == d for d in dets)
    fc = json.loads((out / f"{a.id}.geojson").read_text())
    assert len(fc["features"]) == 2 and fc["features"][0]["geometry"]["type"] == "Polygon"
    again = detect_tile(a, out)
    assert [d.id for d in again] == [d.id for d in dets]  # stable ids, files replaced
    assert len(json.loads((out / f"{a.id}.json").read_text())) == 2


def test_object_changes_between_dates(two_tiles, tmp_path):
    a, b = two_tiles
    out = tmp_path / "det"
    by_tile = {t.id: detect_tile(t, out) for t in (a, b)}
    changes = object_changes_for_tiles([a, b], by_tile, tmp_path / "object_changes")
    kinds = sorted((c.kind, c.cls) for c in changes)
    assert kinds == [("arrived", "An-26"), ("departed", "Il-76"), ("stayed", "An-124")]
    f = tmp_path / "object_changes" / "khmeimim" / f"{a.id}__{b.id}.json"
    assert len(json.loads(f.read_text())) == 3


def test_train_then_detect_with_model(two_tiles, tmp_path):
    from pipeline.detect.run import train_from_labels

    model_path = tmp_path / "model.json"
    model = train_from_labels([tmp_path], model_path)
    assert model.n_examples == 4 and set(model.type_model.classes) >= {"An-124", "Il-76"}
    assert model.nose_model is not None  # one open, one closed visor
    loaded = load_model(model_path)
    assert loaded.version == model.version
    # same data, same version
    assert train_from_labels([tmp_path], tmp_path / "m2.json").version == model.version
    det = get_detector("learned", model_path=str(model_path))
    assert isinstance(det, LearnedDetector)
    a, _ = two_tiles
    dets = detect_tile(a, tmp_path / "out", detector="learned", model_path=model_path)
    assert sorted(d.cls for d in dets) == ["An-124", "Il-76"]
    assert all(d.model == model.tag and d.detector == "learned" for d in dets)


def test_model_file_checks(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelFileError, match="bad.json"):
        load_model(bad)
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"\x80\x04pickle-ish")
    with pytest.raises(ModelFileError, match="garbage.joblib"):
        load_model(garbage)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.json")


def test_cli_detect_train_and_errors(two_tiles, tmp_path):
    runner = CliRunner()
    app = build_app()
    r = runner.invoke(app, ["train", "--labels", str(tmp_path), "--out", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["examples"] == 4
    r = runner.invoke(
        app, ["detect", str(tmp_path / "khmeimim_20241212.tif"), "--out", str(tmp_path / "cli_out")]
    )
    assert r.exit_code == 0, r.output
    assert list((tmp_path / "cli_out").glob("*.json"))
    r = runner.invoke(
        app,
        [
            "detect",
            str(tmp_path / "khmeimim_20241212.tif"),
            "--out",
            str(tmp_path / "x"),
            "--detector",
            "learned",
        ],
    )
    assert r.exit_code == 2 and "model file" in r.output
    r = runner.invoke(
        app, ["detect", str(tmp_path), "--out", str(tmp_path / "y"), "--detector", "nope"]
    )
    assert r.exit_code != 0
