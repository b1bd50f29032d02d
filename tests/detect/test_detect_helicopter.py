"""Helicopters found by their rotor blades (pipeline.detect.rotor) on rendered aprons."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from skimage.draw import line_aa

from pipeline.detect.classify import classify_dims, classify_rotor
from pipeline.detect.detectors import MeasureDetector, blob_to_call, spans_rotor
from pipeline.detect.geometry import ring_iou, vector_heading
from pipeline.detect.measure import Blob, evidence
from pipeline.detect.rotor import (
    Rotor,
    RotorParams,
    _blade_count,
    _drop_shadow_hubs,
    _line_directions,
    _measure,
    _star_lines,
    _two_blades_and_tail,
    body_share,
    find_rotors,
    seat_on_body,
    sunward_twin,
    thin_dark_lines,
)
from pipeline.model import Tile
from pipeline.objects import object_types


def _apron_spec(type_name: str, heading: float, gsd: float, *, sun_az: float = 135.0):
    from pipeline.sites import default_registry
    from pipeline.synth import PlacedObject, SceneSpec, Surface
    from pipeline.synth.scenario import site_centre_xy

    site = [s for s in default_registry() if s.kind != "naval"][0]
    cx, cy = site_centre_xy(site)
    n = int(round(80.0 / gsd))
    return SceneSpec(
        site=site,
        acquired=datetime(2024, 12, 13, 9, 0, tzinfo=UTC),
        sun_azimuth_deg=sun_az,
        sun_elevation_deg=50.0,
        gsd_m=gsd,
        size_px=(n, n),
        surfaces=(Surface("apron", cx, cy, 300, 300, panel_m=7.5),),
        objects=(PlacedObject("h0", type_name, cx + 1.3, cy - 0.7, heading, {}),),
        centre_xy=(cx, cy),
        ground_seed=7,
    )


def _render(type_name: str, heading: float, gsd: float, **kw):
    from pipeline.synth import render_scene

    spec = _apron_spec(type_name, heading, gsd, **kw)
    st = render_scene(spec, seed=7)
    tile = Tile(
        id="heli",
        path="<memory>",
        site_id=spec.site.id,
        acquired=spec.acquired,
        grid=st.grid,
        sha256="heli-test",
        band_count=st.array.shape[0],
        dtype=str(st.array.dtype),
        gsd_m=gsd,
        sun_azimuth_deg=spec.sun_azimuth_deg,
        sun_elevation_deg=spec.sun_elevation_deg,
    )
    return st, tile


@pytest.mark.parametrize("gsd", [0.3, 0.5])
@pytest.mark.parametrize("heading", [20.0, 250.0])
def test_mi8_is_a_helicopter_not_a_fighter(gsd, heading):
    st, tile = _render("Mi-8", heading, gsd)
    truth = st.objects[0]
    dets = MeasureDetector().detect(st.array, grid=st.grid, tile=tile, valid=st.valid)
    # exactly one object over the helicopter, and it is the helicopter (no fuselage 'fighter')
    over = [d for d in dets if ring_iou(d.footprint_px, truth.footprint_px) > 0.1]
    assert len(over) == 1, [(d.cls, d.category) for d in dets]
    d = over[0]
    assert d.category == "helicopter" and d.cls == "Mi-8"
    assert ring_iou(d.footprint_px, truth.footprint_px) >= 0.5
    assert d.wingspan_m == pytest.approx(21.3, abs=1.5)  # rotor diameter, metres


def test_rotor_radius_and_hub_on_mi26():
    gsd = 0.5
    st, tile = _render("Mi-26", 300.0, gsd)
    ev = evidence(st.array, gsd_m=gsd, valid=st.valid)
    rotors = find_rotors(ev.gray, ev.z, gsd_m=gsd, sun_azimuth_deg=135.0, sun_elevation_deg=50.0)
    assert len(rotors) == 1
    r = rotors[0]
    assert 2 * r.radius_px * gsd == pytest.approx(32.0, abs=3.0)
    assert r.blades == 8  # the Mi-26 has eight blades


def test_no_rotor_on_an_aircraft_or_empty_apron(scene):
    img, _ = scene.render(
        [
            scene.Plane("Su-24", 22.7, 17.6, (60.0, 60.0), 30.0),
            scene.Plane("An-26", 23.8, 29.2, (170.0, 170.0), 200.0),
        ],
        gsd=0.5,
    )
    ev = evidence(img, gsd_m=0.5)
    assert (
        find_rotors(ev.gray, ev.z, gsd_m=0.5, sun_azimuth_deg=135.0, sun_elevation_deg=40.0) == []
    )
    flat = np.full((1, 300, 300), 120, dtype=np.uint8)
    ev0 = evidence(flat, gsd_m=0.5)
    assert find_rotors(ev0.gray, ev0.z, gsd_m=0.5) == []


def test_classify_rotor_by_diameter_and_length():
    assert classify_rotor(21.0, gsd_m=0.5).cls == "Mi-8"
    assert classify_rotor(32.5, length_m=39.0, gsd_m=0.5).cls == "Mi-26"
    assert classify_rotor(14.4, length_m=16.2, gsd_m=0.5).cls == "Ka-52"
    assert classify_rotor(60.0, gsd_m=0.5).cls == "helicopter"


def test_blob_of_helicopter_row_size_is_typed_fixed_wing():
    # a Su-25 (15.3 x 14.4 m) measured a little long as a solid blob, 16 x 14.5 m: by size
    # alone the table's Ka-52 row (length over the rotor disc, rotor diameter) fits best,
    # but a blob is no rotor disc -- blobs are typed against aircraft and vehicles only
    assert classify_dims(16.0, 14.5, gsd_m=0.5).cls == "Ka-52"
    blob = _blob(16.0, 14.5)
    call, length_m, span_m = blob_to_call(blob, gsd_m=0.5)
    assert (length_m, span_m) == (16.0, 14.5)
    assert call.cls == "Su-25" and call.category == "aircraft"
    assert all(object_types()[name].category != "helicopter" for name, _ in call.alternatives)


def _blob(length_m: float, span_m: float, centre=(100.0, 100.0), gsd: float = 0.5) -> Blob:
    return Blob(
        center_rc=centre,
        axis_heading_deg=30.0,
        length_px=length_m / gsd,
        width_px=span_m / gsd,
        area_px=300,
        symmetry=0.9,
        fill=0.4,
        contrast=8.0,
        polarity=1,
        paved_fraction=1.0,
        touches_edge=False,
    )


def test_a_rotor_over_a_fixed_wing_aircraft_is_the_aircrafts():
    # an airliner's wings, fuselage and shadow edges made a Mi-26-sized star (radius 18.4 m)
    star = Rotor((101.0, 99.0), radius_px=36.8, tail_px=None, heading_deg=30.0, blades=8)
    assert spans_rotor(_blob(40.5, 36.1), star, gsd_m=0.5, share=0.9)  # typed 737
    # a helicopter's own body under its rotor: fuselage and stub wings, about 8 m across
    mi24 = Rotor((101.0, 99.0), radius_px=17.3, tail_px=25.5, heading_deg=30.0, blades=5)
    assert blob_to_call(_blob(20.4, 8.3), gsd_m=0.5)[0].category == "aircraft"
    assert not spans_rotor(_blob(20.4, 8.3), mi24, gsd_m=0.5, share=0.9)
    # ... and with its shadow merged, typed Su-25 by size, still smaller than the disc
    mi28 = Rotor((101.0, 99.0), radius_px=18.2, tail_px=None, heading_deg=30.0, blades=5)
    assert blob_to_call(_blob(13.0, 15.6), gsd_m=0.5)[0].cls == "Su-25"
    assert not spans_rotor(_blob(13.0, 15.6), mi28, gsd_m=0.5, share=0.9)
    # an aircraft beside the rotor, its centre outside the disc
    assert not spans_rotor(_blob(40.5, 36.1, centre=(160.0, 100.0)), star, gsd_m=0.5, share=0.9)
    # a blob of no table type (generic) does not take the rotor
    assert not spans_rotor(_blob(90.0, 95.0), star, gsd_m=0.5, share=0.9)


def _spokes(spokes: list[tuple[float, float]], *, gsd: float = 0.5, size: int = 240) -> np.ndarray:
    """Flat noisy ground with dark one-pixel lines from the centre: ``(heading_deg, length_m)``."""
    rng = np.random.default_rng(3)
    img = 150.0 + rng.normal(0.0, 2.0, (size, size))
    c = size // 2
    for ang, length in spokes:
        a = math.radians(ang)
        r1 = int(round(c - length / gsd * math.cos(a)))
        c1 = int(round(c + length / gsd * math.sin(a)))
        rr, cc, val = line_aa(c, c, r1, c1)
        img[rr, cc] -= 100.0 * val
    return np.clip(img, 0, 255).astype(np.uint8)[np.newaxis]


@pytest.mark.parametrize("slope_deg", [8.0, 14.0, 31.0])
def test_line_directions_follow_a_shallow_line_not_its_pixel_staircase(slope_deg):
    """A faint one-pixel line at a shallow angle thresholds to axis-parallel dashes.

    Its direction must come from the line, within 4 degrees: the structure
    tensor of the thresholded dashes alone leans 7-11 degrees toward the
    image axis at 8 and 14 degrees, enough to move a blade's hub votes a
    fifth of its length.
    """
    rng = np.random.default_rng(5)
    img = 150.0 + rng.normal(0.0, 1.0, (120, 120))
    a = math.radians(slope_deg)
    rr, cc, val = line_aa(
        60 - int(round(50 * math.sin(a))),
        10,
        60 + int(round(50 * math.sin(a))),
        10 + int(round(100 * math.cos(a))),
    )
    img[rr, cc] -= 20.0 * val  # ~13 % deep: dashed at the 8 % blade threshold
    rel, sig = thin_dark_lines(img, size_px=3)
    thin = (rel > 0.08) & (sig > 3.0)
    rows, cols, dirs = _line_directions(thin, rel)
    on = (cols > 25) & (cols < 95)
    assert on.sum() > 30
    angle = np.degrees(np.arctan2(np.abs(dirs[on, 0]), np.abs(dirs[on, 1])))
    assert float(np.median(np.abs(angle - slope_deg))) < 4.0


def test_crossing_lines_are_not_a_rotor():
    """Two lines crossing (panel joints at a corner) fit an 8-blade grid but are no rotor."""
    radius_m = 8.65  # a Mi-24's rotor radius
    five = _spokes([(10.0 + 72.0 * k, radius_m) for k in range(5)])
    cross = _spokes([(10.0 + 90.0 * k, radius_m) for k in range(4)])
    ev = evidence(five, gsd_m=0.5)
    found = find_rotors(ev.gray, ev.z, gsd_m=0.5)
    assert [r.blades for r in found] == [5]
    assert found[0].radius_px * 0.5 == pytest.approx(radius_m, abs=1.0)
    ev = evidence(cross, gsd_m=0.5)
    assert find_rotors(ev.gray, ev.z, gsd_m=0.5) == []


def test_blade_count_needs_three_lines_through_the_hub():
    deg = np.radians
    assert _blade_count(deg(np.array([0.0, 72.0, 144.0, 216.0, 288.0])), 12.0) == 5
    assert _blade_count(deg(np.array([0.0, 90.0, 180.0, 270.0])), 12.0) is None
    assert _blade_count(deg(np.array([5.0, 50.0, 95.0, 140.0])), 12.0) == 8


def test_two_blade_lines_off_square_are_a_star():
    # a six-blade (coaxial) rotor with two blades under the fuselage: four runs on two
    # lines 60 degrees apart (seed 7003's Ka-52 at 0.5 m); pavement joints cross square
    deg = np.radians
    assert _blade_count(deg(np.array([-58.0, -4.0, 114.0, 180.0])), 12.0) == 6
    assert _blade_count(deg(np.array([0.0, 85.0, 180.0, 265.0])), 12.0) is None
    # both lines need both ends: three runs on two lines are no star
    assert _blade_count(deg(np.array([0.0, 60.0, 180.0])), 12.0) is None
    assert _star_lines(deg(np.array([0.0, 60.0, 180.0, 184.0])), np.radians(12.0)) is False


def test_two_blades_need_a_tail_off_both_blade_lines():
    deg = np.radians
    blades = deg(np.array([10.0, 82.0]))  # 72 degrees apart: a five-blade rotor
    assert _two_blades_and_tail(blades, deg(226.0), tol_deg=12.0, sep_deg=25.0) == 5
    # tail on the line of a blade (it is that blade's other half, or its shadow): no rotor
    assert _two_blades_and_tail(blades, deg(190.0), tol_deg=12.0, sep_deg=25.0) is None
    assert _two_blades_and_tail(blades, deg(100.0), tol_deg=12.0, sep_deg=25.0) is None
    # two blades in one line are a straight joint, whatever crosses it
    line = deg(np.array([10.0, 190.0]))
    assert _two_blades_and_tail(line, deg(100.0), tol_deg=12.0, sep_deg=25.0) is None
    # 30 degrees apart fits no table blade count
    narrow = deg(np.array([10.0, 40.0]))
    assert _two_blades_and_tail(narrow, deg(200.0), tol_deg=5.0, sep_deg=25.0) is None


def test_measure_takes_two_equal_blades_with_a_tail():
    deg = math.radians
    r = 17.3  # a Mi-24's rotor radius at 0.5 m, pixels
    blades = [(deg(10.0), r), (deg(82.0), 1.05 * r), (deg(150.0), 0.5 * r)]
    p = RotorParams()
    with_tail = _measure(np.zeros(2), [*blades, (deg(226.0), 1.47 * r)], r_lo=11.0, r_hi=40.0, p=p)
    assert with_tail is not None and with_tail.tail_confirmed
    assert with_tail.tail_px == pytest.approx(1.47 * r)
    nose = vector_heading(-math.cos(deg(226.0)), -math.sin(deg(226.0)))  # away from the tail
    assert with_tail.heading_deg == pytest.approx(nose)
    # no tail: two blades are only a line crossing
    stub = (deg(300.0), 0.4 * r)
    assert _measure(np.zeros(2), [*blades, stub], r_lo=11.0, r_hi=40.0, p=p) is None
    # three equal runs that fit no blade grid (a blade and its shadow 25 degrees apart):
    # a pair of them with the tail
    shadowed = [(deg(10.0), r), (deg(35.0), r), (deg(130.0), 1.05 * r), (deg(226.0), 1.47 * r)]
    got = _measure(np.zeros(2), shadowed, r_lo=11.0, r_hi=40.0, p=p)
    assert got is not None and got.tail_confirmed
    # three equal blades on an even spacing need no tail
    full = [(deg(10.0 + 72.0 * k), r) for k in range(4)]
    got = _measure(np.zeros(2), full, r_lo=11.0, r_hi=40.0, p=p)
    assert got is not None and not got.tail_confirmed and got.blades == 5


def test_mi24_with_two_blades_showing_is_found_by_its_tail():
    """Rendered Mi-24 (heading 45, sun 300): the body and its shadow hide all but two blades."""
    st, tile = _render("Mi-24", 45.0, 0.5, sun_az=300.0)
    truth = st.objects[0]

    def helis(rotors: RotorParams) -> list:
        dets = MeasureDetector(rotors=rotors).detect(
            st.array, grid=st.grid, tile=tile, valid=st.valid
        )
        return [d for d in dets if d.category == "helicopter"]

    found = helis(RotorParams())
    assert len(found) == 1 and found[0].attributes["evidence"] == "blades+tail"
    assert found[0].cls == "Mi-24"
    assert ring_iou(found[0].footprint_px, truth.footprint_px) >= 0.5
    # the tail rule off: the blades alone make no rotor, only the body-first search finds it
    off = helis(RotorParams(tail_blade_sep_deg=180.0))
    assert [d.attributes["evidence"] for d in off] == ["body+blades"]


def test_body_share_on_the_rotor_axis():
    body = np.zeros((80, 80), dtype=bool)
    body[38:43, 20:60] = True  # a fuselage along the columns (heading 90)
    on = Rotor(hub_rc=(40.5, 42.0), radius_px=16.0, tail_px=None, heading_deg=90.0, blades=5)
    assert body_share(on, body)[0] == pytest.approx(1.0)
    across = Rotor(hub_rc=(40.5, 42.0), radius_px=16.0, tail_px=None, heading_deg=0.0, blades=5)
    assert body_share(across, body)[0] < 0.5
    shares = body_share(on, body, offsets=np.array([[0.0, 0.0], [-10.0, 0.0]]))
    assert shares[0] == pytest.approx(1.0) and shares[1] == 0.0


def test_sunward_twin_moves_a_shadows_hub_to_the_real_hub():
    """Sun due south: the real hub is a second vote peak south (down the rows) of the shadows'."""
    yy, xx = np.mgrid[0:100, 0:100]

    def peak(r: float, c: float, height: float) -> np.ndarray:
        return height * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 1.5**2))

    shadow = Rotor(hub_rc=(50.5, 50.5), radius_px=20.0, tail_px=30.0, heading_deg=90.0, blades=5)
    sun = {"gsd_m": 0.5, "sun_azimuth_deg": 180.0, "sun_elevation_deg": 40.0}
    twin = peak(50, 50, 10.0) + peak(60, 50, 8.0)
    moved = sunward_twin(shadow, twin, **sun)
    assert moved.hub_rc == pytest.approx((60.5, 50.5), abs=0.6)
    assert (moved.radius_px, moved.tail_px, moved.heading_deg) == (20.0, 30.0, 90.0)
    # a weak second peak, one smeared peak, the twin on the far side, or no sun: unchanged
    assert sunward_twin(shadow, peak(50, 50, 10.0) + peak(60, 50, 4.0), **sun) == shadow
    ridge = 10.0 * np.exp(-((xx - 50) ** 2) / 4.5) * (np.abs(yy - 55) <= 6)
    assert sunward_twin(shadow, ridge, **sun) == shadow
    assert sunward_twin(shadow, peak(50, 50, 10.0) + peak(40, 50, 8.0), **sun) == shadow
    no_sun = {"gsd_m": 0.5, "sun_azimuth_deg": None, "sun_elevation_deg": None}
    assert sunward_twin(shadow, twin, **no_sun) == shadow


