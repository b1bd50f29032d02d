"""Vessels on small painted harbours (known sizes, headings) and the aircraft shape gate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.draw import polygon as draw_polygon

from pipeline.detect.detectors import MeasureDetector
from pipeline.detect.vessels import find_vessels, water_mask

GSD = 0.5
WATER = (60.0, 80.0, 115.0, 30.0)  # red, green, blue, nir
QUAY = (165.0, 160.0, 150.0, 170.0)


def hull(center_rc: tuple[float, float], length_m: float, beam_m: float, heading: float):
    """Pixel polygon of a hull with a pointed bow (rows, cols)."""
    h = math.radians(heading)
    ar, ac = -math.cos(h), math.sin(h)
    br, bc = ac, -ar
    L, B = length_m / 2 / GSD, beam_m / 2 / GSD
    pts = [(-L, -B), (0.8 * L, -B), (L, 0.0), (0.8 * L, B), (-L, B)]
    r = [center_rc[0] + u * ar + v * br for u, v in pts]
    c = [center_rc[1] + u * ac + v * bc for u, v in pts]
    return np.array(r), np.array(c)


def harbour(ships, *, size: int = 600, seed: int = 0) -> np.ndarray:
    """Water on the left, a quay (land) from column 400, ships painted over it."""
    rng = np.random.default_rng(seed)
    img = np.empty((4, size, size), dtype=np.float32)
    for b in range(4):
        img[b, :, :400] = WATER[b]
        img[b, :, 400:] = QUAY[b]
    for center, length, beam, heading, colour in ships:
        rr, cc = draw_polygon(*hull(center, length, beam, heading), shape=(size, size))
        for b in range(4):
            img[b, rr, cc] = colour[b]
    img += rng.normal(0.0, 4.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# hulls are brighter than shadows: more than a third of the way from water to quay
GREY = (150.0, 152.0, 155.0, 140.0)
RED = (170.0, 60.0, 55.0, 90.0)


def test_water_mask_is_the_water_body():
    img = harbour([])
    w = water_mask(img, gsd_m=GSD)
    assert w[:, :390].mean() > 0.98
    assert w[:, 410:].mean() < 0.01


def test_ships_at_quay_and_in_open_water_are_measured():
    ships = [
        # cargo ship moored along the quay, bow north
        ((150.0, 400.0 - 20.0), 130.0, 20.0, 0.0, RED),
        # patrol boat in open water at 30 degrees
        ((420.0, 150.0), 30.0, 6.0, 30.0, GREY),
    ]
    found = find_vessels(harbour(ships), gsd_m=GSD)
    assert len(found) == 2
    found.sort(key=lambda v: -v.length_px)
    cargo, patrol = found
    assert abs(cargo.length_px * GSD - 130.0) < 3.0
    assert abs(cargo.beam_px * GSD - 20.0) < 2.0
    assert min(cargo.axis_heading_deg, 180 - cargo.axis_heading_deg) < 3.0
    assert abs(patrol.length_px * GSD - 30.0) < 3.0
    assert abs(patrol.axis_heading_deg - 30.0) < 5.0


def test_detector_types_vessels_and_ignores_dry_land(scene):
    img = harbour([((300.0, 400.0 - 20.0), 130.0, 20.0, 0.0, RED)])
    tile = scene.mem_tile(img.shape[1:], GSD)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None)
    vessels = [d for d in dets if d.category == "vessel"]
    assert [d.cls for d in vessels] == ["cargo ship"]
    assert vessels[0].length_m == pytest.approx(130.0, abs=3.0)
    # a land-only tile (no water) yields no vessels
    dry = np.broadcast_to(np.array(QUAY, dtype=np.uint8)[:, None, None], img.shape).copy()
    assert find_vessels(dry, gsd_m=GSD) == []


def test_aircraft_gate_rejects_filled_blobs():
    from pipeline.detect.detectors import ShapeGate, keep_blob
    from pipeline.detect.measure import Blob

    def blob(fill: float) -> Blob:
        return Blob(
            (50.0, 50.0), 0.0, 60.0, 50.0, int(fill * 3000), 0.95, fill, 10.0, 1, 1.0, False
        )

    gate = ShapeGate()
    assert keep_blob(blob(0.25), gsd_m=0.5, gate=gate)  # hollow: wings, tailplane
    assert not keep_blob(blob(0.6), gsd_m=0.5, gate=gate)  # a filled patch of ground
