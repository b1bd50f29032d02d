"""Validated ingest of tiles from a folder of GeoTIFFs or a STAC catalog.

Each file goes through the same checks, cheapest first, and the first failure
rejects it with a message that starts with the path:

1. header (no pixels read): opens as a raster; has a CRS; north-up-ish,
   non-identity, non-sheared geotransform; one supported dtype; band count;
   declared ``width * height * bands`` under the cap; nodata fits the dtype;
   ground sample distance in range; TIFF blocks inside the file (truncation);
2. metadata: acquisition time (tag ``ACQUISITION_DATETIME`` > STAC item
   datetime > file name ``<site>_<YYYYMMDD>[T<HHMMSS>Z]`` > ``TIFFTAG_DATETIME``);
   site (tag ``SITEWATCH_SITE_ID`` > STAC ``sitewatch:site_id`` > file-name
   prefix / STAC collection id resolved through the registry aliases > AOI
   overlap), and the footprint (EPSG:4326) must intersect that site's AOI;
   sensor and sun angles from tags or the STAC view extension;
3. pixels, streamed in windows of bounded size: not all-nodata, not one
   constant value, every block decodes;
4. SHA-256 of the file bytes (and agreement with a STAC ``file:checksum``).

Tile ids are ``<site>_<YYYYMMDDTHHMMSSZ>``. A file with the same bytes as one
already accepted is reported once as a duplicate; re-running gives the same
report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from affine import Affine
from rasterio.errors import RasterioError
from shapely.geometry import Polygon

from pipeline.errors import CatalogError, SitewatchError, TileReadError, TileValidationError
from pipeline.grid import Grid
from pipeline.ingest import checks
from pipeline.ingest.config import IngestConfig, IngestReport, Rejection
from pipeline.ingest.reader import RasterHeader, read_header, scan_pixels
from pipeline.io.atomic import sha256_file
from pipeline.io.stac import StacAssetRecord, StacProblem, is_stac_file, read_catalog
from pipeline.model import Site, Tile
from pipeline.sites import SiteRegistry, default_registry

#: Names of STAC files picked up as metadata hints when ingesting a folder.
FOLDER_CATALOG_NAMES: tuple[str, ...] = ("catalog.json", "collection.json")


@dataclass(frozen=True)
class ValidatedTile:
    """A tile and where its derived fields came from (``{"acquired": ..., "site": ...}``)."""

    tile: Tile
    provenance: Mapping[str, str] = field(default_factory=dict)


def _invalid(path: str, reason: str) -> TileValidationError:
    return TileValidationError(f"{path}: {reason}")


def _check_header(h: RasterHeader, config: IngestConfig) -> tuple[Grid, str, float | None, float]:
    """Header checks; returns grid, dtype, nodata and ground sample distance (m)."""
    p = h.path
    if h.crs is None or h.transform == Affine.identity():
        if h.georef_hint is not None:
            raise _invalid(
                p,
                f"raster is georeferenced only by {h.georef_hint.upper()}; orthorectify or "
                "warp it to a map grid first (e.g. gdalwarp -t_srs EPSG:326xx)",
            )
    if h.crs is None:
        raise _invalid(p, "raster has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:32636)")
    try:
        checks.check_transform(h.transform, config.max_rotation_deg)
        dtype = checks.check_dtype(h.dtypes, config.dtypes)
        checks.check_band_count(h.count, config.min_bands, config.max_bands)
        checks.check_size(h.width, h.height, h.count, config.max_pixels)
        nodata = checks.check_nodata(h.nodata, dtype)
    except ValueError as exc:
        raise _invalid(p, str(exc)) from exc
    try:
        grid = Grid(h.crs, h.transform, (h.height, h.width))
        px_m = checks.ground_pixel_size_m(grid)
    except Exception as exc:  # GridError, rasterio CRSError, CPLE_* from PROJ: all mean bad georef
        raise _invalid(p, f"invalid georeferencing ({type(exc).__name__}: {exc})") from exc
    try:
        gsd = checks.check_gsd(
            px_m,
            min_gsd_m=config.min_gsd_m,
            max_gsd_m=config.max_gsd_m,
            max_aspect=config.max_pixel_aspect,
        )
    except ValueError as exc:
        raise _invalid(p, str(exc)) from exc
    if h.data_end is not None and h.data_end > h.file_size:
        raise TileReadError(
            f"{p}: file is truncated: its blocks extend to byte {h.data_end:,} but the file "
            f"has {h.file_size:,} bytes"
        )
    return grid, dtype, nodata, gsd


def _acquired(
    h: RasterHeader, hint: StacAssetRecord | None, name: checks.FilenameInfo | None
) -> tuple[datetime, str]:
    tag = checks.first_tag(h.tags, checks.ACQUIRED_TAGS)
    if tag is not None:
        try:
            return checks.parse_datetime_text(tag[1]), f"tag:{tag[0]}"
        except ValueError as exc:
            raise _invalid(h.path, f"tag {tag[0]}: {exc}") from exc
    if hint is not None and hint.acquired is not None:
        return hint.acquired, "stac:datetime"
    if name is not None:
        return name.acquired, "filename"
    tag = checks.first_tag(h.tags, ("TIFFTAG_DATETIME",))
    if tag is not None:
        try:
            return checks.parse_datetime_text(tag[1]), "tag:TIFFTAG_DATETIME"
        except ValueError as exc:
            raise _invalid(h.path, f"tag TIFFTAG_DATETIME: {exc}") from exc
    raise _invalid(
        h.path,
        "no acquisition time: set tag ACQUISITION_DATETIME (ISO 8601 UTC), name the file "
        "<site>_<YYYYMMDD>[T<HHMMSS>Z].tif, or give a STAC item datetime",
    )


def _site(
    h: RasterHeader,
    footprint: Polygon,
    registry: SiteRegistry,
    hint: StacAssetRecord | None,
    name: checks.FilenameInfo | None,
) -> tuple[Site, str]:
    known = ", ".join(registry.ids())
    named: tuple[Site, str] | None = None
    tag = checks.first_tag(h.tags, checks.SITE_TAGS)
    if tag is not None:
        site = checks.lookup_registry(registry, tag[1])
        if site is None:
            raise _invalid(h.path, f"tag {tag[0]}={tag[1]!r} names no registered site ({known})")
        named = (site, f"tag:{tag[0]}")
    elif hint is not None and hint.site_id:
        site = checks.lookup_registry(registry, hint.site_id)
        if site is None:
            raise _invalid(
                h.path,
                f"STAC property sitewatch:site_id={hint.site_id!r} names no registered "
                f"site ({known})",
            )
        named = (site, "stac:sitewatch:site_id")
    else:
        soft = [(name.site_token, "filename")] if name is not None else []
        if hint is not None and hint.collection_id:
            soft.append((hint.collection_id, "stac:collection"))
        for token, source in soft:
            site = checks.lookup_registry(registry, token)
            if site is not None:
                named = (site, source)
                break
    lon0, lat0, lon1, lat1 = footprint.bounds
    where = f"footprint lon {lon0:.4f}..{lon1:.4f}, lat {lat0:.4f}..{lat1:.4f}"
    if named is not None:
        site, source = named
        if not footprint.intersects(checks.site_aoi(site)):
            raise _invalid(
                h.path,
                f"{where} does not intersect the AOI of site {site.id!r} (from {source}); "
                "check the georeferencing or the site name",
            )
        return site, source
    best = checks.best_site_for(footprint, registry)
    if best is None:
        raise _invalid(h.path, f"{where} lies outside every registered site AOI ({known})")
    return best, "footprint"


def _extras(
    h: RasterHeader, hint: StacAssetRecord | None
) -> tuple[str, float | None, float | None]:
    """Sensor name and sun azimuth/elevation (degrees) from tags, else the STAC record."""
    try:
        az_tag = checks.first_tag(h.tags, checks.SUN_AZIMUTH_TAGS)
        el_tag = checks.first_tag(h.tags, checks.SUN_ELEVATION_TAGS)
        az = checks.parse_angle(*az_tag) if az_tag else None
        el = checks.parse_angle(*el_tag) if el_tag else None
        if el is None:
            zen_tag = checks.first_tag(h.tags, checks.SUN_ZENITH_TAGS)
            el = 90.0 - checks.parse_angle(*zen_tag) if zen_tag else None
        if az is None and hint is not None:
            az = hint.sun_azimuth_deg
        if el is None and hint is not None:
            el = hint.sun_elevation_deg
        az, el = checks.check_sun(az, el)
    except ValueError as exc:
        raise _invalid(h.path, str(exc)) from exc
    sensor_tag = checks.first_tag(h.tags, checks.SENSOR_TAGS)
    sensor = sensor_tag[1] if sensor_tag else (hint.sensor if hint and hint.sensor else "unknown")
    return sensor, az, el


def _validate(
    path: str, registry: SiteRegistry, config: IngestConfig, hint: StacAssetRecord | None
) -> ValidatedTile:
    h = read_header(path)
    grid, dtype, nodata, gsd = _check_header(h, config)
    name = checks.parse_filename(Path(path).stem)
    acquired, time_source = _acquired(h, hint, name)
    footprint = Polygon(grid.footprint_lonlat())
    site, site_source = _site(h, footprint, registry, hint, name)
    sensor, sun_az, sun_el = _extras(h, hint)
    if config.scan_pixels:
        stats = scan_pixels(
            path,
            chunk_pixels=config.chunk_pixels,
            stop_when_varied=config.quick_scan and config.min_valid_fraction == 0.0,
        )
        if stats.valid == 0:
            raise _invalid(path, f"all {stats.total:,} pixels are nodata or masked")
        if stats.valid_fraction <= config.min_valid_fraction:
            raise _invalid(
                path,
                f"only {stats.valid_fraction:.2%} of pixels are valid "
                f"(minimum above {config.min_valid_fraction:.2%})",
            )
        if config.reject_constant and stats.vmin == stats.vmax:
            raise _invalid(
                path, f"blank tile: every valid pixel holds the value {stats.vmin:g} in all bands"
            )
    try:
        sha = sha256_file(path)
    except OSError as exc:
        raise TileReadError(f"{path}: cannot read the file to hash it ({exc})") from exc
    if hint is not None and hint.sha256 is not None and hint.sha256 != sha:
        raise _invalid(
            path,
            f"SHA-256 {sha[:12]}... differs from the STAC file:checksum "
            f"{hint.sha256[:12]}... of item {hint.item_id!r} (file changed since cataloguing)",
        )
    tile = Tile(
        id=checks.tile_id(site.id, acquired),
        path=path,
        site_id=site.id,
        acquired=acquired,
        grid=grid,
        sha256=sha,
        band_count=h.count,
        dtype=dtype,
        nodata=nodata,
        sensor=sensor,
        gsd_m=gsd,
        sun_azimuth_deg=sun_az,
        sun_elevation_deg=sun_el,
    )
    return ValidatedTile(tile, {"acquired": time_source, "site": site_source})


def validate_tile(
    path: str | os.PathLike[str],
    *,
    registry: SiteRegistry | None = None,
    config: IngestConfig | None = None,
    hint: StacAssetRecord | None = None,
) -> Tile:
    """Validate one raster file and return its :class:`~pipeline.model.Tile`.

    Parameters
    ----------
    path : path-like
        GeoTIFF / COG file. The returned tile's ``path`` is absolute.
    registry : SiteRegistry, optional
        Sites to resolve against; the built-in registry by default.
    config : IngestConfig, optional
        Limits; defaults to ``IngestConfig()``.
    hint : StacAssetRecord, optional
        Metadata from a STAC item describing this file (datetime, site, sun).

    Raises
    ------
    TileReadError
        The file is missing, empty, not a raster, truncated or corrupt.
    TileValidationError
        The raster fails a check (no CRS, no acquisition time, outside every
        site, too large, all nodata...). Messages start with the path.
    """
    return _validate(
        os.path.abspath(os.fspath(path)),
        registry or default_registry(),
        config or IngestConfig(),
        hint,
    ).tile


def _folder_files(folder: Path, config: IngestConfig) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in filenames:
            if not fn.startswith(".") and fn.lower().endswith(config.extensions):
                out.append(os.path.abspath(os.path.join(dirpath, fn)))
    return sorted(out)


def _folder_catalog(folder: Path) -> Path | None:
    """The STAC catalog/collection JSON at the folder root, if any."""
    for name in FOLDER_CATALOG_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def ingest(
    source: str | os.PathLike[str],
    *,
    registry: SiteRegistry | None = None,
    config: IngestConfig | None = None,
) -> IngestReport:
    """Ingest a folder of GeoTIFFs (recursive), one GeoTIFF, or a STAC JSON file.

    A folder is scanned recursively for files ending in ``config.extensions``
    (hidden files and folders skipped). When it holds a ``catalog.json`` or
    ``collection.json`` at its root, its image assets are ingested with the item
    metadata (datetime, site, sun angles, checksum) as hints, rasters it lists
    as other assets (masks, labels) are skipped, and rasters it does not
    mention are ingested like any other file.
    A ``.json`` source is read as STAC and its image assets are ingested.

    Every file is validated with the checks of :func:`validate_tile`; failures
    are collected as :class:`Rejection` (path + reason) and the good tiles go
    on. Files with the same bytes as an accepted one, or with the same site and
    acquisition time, are rejected as duplicates of the first (in path order),
    so re-running on the same input returns the same report.

    Raises
    ------
    TileReadError
        ``source`` does not exist or is neither a folder, a raster nor JSON.
    CatalogError
        A STAC source is malformed.
    """
    reg = registry or default_registry()
    cfg = config or IngestConfig()
    src = Path(source)
    if not src.exists():
        raise TileReadError(f"{src}: ingest source not found")
    rejected: list[Rejection] = []
    hints: dict[str, StacAssetRecord] = {}
    if src.is_dir():
        files = _folder_files(src, cfg)
        catalog = _folder_catalog(src)
        if catalog is not None:
            # Catalogued images get their item metadata as hints; rasters the catalog lists
            # as other assets (masks, labels) are not imagery and are skipped; rasters it
            # does not mention are still ingested as plain files.
            try:
                records, problems = read_catalog(catalog)
            except CatalogError as exc:  # the folder's files are still ingested, without hints
                records, problems = [], [StacProblem(str(catalog), _reason(str(catalog), exc))]
            hints = {r.path: r for r in records}
            catalogued = {a for r in records for a in r.other_assets}
            rejected.extend(Rejection(q.location, q.reason) for q in problems)
            files = sorted(set(hints) | {f for f in files if f not in catalogued})
    elif is_stac_file(src):
        records, problems = read_catalog(src)
        hints = {r.path: r for r in records}
        files = sorted(hints)
        rejected.extend(Rejection(q.location, q.reason) for q in problems)
    elif src.is_file():
        files = [os.path.abspath(src)]
    else:
        raise TileReadError(f"{src}: not a folder, a raster file or a STAC JSON file")

    tiles: list[Tile] = []
    provenance: dict[str, dict[str, str]] = {}
    by_sha: dict[str, Tile] = {}
    by_id: dict[str, Tile] = {}

    def attempt(path: str) -> ValidatedTile | Rejection:
        try:
            return _validate(path, reg, cfg, hints.get(path))
        except SitewatchError as exc:
            return Rejection(path, _reason(path, exc))
        except (OSError, ValueError, RasterioError) as exc:  # unforeseen file trouble: report it
            return Rejection(path, f"unexpected {type(exc).__name__}: {exc}")

    if cfg.workers > 1 and len(files) > 1:
        # GDAL decoding and hashing release the GIL; results are consumed in path order.
        with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
            outcomes = list(pool.map(attempt, files))
    else:
        outcomes = [attempt(f) for f in files]
    for path, vt in zip(files, outcomes, strict=True):
        if isinstance(vt, Rejection):
            rejected.append(vt)
            continue
        tile = vt.tile
        if tile.sha256 in by_sha:
            first = by_sha[tile.sha256]
            rejected.append(
                Rejection(
                    path, f"duplicate of {first.path} (same SHA-256); ingested once as {first.id}"
                )
            )
            continue
        if tile.id in by_id:
            first = by_id[tile.id]
            rejected.append(
                Rejection(
                    path,
                    f"same site and acquisition time as {first.path} (tile id {tile.id}) but "
                    "different content; fix the acquisition time or remove one file",
                )
            )
            continue
        by_sha[tile.sha256] = by_id[tile.id] = tile
        tiles.append(tile)
        provenance[tile.id] = dict(vt.provenance)
    return IngestReport(tiles=tuple(tiles), rejected=tuple(rejected), provenance=provenance)


def _reason(path: str, exc: Exception) -> str:
    """The error message without the leading ``<path>: `` (the path is stored apart)."""
    msg = str(exc)
    return msg[len(path) + 2 :] if msg.startswith(f"{path}: ") else msg
