"""Pure checks and parsers used by ingest (no file access).

Everything here works on values already read from a raster header (see
:mod:`pipeline.ingest.reader`): the affine transform, dtype, nodata, tags and
file name. Failures raise :class:`ValueError` with a message that the caller
prefixes with the file path (as :class:`~pipeline.errors.TileValidationError`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from affine import Affine
from shapely.geometry import Polygon

from pipeline.grid import Grid
from pipeline.model import Site, parse_utc
from pipeline.sites import SiteRegistry, normalise_name, square_aoi

#: Tag names that carry the acquisition time, best first (GDAL default domain).
#: ``TIFFTAG_DATETIME`` is the TIFF "image creation" time and often the time the
#: file was written, so it is only used when nothing better is known.
ACQUIRED_TAGS: tuple[str, ...] = (
    "ACQUISITION_DATETIME",
    "ACQUISITIONDATETIME",
    "ACQUISITION_TIME",
    "DATETIME_ACQUIRED",
)
SITE_TAGS: tuple[str, ...] = ("SITEWATCH_SITE_ID",)
SENSOR_TAGS: tuple[str, ...] = (
    "SENSOR",
    "SATELLITE",
    "SATELLITEID",
    "PLATFORM",
    "SPACECRAFT_ID",
    "MISSION",
)
SUN_AZIMUTH_TAGS: tuple[str, ...] = (
    "SUN_AZIMUTH",
    "SUN_AZIMUTH_ANGLE",
    "MEAN_SUN_AZIMUTH",
    "SUNAZIMUTH",
    "SUN_AZ",
)
SUN_ELEVATION_TAGS: tuple[str, ...] = (
    "SUN_ELEVATION",
    "SUN_ELEVATION_ANGLE",
    "MEAN_SUN_ELEVATION",
    "SUNELEVATION",
    "SUN_EL",
)

SUN_ZENITH_TAGS: tuple[str, ...] = ("SUN_ZENITH", "SUN_ZENITH_ANGLE", "MEAN_SUN_ZENITH")

_EARTH_RADIUS_M = 6_371_008.8

_DTYPE_RANGE: dict[str, tuple[float, float]] = {
    "uint8": (0, 255),
    "int8": (-128, 127),
    "uint16": (0, 65535),
    "int16": (-32768, 32767),
    "uint32": (0, 4294967295),
    "int32": (-2147483648, 2147483647),
}

# <site>_<YYYYMMDD>[T<HHMMSS>[Z]] with optional separators inside date/time and any
# suffix after a separator ("khmeimim_20241213T083000Z_pan.tif").
_FILENAME = re.compile(
    r"^(?P<site>.+?)[_\-\s.](?P<y>\d{4})-?(?P<m>\d{2})-?(?P<d>\d{2})"
    r"(?:[T_](?P<H>\d{2}):?(?P<M>\d{2}):?(?P<S>\d{2})(?P<z>Z)?)?"
    r"(?=$|[_\-\s.])",
    re.IGNORECASE,
)
# Fallback: the first date(time) token anywhere in the stem ("20241213T083000_khmeimim_pan").
_DATE_ANYWHERE = re.compile(
    r"(?<![0-9])(?P<y>\d{4})-?(?P<m>\d{2})-?(?P<d>\d{2})"
    r"(?:[T_](?P<H>\d{2}):?(?P<M>\d{2}):?(?P<S>\d{2})(?P<z>Z)?)?(?![0-9])",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- time
def parse_datetime_text(text: str) -> datetime:
    """Parse a timestamp tag to aware UTC.

    Accepts ISO 8601 (``2024-12-13T08:30:00Z``, offsets, fractional seconds,
    date only) and the TIFF form ``YYYY:MM:DD HH:MM:SS``. Naive times are UTC.

    Raises
    ------
    ValueError
        When the text is not a timestamp.
    """
    s = text.strip()
    m = re.fullmatch(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})", s)
    if m:
        y, mo, d, hh, mm, ss = (int(v) for v in m.groups())
        return datetime(y, mo, d, hh, mm, ss, tzinfo=UTC)
    if not re.match(r"^\d{4}-?\d{2}-?\d{2}", s):
        raise ValueError(f"not an ISO 8601 or TIFF timestamp: {text!r}")
    try:
        return parse_utc(s)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 or TIFF timestamp: {text!r}") from exc


@dataclass(frozen=True)
class FilenameInfo:
    """Site token and acquisition time parsed from a file name stem."""

    site_token: str
    acquired: datetime


def _info(m: re.Match[str], site_token: str) -> FilenameInfo | None:
    try:
        acquired = datetime(
            int(m["y"]),
            int(m["m"]),
            int(m["d"]),
            int(m["H"] or 0),
            int(m["M"] or 0),
            int(m["S"] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    return FilenameInfo(site_token=site_token, acquired=acquired)


def parse_filename(stem: str) -> FilenameInfo | None:
    """Parse ``<site>_<YYYYMMDD>[T<HHMMSS>Z]`` from a file name stem.

    The date may be written ``YYYY-MM-DD`` and the time ``HH:MM:SS``; anything
    after a following separator is ignored. A date alone means 00:00:00 UTC.
    Stems of other shapes fall back to the first real date(time) token
    anywhere, with the text before it (or else the first word after it; may
    be empty) as the site token. Returns ``None`` when no real calendar date/time is found.
    """
    m = _FILENAME.match(stem)
    if m:
        info = _info(m, m["site"])
        if info is not None:
            return info
    for m in _DATE_ANYWHERE.finditer(stem):
        before = stem[: m.start()].strip("_-. ")
        after = re.split(r"[_.\s]", stem[m.end() :].strip("_-. "), maxsplit=1)[0]
        info = _info(m, before or after)
        if info is not None:
            return info
    return None


def tile_id(site_id: str, acquired: datetime) -> str:
    """The tile id ``<site>_<YYYYMMDDTHHMMSSZ>`` (UTC, whole seconds)."""
    return f"{site_id}_{acquired.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def first_tag(tags: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """``(name, value)`` of the first of ``names`` present (case-insensitive) and non-blank."""
    upper = {k.upper(): (k, v) for k, v in tags.items()}
    for name in names:
        hit = upper.get(name.upper())
        if hit is not None and str(hit[1]).strip():
            return hit[0], str(hit[1]).strip()
    return None


# --------------------------------------------------------------------------- header checks
def check_dtype(dtypes: tuple[str, ...], allowed: tuple[str, ...]) -> str:
    """The single pixel dtype of all bands; ``ValueError`` when mixed or not allowed."""
    distinct = sorted(set(dtypes))
    if len(distinct) != 1:
        raise ValueError(f"bands have mixed data types {distinct}; write one dtype for all bands")
    dtype = distinct[0]
    if dtype not in allowed:
        raise ValueError(f"pixel data type {dtype} not supported (allowed: {', '.join(allowed)})")
    return dtype


def check_band_count(count: int, min_bands: int, max_bands: int) -> None:
    """``ValueError`` unless ``min_bands <= count <= max_bands``."""
    if not min_bands <= count <= max_bands:
        raise ValueError(f"{count} bands, expected {min_bands} to {max_bands}")


def check_size(width: int, height: int, count: int, max_pixels: int) -> None:
    """``ValueError`` when the declared ``width * height * count`` exceeds ``max_pixels``."""
    total = int(width) * int(height) * int(count)
    if width <= 0 or height <= 0:
        raise ValueError(f"declared size {width} x {height} pixels is empty")
    if total > max_pixels:
        raise ValueError(
            f"declared size {width} x {height} x {count} bands = {total:,} pixels exceeds the "
            f"cap of {max_pixels:,} (raise --max-pixels or cut the image into tiles)"
        )


def check_nodata(nodata: float | None, dtype: str) -> float | None:
    """Validate a nodata value against the dtype; returns it as float (or ``None``).

    Integer dtypes need an integral value inside the dtype's range; float dtypes
    accept NaN or a finite value.
    """
    if nodata is None:
        return None
    value = float(nodata)
    if dtype in _DTYPE_RANGE:
        lo, hi = _DTYPE_RANGE[dtype]
        if math.isnan(value) or math.isinf(value) or value != math.floor(value):
            raise ValueError(f"nodata {nodata!r} is not an integer, but pixels are {dtype}")
        if not lo <= value <= hi:
            raise ValueError(f"nodata {nodata!r} is outside the {dtype} range [{lo}, {hi}]")
        return value
    if math.isinf(value):
        raise ValueError(f"nodata {nodata!r} is infinite; use NaN or a finite value")
    if dtype == "float32" and not math.isnan(value) and abs(value) > float(np.finfo("float32").max):
        raise ValueError(f"nodata {nodata!r} does not fit in float32")
    return value


def rotation_deg(transform: Affine) -> float:
    """Angle (degrees, 0..180) between the pixel column axis and map x (0 for north-up)."""
    return abs(math.degrees(math.atan2(transform.d, transform.a)))


def check_transform(transform: Affine, max_rotation_deg: float) -> None:
    """``ValueError`` for an identity, degenerate, sheared or over-rotated geotransform."""
    if transform == Affine.identity():
        raise ValueError("identity geotransform: the raster is not georeferenced")
    if transform.is_degenerate or not all(math.isfinite(v) for v in tuple(transform)[:6]):
        raise ValueError(f"degenerate geotransform {tuple(transform)[:6]}")
    rot = rotation_deg(transform)
    if rot > max_rotation_deg:
        raise ValueError(
            f"geotransform rotated {rot:.1f} degrees from north-up (limit {max_rotation_deg})"
        )
    # Columns and rows should be near-perpendicular on the map (no shear).
    a, b, d, e = transform.a, transform.b, transform.d, transform.e
    cos_angle = abs(a * b + d * e) / (math.hypot(a, d) * math.hypot(b, e))
    if cos_angle > math.sin(math.radians(5.0)):
        raise ValueError(
            f"geotransform is sheared (axes {math.degrees(math.acos(cos_angle)):.1f}"
            " degrees apart, expected 90)"
        )


def _haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def ground_pixel_size_m(grid: Grid) -> tuple[float, float]:
    """Ground size ``(x, y)`` in metres of the pixel at the grid centre.

    Measured on the sphere between neighbouring pixel corners converted to
    EPSG:4326, so it is right for any CRS (UTM metres, Web Mercator's scaled
    metres, geographic degrees).
    """
    r0, c0 = grid.height / 2.0, grid.width / 2.0
    x, y = grid.xy([r0, r0, r0 + 1.0], [c0, c0 + 1.0, c0], offset="ul")
    lon, lat = grid.to_lonlat(x, y)
    dx = _haversine_m(float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
    dy = _haversine_m(float(lon[0]), float(lat[0]), float(lon[2]), float(lat[2]))
    return dx, dy


def check_gsd(
    px_m: tuple[float, float], *, min_gsd_m: float, max_gsd_m: float, max_aspect: float
) -> float:
    """Mean ground sample distance (metres) after range and aspect checks."""
    dx, dy = px_m
    if not (math.isfinite(dx) and math.isfinite(dy)) or min(dx, dy) <= 0:
        raise ValueError("pixel size on the ground cannot be computed (check CRS and transform)")
    gsd = (dx + dy) / 2.0
    if not min_gsd_m <= gsd <= max_gsd_m:
        raise ValueError(
            f"ground sample distance {gsd:.4g} m outside [{min_gsd_m}, {max_gsd_m}] m "
            "(transform in the wrong units for the CRS?)"
        )
    if max(dx, dy) / min(dx, dy) > max_aspect:
        raise ValueError(
            f"pixels are {dx:.3g} m x {dy:.3g} m on the ground (aspect above {max_aspect})"
        )
    return gsd


def check_sun(azimuth: float | None, elevation: float | None) -> tuple[float | None, float | None]:
    """Validate sun angles (degrees); the azimuth is wrapped into ``[0, 360)``."""
    if azimuth is not None:
        if not math.isfinite(azimuth):
            raise ValueError(f"sun azimuth {azimuth!r} is not a finite number of degrees")
        azimuth = azimuth % 360.0
    if elevation is not None and not (math.isfinite(elevation) and -90 <= elevation <= 90):
        raise ValueError(f"sun elevation {elevation!r} outside [-90, 90] degrees")
    return azimuth, elevation


def parse_angle(name: str, text: str) -> float:
    """A float from tag ``name``; ``ValueError`` naming the tag when not a number."""
    try:
        return float(text)
    except ValueError as exc:
        raise ValueError(f"tag {name}={text!r} is not a number of degrees") from exc


# --------------------------------------------------------------------------- sites
def lookup_registry(registry: SiteRegistry, token: str) -> Site | None:
    """Registry site whose id, name, alias or ICAO code matches ``token`` (no airportsdata)."""
    key = normalise_name(token)
    site_id = registry.aliases().get(key) if key else None
    return registry.get(site_id) if site_id is not None else None


def site_aoi(site: Site) -> Polygon:
    """The site's AOI polygon (EPSG:4326); a 5 km square around its centre when it has none."""
    return Polygon(site.aoi or square_aoi(site.lon, site.lat, 2500.0))


def best_site_for(footprint: Polygon, registry: SiteRegistry) -> Site | None:
    """The registry site whose AOI overlaps ``footprint`` (EPSG:4326) most, or ``None``."""
    best: tuple[float, Site] | None = None
    for site in registry:
        aoi = site_aoi(site)
        if footprint.intersects(aoi):
            area = float(footprint.intersection(aoi).area)
            if best is None or area > best[0]:
                best = (area, site)
    return None if best is None else best[1]
