"""Scene specifications for the synthetic tile generator.

A :class:`SceneSpec` describes one acquisition of one site: when (UTC), at what
ground sample distance (metres), with which sun, haze, noise and
misregistration, and what stands on the ground (static :class:`Surface`
rectangles and movable :class:`PlacedObject` items). Everything is in the
site's UTM CRS (map metres, ``x`` east, ``y`` north); headings are degrees
clockwise from grid north.

Specs are plain frozen values: rendering one (:func:`pipeline.synth.render_scene`)
is a pure function of the spec and a seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.errors import ConfigError
from pipeline.grid import utm_crs_for
from pipeline.model import Site, isoformat_z, parse_utc, utc
from pipeline.objects import object_types

#: Surface kinds the renderer knows, drawn in this order (later over earlier).
SURFACE_KINDS = (
    "water",
    "soil",
    "yard",
    "road",
    "runway",
    "taxiway",
    "apron",
    "hardstand",
    "quay",
    "building",
    "container",
)


def _heading_vectors(heading_deg: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Unit vectors (map x east, y north) of the nose direction and the right-hand side."""
    h = math.radians(heading_deg)
    return (math.sin(h), math.cos(h)), (math.cos(h), -math.sin(h))


def oriented_rect(
    cx: float, cy: float, length_m: float, width_m: float, heading_deg: float
) -> tuple[tuple[float, float], ...]:
    """Closed map ring ``(x, y)`` of a ``length x width`` rectangle centred on ``(cx, cy)``.

    ``length_m`` runs along ``heading_deg`` (clockwise from grid north). The ring
    starts at the front-left corner and runs clockwise (front-left, front-right,
    rear-right, rear-left).
    """
    (fx, fy), (rx, ry) = _heading_vectors(heading_deg)
    hl, hw = length_m / 2.0, width_m / 2.0
    pts = [
        (cx + fx * hl - rx * hw, cy + fy * hl - ry * hw),
        (cx + fx * hl + rx * hw, cy + fy * hl + ry * hw),
        (cx - fx * hl + rx * hw, cy - fy * hl + ry * hw),
        (cx - fx * hl - rx * hw, cy - fy * hl - ry * hw),
    ]
    return (*pts, pts[0])


@dataclass(frozen=True)
class Surface:
    """A static ground rectangle (runway, apron, building, water, quay...).

    Parameters
    ----------
    kind : str
        One of :data:`SURFACE_KINDS`; selects material and texture.
    cx, cy : float
        Centre in map metres (site UTM CRS).
    length_m, width_m : float
        Size in metres; ``length_m`` runs along ``heading_deg``.
    heading_deg : float
        Orientation of the long axis, degrees clockwise from grid north.
    height_m : float
        Height above ground in metres (buildings cast shadows; 0 for pavements).
    panel_m : float
        Concrete panel size in metres for joint lines (0: no joints).
    """

    kind: str
    cx: float
    cy: float
    length_m: float
    width_m: float
    heading_deg: float = 0.0
    height_m: float = 0.0
    panel_m: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SURFACE_KINDS:
            raise ConfigError(f"surface kind {self.kind!r} unknown; use one of {SURFACE_KINDS}")
        if self.length_m <= 0 or self.width_m <= 0:
            raise ConfigError(f"surface {self.kind} needs positive size, got {self}")

    def ring(self) -> tuple[tuple[float, float], ...]:
        """Closed map ring ``(x, y)`` of the rectangle."""
        return oriented_rect(self.cx, self.cy, self.length_m, self.width_m, self.heading_deg)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "kind": self.kind,
            "cx": self.cx,
            "cy": self.cy,
            "length_m": self.length_m,
            "width_m": self.width_m,
            "heading_deg": self.heading_deg,
            "height_m": self.height_m,
            "panel_m": self.panel_m,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Surface:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: d[k] for k in d})


