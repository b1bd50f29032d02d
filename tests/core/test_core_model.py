from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

from affine import Affine

from pipeline.grid import Grid
from pipeline.model import (
    ChangeRegion,
    Claim,
    ClaimObject,
    Detection,
    EvidenceItem,
    EvidenceLink,
    ObjectChange,
    Site,
    Tile,
    isoformat_z,
    parse_utc,
    stable_id,
)
from pipeline.sites import default_registry

GRID = Grid("EPSG:32636", Affine(0.5, 0, 771_000.0, 0, -0.5, 3_922_000.0), (100, 100))
T0 = datetime(2024, 12, 13, 8, 30, tzinfo=UTC)


def _json_round_trip(obj):
    return type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))


def make_tile() -> Tile:
    return Tile(
        id="khmeimim_20241213T083000Z",
        path="sample_tiles/khmeimim_20241213T083000Z.tif",
        site_id="khmeimim",
        acquired=T0,
        grid=GRID,
        sha256="ab" * 32,
        band_count=3,
        dtype="uint16",
        sun_azimuth_deg=160.0,
        sun_elevation_deg=30.0,
    )


def make_detection(**kw) -> Detection:
    ring = ((10.0, 10.0), (10.0, 40.0), (50.0, 40.0), (50.0, 10.0), (10.0, 10.0))
    base = dict(
        id="d1",
        cls="An-124",
        score=0.9,
        footprint_px=ring,
        footprint_lonlat=tuple(GRID.pixel_ring_to_lonlat(ring)),
        tile_id="t",
        tile_sha256="ab" * 32,
        acquired=T0,
        detector="measure",
        detector_version="1",
        attributes={"nose_cone": "open"},
        length_m=69.0,
        wingspan_m=73.0,
        heading_deg=90.0,
    )
    base.update(kw)
    return Detection(**base)


def test_times_are_utc() -> None:
    naive = datetime(2024, 12, 13, 8, 30)
    t = Tile(**{**make_tile().__dict__, "acquired": naive})
    assert t.acquired == T0
    plus2 = datetime(2024, 12, 13, 10, 30, tzinfo=timezone(timedelta(hours=2)))
    assert make_detection(acquired=plus2).acquired == T0
    assert isoformat_z(T0) == "2024-12-13T08:30:00Z"
    assert parse_utc("2024-12-13T08:30:00Z") == T0


def test_tile_round_trip_and_provenance() -> None:
    t = make_tile()
    assert _json_round_trip(t) == t
    assert t.gsd_m == 0.5
    assert t.provenance() == {"id": t.id, "sha256": t.sha256, "acquired": "2024-12-13T08:30:00Z"}
    assert t.footprint_lonlat[0] == t.footprint_lonlat[-1]


def test_detection_round_trip() -> None:
    d = make_detection()
    assert _json_round_trip(d) == d
    assert d.geometry["type"] == "Polygon"


def test_change_and_object_change_round_trip() -> None:
    ring = ((35.9, 35.4), (35.91, 35.4), (35.91, 35.41), (35.9, 35.4))
    c = ChangeRegion("c1", "cva", "a", "b", "1" * 64, "2" * 64, (ring,), 120.5, 0.7, 0.9)
    assert _json_round_trip(c) == c
    oc = ObjectChange(
        "o1",
        "khmeimim",
        "departed",
        "An-124",
        "a",
        "b",
        T0,
        T0 + timedelta(days=2),
        before=make_detection(),
    )
    assert _json_round_trip(oc) == oc


def test_claim_round_trip_and_schema_shape() -> None:
    site = default_registry().get("khmeimim")
    c = Claim(
        id=stable_id("doc", 0, 10),
        document="report.md",
        sentence="At least two An-124s with noses open.",
        char_start=0,
        char_end=37,
        checkable=True,
        site=site,
        window=(date(2024, 12, 13), date(2024, 12, 13)),
        event="presence",
        objects=(ClaimObject("An-124", 2, None, {"nose_cone": "open"}),),
        extra={"reference_date": "2024-12-16"},
    )
    d = c.to_dict()
    assert set(d) >= {"id", "source", "checkable", "site", "window", "event", "objects"}
    back = Claim.from_dict(json.loads(json.dumps(d)), sites={site.id: site})
    assert back == c


def test_evidence_round_trip() -> None:
    item = EvidenceItem(
        kind="detection",
        id="d1",
        tile=make_tile().provenance(),
        geometry=make_detection().geometry,
        source="model",
        cls="An-124",
        score=0.9,
        extra={"detector": "measure@1"},
    )
    link = EvidenceLink("c1", "supports", "3 An-124 detected.", (item,))
    assert _json_round_trip(link) == link


def test_site_round_trip() -> None:
    s = default_registry().get("tartus")
    assert Site.from_dict(json.loads(json.dumps(s.to_dict()))) == s
