"""Scoring rules with known answers."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.detect.evaluate import TruthBox, merge_duplicate_truths, score_tile
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


def _box(r0, c0, r1, c1, category="aircraft"):
    return TruthBox("aircraft", ((r0, c0), (r0, c1), (r1, c1), (r1, c0), (r0, c0)), category)


def test_merge_duplicate_truths_joins_doubly_labelled_objects_only():
    a = _box(0, 0, 40, 40)
    a2 = _box(4, 2, 44, 42)  # the same aircraft labelled again, IoU ~0.78
    a3 = _box(8, 6, 48, 46)  # a third label: overlaps a2 well, a less; joins transitively
    b = _box(0, 45, 40, 85)  # a neighbour 5 px away: IoU 0
    c = _box(10, 10, 30, 30, category="vehicle")  # other category inside a: never merged
    out, merged = merge_duplicate_truths([a, b, a2, c, a3], iou=0.3)
    assert merged == 2
    assert len(out) == 3
    first = out[0]
    assert first.attributes["labels"] == "3"
    rows = [p[0] for p in first.ring]
    cols = [p[1] for p in first.ring]
    assert (min(rows), min(cols), max(rows), max(cols)) == (4.0, 8 / 3, 44.0, 128 / 3)
    assert out[1] is b and out[2] is c


def test_merged_truth_turns_a_duplicate_miss_into_one_hit():
    a, a2 = _box(0, 0, 40, 40), _box(3, 3, 43, 43)
    det = _det("aircraft", (21.5, 21.5), 40, 40)
    raw = score_tile([det], [a, a2], iou_fn=box_iou, categories=("aircraft",))
    assert (raw.tp, raw.fn) == (1, 1)
    out, _ = merge_duplicate_truths([a, a2])
    fixed = score_tile([det], out, iou_fn=box_iou, categories=("aircraft",))
    assert (fixed.tp, fixed.fp, fixed.fn) == (1, 0, 0)
