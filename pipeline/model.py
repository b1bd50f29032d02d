"""Frozen value objects that flow between the stages.

Conventions
-----------
* Times are timezone-aware UTC ``datetime``; serialised as ISO 8601 with ``Z``.
* Pixel rings are continuous ``(row, col)`` pixel coordinates measured from the
  upper-left corner of the tile (pixel ``(r, c)`` spans ``[r, r+1) x [c, c+1)``).
* Geographic rings are ``(lon, lat)`` degrees in EPSG:4326, closed (first point
  repeated last).
* Lengths are metres, areas square metres, angles degrees. Headings and sun
  azimuths are clockwise from grid north (up).

Everything serialised has ``to_dict``/``from_dict`` (JSON-ready, round-trip safe).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from pipeline.grid import Grid

Ring = tuple[tuple[float, float], ...]
Source = Literal["model", "human"]
ChangeKind = Literal["arrived", "departed", "stayed"]
Verdict = Literal["supports", "contradicts", "insufficient"]
Event = Literal[
    "presence", "absence", "arrival", "departure", "increase", "decrease", "activity", "other"
]


# --------------------------------------------------------------------------- helpers
def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime; naive datetimes are taken to be UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def isoformat_z(dt: datetime) -> str:
    """ISO 8601 string in UTC with a trailing ``Z`` (e.g. ``2024-12-13T08:30:00Z``)."""
    return utc(dt).isoformat().replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive means UTC) to aware UTC."""
    return utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def _ring(points: Sequence[Sequence[float]]) -> Ring:
    return tuple((float(p[0]), float(p[1])) for p in points)


