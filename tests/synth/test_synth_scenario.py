"""Scenarios: the sample set tells the report's story; random scenes differ and stay valid."""

from __future__ import annotations

from collections import Counter

import pytest
from shapely.geometry import Polygon

from pipeline.objects import get_type
from pipeline.synth import solar_position
from pipeline.synth.scenario import random_scenario, sample_scenario
from pipeline.synth.spec import SceneSpec, oriented_rect


def _by_date(specs: list[SceneSpec], site: str) -> dict[str, SceneSpec]:
    return {s.acquired.date().isoformat(): s for s in specs if s.site.id == site}


def _types(spec: SceneSpec) -> Counter[str]:
    return Counter(o.type_name for o in spec.objects)


@pytest.fixture(scope="module")
def sample() -> list[SceneSpec]:
    return sample_scenario()


def test_sample_follows_the_report(sample):
    k = _by_date(sample, "khmeimim")
    assert sorted(k) == ["2024-12-05", "2024-12-13", "2024-12-15"]
    assert _types(k["2024-12-05"])["An-124"] == 0
    an124 = [o for o in k["2024-12-13"].objects if o.type_name == "An-124"]
    assert len(an124) == 3
    assert sorted(o.attributes["nose_cone"] for o in an124) == ["closed", "open", "open"]
    assert _types(k["2024-12-13"])["Il-76"] >= 2
    assert {"helicopter", "aircraft"} <= {
        get_type(o.type_name).category for o in k["2024-12-13"].objects
    }
    assert _types(k["2024-12-15"])["An-124"] == 2
    assert k["2024-12-15"].clouds  # a partial cloud on one tile
    t = _by_date(sample, "tartus")
    vessels = {d: sum(get_type(o.type_name).category == "vessel" for o in s.objects)
               for d, s in t.items()}  # fmt: skip
    assert vessels == {"2024-12-05": 1, "2024-12-12": 2}
    a = _by_date(sample, "al-khadim")
    assert _types(a["2024-12-10"])["Il-76"] == 0 and _types(a["2024-12-17"])["Il-76"] >= 2
    late = _types(a["2024-12-17"])
    assert late["truck"] and late["pickup"] and late["ZU-23-2"]
    j = _by_date(sample, "al-jufra")
    assert len(j) == 2
    assert _types(j["2024-12-16"])["Il-76"] >= 1 and _types(j["2024-12-16"])["An-26"] >= 1


def test_sample_times_sun_and_ids(sample):
    for s in sample:
        assert 8 * 60 <= s.acquired.hour * 60 + s.acquired.minute <= 9 * 60 + 30
        az, el = solar_position(s.acquired, s.site.lon, s.site.lat)
        assert s.sun_azimuth_deg == pytest.approx(az, abs=0.01)
        assert s.sun_elevation_deg == pytest.approx(el, abs=0.01)
        assert 120 < s.sun_azimuth_deg < 180 and 20 < s.sun_elevation_deg < 40
        headings = {round(o.heading_deg) for o in s.objects}
        assert len(headings) >= min(3, len(s.objects))
    # the same physical aircraft keeps its id (and pose) across dates
    k = _by_date(sample, "khmeimim")
    first = {o.object_id: o for o in k["2024-12-13"].objects}
    later = {o.object_id: o for o in k["2024-12-15"].objects}
    assert first["khmeimim-an124-3"].same_pose(later["khmeimim-an124-3"])
    assert "khmeimim-an124-2" not in later


def _overlaps(spec: SceneSpec) -> int:
    polys = []
    for o in spec.objects:
        t = get_type(o.type_name)
        polys.append(Polygon(oriented_rect(o.x, o.y, t.length_m, t.wingspan_m, o.heading_deg)))
    return sum(polys[i].intersects(polys[j]) for i in range(len(polys))
               for j in range(i + 1, len(polys)))  # fmt: skip


def test_objects_never_overlap(sample):
    for s in sample + random_scenario(3, 0.5, 3):
        assert _overlaps(s) == 0, s.stem


@pytest.mark.parametrize("gsd", [0.3, 0.8])
def test_random_scenario_differs_and_is_valid(gsd):
    a = random_scenario(7, gsd, 2, size_px=512)
    b = random_scenario(7, gsd, 2, size_px=512)
    c = random_scenario(8, gsd, 2, size_px=512)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert [s.to_dict() for s in a] != [s.to_dict() for s in c]
    assert all(s.gsd_m == gsd and s.size_px == (512, 512) for s in a)
    assert a[0].site.id == a[1].site.id and a[0].acquired < a[1].acquired
    assert len(a[0].objects) >= 2
    assert all(s.sun_elevation_deg >= 15 for s in a)
    sample_layouts = {tuple(s.surfaces) for s in sample_scenario(gsd_m=gsd)}
    assert tuple(a[0].surfaces) not in sample_layouts
