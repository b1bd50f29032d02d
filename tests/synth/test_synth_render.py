"""Rendering: determinism, true dimensions, shadows, nose visor, truth geometry, change truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import ConfigError, SitewatchError
from pipeline.objects import get_type
from pipeline.synth import (
    CloudSpec,
    PlacedObject,
    SceneSpec,
    change_truth,
    objects_coverage,
    render_scene,
)
from pipeline.synth.render import CHANGE, NO_CHANGE, UNKNOWN


def _axes(tile, heading: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) metres of every instance-mask pixel centre in the object's frame."""
    obj = tile.spec.objects[0]
    rows, cols = np.nonzero(tile.instances == 1)
    x, y = tile.grid.xy(rows, cols)
    x = x - obj.x - tile.spec.misregistration_m[0]
    y = y - obj.y - tile.spec.misregistration_m[1]
    h = math.radians(heading)
    return x * math.sin(h) + y * math.cos(h), x * math.cos(h) - y * math.sin(h)


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_different_seed_different(one_object_scene):
    spec = one_object_scene("Il-76", heading=30.0, extent_m=80.0)
    a = render_scene(spec, 5)
    b = render_scene(spec, 5)
    c = render_scene(spec, 6)
    assert a.array.dtype == np.uint16 and a.array.shape == (4, 160, 160)
    assert a.array.tobytes() == b.array.tobytes()
    assert np.array_equal(a.instances, b.instances)
    assert a.array.tobytes() != c.array.tobytes()
    # the seed only drives sensor noise: the difference is small and zero-mean
    diff = a.array.astype(np.int32) - c.array.astype(np.int32)
    assert abs(diff.mean()) < 0.5 and diff.std() < 5


def test_radiometry_is_11_bit_and_three_bands_work(one_object_scene):
    tile = render_scene(one_object_scene("An-26", bands=3, extent_m=60.0), 1)
    assert tile.array.shape[0] == 3
    assert tile.array.max() <= 2047 and tile.array.min() >= 0
    assert tile.array.std() > 10  # textured, not flat


# --------------------------------------------------------------------------- true dimensions
DIM_TYPES = [
    "An-124", "Il-76", "A-50", "An-26", "Su-35", "MiG-29", "C-130", "Mi-8", "Mi-24", "truck",
    "ZU-23-2", "landing ship", "cargo ship",
]  # fmt: skip