def test_sunward_twin_looks_past_the_hub_peaks_shoulder():
    """A broad shadow peak 3 px out outvotes the real hub's peak 12 px out: the twin is found."""
    yy, xx = np.mgrid[0:100, 0:100]

    def peak(r: float, c: float, height: float, sigma: float) -> np.ndarray:
        return height * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sigma**2))

    shadow = Rotor(hub_rc=(50.5, 50.5), radius_px=20.0, tail_px=30.0, heading_deg=90.0, blades=5)
    sun = {"gsd_m": 0.5, "sun_azimuth_deg": 180.0, "sun_elevation_deg": 40.0}
    votes = peak(50, 50, 10.0, 4.0) + peak(62, 50, 6.5, 1.5)
    assert votes[53, 50] > votes[62, 50]  # the shoulder outvotes the twin
    moved = sunward_twin(shadow, votes, **sun)
    assert moved.hub_rc == pytest.approx((62.5, 50.5), abs=0.6)


def test_a_shadow_hub_has_its_rotors_radius():
    """Sun due south: a star 10 px north of a rotor is its shadow only if equally large."""
    real = Rotor(hub_rc=(50.5, 50.5), radius_px=20.0, tail_px=30.0, heading_deg=90.0, blades=5)
    shadow = Rotor(hub_rc=(40.5, 50.5), radius_px=21.0, tail_px=31.0, heading_deg=90.0, blades=5)
    bigger = Rotor(hub_rc=(40.5, 50.5), radius_px=25.0, tail_px=40.0, heading_deg=90.0, blades=8)
    kw = {"tol": 1.6, "p": RotorParams()}
    assert _drop_shadow_hubs([real, shadow], 0.5, 180.0, 40.0, **kw) == [real]
    assert _drop_shadow_hubs([real, bigger], 0.5, 180.0, 40.0, **kw) == [real, bigger]
    assert _drop_shadow_hubs([real, shadow], 0.5, None, None, **kw) == [real, shadow]


