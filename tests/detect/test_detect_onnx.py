"""A tiny ONNX heat-map model (built here with onnx.helper) through the Detector interface."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from pipeline.detect import get_detector
from pipeline.errors import ModelFileError


def _model(path, *, channels=3):
    # heat = sigmoid(20 * (mean(x) - 0.7)): a 1x1 conv averaging the channels, bias -0.7*20
    w = np.full((1, channels, 1, 1), 20.0 / channels, dtype=np.float32)
    b = np.array([-14.0], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["z"]),
            helper.make_node("Sigmoid", ["z"], ["heat"]),
        ],
        "tiny-heat",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, None, None])],
        [helper.make_tensor_value_info("heat", TensorProto.FLOAT, [1, 1, None, None])],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("b", TensorProto.FLOAT, b.shape, b),
        ],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def test_onnx_adapter_turns_heat_into_measured_boxes(tmp_path, scene):
    path = _model(tmp_path / "tiny.onnx")
    img = np.full((3, 200, 200), 60, dtype=np.uint8)
    img[:, 40:60, 30:130] = 250  # a 100 x 20 px bright bar: 50 m x 10 m at 0.5 m
    img[:, 150:160, 150:170] = 250
    tile = scene.mem_tile((200, 200), 0.5)
    det = get_detector("onnx", model_path=str(path))
    dets = sorted(det.detect(img, grid=tile.grid, tile=tile, valid=None), key=lambda d: -d.length_m)
    assert len(dets) == 2
    assert dets[0].length_m == pytest.approx(50.0, abs=0.6)
    assert dets[0].wingspan_m == pytest.approx(10.0, abs=0.6)
    assert dets[0].detector == "onnx" and dets[0].model.startswith("onnx:")
    assert 0.5 < dets[0].score <= 1.0


def test_onnx_bad_file(tmp_path, scene):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    det = get_detector("onnx", model_path=str(bad))
    tile = scene.mem_tile((10, 10), 0.5)
    with pytest.raises(ModelFileError, match="bad.onnx"):
        det.detect(np.zeros((3, 10, 10), np.uint8), grid=tile.grid, tile=tile, valid=None)
    with pytest.raises(ModelFileError):
        get_detector("onnx", model_path=str(tmp_path / "missing.onnx"))
