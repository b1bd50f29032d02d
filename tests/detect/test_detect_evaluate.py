"""Scoring rules with known answers."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.detect.evaluate import TruthBox, score_tile
from pipeline.detect.geometry import box_iou, oriented_rect
from pipeline.model import Detection


def _det(cls, center, length, width, heading=0.0, score=0.9, nose=None):
    ring = oriented_rect(center, length, width, heading)
    attrs = {} if nose is None else {"nose_cone": nose}
    return Detection(
        id=f"{cls}{center}",
        cls=cls,
        score=score,
        footprint_px=ring,
        footprint_lonlat=ring,
        tile_id="t",
        tile_sha256="s",
        acquired=datetime(2024, 1, 1, tzinfo=UTC),
        detector="x",
        detector_version="1",
        attributes=attrs,
        length_m=length,
    )


def test_score_tile_counts():
    truths = [
        TruthBox("An-124", oriented_rect((50, 50), 40, 40, 30.0), attributes={"nose_cone": "open"}),
        TruthBox("Il-76", oriented_rect((150, 150), 30, 30, 0.0)),
        TruthBox("Su-24", oriented_rect((250, 50), 12, 9, 0.0)),
    ]
    dets = [
        _det("An-124", (51, 50), 40, 40, 30.0, nose="closed"),  # TP, nose wrong
        _det("Il-76", (150, 151), 30, 30),  # TP, type right
        _det("aircraft", (400, 400), 30, 30),  # FP
        _det("Il-76", (150, 150), 30, 30, score=0.1),  # duplicate: FP
    ]
    s = score_tile(dets, truths).summary()
    assert (s["tp"], s["fp"], s["fn"]) == (2, 2, 1)
    assert s["type_accuracy"] == 1.0 and s["nose_accuracy"] == 0.0 and s["nose_called"] == 1.0


def test_envelope_iou_for_axis_aligned_truth():
    diag = oriented_rect((50, 50), 40, 10, 45.0)
    box = (
        (50 - 17.7, 50 - 17.7),
        (50 - 17.7, 50 + 17.7),
        (50 + 17.7, 50 + 17.7),
        (50 + 17.7, 50 - 17.7),
        (50 - 17.7, 50 - 17.7),
    )
    assert box_iou(diag, box) > 0.95