def test_seat_on_body_keeps_a_hub_already_on_the_body_and_needs_a_sun():
    body = np.zeros((80, 80), dtype=bool)
    body[38:43, 20:60] = True  # a fuselage along the columns (heading 90)
    on = Rotor(hub_rc=(40.5, 42.0), radius_px=16.0, tail_px=None, heading_deg=90.0, blades=5)
    assert seat_on_body(on, body, gsd_m=0.5, sun_azimuth_deg=180.0, sun_elevation_deg=40.0) == on
    # the shadows' hub 8 px north of the body (sun due south): moved onto the body
    off = Rotor(hub_rc=(32.5, 42.0), radius_px=16.0, tail_px=None, heading_deg=90.0, blades=5)
    moved = seat_on_body(off, body, gsd_m=0.5, sun_azimuth_deg=180.0, sun_elevation_deg=40.0)
    assert 38.0 <= moved.hub_rc[0] <= 42.0 and moved.hub_rc[1] == pytest.approx(42.0)
    assert seat_on_body(off, body, gsd_m=0.5, sun_azimuth_deg=None) == off
    # nothing of a body toward the sun (sun due north): unchanged
    assert seat_on_body(off, body, gsd_m=0.5, sun_azimuth_deg=0.0, sun_elevation_deg=40.0) == off


