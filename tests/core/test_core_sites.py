from __future__ import annotations

import pytest

from pipeline.errors import SiteError
from pipeline.objects import get_type, object_types, types_in
from pipeline.sites import default_registry, normalise_name


@pytest.mark.parametrize(
    ("name", "site_id"),
    [
        ("Khmeimim", "khmeimim"),
        ("Hmeimim airbase", "khmeimim"),
        ("HUMAYMIM", "khmeimim"),
        ("the Hmeymim air base", "khmeimim"),
        ("Tartous", "tartus"),
        ("Tartus naval facility", "tartus"),
        ("Al-Khadim", "al-khadim"),
        ("al Khadem", "al-khadim"),
        ("Al Jufrah", "al-jufra"),
        ("Benina", "benina"),
        ("HLLB", "benina"),
        ("OSLK", "khmeimim"),
    ],
)
def test_aliases_resolve(name: str, site_id: str) -> None:
    assert default_registry().resolve(name).id == site_id


def test_registry_sites_have_aoi_containing_centre() -> None:
    reg = default_registry()
    assert {"khmeimim", "tartus", "al-khadim", "al-jufra", "benina"} <= set(reg.ids())
    for s in reg:
        assert reg.containing(s.lon, s.lat) is not None
        assert s.aoi[0] == s.aoi[-1]


def test_other_airfield_by_icao_comes_from_airportsdata() -> None:
    s = default_registry().resolve("UUEE")
    assert s.icao == "UUEE" and 55 < s.lat < 57 and 37 < s.lon < 38


def test_unknown_site_raises_with_hint() -> None:
    with pytest.raises(SiteError, match="ICAO"):
        default_registry().resolve("  ")
    with pytest.raises(SiteError, match="unknown site id"):
        default_registry().get("atlantis")


def test_normalise_name_folds_accents_and_generic_words() -> None:
    assert normalise_name("Ḥmeimim Air Base") == "hmeimim"


def test_object_type_table() -> None:
    types = object_types()
    aircraft = types_in("aircraft") + types_in("helicopter")
    assert len(aircraft) >= 15
    an124 = get_type("An-124")
    assert (an124.length_m, an124.wingspan_m, an124.visor_nose) == (69.1, 73.3, True)
    assert get_type("Il-76").length_m == 46.6
    assert get_type("C-5").visor_nose
    for t in types.values():
        assert t.length_m > 0 and t.wingspan_m > 0
        assert t.category in {"aircraft", "helicopter", "vehicle", "vessel"}
    with pytest.raises(KeyError, match="known"):
        get_type("Spruce Goose")