@pytest.mark.parametrize("gsd", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("type_name", DIM_TYPES)
def test_rendered_dimensions_match_table(one_object_scene, type_name, gsd):
    t = get_type(type_name)
    heading = 90.0 if type_name in ("An-124", "truck") else 0.0
    extent = max(t.length_m, t.wingspan_m) + 12.0
    attrs = {"nose_cone": "closed"} if t.visor_nose else None
    spec = one_object_scene(type_name, gsd=gsd, heading=heading, extent_m=extent, attributes=attrs)
    tile = render_scene(spec, 0)
    u, v = _axes(tile, heading)
    length = u.max() - u.min() + gsd
    span = v.max() - v.min() + gsd
    assert abs(length - t.length_m) <= gsd + 1e-6, (type_name, gsd, length)
    assert abs(span - t.wingspan_m) <= gsd + 1e-6, (type_name, gsd, span)


@pytest.mark.parametrize("heading", [33.0, 147.0, 251.0])
def test_dimensions_hold_at_oblique_headings(one_object_scene, heading):
    gsd = 0.5
    t = get_type("Il-76")
    spec = one_object_scene("Il-76", gsd=gsd, heading=heading, extent_m=80.0)
    u, v = _axes(render_scene(spec, 0), heading)
    # pixel centres of a rotated outline sit up to ~0.7 px inside it
    assert abs(u.max() - u.min() + gsd - t.length_m) <= gsd
    assert abs(v.max() - v.min() + gsd - t.wingspan_m) <= gsd


# --------------------------------------------------------------------------- shadows
@pytest.mark.parametrize("sun_az", [40.0, 160.0, 290.0])
def test_shadow_falls_away_from_the_sun(one_object_scene, sun_az):
    kw = dict(extent_m=90.0, sun_az=sun_az, sun_el=30.0, noise_dn=0.0)
    with_obj = render_scene(one_object_scene("Il-76", heading=10.0, **kw), 0)
    empty = render_scene(one_object_scene(None, **kw), 0)
    diff = with_obj.array[0].astype(np.float64) - empty.array[0].astype(np.float64)
    shadow = (diff < -40) & (with_obj.instances == 0)
    assert shadow.sum() > 200
    rs, cs = np.nonzero(shadow)
    ro, co = np.nonzero(with_obj.instances == 1)
    d_east = cs.mean() - co.mean()
    d_north = -(rs.mean() - ro.mean())
    direction = math.degrees(math.atan2(d_east, d_north)) % 360
    expected = (sun_az + 180.0) % 360
    assert abs((direction - expected + 180) % 360 - 180) < 12.0


def test_shadow_length_follows_elevation(one_object_scene):
    def shadow_px(el: float) -> int:
        kw = dict(extent_m=120.0, sun_az=180.0, sun_el=el, noise_dn=0.0)
        a = render_scene(one_object_scene("Il-76", heading=90.0, **kw), 0)
        b = render_scene(one_object_scene(None, **kw), 0)
        d = a.array[0].astype(np.float64) - b.array[0].astype(np.float64)
        return int(((d < -40) & (a.instances == 0)).sum())

    assert shadow_px(20.0) > 1.5 * shadow_px(50.0)


# --------------------------------------------------------------------------- nose visor
def test_an124_nose_open_and_closed_differ_in_geometry(one_object_scene):
    kw = dict(
        gsd=0.3, heading=0.0, extent_m=110.0, dy=-12.0, noise_dn=0.0, sun_az=160.0, sun_el=30.0
    )
    closed = render_scene(one_object_scene("An-124", attributes={"nose_cone": "closed"}, **kw), 0)
    opened = render_scene(one_object_scene("An-124", attributes={"nose_cone": "open"}, **kw), 0)
    t = get_type("An-124")
    a, b = closed.instances == 1, opened.instances == 1
    xor = a ^ b
    assert xor.sum() * 0.3**2 > 4.0  # square metres of outline that differ
    # every difference of outline lies in the front 15 % of the aircraft
    rows, cols = np.nonzero(xor)
    x, y = closed.grid.xy(rows, cols)
    u = y - closed.spec.objects[0].y  # heading 0: u points north
    assert u.min() > t.length_m / 2 - 0.15 * t.length_m
    # the open nose shows a bright cargo floor/ramp where the closed nose is painted
    nose = np.zeros_like(a)
    _, ry = closed.grid.xy(np.arange(closed.grid.height), 0)
    front = (ry - closed.spec.objects[0].y) > t.length_m / 2 - 4.0
    nose[front, :] = True
    nose &= b
    r_open = opened.array[0][nose].mean()
    r_closed = closed.array[0][nose & a].mean()
    assert r_open > r_closed * 1.05
    # and the raised visor casts a larger shadow
    diff = opened.array[0].astype(np.float64) - closed.array[0].astype(np.float64)
    assert (diff[(~a) & (~b)] < -100).sum() > 50


# --------------------------------------------------------------------------- truth geometry
@settings(max_examples=20, deadline=None)
@given(
    heading=st.floats(0, 359.9),
    dx=st.floats(-20, 20),
    dy=st.floats(-20, 20),
    ox=st.floats(-3, 3),
    oy=st.floats(-3, 3),
    gsd=st.sampled_from([0.3, 0.5, 0.8]),
)
def test_truth_rings_round_trip_pixel_map_lonlat(one_object_scene, heading, dx, dy, ox, oy, gsd):
    spec = one_object_scene("truck", gsd=gsd, heading=heading, extent_m=60.0, dx=dx, dy=dy,
                            offset=(ox, oy))  # fmt: skip
    tile = render_scene(spec, 0)
    (obj,) = tile.objects
    g = tile.grid
    px = np.asarray(obj.footprint_px)
    mx, my = g.xy(px[:, 0], px[:, 1], offset="ul")
    assert np.allclose(np.c_[mx, my], obj.footprint_map, atol=1e-6)
    lon, lat = g.to_lonlat(mx, my)
    assert np.allclose(np.c_[lon, lat], obj.footprint_lonlat, atol=1e-9)
    bx, by = g.from_lonlat(lon, lat)
    assert np.allclose(np.c_[bx, by], obj.footprint_map, atol=1e-4)
    r, c = g.rowcol(bx, by)
    assert np.allclose(np.c_[r, c], px, atol=1e-4)
    # the apparent centre is the true one shifted by the misregistration
    assert obj.center_map[0] - obj.true_center_map[0] == pytest.approx(ox, abs=1e-6)
    assert obj.center_map[1] - obj.true_center_map[1] == pytest.approx(oy, abs=1e-6)
    # the instance mask sits inside the footprint ring (content moved with the offset)
    rows, cols = np.nonzero(tile.instances == 1)
    from shapely.geometry import Point, Polygon

    poly = Polygon([(c_, r_) for r_, c_ in obj.footprint_px]).buffer(0.75)
    assert all(poly.contains(Point(c_ + 0.5, r_ + 0.5)) for r_, c_ in zip(rows, cols, strict=True))


# --------------------------------------------------------------------------- change truth
def _pair(one_object_scene, before_objs, after_objs, *, clouds=(), offset=(0.0, 0.0)):
    base = one_object_scene(None, extent_m=120.0)
    b = SceneSpec(**{**base.__dict__, "objects": tuple(before_objs)})
    a = SceneSpec(**{**base.__dict__, "objects": tuple(after_objs), "clouds": tuple(clouds),
                     "misregistration_m": offset, "sun_azimuth_deg": 150.0})  # fmt: skip
    return render_scene(b, 1), render_scene(a, 2)


def test_change_truth_marks_arrivals_and_departures_not_stayers(one_object_scene):
    base = one_object_scene(None, extent_m=120.0)
    left, bottom, right, top = render_scene(base, 0).grid.bounds
    cx, cy = (left + right) / 2, (bottom + top) / 2
    stay = PlacedObject("stay", "Il-76", cx - 25, cy + 25, 90.0)
    gone = PlacedObject("gone", "An-26", cx + 25, cy - 25, 0.0)
    new = PlacedObject("new", "Su-35", cx - 25, cy - 30, 45.0)
    before, after = _pair(one_object_scene, [stay, gone], [stay, new], offset=(1.5, -0.5))
    m = change_truth(before, after)
    assert m.dtype == np.uint8 and m.shape == after.grid.shape
    ids = {o.object_id: i + 1 for i, o in enumerate(after.spec.objects)}
    assert (m[after.instances == ids["new"]] == CHANGE).mean() > 0.98
    assert (m[after.instances == ids["stay"]] == NO_CHANGE).mean() > 0.98
    # where the departed aircraft would appear in the after tile, the truth says change
    gone_px = objects_coverage([gone], after.grid, offset=(1.5, -0.5), sun_az=150.0,
                               sun_el=35.0, shadows=False) >= 0.5  # fmt: skip
    assert gone_px.sum() > 100
    assert (m[gone_px] == CHANGE).all()
    assert set(np.unique(m)) <= {CHANGE, NO_CHANGE, UNKNOWN}
    # misregistration margin of the earlier tile is unknown, not change
    assert (m[:, :2] == UNKNOWN).all() or (m[:, -3:] == UNKNOWN).any()


def test_change_truth_flags_cloud_never_change(one_object_scene):
    base = one_object_scene(None, extent_m=120.0)
    left, bottom, right, top = render_scene(base, 0).grid.bounds
    cx, cy = (left + right) / 2, (bottom + top) / 2
    new = PlacedObject("new", "Il-76", cx, cy, 0.0)
    cloud = CloudSpec(cx, cy, 20.0, height_m=50.0)
    before, after = _pair(one_object_scene, [], [new], clouds=[cloud])
    m = change_truth(before, after)
    assert after.cloud.any() and after.cloud_shadow.any()
    assert (m[after.cloud] == UNKNOWN).all()
    assert (m[after.cloud_shadow] == UNKNOWN).all()
    assert (m == CHANGE).any()  # the rest of the arrival is still change
    assert after.objects[0].cloud_fraction > 0


def test_visor_opening_is_a_change(one_object_scene):
    base = one_object_scene(None, extent_m=100.0)
    left, bottom, right, top = render_scene(base, 0).grid.bounds
    cx, cy = (left + right) / 2, (bottom + top) / 2
    shut = PlacedObject("an", "An-124", cx, cy, 0.0, {"nose_cone": "closed"})
    open_ = PlacedObject("an", "An-124", cx, cy, 0.0, {"nose_cone": "open"})
    before, after = _pair(one_object_scene, [shut], [open_])
    m = change_truth(before, after)
    assert (m == CHANGE).sum() > 20
    # only the nose area (and its shadow) changed, not the whole airframe
    body = after.instances == 1
    assert (m[body] == CHANGE).mean() < 0.2
    rows, _ = np.nonzero((m == CHANGE) & body)
    _, y = after.grid.xy(rows, 0)
    assert (y - cy).min() > get_type("An-124").length_m / 2 - 0.15 * get_type("An-124").length_m


# --------------------------------------------------------------------------- bad input
def test_bad_specs_raise_config_errors(one_object_scene):
    spec = one_object_scene(None)
    with pytest.raises(ConfigError, match="unknown type"):
        PlacedObject("x", "Boeing 797", 0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="bands"):
        SceneSpec(**{**spec.__dict__, "bands": 5})
    with pytest.raises(SitewatchError, match="sun"):
        SceneSpec(**{**spec.__dict__, "sun_elevation_deg": -3.0})
    dup = PlacedObject("a", "truck", 0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="duplicate"):
        SceneSpec(**{**spec.__dict__, "objects": (dup, dup)})


def test_spec_round_trips_through_dict(one_object_scene):
    spec = one_object_scene("An-124", attributes={"nose_cone": "open"}, offset=(0.5, -1.0))
    spec = SceneSpec(**{**spec.__dict__, "clouds": (CloudSpec(1.0, 2.0, 30.0),)})
    assert SceneSpec.from_dict(spec.to_dict()) == spec


def test_change_truth_unknown_where_the_earlier_tile_saw_nothing(one_object_scene):
    base = one_object_scene(None, extent_m=50.0)  # 100 x 100 px at 0.5 m
    before = render_scene(base, 1)
    shifted = SceneSpec(**{**base.__dict__, "grid_shift_px": (6, -4)})
    after = render_scene(shifted, 2)
    # the after footprint moved 6 px down and 4 px left on the same lattice
    assert after.grid.transform.c == pytest.approx(before.grid.transform.c - 4 * 0.5)
    assert after.grid.transform.f == pytest.approx(before.grid.transform.f - 6 * 0.5)
    m = change_truth(before, after)
    assert (m[-6:, :] == UNKNOWN).all() and (m[:, :4] == UNKNOWN).all()
    assert (m[:-6, 4:] == NO_CHANGE).all()


def test_swath_collar_is_nodata_and_unknown_change(one_object_scene, tmp_path):
    from pipeline.io.rasters import read_array
    from pipeline.synth.write import write_tile

    base = one_object_scene("truck", extent_m=50.0)
    cut = SceneSpec(**{**base.__dict__, "collar": (90.0, 10.0)})  # no data east of +10 m
    tile = render_scene(cut, 3)
    assert (~tile.valid).any() and tile.valid.any()
    assert (tile.array[:, ~tile.valid] == 0).all() and (tile.array[:, tile.valid] > 0).all()
    xs, _ = tile.grid.xy(0, np.arange(tile.grid.width))
    centre_x = (tile.grid.bounds[0] + tile.grid.bounds[2]) / 2
    assert not tile.valid[:, xs - centre_x > 10.5].any()
    assert tile.valid[:, xs - centre_x < 9.5].all()
    m = change_truth(render_scene(base, 1), tile)
    assert (m[~tile.valid] == UNKNOWN).all()
    tif, _ = write_tile(tile, tmp_path)
    _, valid = read_array(tif)
    assert np.array_equal(valid, tile.valid)
    assert SceneSpec.from_dict(cut.to_dict()) == cut