def _body_field(spokes: list[tuple[float, float]]):
    from pipeline.detect.rotor import blade_field

    ev = evidence(_spokes(spokes), gsd_m=0.5)
    field = blade_field(ev.gray, ev.z, gsd_m=0.5)
    assert field is not None
    return field


def test_rotor_on_body_measures_blades_off_the_body_axis():
    """Around a body on axis 90 deg, five blades and a boom (1.4 radii) toward 270 deg."""
    from pipeline.detect.rotor_body import rotor_on_body

    radius_m = 8.65
    field = _body_field([(10.0 + 72.0 * k, radius_m) for k in range(5)] + [(270.0, 1.4 * radius_m)])
    centre = (120.5, 120.5 - 3.0)  # the body's middle lies behind the hub
    r = rotor_on_body(field, center_rc=centre, axis_heading_deg=90.0, length_px=30.0, gsd_m=0.5)
    assert r is not None and r.on_body and r.blades == 5
    assert r.radius_px * 0.5 == pytest.approx(radius_m, abs=1.0)
    assert math.dist(r.hub_rc, (120.5, 120.5)) <= 1.5
    assert r.tail_px is not None and r.tail_px * 0.5 == pytest.approx(1.4 * radius_m, abs=1.0)
    assert abs((r.heading_deg - 90.0 + 180.0) % 360.0 - 180.0) <= 10.0  # nose away from the boom


