"""The rotodome test: an A-50 is an Il-76 airframe with a 10.8 m radar dome."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from skimage.draw import disk

from pipeline.detect.classify import TypeCall, classify_dims
from pipeline.detect.detectors import MeasureDetector
from pipeline.detect.geometry import heading_vector
from pipeline.detect.rotodome import DomeParams, apply_dome, dome_twin, rotodome_state
from pipeline.objects import object_types

L, S, DOME = 46.6, 50.5, 10.8


def _airframe(scene, *, gsd: float, heading: float, dome: bool, seed: int = 0) -> np.ndarray:
    """An Il-76-sized aircraft (with a darker dome disc when ``dome``) on an apron, no shadows."""
    n = int(round(120.0 / gsd))
    img = scene.apron((n, n), seed=seed)
    centre = (n / 2.0, n / 2.0)
    scene.paint_aircraft(
        img, centre, length_m=L, span_m=S, heading_deg=heading, gsd_m=gsd, value=205.0
    )
    if dome:
        ur, uc = heading_vector(heading)
        back = 0.12 * L / gsd  # dome centre 0.62 L from the nose
        c = (centre[0] - ur * back, centre[1] - uc * back)
        img[disk(c, DOME / 2.0 / gsd, shape=img.shape)] = 170.0
    return np.stack([img, img, img]).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("heading", [0.0, 33.0, 120.0, 251.0])
@pytest.mark.parametrize("gsd", [0.3, 0.5])
def test_dome_tells_a50_from_il76(scene, heading, gsd):
    det = MeasureDetector()
    calls = {}
    for dome in (True, False):
        img = _airframe(scene, gsd=gsd, heading=heading, dome=dome)
        tile = scene.mem_tile(img.shape[1:], gsd)
        found = det.detect(img, grid=tile.grid, tile=tile, valid=None)
        (d,) = [d for d in found if d.length_m > 30]
        names = [a.split(":")[0] for a in d.attributes["alternatives"].split(";")]
        calls[dome] = (d.cls, d.attributes["rotodome"], names)
    # with the dome: an A-50, and no dome-less look-alike left in the alternatives
    assert calls[True] == ("A-50", "present", ["A-50"])
    # without: never an A-50 (the test may abstain, then A-50 stays a look-alike)
    cls, state, names = calls[False]
    assert cls == "Il-76" and state in ("absent", "unknown")
    assert ("A-50" in names) == (state == "unknown")


def test_without_the_test_a50_is_an_il76(scene):
    img = _airframe(scene, gsd=0.3, heading=33.0, dome=True)
    tile = scene.mem_tile(img.shape[1:], 0.3)
    det = replace(MeasureDetector(), domes=None)
    (d,) = [d for d in det.detect(img, grid=tile.grid, tile=tile, valid=None) if d.length_m > 30]
    assert d.cls == "Il-76" and "rotodome" not in d.attributes


def test_dome_unknown_when_too_coarse(scene):
    # at 0.8 m the dome's radius is 6.75 px, under min_radius_px
    img = _airframe(scene, gsd=0.8, heading=10.0, dome=True)
    gray = img[0].astype(np.float32)
    n = gray.shape[0]
    kw = {"center_rc": (n / 2, n / 2), "heading_deg": 10.0, "length_px": L / 0.8, "dome_m": DOME}
    assert rotodome_state(gray, gsd_m=0.8, **kw) == "unknown"
    # the same picture read as if finer is decided: the threshold, not the picture, says unknown
    assert rotodome_state(gray, gsd_m=0.8, params=DomeParams(min_radius_px=5.0), **kw) != "unknown"


def test_dome_position_is_behind_mid_length(scene):
    # a disc at the nose is not a rotodome
    gsd, heading = 0.3, 70.0
    n = int(round(120.0 / gsd))
    img = scene.apron((n, n), seed=1)
    centre = (n / 2.0, n / 2.0)
    scene.paint_aircraft(
        img, centre, length_m=L, span_m=S, heading_deg=heading, gsd_m=gsd, value=205.0
    )
    ur, uc = heading_vector(heading)
    fwd = 0.3 * L / gsd
    img[disk((centre[0] + ur * fwd, centre[1] + uc * fwd), DOME / 2 / gsd, shape=img.shape)] = 150
    state = rotodome_state(
        img.astype(np.float32),
        center_rc=centre,
        heading_deg=heading,
        length_px=L / gsd,
        dome_m=DOME,
        gsd_m=gsd,
    )
    assert state == "absent"


def test_dome_twin_only_for_mixed_lookalikes():
    call = classify_dims(L, S, gsd_m=0.5)
    assert {"Il-76", "A-50"} <= {n for n, _ in call.alternatives}
    assert dome_twin(call) == pytest.approx(DOME)
    fighter = classify_dims(21.9, 15.3, gsd_m=0.5)
    assert dome_twin(fighter) is None
    only_dome = TypeCall("A-50", "aircraft", 0.9, 0.1, (("A-50", 0.9), ("Il-76", 0.01)))
    assert dome_twin(only_dome) is None  # Il-76 is no look-alike at 0.01
    generic = TypeCall("aircraft", "aircraft", 0.5, 20.0, (("Il-76", 0.2), ("A-50", 0.2)))
    assert dome_twin(generic) is None


def test_apply_dome_renormalises_and_unknown_changes_nothing():
    call = TypeCall("Il-76", "aircraft", 0.3, 0.5, (("Il-76", 0.3), ("A-50", 0.3), ("Tu-95", 0.3)))
    present = apply_dome(call, "present")
    assert present.cls == "A-50" and [n for n, _ in present.alternatives] == ["A-50"]
    assert present.score == pytest.approx(0.9)  # the 0.1 "none of these" share is kept
    absent = apply_dome(call, "absent")
    assert absent.cls == "Il-76" and [n for n, _ in absent.alternatives] == ["Il-76", "Tu-95"]
    assert sum(p for _, p in absent.alternatives) == pytest.approx(0.9)
    assert apply_dome(call, "unknown") == call


def test_table_carries_the_dome():
    types = object_types()
    assert types["A-50"].rotodome_m == pytest.approx(10.8)
    assert types["Il-76"].rotodome_m is None
    assert math.isclose(types["A-50"].length_m, types["Il-76"].length_m)
