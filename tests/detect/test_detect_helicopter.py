"""Helicopters found by their rotor blades (pipeline.detect.rotor) on rendered aprons."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.detect.classify import classify_rotor
from pipeline.detect.detectors import MeasureDetector
from pipeline.detect.geometry import ring_iou
from pipeline.detect.measure import evidence
from pipeline.detect.rotor import find_rotors
from pipeline.model import Tile


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