def test_rotor_on_body_wants_a_blade_star_off_the_axis():
    from pipeline.detect.rotor_body import rotor_on_body

    kw = {"center_rc": (120.5, 120.5), "length_px": 30.0, "gsd_m": 0.5}
    # crossing joints at a panel corner: two lines, no rotor
    cross = _body_field([(10.0 + 90.0 * k, 8.65) for k in range(4)])
    assert rotor_on_body(cross, axis_heading_deg=55.0, **kw) is None
    # three equal runs, but two lie along the body (fuselage, boom): no rotor
    along = _body_field([(90.0, 8.65), (270.0, 8.65), (30.0, 8.65), (150.0, 8.65)])
    assert rotor_on_body(along, axis_heading_deg=90.0, **kw) is None


def test_solid_bodies_gives_axis_and_length_of_body_sized_parts():
    from pipeline.detect.rotor_body import solid_bodies

    mask = np.zeros((200, 200), dtype=bool)
    rr, cc = np.mgrid[0:200, 0:200]
    # a 40 x 6 px bar along heading 30 deg (clockwise from north) and a 120 px bar
    u = np.array([-math.cos(math.radians(30.0)), math.sin(math.radians(30.0))])
    along = (rr - 60.0) * u[0] + (cc - 60.0) * u[1]
    across = -(rr - 60.0) * u[1] + (cc - 60.0) * u[0]
    mask |= (np.abs(along) <= 20.0) & (np.abs(across) <= 3.0)
    mask[180:184, 20:140] = True
    bodies = solid_bodies(mask, gsd_m=0.5, length_m=(6.4, 44.0))
    assert len(bodies) == 1
    b = bodies[0]
    assert math.dist(b.center_rc, (60.5, 60.5)) <= 1.0
    assert abs((b.axis_heading_deg - 30.0 + 90.0) % 180.0 - 90.0) <= 3.0  # either end
    assert 40.0 <= b.length_px <= 48.0