def stable_id(*parts: object, length: int = 16) -> str:
    """Deterministic short hex id from the string forms of ``parts``."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:length]


def polygon_geojson(ring_lonlat: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """GeoJSON Polygon geometry (EPSG:4326) from one closed ``(lon, lat)`` ring."""
    pts = [list(p) for p in ring_lonlat]
    if pts and pts[0] != pts[-1]:
        pts.append(list(pts[0]))
    return {"type": "Polygon", "coordinates": [pts]}


# --------------------------------------------------------------------------- sites
@dataclass(frozen=True)
class Site:
    """A watched place.

    ``aoi`` is a closed ``(lon, lat)`` ring in EPSG:4326 bounding the area of
    interest; ``aliases`` hold other spellings and transliterations used to
    resolve the site from report text (matched case- and accent-insensitively).
    """

    id: str
    name: str
    lon: float
    lat: float
    aliases: tuple[str, ...] = ()
    aoi: Ring = ()
    kind: str = "airbase"
    icao: str | None = None
    country: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "name": self.name,
            "lon": self.lon,
            "lat": self.lat,
            "aliases": list(self.aliases),
            "aoi": [list(p) for p in self.aoi],
            "kind": self.kind,
            "icao": self.icao,
            "country": self.country,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Site:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=d["id"],
            name=d["name"],
            lon=float(d["lon"]),
            lat=float(d["lat"]),
            aliases=tuple(d.get("aliases", ())),
            aoi=_ring(d.get("aoi", ())),
            kind=d.get("kind", "airbase"),
            icao=d.get("icao"),
            country=d.get("country"),
        )


# --------------------------------------------------------------------------- tiles
@dataclass(frozen=True)
class Tile:
    """One validated, dated, georeferenced image of a site.

    ``gsd_m`` is the ground sample distance in metres; ``sun_azimuth_deg`` is
    clockwise from north, ``sun_elevation_deg`` above the horizon. ``sha256`` is
    the hex digest of the file bytes and identifies the exact pixels used.
    """

    id: str
    path: str
    site_id: str
    acquired: datetime
    grid: Grid
    sha256: str
    band_count: int
    dtype: str
    nodata: float | None = None
    sensor: str = "unknown"
    gsd_m: float = 0.0
    sun_azimuth_deg: float | None = None
    sun_elevation_deg: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "acquired", utc(self.acquired))
        if not self.gsd_m:
            object.__setattr__(self, "gsd_m", float(self.grid.gsd))

    @property
    def footprint_lonlat(self) -> Ring:
        """Closed ``(lon, lat)`` ring of the tile's outer boundary (EPSG:4326)."""
        return tuple(self.grid.footprint_lonlat())

    @property
    def date(self) -> date:
        """UTC calendar date of acquisition."""
        return self.acquired.date()

    def provenance(self) -> dict[str, str]:
        """The ``tile`` object of evidence.schema.json: id, sha256, acquisition time."""
        return {"id": self.id, "sha256": self.sha256, "acquired": isoformat_z(self.acquired)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "path": self.path,
            "site_id": self.site_id,
            "acquired": isoformat_z(self.acquired),
            "grid": self.grid.to_dict(),
            "sha256": self.sha256,
            "band_count": self.band_count,
            "dtype": self.dtype,
            "nodata": self.nodata,
            "sensor": self.sensor,
            "gsd_m": self.gsd_m,
            "sun_azimuth_deg": self.sun_azimuth_deg,
            "sun_elevation_deg": self.sun_elevation_deg,
            "footprint_lonlat": [list(p) for p in self.footprint_lonlat],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tile:
        """Inverse of :meth:`to_dict` (the derived footprint is ignored)."""
        return cls(
            id=d["id"],
            path=d["path"],
            site_id=d["site_id"],
            acquired=parse_utc(d["acquired"]),
            grid=Grid.from_dict(d["grid"]),
            sha256=d["sha256"],
            band_count=int(d["band_count"]),
            dtype=d["dtype"],
            nodata=None if d.get("nodata") is None else float(d["nodata"]),  # "NaN" ok
            sensor=d.get("sensor", "unknown"),
            gsd_m=float(d.get("gsd_m", 0.0)),
            sun_azimuth_deg=d.get("sun_azimuth_deg"),
            sun_elevation_deg=d.get("sun_elevation_deg"),
        )


# --------------------------------------------------------------------------- detections
@dataclass(frozen=True)
class Detection:
    """One object found (by a model) or drawn (by an analyst) on one tile.

    ``footprint_px`` is the oriented footprint as a closed ring of continuous
    ``(row, col)`` pixel coordinates on the tile; ``footprint_lonlat`` the same
    ring in EPSG:4326. ``heading_deg`` is the nose direction, clockwise from
    grid north. ``cls`` is a canonical type name from the object-type table
    (e.g. ``"An-124"``) or a generic class (``"aircraft"``, ``"vehicle"``).
    ``category`` is the broad family: aircraft, helicopter, vehicle, vessel.
    """

    id: str
    cls: str
    score: float
    footprint_px: Ring
    footprint_lonlat: Ring
    tile_id: str
    tile_sha256: str
    acquired: datetime
    detector: str
    detector_version: str
    category: str = "aircraft"
    attributes: Mapping[str, str] = field(default_factory=dict)
    length_m: float | None = None
    wingspan_m: float | None = None
    heading_deg: float | None = None
    source: Source = "model"
    annotation_id: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "acquired", utc(self.acquired))
        object.__setattr__(self, "footprint_px", _ring(self.footprint_px))
        object.__setattr__(self, "footprint_lonlat", _ring(self.footprint_lonlat))
        object.__setattr__(self, "attributes", dict(self.attributes))

    @property
    def geometry(self) -> dict[str, Any]:
        """GeoJSON Polygon (EPSG:4326) of the footprint."""
        return polygon_geojson(self.footprint_lonlat)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "class": self.cls,
            "category": self.category,
            "score": self.score,
            "attributes": dict(self.attributes),
            "footprint_px": [list(p) for p in self.footprint_px],
            "footprint_lonlat": [list(p) for p in self.footprint_lonlat],
            "length_m": self.length_m,
            "wingspan_m": self.wingspan_m,
            "heading_deg": self.heading_deg,
            "tile_id": self.tile_id,
            "tile_sha256": self.tile_sha256,
            "acquired": isoformat_z(self.acquired),
            "detector": self.detector,
            "detector_version": self.detector_version,
            "source": self.source,
            "annotation_id": self.annotation_id,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Detection:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=d["id"],
            cls=d["class"],
            category=d.get("category", "aircraft"),
            score=float(d["score"]),
            attributes=dict(d.get("attributes", {})),
            footprint_px=_ring(d["footprint_px"]),
            footprint_lonlat=_ring(d["footprint_lonlat"]),
            length_m=d.get("length_m"),
            wingspan_m=d.get("wingspan_m"),
            heading_deg=d.get("heading_deg"),
            tile_id=d["tile_id"],
            tile_sha256=d["tile_sha256"],
            acquired=parse_utc(d["acquired"]),
            detector=d["detector"],
            detector_version=d["detector_version"],
            source=d.get("source", "model"),
            annotation_id=d.get("annotation_id"),
            model=d.get("model"),
        )


