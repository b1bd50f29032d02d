"""The dense learned aircraft detector on scenes the tests paint, and its model file."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import polygon as draw_polygon

from pipeline.detect import get_detector
from pipeline.detect.dense import (
    DenseDetector,
    DenseModel,
    DenseParams,
    TrainingImage,
    centre_map,
    detect_boxes,
    train_dense,
)
from pipeline.detect.geometry import box_iou
from pipeline.detect.run import load_dense_model, save_dense_model, train_dense_from_labels
from pipeline.errors import ConfigError, ModelFileError

GSD = 0.5
#: Small, fast settings for 400 m test scenes (the defaults are for real airports).
FAST = DenseParams(negatives=3000, max_iter=60, max_leaf_nodes=15)


def _paint_plane(img, rc, length_px, span_px, heading_deg, value):
    """Paint a cross-shaped plane (fuselage, swept wings, tailplane); return its box."""
    h = np.radians(heading_deg)
    fwd = np.array([-np.cos(h), np.sin(h)])  # (row, col) of the nose direction
    side = np.array([fwd[1], -fwd[0]])
    fw = max(length_px * 0.09, 3.0)
    parts = [
        [(-0.5, -fw / 2), (0.5, -fw / 2), (0.5, fw / 2), (-0.5, fw / 2)],  # fuselage (u in L)
        [(0.08, 0.0), (-0.12, span_px / 2), (-0.2, span_px / 2), (-0.06, 0.0)],  # right wing
        [(0.08, 0.0), (-0.12, -span_px / 2), (-0.2, -span_px / 2), (-0.06, 0.0)],  # left wing
        [(-0.4, -span_px / 6), (-0.36, 0.0), (-0.4, span_px / 6), (-0.48, 0.0)],  # tailplane
    ]
    rows, cols = [], []
    for poly in parts:
        pts = np.array([np.asarray(rc) + u * length_px * fwd + v * side for u, v in poly])
        rr, cc = draw_polygon(pts[:, 0], pts[:, 1], shape=img.shape[1:])
        img[:, rr, cc] = value
        rows += [rr.min(), rr.max()]
        cols += [cc.min(), cc.max()]
    return (float(min(rows)), float(min(cols)), float(max(rows) + 1), float(max(cols) + 1))


def _scene(seed: int, n: int = 800):
    """An 800 x 800 px (400 m) apron with 9 planes and bright non-plane distractors.

    Returns the uint8 ``(3, n, n)`` image and the planes' boxes (row0, col0, row1, col1).
    """
    rng = np.random.default_rng(seed)
    base = ndi.gaussian_filter(rng.normal(0, 25, (n, n)), 6) + 110.0
    img = np.repeat(base[None], 3, axis=0)
    boxes = []
    for i in range(3):
        for j in range(3):
            length = rng.uniform(50, 100)  # 25-50 m
            rc = (140 + 260 * i + rng.uniform(-25, 25), 140 + 260 * j + rng.uniform(-25, 25))
            boxes.append(
                _paint_plane(
                    img, rc, length, length * rng.uniform(0.9, 1.15), rng.uniform(0, 360), 215.0
                )
            )
    # distractors on the apron lanes between the planes: hangar roofs, vans, a taxi line
    for _ in range(10):
        r = 270 + 260 * rng.integers(0, 2) + rng.uniform(-8, 8)
        c = rng.uniform(20, n - 80)
        h, w = rng.uniform(6, 20), rng.uniform(8, 60)
        if rng.random() < 0.5:
            r, c, h, w = c, r, w, h
        img[:, int(r - h / 2) : int(r + h / 2), int(c) : int(c + w)] = rng.uniform(180, 230)
    img[:, 8:12, :] = 220.0
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), boxes


def _ring(b):
    return ((b[0], b[1]), (b[0], b[3]), (b[2], b[3]), (b[2], b[1]), (b[0], b[1]))


def _pr(found, truth):
    used: set[int] = set()
    tp = 0
    for b, _ in found:
        ious = [box_iou(_ring(b), _ring(t)) if j not in used else 0.0 for j, t in enumerate(truth)]
        j = int(np.argmax(ious))
        if ious[j] >= 0.5:
            used.add(j)
            tp += 1
    return tp / max(1, len(found)), tp / len(truth)


@pytest.fixture(scope="module")
def trained():
    train = [_scene(s) for s in (11, 12)]
    model = train_dense([TrainingImage(img, GSD, b) for img, b in train], params=FAST)
    return model, _scene(13)


def test_dense_finds_painted_aircraft_on_a_held_out_scene(trained):
    model, (img, truth) = trained
    found = detect_boxes(model, img, gsd_m=GSD)
    precision, recall = _pr(found, truth)
    assert recall >= 0.85, (precision, recall, found)
    assert precision >= 0.8, (precision, recall, found)
    # an untrained-looking model (constant trees) finds nothing: the figures come from learning
    assert model.context is not None  # auto-context is on by default
    flat = replace(model.centre, value=np.zeros_like(model.centre.value), baseline=-5.0)
    flat_ctx = replace(model.context, value=np.zeros_like(model.context.value), baseline=-5.0)
    assert detect_boxes(replace(model, centre=flat, context=flat_ctx), img, gsd_m=GSD) == []


def test_model_file_round_trip_gives_identical_probabilities(trained, tmp_path):
    model, (img, _) = trained
    path = save_dense_model(model, tmp_path / "dense.json")
    loaded = load_dense_model(path)
    assert loaded.tag == model.tag and loaded.tag.startswith("sitewatch-dense-detector:")
    a, _ = centre_map(model, img, gsd_m=GSD)
    b, _ = centre_map(loaded, img, gsd_m=GSD)
    assert np.array_equal(a, b)
    assert json.loads(path.read_text())["version"] == model.version


def test_detector_records_model_and_boxes(trained, scene):
    model, (img, truth) = trained
    tile = scene.mem_tile(img.shape[1:], GSD, sun_az=None, sun_el=None)
    dets = DenseDetector(model).detect(img, grid=tile.grid, tile=tile, valid=None)
    assert dets and all(d.model == model.tag and d.detector == "dense" for d in dets)
    assert all(d.cls == "aircraft" and 0.0 <= d.score <= 1.0 for d in dets)
    valid = np.zeros(img.shape[1:], dtype=bool)
    assert DenseDetector(model).detect(img, grid=tile.grid, tile=tile, valid=valid) == []


def test_missing_corrupt_and_foreign_model_files(tmp_path, trained):
    with pytest.raises(ModelFileError, match="not found"):
        load_dense_model(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(ModelFileError, match="bad.json"):
        load_dense_model(bad)
    bad.write_text(json.dumps({"format": "sitewatch-detect-classifier"}))
    with pytest.raises(ModelFileError, match="not a sitewatch dense detector model"):
        load_dense_model(bad)
    d = trained[0].to_dict()
    d["centre"]["left"] = d["centre"]["left"][:-3]
    bad.write_text(json.dumps(d))
    with pytest.raises(ModelFileError, match="malformed"):
        load_dense_model(bad)
    old = {**trained[0].to_dict(), "format_version": 1}  # before auto-context
    bad.write_text(json.dumps(old))
    with pytest.raises(ModelFileError, match="retrain"):
        load_dense_model(bad)
    no_ctx = {**trained[0].to_dict(), "context": None}
    bad.write_text(json.dumps(no_ctx))
    with pytest.raises(ModelFileError, match="auto-context"):
        load_dense_model(bad)
    with pytest.raises(ConfigError, match="needs a model file"):
        get_detector("dense")
    with pytest.raises(ValueError, match="no labelled boxes"):
        train_dense([TrainingImage(np.zeros((3, 64, 64), np.uint8), GSD, [])], params=FAST)


def test_train_from_truth_files_then_detect_tile(scene, tmp_path):
    from pipeline.detect.run import detect_tile

    img, boxes = _scene(21)
    truth = [{"class": "aircraft", "footprint_px": [list(p) for p in _ring(b)]} for b in boxes]
    truth.append({"class": "vehicle", "footprint_px": [[0, 0], [0, 9], [9, 9], [9, 0], [0, 0]]})
    (tmp_path / "tiles").mkdir()
    scene.write_tile(tmp_path / "tiles" / "a.tif", img, gsd=GSD, truth=truth)
    model = train_dense_from_labels([tmp_path / "tiles"], tmp_path / "m.json", params=FAST)
    assert model.n_images == 1 and model.n_boxes == 9  # the vehicle is not an aircraft
    img2, boxes2 = _scene(22)
    tile = scene.write_tile(tmp_path / "b.tif", img2, gsd=GSD)
    dets = detect_tile(tile, tmp_path / "out", detector="dense", model_path=tmp_path / "m.json")
    assert dets and {d.model for d in dets} == {model.tag}
    found = []
    for d in dets:
        rc = np.asarray(d.footprint_px)
        found.append(((*rc.min(axis=0), *rc.max(axis=0)), d.score))
    assert _pr(found, boxes2)[1] >= 0.6  # one training scene only


def test_params_round_trip():
    p = DenseParams(scales_m=(1.0, 3.0), threshold=0.3)
    assert DenseParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert isinstance(DenseModel, type)


def test_cli_dense_needs_a_model_or_the_airbus_split(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import build_app

    runner = CliRunner()
    res = runner.invoke(build_app(), ["eval", "detect", "--detector", "dense"])
    assert res.exit_code == 2 and "--airbus" in res.output
    res = runner.invoke(
        build_app(), ["train", "--labels", str(tmp_path), "--out", "m.json", "--detector", "x"]
    )
    assert res.exit_code != 0 and "learned, dense or cnn" in res.output
    res = runner.invoke(
        build_app(),
        [
            "train",
            "--labels",
            str(tmp_path),
            "--out",
            str(tmp_path / "m.json"),
            "--detector",
            "dense",
        ],
    )
    assert res.exit_code == 2 and "no labelled aircraft" in res.output
    assert not (tmp_path / "m.json").exists()


def test_cli_cnn_without_torch_says_how_to_install(tmp_path, monkeypatch):
    """Training the CNN needs the optional torch: without it, a clear error and no file."""
    import importlib.util

    from typer.testing import CliRunner

    from pipeline.cli import build_app

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    out = tmp_path / "m.onnx"
    args = ["train", "--labels", str(tmp_path), "--out", str(out), "--detector", "cnn"]
    res = CliRunner().invoke(build_app(), args)
    assert res.exit_code == 2 and "sitewatch[cnn]" in res.output
    assert not out.exists()
