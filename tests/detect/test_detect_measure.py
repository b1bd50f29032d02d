"""Known-answer tests of the measurement detector on painted aircraft."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detect import DETECTORS, Detector, get_detector
from pipeline.detect.classify import classify_dims
from pipeline.detect.detectors import MeasureDetector
from pipeline.detect.geometry import ring_dims, ring_iou
from pipeline.detect.measure import find_objects
from pipeline.errors import ConfigError


def _angle_diff(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("heading", [0.0, 37.0, 90.0, 200.0, 301.0])
@pytest.mark.parametrize("gsd", [0.3, 0.5])
def test_measures_an124_within_one_pixel(scene, heading, gsd):
    img, truth = scene.render(
        [scene.Plane("An-124", 69.1, 73.3, (120.0, 120.0), heading, visor_open=False)], gsd=gsd
    )
    tile = scene.mem_tile(img.shape[1:], gsd)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None)
    assert len(dets) == 1
    d = dets[0]
    assert abs(d.length_m - 69.1) <= gsd
    assert abs(d.wingspan_m - 73.3) <= 1.2 * gsd
    assert _angle_diff(d.heading_deg, heading) <= 3.0
    assert d.cls == "An-124" and d.category == "aircraft"
    assert d.attributes["nose_cone"] == "closed"
    assert ring_iou(d.footprint_px, truth[0]["footprint_px"]) > 0.8
    # the geographic ring is the pixel ring through the grid
    assert d.footprint_lonlat[0] == pytest.approx(
        tile.grid.pixel_ring_to_lonlat([d.footprint_px[0]])[0]
    )
    assert d.tile_sha256 == tile.sha256 and d.detector == "measure"


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_dtypes_and_types_apart(scene, dtype):
    planes = [
        scene.Plane("An-124", 69.1, 73.3, (60.0, 70.0), 10.0),
        scene.Plane("Il-76", 46.6, 50.5, (170.0, 70.0), 100.0),
        scene.Plane("An-26", 23.8, 29.2, (60.0, 185.0), 250.0),
        scene.Plane("C-130", 29.8, 40.4, (170.0, 180.0), 170.0),
    ]
    img, _ = scene.render(planes, gsd=0.5, dtype=dtype)
    before = img.copy()
    tile = scene.mem_tile(img.shape[1:], 0.5)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None)
    np.testing.assert_array_equal(img, before)  # caller's array untouched
    got = sorted(d.cls for d in dets)
    assert got == sorted(["An-124", "Il-76", "An-26", "C-130"])


def test_shadow_is_not_measured(scene):
    """A long shadow (low sun) must not inflate the measured size."""
    img, _ = scene.render(
        [scene.Plane("Il-76", 46.6, 50.5, (120.0, 120.0), 60.0)], gsd=0.5, sun_az=200.0, sun_el=15.0
    )
    tile = scene.mem_tile(img.shape[1:], 0.5, sun_az=200.0, sun_el=15.0)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None)
    assert [d.cls for d in dets] == ["Il-76"]
    assert abs(dets[0].length_m - 46.6) <= 0.6


def test_open_visor_is_called_open(scene):
    img, _ = scene.render(
        [
            scene.Plane("An-124", 69.1, 73.3, (70.0, 70.0), 20.0, visor_open=True),
            scene.Plane("An-124", 69.1, 73.3, (170.0, 170.0), 200.0, visor_open=False),
        ],
        gsd=0.5,
        size_m=240.0,
    )
    tile = scene.mem_tile(img.shape[1:], 0.5)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None)
    states = {round(d.footprint_px[0][0] * 0.5 / 100): d.attributes.get("nose_cone") for d in dets}
    assert sorted(states.values()) == ["closed", "open"]
    assert all(d.cls == "An-124" for d in dets)


def test_nose_unknown_at_coarse_gsd_and_at_edge(scene):
    img, _ = scene.render(
        [scene.Plane("An-124", 69.1, 73.3, (120.0, 120.0), 0.0)], gsd=1.5, size_m=240.0
    )
    tile = scene.mem_tile(img.shape[1:], 1.5)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None)
    assert len(dets) == 1 and dets[0].attributes["nose_cone"] == "unknown"
    # the nose cut off by nodata: cannot call it
    img, _ = scene.render([scene.Plane("An-124", 69.1, 73.3, (120.0, 120.0), 0.0)], gsd=0.5)
    valid = np.ones(img.shape[1:], dtype=bool)
    valid[: int(95 / 0.5)] = False
    tile = scene.mem_tile(img.shape[1:], 0.5)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=valid)
    assert all(d.attributes.get("nose_cone", "unknown") == "unknown" for d in dets)


def test_unknown_sun_still_measures(scene):
    img, _ = scene.render(
        [scene.Plane("Il-76", 46.6, 50.5, (120.0, 120.0), 300.0)], gsd=0.5, sun_az=135.0
    )
    tile = scene.mem_tile(img.shape[1:], 0.5, sun_az=None, sun_el=None)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None)
    assert [d.cls for d in dets] == ["Il-76"]


def test_empty_apron_gives_nothing(scene):
    img, _ = scene.render([], gsd=0.5)
    tile = scene.mem_tile(img.shape[1:], 0.5)
    assert MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None) == []


def test_vehicle_from_size(scene):
    from skimage.draw import polygon

    img, _ = scene.render([], gsd=0.3, size_m=60.0)
    rr, cc = polygon([50, 50, 58.3, 58.3], [60, 90, 90, 60], shape=img.shape[1:])  # 9 x 2.5 m
    img[:, rr, cc] = 30
    tile = scene.mem_tile(img.shape[1:], 0.3)
    dets = MeasureDetector().detect(img, grid=tile.grid, tile=tile, valid=None)
    assert len(dets) == 1 and dets[0].category == "vehicle"
    assert dets[0].cls == "truck"


def test_classify_dims_generic_and_scores():
    call = classify_dims(69.1, 73.3, gsd_m=0.5)
    assert call.cls == "An-124" and call.score > 0.5
    far = classify_dims(100.0, 20.0, gsd_m=0.5)
    assert far.cls == "aircraft"  # no type fits: generic class
    coarse = classify_dims(46.6, 50.5, gsd_m=2.0)
    fine = classify_dims(46.6, 50.5, gsd_m=0.3)
    assert coarse.score <= fine.score  # coarser GSD -> less certain


def test_registry_and_protocol():
    assert set(DETECTORS) >= {"measure", "learned", "onnx"}
    det = get_detector("measure")
    assert isinstance(det, Detector) and det.name == "measure"
    with pytest.raises(ConfigError):
        get_detector("nope")
    with pytest.raises(ConfigError):
        get_detector("learned")


def test_find_objects_rejects_bad_gsd():
    with pytest.raises(ValueError, match="gsd_m"):
        find_objects(np.zeros((10, 10)), gsd_m=0.0)


def test_ring_dims_roundtrip():
    from pipeline.detect.geometry import oriented_rect

    ring = oriented_rect((50.0, 50.0), 40.0, 10.0, 30.0)
    length, width, axis = ring_dims(ring)
    assert length == pytest.approx(40.0) and width == pytest.approx(10.0)
    assert _angle_diff(axis, 30.0) < 1e-6 or _angle_diff(axis, 210.0) < 1e-6


def test_half_level_mask_keeps_a_wing_split_off_by_shading():
    """At half contrast a shaded wing root can cut a wing from the fuselage: the wing
    stays (the largest part alone lost it); a speck under 5 % of the body does not."""
    from pipeline.detect.measure import _half_level_mask

    z = np.zeros((60, 90), dtype=np.float32)
    z[20:28, 10:80] = 20.0  # fuselage, 560 px
    z[28:31, 30:45] = 5.0  # shaded wing root: below half the object's level (10)
    z[31:55, 30:45] = 12.0  # wing, 360 px
    z[13:20, 50:53] = 5.0  # a faint stalk ...
    z[10:13, 50:53] = 12.0  # ... to a 9 px speck
    out = _half_level_mask(z > 4.0, z)
    assert out[20:28, 10:80].all() and out[31:55, 30:45].all()
    assert not out[10:13, 50:53].any()


def test_brightness_sigma_is_bounded():
    """The fine sigma is used, but never above the coarse one nor below either floor."""
    from pipeline.detect.measure import brightness_sigma

    coarse = np.array([100.0, 100.0, 100.0, 2.0])
    fine = np.array([3.0, 70.0, 300.0, 1.0])
    bg = np.array([60.0, 60.0, 60.0, 200.0])
    got = brightness_sigma(coarse, fine, bg, floor_fraction=0.5, floor_contrast=0.08)
    # floored at half the coarse sigma; fine kept; capped at coarse; contrast floor capped too
    np.testing.assert_allclose(got, [50.0, 70.0, 100.0, 2.0])
    got = brightness_sigma(coarse, fine, bg, floor_fraction=0.0, floor_contrast=0.08)
    np.testing.assert_allclose(got, [4.8, 70.0, 100.0, 2.0])


def test_brightness_sigma_drops_the_coarse_floor_at_a_surface_step():
    """Coarse / fine ratios 4, 8 and 25 with steps (6, 10): full, half and no coarse floor."""
    from pipeline.detect.measure import brightness_sigma

    coarse = np.array([100.0, 100.0, 100.0])
    fine = np.array([25.0, 12.5, 4.0])
    bg = np.array([60.0, 60.0, 60.0])
    got = brightness_sigma(
        coarse, fine, bg, floor_fraction=0.5, floor_contrast=0.08, step_ratio=(6.0, 10.0)
    )
    np.testing.assert_allclose(got, [50.0, 25.0, 0.08 * 60.0])


@pytest.mark.parametrize(
    ("apron_m", "value", "old"),
    [
        (100.0, 130.0, {"sigma_floor_fraction": 1.0, "max_hole_m2": 0.0}),
        (160.0, 130.0, {"sigma_floor_fraction": 1.0, "max_hole_m2": 0.0}),
        (120.0, 100.0, {"sigma_step_ratio": (0.0, 0.0)}),
    ],
)
def test_aircraft_on_dark_apron_in_concrete(scene, apron_m, value, old):
    """A dark apron (60 DN) inside light concrete (200 DN) with an Il-20 (``value`` DN) on it.

    At 160 m the large-window noise sigma swells with the concrete/apron step
    (z ~ 2 at the aircraft); at 100 m the apron's edge residuals ring it and a
    plain hole fill swallows the whole apron. Both missed the white (130 DN)
    aircraft before the sigma bounds and the hole-size cap (``old``). A grey
    one (100 DN: +40 DN) in the middle of a 120 m apron stays under the
    threshold while the coarse floor is half the step-swollen coarse sigma;
    past ``sigma_step_ratio`` only the contrast floor bounds it.
    """
    from dataclasses import replace

    from pipeline.detect.measure import MeasureParams

    gsd, n = 0.5, 640
    img = scene.apron((n, n), level=200.0, noise=3.0)
    h, c = int(apron_m / gsd / 2), n // 2
    img[c - h : c + h, c - h : c + h] -= 140.0
    scene.paint_aircraft(
        img, (c, c), length_m=35.9, span_m=37.4, heading_deg=30.0, gsd_m=gsd, value=value
    )
    arr = np.clip(img, 0, 255).astype(np.uint8)[None].repeat(3, 0)
    tile = scene.mem_tile((n, n), gsd)
    dets = MeasureDetector().detect(arr, grid=tile.grid, tile=tile, valid=None)
    assert [d.cls for d in dets] == ["Il-20"]
    assert abs(dets[0].length_m - 35.9) <= 2 * gsd
    before = replace(MeasureParams(), **old)
    assert MeasureDetector(params=before).detect(arr, grid=tile.grid, tile=tile, valid=None) == []


def test_fill_small_holes_keeps_large_ones_open():
    from pipeline.detect.measure import fill_small_holes

    m = np.zeros((40, 80), dtype=bool)
    m[5:15, 5:15] = True
    m[8:11, 8:11] = False  # 9 px hole
    m[5:35, 30:75] = True
    m[8:32, 33:72] = False  # 576 px hole (a ringed surface)
    out = fill_small_holes(m, max_px=100)
    assert out[8:11, 8:11].all() and not out[8:32, 33:72].any()
    assert fill_small_holes(m, max_px=None)[8:32, 33:72].all()
    assert (fill_small_holes(m, max_px=100) >= m).all()
