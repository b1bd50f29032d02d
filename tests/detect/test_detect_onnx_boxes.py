"""ONNX box models (centre heat + box sizes), built here with onnx.helper, decoded in numpy.

The tiny model: heat = sigmoid(10 * (avgpool4(mean(x)) - 0.3)) at stride 4 and
constant box channels (log 20 m, log 10 m, +0.25 / -0.25 cell offsets), with
``sitewatch.input_gsd_m = 1.0``. On a 0.5 m image a bright 8 x 8 px dot whose
corner is a multiple of 8 fills one output cell, so every box is known exactly.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from pipeline.detect import get_detector
from pipeline.detect.onnx_adapter import decode_boxes, resample
from pipeline.errors import ModelFileError

LOG_H, LOG_W, OFF_R, OFF_C = math.log(20.0), math.log(10.0), 0.25, -0.25


def _box_model(
    path,
    *,
    gsd: float | None = 1.0,
    size_channels: int = 4,
    dynamic: bool = True,
    props: dict[str, str] | None = None,
):
    mean_w = np.full((1, 3, 1, 1), 1.0 / 3, dtype=np.float32)
    box_w = np.zeros((size_channels, 1, 1, 1), dtype=np.float32)
    box_b = np.array([LOG_H, LOG_W, OFF_R, OFF_C][:size_channels], dtype=np.float32)
    hw = [None, None] if dynamic else [64, 64]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "mw"], ["m"]),
            helper.make_node("AveragePool", ["m"], ["p"], kernel_shape=[4, 4], strides=[4, 4]),
            helper.make_node("Sub", ["p", "t"], ["d"]),
            helper.make_node("Mul", ["d", "k"], ["z"]),
            helper.make_node("Sigmoid", ["z"], ["heat"]),
            helper.make_node("Conv", ["p", "bw", "bb"], ["box"]),
        ],
        "tiny-boxes",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, *hw])],
        [
            helper.make_tensor_value_info("heat", TensorProto.FLOAT, [1, 1, None, None]),
            helper.make_tensor_value_info("box", TensorProto.FLOAT, [1, size_channels, None, None]),
        ],
        initializer=[
            helper.make_tensor("mw", TensorProto.FLOAT, mean_w.shape, mean_w.ravel()),
            helper.make_tensor("t", TensorProto.FLOAT, [], [0.3]),
            helper.make_tensor("k", TensorProto.FLOAT, [], [10.0]),
            helper.make_tensor("bw", TensorProto.FLOAT, box_w.shape, box_w.ravel()),
            helper.make_tensor("bb", TensorProto.FLOAT, box_b.shape, box_b),
        ],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    meta = dict(props or {})
    if gsd is not None:
        meta["sitewatch.input_gsd_m"] = str(gsd)
    if meta:
        helper.set_model_props(m, meta)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return str(path)


def _dot_image(shape, cells, *, half=()):
    """Dots filling output cells (row, col) of the 1 m model input (8 x 8 px at 0.5 m)."""
    img = np.full((3, *shape), 60, dtype=np.uint8)
    for r, c in cells:
        img[:, r * 8 : r * 8 + 8, c * 8 : c * 8 + 8] = 250
    for r, c in half:  # half a cell bright: pooled 0.5, heat sigmoid(2) = 0.88
        img[:, r * 8 : r * 8 + 4, c * 8 : c * 8 + 8] = 250
    return img


def _expected(r, c):
    # centre (cell + 0.5 + offset) * stride 4 model px (1 m) -> 0.5 m image px: x2
    cy, cx = (r + 0.5 + OFF_R) * 8, (c + 0.5 + OFF_C) * 8
    return (cy - 20, cx - 10, cy + 20, cx + 10)  # 20 m x 10 m = 40 x 20 px


def test_box_model_decodes_exact_boxes(tmp_path, scene):
    path = _box_model(tmp_path / "boxes.onnx")
    img = _dot_image((400, 400), [(10, 20), (30, 5)], half=[(40, 40)])
    tile = scene.mem_tile((400, 400), 0.5)
    det = get_detector("onnx", model_path=path)
    dets = det.detect(img, grid=tile.grid, tile=tile, valid=None)
    assert len(dets) == 3
    assert [round(d.score, 3) for d in dets] == [0.999, 0.999, pytest.approx(0.881, abs=1e-3)]
    got = sorted(tuple(round(v, 3) for v in (*d.footprint_px[0], *d.footprint_px[2])) for d in dets)
    assert got == sorted(_expected(r, c) for r, c in [(10, 20), (30, 5), (40, 40)])
    d = dets[0]
    assert d.category == d.cls == "aircraft" and d.detector == "onnx"
    assert d.model == det.version and d.model.startswith("onnx:")
    assert d.length_m is None and d.wingspan_m is None
    assert len(d.footprint_lonlat) == 5 and d.tile_sha256 == tile.sha256


def test_box_model_windows_stitch_without_duplicates(tmp_path):
    # 800 px at 0.5 m -> 400 model px; 192 px windows (64 px cores) put seams everywhere
    path = _box_model(tmp_path / "boxes.onnx")
    cells = [(r, c) for r in range(2, 100, 7) for c in range(3, 100, 9)]
    img = _dot_image((800, 800), cells)
    det = get_detector("onnx", model_path=path, window_px=192)
    found = det.detect_boxes(img, gsd_m=0.5)
    assert len(found) == len(cells)
    assert sorted(tuple(round(v, 3) for v in b) for b, _ in found) == sorted(
        _expected(r, c) for r, c in cells
    )


def test_box_model_flip_tta_averages_flipped_maps(tmp_path):
    # 404 x 396 px at 0.5 m: the model input is padded to 256 x 256 before flipping.
    # The tiny model's offsets (+0.25, -0.25 cell) do not flip with the image, so
    # the four-flip mean of the offsets is 0 in both axes; heat and sizes are symmetric.
    path = _box_model(tmp_path / "boxes.onnx")
    cells = [(10, 20), (30, 5), (48, 45)]
    img = _dot_image((404, 396), cells, half=[(40, 40)])
    plain = get_detector("onnx", model_path=path).detect_boxes(img, gsd_m=0.5)
    tta = get_detector("onnx", model_path=path, flip_tta=True).detect_boxes(img, gsd_m=0.5)
    assert len(tta) == len(plain) == 4
    assert [round(s, 3) for _, s in tta] == [round(s, 3) for _, s in plain]

    def centred(r, c):  # the expected box with zero offset, clipped to the image
        cy, cx = (r + 0.5) * 8, (c + 0.5) * 8
        return (max(0.0, cy - 20), max(0.0, cx - 10), min(404.0, cy + 20), min(396.0, cx + 10))

    got = sorted(tuple(round(v, 3) for v in b) for b, _ in tta)
    assert got == sorted(centred(r, c) for r, c in [*cells, (40, 40)])


def test_box_model_metadata_sets_threshold_and_flip_defaults(tmp_path):
    img = _dot_image((200, 200), [(10, 10)], half=[(16, 16)])  # heat 0.999 and 0.881
    plain = _box_model(tmp_path / "plain.onnx")
    tuned = _box_model(
        tmp_path / "tuned.onnx", props={"sitewatch.threshold": "0.95", "sitewatch.flip_tta": "1"}
    )
    assert len(get_detector("onnx", model_path=plain).detect_boxes(img, gsd_m=0.5)) == 2
    det = get_detector("onnx", model_path=tuned)
    assert det.heat_threshold() == 0.95 and det.uses_flip_tta()
    ((b, _),) = det.detect_boxes(img, gsd_m=0.5)
    assert ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) == pytest.approx((84.0, 84.0))  # offsets 0
    over = get_detector("onnx", model_path=tuned, threshold=0.5, flip_tta=False)
    assert len(over.detect_boxes(img, gsd_m=0.5)) == 2 and not over.uses_flip_tta()
    for key, bad in (("sitewatch.threshold", "high"), ("sitewatch.flip_tta", "yes")):
        broken = _box_model(tmp_path / f"bad_{key}.onnx", props={key: bad})
        with pytest.raises(ModelFileError, match=key.replace(".", r"\.")):
            get_detector("onnx", model_path=broken).detect_boxes(img, gsd_m=0.5)


def test_box_model_nms_and_threshold(tmp_path):
    path = _box_model(tmp_path / "boxes.onnx")
    # two peaks 2 cells apart in rows: boxes 40 x 20 px shifted 16 px, IoU 480/1120 = 0.43
    img = _dot_image((200, 200), [(10, 10)], half=[(12, 10)])
    loose = get_detector("onnx", model_path=path, nms_iou=0.5).detect_boxes(img, gsd_m=0.5)
    tight = get_detector("onnx", model_path=path, nms_iou=0.3).detect_boxes(img, gsd_m=0.5)
    high = get_detector("onnx", model_path=path, threshold=0.95).detect_boxes(img, gsd_m=0.5)
    assert len(loose) == 2 and len(tight) == 1 and len(high) == 1
    assert tight[0][1] == pytest.approx(0.999, abs=1e-3)


def test_box_model_valid_mask_and_gsd(tmp_path):
    path = _box_model(tmp_path / "boxes.onnx")
    img = _dot_image((200, 200), [(5, 5), (15, 15)])
    valid = np.ones((200, 200), dtype=bool)
    valid[100:, 100:] = False  # the second dot's centre (~122, 118) is invalid
    det = get_detector("onnx", model_path=path)
    assert len(det.detect_boxes(img, gsd_m=0.5, valid=valid)) == 1
    # the same scene at 1 m (no resampling): box sizes in metres stay 20 x 10 m = 20 x 10 px
    img1 = np.full((3, 100, 100), 60, dtype=np.uint8)
    img1[:, 20:24, 20:24] = 250
    (((r0, c0, r1, c1), _),) = det.detect_boxes(img1, gsd_m=1.0)
    assert (r1 - r0, c1 - c0) == pytest.approx((20.0, 10.0))
    assert ((r0 + r1) / 2, (c0 + c1) / 2) == pytest.approx(((5.5 + OFF_R) * 4, (5.5 + OFF_C) * 4))


def test_box_model_clips_boxes_to_the_image(tmp_path):
    path = _box_model(tmp_path / "boxes.onnx")
    img = _dot_image((200, 200), [(0, 10), (24, 24)])  # 200 px = 25 cells: both at a border
    found = get_detector("onnx", model_path=path).detect_boxes(img, gsd_m=0.5)
    got = sorted(tuple(round(v, 3) for v in b) for b, _ in found)
    (a0, a1, a2, a3), (b0, b1, b2, b3) = sorted([_expected(0, 10), _expected(24, 24)])
    assert got == [(0.0, a1, a2, a3), (b0, b1, 200.0, 200.0)]
    assert a0 < 0 and b2 > 200 and b3 > 200


def test_box_model_two_size_channels_means_no_offset(tmp_path):
    path = _box_model(tmp_path / "boxes.onnx", size_channels=2)
    img = _dot_image((200, 200), [(10, 10)])
    ((b, _),) = get_detector("onnx", model_path=path).detect_boxes(img, gsd_m=0.5)
    assert ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) == pytest.approx((84.0, 84.0))


def test_box_model_needs_dynamic_input(tmp_path, scene):
    path = _box_model(tmp_path / "fixed.onnx", dynamic=False)
    tile = scene.mem_tile((64, 64), 1.0)
    det = get_detector("onnx", model_path=path)
    with pytest.raises(ModelFileError, match="dynamic H and W"):
        det.detect(np.zeros((3, 64, 64), np.uint8), grid=tile.grid, tile=tile, valid=None)


def test_decode_boxes_known_answer():
    heat = np.zeros((8, 8), dtype=np.float32)
    heat[2, 3] = 0.9
    heat[2, 4] = 0.5  # not a local maximum
    heat[6, 6] = 0.4
    sizes = np.zeros((2, 8, 8), dtype=np.float32)
    sizes[:, 2, 3] = np.log([8.0, 4.0])
    boxes, scores = decode_boxes(heat, sizes, stride=4, pixel_m=2.0, threshold=0.3)
    assert scores.tolist() == pytest.approx([0.9, 0.4])
    # centre (2.5, 3.5) * 4 = (10, 14) px; 8 m x 4 m at 2 m/px = 4 x 2 px
    assert boxes[0].tolist() == pytest.approx([8.0, 13.0, 12.0, 15.0])
    assert boxes[1].tolist() == pytest.approx([26.0 - 0.25, 26.0 - 0.25, 26.25, 26.25])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_resample_block_mean_and_fractional(dtype):
    img = np.arange(2 * 6 * 6, dtype=dtype).reshape(2, 6, 6)
    half = resample(img, 2.0)
    assert half.shape == (2, 3, 3) and half.dtype == np.float32
    assert half[0, 0, 0] == pytest.approx(img[0, :2, :2].astype(np.float64).mean())
    assert resample(img, 1.5).shape == (2, 4, 4)
    assert resample(img, 1.0).tolist() == img.astype(np.float32).tolist()
    assert np.array_equal(img, np.arange(2 * 6 * 6, dtype=dtype).reshape(2, 6, 6))


def test_heat_model_with_gsd_metadata_returns_image_sized_map(tmp_path, scene):
    # the legacy heat-map path also honours sitewatch.input_gsd_m (first output only)
    w = np.full((1, 3, 1, 1), 20.0 / 3, dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["z"]), helper.make_node("Sigmoid", ["z"], ["h"])],
        "heat-gsd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, None, None])],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel())],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    helper.set_model_props(m, {"sitewatch.input_gsd_m": "1.0"})
    onnx.save(m, str(tmp_path / "h.onnx"))
    det = get_detector("onnx", model_path=str(tmp_path / "h.onnx"))
    heat = det.heatmap(np.zeros((3, 50, 60), np.uint8), gsd_m=0.5)
    assert heat.shape == (50, 60)
