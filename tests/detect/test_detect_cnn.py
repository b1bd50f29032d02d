"""Train the small CNN for a few steps on a painted apron and find the painted aircraft with it.

Needs torch (the optional ``cnn`` extra); skipped without it. Inference goes
through the ONNX adapter (onnxruntime), as in production.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from pipeline.detect import get_detector
from pipeline.detect.cnn import DEFAULT_THRESHOLD, FORMAT, CnnParams, CnnTrainingImage
from pipeline.detect.geometry import box_iou

from .conftest import apron, paint_aircraft

torch = pytest.importorskip("torch")


def _scene(seed: int) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    rng = np.random.default_rng(seed)
    gray = apron((384, 384), level=90.0, noise=4.0, seed=seed)
    boxes = []
    for r in range(48, 384, 96):
        for c in range(48, 384, 96):
            cr, cc = r + rng.uniform(-12, 12), c + rng.uniform(-12, 12)
            head = float(rng.choice([0.0, 90.0, 180.0, 270.0]))
            length = rng.uniform(30.0, 45.0)
            cover = np.zeros_like(gray)
            kw = dict(length_m=length, span_m=0.9 * length, heading_deg=head, gsd_m=1.0)
            paint_aircraft(cover, (cr, cc), value=1.0, **kw)
            paint_aircraft(gray, (cr, cc), value=220.0, **kw)
            rows, cols = np.nonzero(cover > 0.5)
            boxes.append((rows.min(), cols.min(), rows.max() + 1.0, cols.max() + 1.0))
    img = np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[None], 3, axis=0)
    return img, boxes


@pytest.mark.slow
def test_cnn_learns_painted_aircraft_and_exports_a_box_model(tmp_path, scene):
    from pipeline.detect.cnn import train_cnn

    img, boxes = _scene(0)
    params = CnnParams(crop_px=128, batch=4, steps=150, width=16, lr=3e-3, threads=1)
    res = train_cnn([CnnTrainingImage(img, 1.0, boxes)], params=params)
    assert res.losses and res.losses[-1] < res.losses[0]
    path = tmp_path / "cnn.onnx"
    path.write_bytes(res.onnx)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["sitewatch.format"] == FORMAT and meta["sitewatch.version"] == res.version
    assert json.loads(meta["sitewatch.params"]) == params.to_dict()
    # a fresh scene of the same kind; the adapter runs it with no torch code
    test_img, test_boxes = _scene(1)
    tile = scene.mem_tile(test_img.shape[1:], 1.0)
    det = get_detector("onnx", model_path=str(path))  # the model's own defaults
    assert det.heat_threshold() == DEFAULT_THRESHOLD and det.uses_flip_tta()
    dets = det.detect(test_img, grid=tile.grid, tile=tile, valid=None)
    truth = [((r0, c0), (r0, c1), (r1, c1), (r1, c0), (r0, c0)) for r0, c0, r1, c1 in test_boxes]
    hits = sum(max((box_iou(d.footprint_px, t) for d in dets), default=0.0) >= 0.5 for t in truth)
    assert hits >= 0.75 * len(truth)
    assert len(dets) <= 1.5 * len(truth)


def test_cnn_params_round_trip_and_reject_unknown_keys():
    p = CnnParams(steps=7, width=8)
    assert CnnParams.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="unknown CnnParams keys"):
        CnnParams.from_dict({"stepz": 1})


@pytest.mark.slow
def test_cli_trains_cnn_from_labelled_tiles_and_detects_with_it(tmp_path, scene):
    """`sitewatch train --detector cnn` on labelled tiles, then `sitewatch detect` with its file."""
    from typer.testing import CliRunner

    from pipeline.cli import build_app

    img, boxes = _scene(0)
    truth = [
        {"class": "aircraft", "footprint_px": [[r0, c0], [r0, c1], [r1, c1], [r1, c0], [r0, c0]]}
        for r0, c0, r1, c1 in (map(float, b) for b in boxes)
    ]
    (tmp_path / "tiles").mkdir()
    scene.write_tile(tmp_path / "tiles" / "a.tif", img, gsd=1.0, truth=truth)
    model = tmp_path / "m.onnx"
    runner = CliRunner()
    args = ["train", "--labels", str(tmp_path / "tiles"), "--out", str(model)]
    res = runner.invoke(build_app(), [*args, "--detector", "cnn", "--steps", "20"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output.strip().splitlines()[-1])
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert meta["sitewatch.version"] == info["version"]
    assert json.loads(meta["sitewatch.params"])["steps"] == 20
    # the same labels and settings give the same model (seeded)
    again = runner.invoke(build_app(), [*args[:-1], str(tmp_path / "m2.onnx"), "--detector", "cnn",
                                        "--steps", "20"])  # fmt: skip
    assert json.loads(again.output.strip().splitlines()[-1])["version"] == info["version"]
    test_img, _ = _scene(1)
    tile = scene.write_tile(tmp_path / "b.tif", test_img, gsd=1.0)
    res = runner.invoke(
        build_app(),
        ["detect", tile.path, "--out", str(tmp_path / "out"), "--detector", "onnx",
         "--model", str(model)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
