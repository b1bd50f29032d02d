"""Object-level change: arrived / departed / stayed with misregistration and human priority."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from pipeline.detect.base import make_detection
from pipeline.detect.geometry import oriented_rect
from pipeline.detect.match import match_detections
from pipeline.model import ObjectChange


def _tile(scene, tid, day, *, x0=767_700.0):
    t = scene.mem_tile((600, 600), 0.5, tile_id=tid)
    grid = scene.make_grid((600, 600), 0.5, x0=x0)
    return replace(t, grid=grid, acquired=datetime(2024, 12, day, tzinfo=UTC))


def _det(tile, cls, center_rc, length_m, span_m, heading=0.0, source="model", attributes=None):
    ring = oriented_rect(center_rc, length_m / 0.5, span_m / 0.5, heading)
    d = make_detection(
        cls=cls,
        category="aircraft",
        score=0.9,
        footprint_px=ring,
        grid=tile.grid,
        tile=tile,
        detector="test",
        detector_version="1",
        length_m=length_m,
        wingspan_m=span_m,
        heading_deg=heading,
        attributes=attributes,
    )
    return replace(d, source=source)


def test_arrived_departed_stayed_with_misregistration(scene):
    b = _tile(scene, "a_20241212", 12)
    # the after tile is misregistered by 3 m east: same objects sit 6 px west in its pixels
    a = _tile(scene, "a_20241213", 13, x0=767_703.0)
    before = [_det(b, "An-124", (150, 150), 69.1, 73.3), _det(b, "Il-76", (400, 150), 46.6, 50.5)]
    after = [
        _det(a, "An-124", (150, 144), 69.1, 73.3),  # stayed
        _det(a, "Il-76", (400, 450), 46.6, 50.5),
    ]  # a different Il-76 elsewhere
    changes = match_detections(before, after, before_tile=b, after_tile=a, site_id="khmeimim")
    kinds = sorted((c.kind, c.cls) for c in changes)
    assert kinds == [("arrived", "Il-76"), ("departed", "Il-76"), ("stayed", "An-124")]
    for c in changes:
        assert c.before_tile_id == b.id and c.after_tile_id == a.id
        assert ObjectChange.from_dict(c.to_dict()) == c
    # stable ids: same inputs, same output
    again = match_detections(before, after, before_tile=b, after_tile=a, site_id="khmeimim")
    assert [c.id for c in again] == [c.id for c in changes]


def test_incompatible_types_do_not_match(scene):
    b = _tile(scene, "b1", 12)
    a = _tile(scene, "b2", 13)
    before = [_det(b, "An-124", (150, 150), 69.1, 73.3)]
    after = [_det(a, "An-26", (150, 150), 23.8, 29.2)]
    kinds = sorted(
        c.kind for c in match_detections(before, after, before_tile=b, after_tile=a, site_id="s")
    )
    assert kinds == ["arrived", "departed"]


def test_human_outranks_model(scene):
    b = _tile(scene, "c1", 12)
    a = _tile(scene, "c2", 13)
    model_b = _det(b, "aircraft", (150, 150), 60.0, 60.0)
    human_b = _det(b, "An-124", (150, 151), 69.1, 73.3, source="human")
    after = [_det(a, "An-124", (150, 150), 69.1, 73.3)]
    changes = match_detections([model_b, human_b], after, before_tile=b, after_tile=a, site_id="s")
    assert [c.kind for c in changes] == ["stayed"]
    assert changes[0].before.source == "human" and changes[0].cls == "An-124"


def test_empty_inputs(scene):
    b = _tile(scene, "d1", 12)
    a = _tile(scene, "d2", 13)
    assert match_detections([], [], before_tile=b, after_tile=a, site_id="s") == []
    only = match_detections(
        [], [_det(a, "Il-76", (100, 100), 46.6, 50.5)], before_tile=b, after_tile=a, site_id="s"
    )
    assert [c.kind for c in only] == ["arrived"]


def test_decided_rotodomes_must_agree(scene):
    """Same stand, same size: an A-50 (dome seen) then an Il-76 (no dome) is a swap."""
    b = _tile(scene, "d1", 12)
    a = _tile(scene, "d2", 13)

    def pair(before_dome, after_dome, after_cls):
        db = _det(b, "A-50", (300, 300), 46.6, 50.5, attributes={"rotodome": before_dome})
        da = _det(a, after_cls, (300, 300), 46.6, 50.5, attributes={"rotodome": after_dome})
        changes = match_detections([db], [da], before_tile=b, after_tile=a, site_id="khmeimim")
        return sorted((c.kind, c.cls) for c in changes)

    assert pair("present", "absent", "Il-76") == [("arrived", "Il-76"), ("departed", "A-50")]
    # an undecided dome (too coarse a GSD on one date) does not split them
    assert pair("present", "unknown", "Il-76") == [("stayed", "A-50")]
    assert pair("present", "present", "A-50") == [("stayed", "A-50")]