# --------------------------------------------------------------------------- changes
@dataclass(frozen=True)
class ChangeRegion:
    """A connected region of pixel change between two tiles of one site.

    ``polygon_lonlat`` holds rings in EPSG:4326: the exterior first, then holes.
    Scores are in the method's own units (documented per method).
    """

    id: str
    method: str
    before_tile_id: str
    after_tile_id: str
    before_sha256: str
    after_sha256: str
    polygon_lonlat: tuple[Ring, ...]
    area_m2: float
    mean_score: float
    max_score: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "polygon_lonlat", tuple(_ring(r) for r in self.polygon_lonlat))

    @property
    def geometry(self) -> dict[str, Any]:
        """GeoJSON Polygon (EPSG:4326)."""
        return {
            "type": "Polygon",
            "coordinates": [[list(p) for p in ring] for ring in self.polygon_lonlat],
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "method": self.method,
            "before_tile_id": self.before_tile_id,
            "after_tile_id": self.after_tile_id,
            "before_sha256": self.before_sha256,
            "after_sha256": self.after_sha256,
            "geometry": self.geometry,
            "area_m2": self.area_m2,
            "mean_score": self.mean_score,
            "max_score": self.max_score,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChangeRegion:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=d["id"],
            method=d["method"],
            before_tile_id=d["before_tile_id"],
            after_tile_id=d["after_tile_id"],
            before_sha256=d["before_sha256"],
            after_sha256=d["after_sha256"],
            polygon_lonlat=tuple(_ring(r) for r in d["geometry"]["coordinates"]),
            area_m2=float(d["area_m2"]),
            mean_score=float(d["mean_score"]),
            max_score=float(d["max_score"]),
        )


@dataclass(frozen=True)
class ObjectChange:
    """Object-level change between two consecutive tiles of one site.

    ``kind`` is ``arrived`` (only ``after`` set), ``departed`` (only ``before``)
    or ``stayed`` (both). Both tiles are kept as provenance.
    """

    id: str
    site_id: str
    kind: ChangeKind
    cls: str
    before_tile_id: str
    after_tile_id: str
    before_acquired: datetime
    after_acquired: datetime
    before: Detection | None = None
    after: Detection | None = None
    score: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "before_acquired", utc(self.before_acquired))
        object.__setattr__(self, "after_acquired", utc(self.after_acquired))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "site_id": self.site_id,
            "kind": self.kind,
            "class": self.cls,
            "before_tile_id": self.before_tile_id,
            "after_tile_id": self.after_tile_id,
            "before_acquired": isoformat_z(self.before_acquired),
            "after_acquired": isoformat_z(self.after_acquired),
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
            "score": self.score,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObjectChange:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=d["id"],
            site_id=d["site_id"],
            kind=d["kind"],
            cls=d["class"],
            before_tile_id=d["before_tile_id"],
            after_tile_id=d["after_tile_id"],
            before_acquired=parse_utc(d["before_acquired"]),
            after_acquired=parse_utc(d["after_acquired"]),
            before=Detection.from_dict(d["before"]) if d.get("before") else None,
            after=Detection.from_dict(d["after"]) if d.get("after") else None,
            score=float(d.get("score", 1.0)),
        )


