"""Real 0.5 m Pleiades imagery (Airbus sample): the detector runs with an unknown sun."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detect.detectors import MeasureDetector
from pipeline.detect.evalrun import _plain_tile, airbus_boxes, airbus_split, read_plain_image
from pipeline.detect.evaluate import TruthBox, score_tile
from pipeline.detect.geometry import box_iou


@pytest.mark.realdata
def test_airbus_crop_runs_without_sun(shared_data):
    root = shared_data / "airbus-aircraft-sample"
    dev, report = airbus_split(root)
    assert len(dev) == 20 and len(report) == 10
    name = dev[0]
    img = read_plain_image(root / "images" / name)[:, 0:1000, 1400:2400]
    tile = _plain_tile(name, img.shape[1:], 0.5)
    assert tile.sun_azimuth_deg is None
    dets = MeasureDetector(gsd_m=0.5).detect(img, grid=tile.grid, tile=tile, valid=None)
    assert dets, "no detections at all on a busy apron"
    for d in dets:
        assert 0.0 <= d.score <= 1.0 and d.length_m is not None
    # truth boxes inside the crop, shifted into crop pixels
    boxes = []
    for tb in airbus_boxes(root)[name]:
        ring = np.asarray(tb.ring) - [0.0, 1400.0]
        if ring[:, 0].max() <= 1000 and ring[:, 1].min() >= 0 and ring[:, 1].max() <= 1000:
            boxes.append(TruthBox("aircraft", tuple(map(tuple, ring))))
    s = score_tile(dets, boxes, iou_fn=box_iou, categories=("aircraft", "helicopter"))
    assert s.tp + s.fn == len(boxes) > 0
    assert s.tp >= 1  # real data is hard for a training-free detector; see the report figures
