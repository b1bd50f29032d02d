"""Site registry: watched sites with aliases, plus any airfield via ``airportsdata``.

Names are matched after folding case, accents, hyphens/apostrophes and generic
words ("air base", "airport", "the"), so "Hmeimim airbase", "KHMEIMIM" and
"Humaymim" all resolve to the same site. Airfields not in the registry are
found by ICAO code or exact airport name in the maintained ``airportsdata``
package, never by hand-typed coordinates.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from pipeline.errors import SiteError
from pipeline.model import Ring, Site

_GENERIC = re.compile(
    r"\b(the|air ?base|air ?field|airport|international|intl|naval|facility|base|port|"
    r"military|aerodrome)\b"
)


def normalise_name(text: str) -> str:
    """Fold a place name for matching: lower case, no accents/punctuation/generic words."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    t = re.sub(r"[\u2019'`’\-_.,]", " ", t)
    t = _GENERIC.sub(" ", t)
    return re.sub(r"\s+", " ", t).strip()


def square_aoi(lon: float, lat: float, half_size_m: float) -> Ring:
    """Closed ``(lon, lat)`` ring of a square of ``2 * half_size_m`` metres around a point."""
    dlat = half_size_m / 111_320.0
    dlon = half_size_m / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
    return (
        (lon - dlon, lat - dlat),
        (lon + dlon, lat - dlat),
        (lon + dlon, lat + dlat),
        (lon - dlon, lat + dlat),
        (lon - dlon, lat - dlat),
    )


@lru_cache(maxsize=1)
def _airports() -> dict[str, dict[str, Any]]:
    import airportsdata  # imported lazily: loading the table takes ~0.3 s

    return {k: dict(v) for k, v in airportsdata.load("ICAO").items()}


def _site_from_airport(rec: dict[str, Any], half_size_m: float = 2500.0) -> Site:
    lon, lat = float(rec["lon"]), float(rec["lat"])
    return Site(
        id=rec["icao"].lower(),
        name=rec["name"],
        lon=lon,
        lat=lat,
        aliases=tuple(a for a in (rec.get("iata"), rec.get("city")) if a),
        aoi=square_aoi(lon, lat, half_size_m),
        kind="airport",
        icao=rec["icao"],
        country=rec.get("country") or None,
    )


@dataclass(frozen=True)
class SiteRegistry:
    """An immutable set of sites with alias lookup."""

    sites: tuple[Site, ...]
    _index: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for s in self.sites:
            for name in (s.id, s.name, *s.aliases, *([s.icao] if s.icao else [])):
                key = normalise_name(name)
                if key:
                    index.setdefault(key, s.id)
        object.__setattr__(self, "_index", index)

    def __iter__(self) -> Iterator[Site]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)

    def ids(self) -> list[str]:
        """Site ids in registry order."""
        return [s.id for s in self.sites]

    def get(self, site_id: str) -> Site:
        """Site by id; raises :class:`SiteError` listing known ids."""
        for s in self.sites:
            if s.id == site_id:
                return s
        raise SiteError(f"unknown site id {site_id!r}; known: {', '.join(self.ids())}")

    def aliases(self) -> dict[str, str]:
        """Normalised name -> site id, for text matching."""
        return dict(self._index)

    def find(self, name: str) -> Site | None:
        """Resolve a name, alias, transliteration or ICAO code; ``None`` when unknown.

        Registry sites win; otherwise ``airportsdata`` is consulted by ICAO code,
        then by exact (normalised) airport name.
        """
        key = normalise_name(name)
        if not key:
            return None
        if key in self._index:
            return self.get(self._index[key])
        return lookup_airfield(name)

    def resolve(self, name: str) -> Site:
        """Like :meth:`find` but raises :class:`SiteError` when nothing matches."""
        site = self.find(name)
        if site is None:
            raise SiteError(
                f"no site or airfield called {name!r}; use a registry id "
                f"({', '.join(self.ids())}), an alias, or an ICAO code"
            )
        return site

    def containing(self, lon: float, lat: float) -> Site | None:
        """The first site whose AOI contains ``(lon, lat)``, else ``None``."""
        from shapely.geometry import Point, Polygon

        p = Point(lon, lat)
        for s in self.sites:
            if s.aoi and Polygon(s.aoi).covers(p):
                return s
        return None

    def with_sites(self, extra: Iterable[Site]) -> SiteRegistry:
        """A new registry with ``extra`` sites added (ids must be new)."""
        extra = tuple(extra)
        clash = set(self.ids()) & {s.id for s in extra}
        if clash:
            raise SiteError(f"site ids already registered: {sorted(clash)}")
        return SiteRegistry(self.sites + extra)


def lookup_airfield(name_or_icao: str) -> Site | None:
    """Find any airfield in ``airportsdata`` by ICAO code or exact airport name."""
    airports = _airports()
    code = name_or_icao.strip().upper()
    if re.fullmatch(r"[A-Z0-9]{4}", code) and code in airports:
        return _site_from_airport(airports[code])
    key = normalise_name(name_or_icao)
    if len(key) < 4:
        return None
    for rec in airports.values():
        if normalise_name(rec["name"]) == key:
            return _site_from_airport(rec)
    return None


def _build(entry: dict[str, Any]) -> Site:
    half = float(entry.get("aoi_half_size_m", 2500.0))
    if "icao" in entry and entry["icao"]:
        rec = _airports().get(entry["icao"])
        if rec is None:
            raise SiteError(f"ICAO {entry['icao']} of site {entry['id']} not in airportsdata")
        lon, lat = float(rec["lon"]), float(rec["lat"])
    else:
        lon, lat = float(entry["lon"]), float(entry["lat"])
    return Site(
        id=entry["id"],
        name=entry["name"],
        lon=lon,
        lat=lat,
        aliases=tuple(entry.get("aliases", ())),
        aoi=square_aoi(lon, lat, half),
        kind=entry.get("kind", "airbase"),
        icao=entry.get("icao"),
        country=entry.get("country"),
    )


@lru_cache(maxsize=1)
def default_registry() -> SiteRegistry:
    """The built-in registry from ``pipeline/data/sites.json`` (read once, cached)."""
    raw = json.loads(resources.files("pipeline.data").joinpath("sites.json").read_text("utf-8"))
    return SiteRegistry(tuple(_build(e) for e in raw["sites"]))