# --------------------------------------------------------------------------- claims
@dataclass(frozen=True)
class ClaimObject:
    """An object class a claim is about, with a count range and attributes.

    ``count_min``/``count_max`` of ``None`` mean unbounded / unstated.
    """

    cls: str
    count_min: int | None = None
    count_max: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (claim.schema.json ``objects`` item)."""
        return {
            "class": self.cls,
            "count_min": self.count_min,
            "count_max": self.count_max,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClaimObject:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["class"], d.get("count_min"), d.get("count_max"), dict(d.get("attributes", {}))
        )


@dataclass(frozen=True)
class Claim:
    """One statement from a report, per ``claim.schema.json``.

    ``window`` is an inclusive ``(start, end)`` pair of UTC dates or ``None``.
    ``site`` is the resolved :class:`Site` or ``None``. ``extra`` holds any
    additional JSON fields (the schema allows them), e.g. ``reason`` for an
    uncheckable claim or ``count_before`` for before/after counts.
    """

    id: str
    document: str
    sentence: str
    char_start: int
    char_end: int
    checkable: bool
    site: Site | None
    window: tuple[date, date] | None
    event: Event
    objects: tuple[ClaimObject, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict valid against claim.schema.json."""
        d: dict[str, Any] = dict(self.extra)
        d.update(
            {
                "id": self.id,
                "source": {
                    "document": self.document,
                    "sentence": self.sentence,
                    "char_start": self.char_start,
                    "char_end": self.char_end,
                },
                "checkable": self.checkable,
                "site": (
                    {
                        "id": self.site.id,
                        "name": self.site.name,
                        "lon": self.site.lon,
                        "lat": self.site.lat,
                    }
                    if self.site
                    else None
                ),
                "window": (
                    {"start": self.window[0].isoformat(), "end": self.window[1].isoformat()}
                    if self.window
                    else None
                ),
                "event": self.event,
                "objects": [o.to_dict() for o in self.objects],
            }
        )
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, sites: Mapping[str, Site] | None = None) -> Claim:
        """Inverse of :meth:`to_dict`; ``sites`` maps ids to full :class:`Site` records."""
        known = {
            "id",
            "source",
            "checkable",
            "site",
            "window",
            "event",
            "objects",
        }
        s = d.get("site")
        site: Site | None = None
        if s:
            site = (sites or {}).get(s.get("id", "")) or Site(
                id=s.get("id", stable_id(s["name"])), name=s["name"], lon=s["lon"], lat=s["lat"]
            )
        w = d.get("window")
        src = d["source"]
        return cls(
            id=d["id"],
            document=src["document"],
            sentence=src["sentence"],
            char_start=int(src["char_start"]),
            char_end=int(src["char_end"]),
            checkable=bool(d["checkable"]),
            site=site,
            window=(date.fromisoformat(w["start"]), date.fromisoformat(w["end"])) if w else None,
            event=d["event"],
            objects=tuple(ClaimObject.from_dict(o) for o in d.get("objects", ())),
            extra={k: v for k, v in d.items() if k not in known},
        )


# --------------------------------------------------------------------------- evidence
@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence behind a verdict (evidence.schema.json ``evidence`` item).

    ``tile`` is the provenance dict of :meth:`Tile.provenance`; ``geometry`` is
    GeoJSON in EPSG:4326. ``extra`` carries detector/model version, annotation
    id, measurements and chip paths.
    """

    kind: Literal["detection", "change", "annotation"]
    id: str
    tile: Mapping[str, str]
    geometry: Mapping[str, Any]
    source: Source
    cls: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    score: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d: dict[str, Any] = dict(self.extra)
        d.update(
            {
                "kind": self.kind,
                "id": self.id,
                "tile": dict(self.tile),
                "geometry": dict(self.geometry),
                "attributes": dict(self.attributes),
                "score": self.score,
                "source": self.source,
            }
        )
        if self.cls is not None:
            d["class"] = self.cls
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvidenceItem:
        """Inverse of :meth:`to_dict`."""
        known = {"kind", "id", "tile", "geometry", "attributes", "score", "source", "class"}
        return cls(
            kind=d["kind"],
            id=d["id"],
            tile=dict(d["tile"]),
            geometry=dict(d["geometry"]),
            source=d["source"],
            cls=d.get("class"),
            attributes=dict(d.get("attributes", {})),
            score=d.get("score"),
            extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass(frozen=True)
class EvidenceLink:
    """A claim's verdict with the rationale and evidence behind it."""

    claim_id: str
    verdict: Verdict
    rationale: str
    evidence: tuple[EvidenceItem, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (evidence.schema.json ``links`` item)."""
        d: dict[str, Any] = dict(self.extra)
        d.update(
            {
                "claim_id": self.claim_id,
                "verdict": self.verdict,
                "rationale": self.rationale,
                "evidence": [e.to_dict() for e in self.evidence],
            }
        )
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvidenceLink:
        """Inverse of :meth:`to_dict`."""
        known = {"claim_id", "verdict", "rationale", "evidence"}
        return cls(
            claim_id=d["claim_id"],
            verdict=d["verdict"],
            rationale=d["rationale"],
            evidence=tuple(EvidenceItem.from_dict(e) for e in d.get("evidence", ())),
            extra={k: v for k, v in d.items() if k not in known},
        )