@dataclass(frozen=True)
class PlacedObject:
    """One physical object on the ground at one date.

    Parameters
    ----------
    object_id : str
        Stable id of the physical object; the same aircraft keeps its id across dates.
    type_name : str
        Canonical name from :func:`pipeline.objects.object_types` (e.g. ``"An-124"``).
    x, y : float
        True centre of the plan-view footprint box, map metres (site UTM CRS).
    heading_deg : float
        Nose (bow, cab) direction, degrees clockwise from grid north.
    attributes : Mapping[str, str]
        Free attributes, e.g. ``{"nose_cone": "open"}`` for An-124/C-5.
    """

    object_id: str
    type_name: str
    x: float
    y: float
    heading_deg: float
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type_name not in object_types():
            raise ConfigError(
                f"object {self.object_id!r}: unknown type {self.type_name!r}; "
                f"use a name from pipeline/data/object_types.csv"
            )
        object.__setattr__(self, "attributes", dict(self.attributes))
        object.__setattr__(self, "heading_deg", float(self.heading_deg) % 360.0)

    def same_pose(self, other: PlacedObject, *, tol_m: float = 0.05, tol_deg: float = 0.1) -> bool:
        """True when ``other`` is the same object, type, attributes and position."""
        dh = abs((self.heading_deg - other.heading_deg + 180.0) % 360.0 - 180.0)
        return (
            self.object_id == other.object_id
            and self.type_name == other.type_name
            and dict(self.attributes) == dict(other.attributes)
            and math.hypot(self.x - other.x, self.y - other.y) <= tol_m
            and dh <= tol_deg
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "object_id": self.object_id,
            "type_name": self.type_name,
            "x": self.x,
            "y": self.y,
            "heading_deg": self.heading_deg,
            "attributes": dict(sorted(self.attributes.items())),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PlacedObject:
        """Inverse of :meth:`to_dict`."""
        return cls(
            object_id=d["object_id"],
            type_name=d["type_name"],
            x=float(d["x"]),
            y=float(d["y"]),
            heading_deg=float(d["heading_deg"]),
            attributes=dict(d.get("attributes", {})),
        )


@dataclass(frozen=True)
class CloudSpec:
    """A small cumulus cloud: centre (map metres), radius (m), height above ground (m).

    ``opacity`` in ``[0, 1]`` is the peak optical opacity. The cloud's shadow lies
    ``height_m / tan(sun elevation)`` metres away from the sun.
    """

    cx: float
    cy: float
    radius_m: float
    height_m: float = 300.0
    opacity: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "cx": self.cx,
            "cy": self.cy,
            "radius_m": self.radius_m,
            "height_m": self.height_m,
            "opacity": self.opacity,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CloudSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: float(d[k]) for k in d})


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render one tile of one site at one time.

    Parameters
    ----------
    site : Site
        The watched site (from :func:`pipeline.sites.default_registry`). The tile
        is centred on ``centre_xy`` (default: the site's lon/lat) in the site's UTM CRS.
    acquired : datetime
        Acquisition time (made aware UTC).
    sun_azimuth_deg, sun_elevation_deg : float
        Sun position, degrees clockwise from north and above the horizon
        (see :func:`pipeline.synth.sun.solar_position`).
    gsd_m : float
        Ground sample distance in metres (0.3 to 1.0 supported).
    size_px : tuple of int
        ``(rows, cols)`` of the tile in pixels.
    bands : int
        3 (red, green, blue) or 4 (red, green, blue, near-infrared); uint16, 11-bit.
    haze : float
        Fraction ``[0, 0.6]`` of path radiance mixed into the signal.
    gain : float
        Illumination / calibration gain (1.0 nominal).
    noise_dn : float
        Sensor noise standard deviation in digital numbers at dark level.
    misregistration_m : tuple of float
        ``(dx, dy)`` metres east/north: image content appears displaced by this
        much relative to the true map position (the georeferencing error of this date).
    surfaces, objects, clouds : tuple
        Static ground, movable objects, clouds.
    ground_seed : int
        Seeds the static ground texture of the site (identical across dates).
    vegetation : float
        Fraction ``[0, 1]`` of vegetated ground (0 desert, 1 farmland).
    sensor : str
        Sensor name written to the tile's ``SENSOR`` tag.
    centre_xy : tuple of float or None
        Map centre of the tile; ``None`` means the site's true lon/lat.
    psf_sigma_px : float
        Standard deviation in pixels of the Gaussian point-spread function (optics blur).
    grid_shift_px : tuple of int
        ``(rows, cols)`` whole-pixel shift of this date's tile footprint (down, right):
        different dates of a site cover slightly different extents on one pixel lattice.
    collar : tuple of float or None
        ``(azimuth_deg, distance_m)``: the sensor swath ends at a straight edge
        ``distance_m`` metres from the tile centre toward ``azimuth_deg``; pixels
        beyond it hold no data (DN 0, the file's nodata value). ``None``: full tile.
    """

    site: Site
    acquired: datetime
    sun_azimuth_deg: float
    sun_elevation_deg: float
    gsd_m: float = 0.5
    size_px: tuple[int, int] = (1024, 1024)
    bands: int = 4
    haze: float = 0.05
    gain: float = 1.0
    noise_dn: float = 3.0
    misregistration_m: tuple[float, float] = (0.0, 0.0)
    surfaces: tuple[Surface, ...] = ()
    objects: tuple[PlacedObject, ...] = ()
    clouds: tuple[CloudSpec, ...] = ()
    ground_seed: int = 0
    vegetation: float = 0.3
    sensor: str = "synthetic-pleiades"
    centre_xy: tuple[float, float] | None = None
    psf_sigma_px: float = 0.45
    grid_shift_px: tuple[int, int] = (0, 0)
    collar: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "acquired", utc(self.acquired))
        object.__setattr__(self, "surfaces", tuple(self.surfaces))
        object.__setattr__(self, "objects", tuple(self.objects))
        object.__setattr__(self, "clouds", tuple(self.clouds))
        object.__setattr__(self, "size_px", (int(self.size_px[0]), int(self.size_px[1])))
        object.__setattr__(
            self, "grid_shift_px", (int(self.grid_shift_px[0]), int(self.grid_shift_px[1]))
        )
        where = f"scene {self.site.id} {isoformat_z(self.acquired)}"
        if not 0.05 <= self.gsd_m <= 5.0:
            raise ConfigError(f"{where}: gsd_m={self.gsd_m} outside 0.05-5 m")
        if self.bands not in (3, 4):
            raise ConfigError(f"{where}: bands must be 3 or 4, got {self.bands}")
        if min(self.size_px) < 16 or max(self.size_px) > 8192:
            raise ConfigError(f"{where}: size_px {self.size_px} outside 16-8192 pixels")
        if not 1.0 <= self.sun_elevation_deg <= 90.0:
            raise ConfigError(
                f"{where}: sun elevation {self.sun_elevation_deg:.1f} deg; the sun must be up"
            )
        if not 0.0 <= self.psf_sigma_px <= 5.0:
            raise ConfigError(f"{where}: psf_sigma_px {self.psf_sigma_px} outside [0, 5]")
        if not 0.0 <= self.haze <= 0.6:
            raise ConfigError(f"{where}: haze {self.haze} outside [0, 0.6]")
        ids = [o.object_id for o in self.objects]
        if len(ids) != len(set(ids)):
            raise ConfigError(f"{where}: duplicate object ids {sorted(ids)}")

    @property
    def crs(self) -> str:
        """EPSG string of the site's UTM zone."""
        return utm_crs_for(self.site.lon, self.site.lat)

    @property
    def stem(self) -> str:
        """File stem ``<site>_<YYYYMMDDTHHMMSSZ>``; also the tile id of the written file."""
        return f"{self.site.id}_{self.acquired.strftime('%Y%m%dT%H%M%SZ')}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the site is stored whole)."""
        return {
            "site": self.site.to_dict(),
            "acquired": isoformat_z(self.acquired),
            "sun_azimuth_deg": self.sun_azimuth_deg,
            "sun_elevation_deg": self.sun_elevation_deg,
            "gsd_m": self.gsd_m,
            "size_px": list(self.size_px),
            "bands": self.bands,
            "haze": self.haze,
            "gain": self.gain,
            "noise_dn": self.noise_dn,
            "misregistration_m": list(self.misregistration_m),
            "surfaces": [s.to_dict() for s in self.surfaces],
            "objects": [o.to_dict() for o in self.objects],
            "clouds": [c.to_dict() for c in self.clouds],
            "ground_seed": self.ground_seed,
            "vegetation": self.vegetation,
            "sensor": self.sensor,
            "centre_xy": None if self.centre_xy is None else list(self.centre_xy),
            "psf_sigma_px": self.psf_sigma_px,
            "grid_shift_px": list(self.grid_shift_px),
            "collar": None if self.collar is None else list(self.collar),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SceneSpec:
        """Inverse of :meth:`to_dict`."""
        c = d.get("centre_xy")
        return cls(
            site=Site.from_dict(d["site"]),
            acquired=parse_utc(d["acquired"]),
            sun_azimuth_deg=float(d["sun_azimuth_deg"]),
            sun_elevation_deg=float(d["sun_elevation_deg"]),
            gsd_m=float(d["gsd_m"]),
            size_px=(int(d["size_px"][0]), int(d["size_px"][1])),
            bands=int(d["bands"]),
            haze=float(d["haze"]),
            gain=float(d["gain"]),
            noise_dn=float(d["noise_dn"]),
            misregistration_m=(float(d["misregistration_m"][0]), float(d["misregistration_m"][1])),
            surfaces=tuple(Surface.from_dict(s) for s in d.get("surfaces", ())),
            objects=tuple(PlacedObject.from_dict(o) for o in d.get("objects", ())),
            clouds=tuple(CloudSpec.from_dict(o) for o in d.get("clouds", ())),
            ground_seed=int(d.get("ground_seed", 0)),
            vegetation=float(d.get("vegetation", 0.3)),
            sensor=d.get("sensor", "synthetic-pleiades"),
            centre_xy=None if c is None else (float(c[0]), float(c[1])),
            psf_sigma_px=float(d.get("psf_sigma_px", 0.45)),
            grid_shift_px=tuple(int(v) for v in d.get("grid_shift_px", (0, 0))),  # type: ignore[arg-type]
            collar=None
            if d.get("collar") is None
            else (float(d["collar"][0]), float(d["collar"][1])),
        )