def _body_frame(heading: float, hub_rc: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets (px) from the hub of a 120 x 120 grid: along ``heading``, |across|."""
    rr, cc = np.mgrid[0:120, 0:120]
    u = np.array([-math.cos(math.radians(heading)), math.sin(math.radians(heading))])
    along = (rr + 0.5 - hub_rc[0]) * u[0] + (cc + 0.5 - hub_rc[1]) * u[1]
    across = -(rr + 0.5 - hub_rc[0]) * u[1] + (cc + 0.5 - hub_rc[1]) * u[0]
    return along, np.abs(across)


def _helicopter_body(heading: float, hub_rc: tuple[float, float]) -> np.ndarray:
    """Plan mask of a fuselage and boom (px): 6 px ahead of the hub, 24 px behind, 5 px wide."""
    along, across = _body_frame(heading, hub_rc)
    return (along >= -24.0) & (along <= 6.0) & (across <= 2.5)


@pytest.mark.parametrize("heading", [0.0, 70.0, 200.0])
def test_align_to_body_turns_a_stray_tail_onto_the_body(heading):
    from pipeline.detect.rotor_body import align_to_body, body_tail

    hub = (60.0, 60.0)
    solid = _helicopter_body(heading, hub)
    tail, reach = body_tail(solid, hub, 17.0)
    assert vector_heading(-tail[0], -tail[1]) == pytest.approx(heading, abs=3.0)
    assert 22.0 <= reach <= 26.0
    # the star test took a blade's shadow, 90 degrees off the body, for the tail
    stray = Rotor(hub, radius_px=17.0, tail_px=30.0, heading_deg=(heading + 90.0) % 360.0, blades=5)
    fixed = align_to_body(stray, solid)
    assert abs((fixed.heading_deg - heading + 180.0) % 360.0 - 180.0) <= 3.0
    assert fixed.tail_px is None and fixed.hub_rc == hub and fixed.radius_px == 17.0
    # a tail run along the body is kept as measured, either way along it
    for h in (heading, heading + 180.0):
        along = Rotor(hub, radius_px=17.0, tail_px=30.0, heading_deg=(h + 10.0) % 360.0, blades=5)
        assert align_to_body(along, solid) == along
    # no elongated body at the hub: unchanged
    disc = np.hypot(*(np.mgrid[0:120, 0:120] - 60.0)) <= 8.0
    assert align_to_body(stray, disc) == stray
    assert align_to_body(stray, np.zeros_like(solid)) == stray


@pytest.mark.parametrize("heading", [0.0, 135.0, 290.0])
def test_body_tail_follows_a_thin_boom_past_a_blade_shadow(heading):
    from pipeline.detect.rotor_body import align_to_body, body_tail

    hub = (60.0, 60.0)
    along, across = _body_frame(heading, hub)
    # cabin 12 px ahead of the hub, 8 behind; a 2 px boom on to 40 px behind, which
    # the blade opening takes off the solid mask; a 4 px blade shadow cuts the cabin behind
    cabin = (along >= -8.0) & (along <= 12.0) & (across <= 3.0)
    objects = (cabin | (along >= -40.0) & (along <= -8.0) & (across <= 1.0)) & (
        np.abs(along + 3.0) > 2.0
    )
    solid = cabin & (along > -2.0)
    tail, _ = body_tail(solid, hub, 30.0)
    assert vector_heading(tail[0], tail[1]) == pytest.approx(heading, abs=3.0)  # the cabin
    tail, reach = body_tail(solid, hub, 30.0, objects=objects)
    assert vector_heading(-tail[0], -tail[1]) == pytest.approx(heading, abs=3.0)
    assert 38.0 <= reach <= 42.0
    # a rotor without a measured tail run takes the body's heading, even along the axis
    guessed = Rotor(
        hub, radius_px=30.0, tail_px=None, heading_deg=(heading + 175.0) % 360.0, blades=8
    )
    fixed = align_to_body(guessed, solid, objects=objects)
    assert abs((fixed.heading_deg - heading + 180.0) % 360.0 - 180.0) <= 3.0


@pytest.mark.parametrize(
    ("heading", "gsd"),
    [
        pytest.param(
            20.0,
            0.3,
            marks=pytest.mark.xfail(
                strict=True,
                reason="detector 1.23 mistypes it body-first: rotor 20.4 m, a 21.5 m tail run read "
                "toward the nose (heading 215, truth 20); Mi-24 0.35 vs Mi-8 0.33",
            ),
        ),
        (20.0, 0.5),
        (250.0, 0.3),
        (250.0, 0.5),
    ],
)
def test_body_first_finds_a_helicopter_without_a_vote_peak(heading, gsd):
    """With the hub-vote search off (max_hubs=0) the body-first test alone finds a Mi-8."""
    type_name = "Mi-8"
    st, tile = _render(type_name, heading, gsd)
    truth = st.objects[0]
    det = MeasureDetector(rotors=RotorParams(max_hubs=0))
    dets = det.detect(st.array, grid=st.grid, tile=tile, valid=st.valid)
    over = [d for d in dets if ring_iou(d.footprint_px, truth.footprint_px) > 0.1]
    assert len(over) == 1, [(d.cls, d.category) for d in dets]
    d = over[0]
    assert d.category == "helicopter" and d.attributes["evidence"] == "body+blades"
    assert d.cls == type_name
    assert ring_iou(d.footprint_px, truth.footprint_px) >= 0.5
