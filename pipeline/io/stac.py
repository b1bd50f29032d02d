"""STAC catalogs of tiles: read a catalog into asset records, write one from tiles.

Reading accepts any standard static catalog, collection, single item or item
collection (FeatureCollection) whose items carry a local GeoTIFF asset (key
``data``, ``visual``, ``image``... or any asset with a TIFF media type / ``.tif``
href). Hrefs may be relative; they are resolved against the item's location.

Writing builds a self-contained catalog (relative links, no absolute self
links): ``catalog.json`` -> one collection per site -> one item per tile, with
the projection (v2: ``proj:code``, ``proj:shape``, ``proj:transform``), view
(sun angles) and file (``file:checksum`` multihash of the SHA-256, ``file:size``)
extensions. Every JSON file is written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pystac
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.view import ViewExtension
from pystac.stac_io import DefaultStacIO

from pipeline.errors import CatalogError
from pipeline.io.atomic import write_text_atomic
from pipeline.model import Tile, parse_utc, utc

#: Asset keys tried first, in order, when picking an item's image.
IMAGE_ASSET_KEYS: tuple[str, ...] = ("data", "visual", "image", "analytic", "pan", "ms", "tile")
SITE_PROPERTY = "sitewatch:site_id"
SENSOR_PROPERTY = "sitewatch:sensor"
_SHA256_MULTIHASH_PREFIX = "1220"
_COG_MEDIA_TYPE = str(pystac.MediaType.COG)


@dataclass(frozen=True)
class StacAssetRecord:
    """One image asset of a STAC item, with the metadata ingest can use.

    ``path`` is the absolute local path of the asset. ``acquired`` is the item
    datetime (UTC) or its ``start_datetime``; ``site_id`` the item's
    ``sitewatch:site_id`` property; ``collection_id`` the parent collection id
    (a weaker site hint); sun angles in degrees from the view extension;
    ``gsd_m`` in metres; ``sha256`` from ``file:checksum`` when it is a SHA-256
    multihash. ``other_assets`` are the absolute local paths of the item's
    other assets (masks, labels, metadata), which are not imagery.
    """

    path: str
    item_id: str
    acquired: datetime | None = None
    site_id: str | None = None
    collection_id: str | None = None
    sensor: str | None = None
    sun_azimuth_deg: float | None = None
    sun_elevation_deg: float | None = None
    gsd_m: float | None = None
    sha256: str | None = None
    other_assets: tuple[str, ...] = ()


@dataclass(frozen=True)
class StacProblem:
    """An item or asset of a catalog that cannot be ingested, and why."""

    location: str
    reason: str


# --------------------------------------------------------------------------- reading
def _float_or_none(value: Any, what: str, where: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise CatalogError(f"{where}: {what} {value!r} is not a number") from exc


def _pick_asset(item: pystac.Item) -> tuple[str, pystac.Asset] | None:
    for key in IMAGE_ASSET_KEYS:
        if key in item.assets:
            return key, item.assets[key]
    for key, asset in item.assets.items():
        media = (asset.media_type or "").lower()
        href = asset.href.lower().split("?")[0]
        roles = set(asset.roles or ())
        if "thumbnail" in roles or "overview" in roles:
            continue
        if "tiff" in media or href.endswith((".tif", ".tiff")):
            return key, asset
    return None


def _sensor(props: dict[str, Any]) -> str | None:
    if props.get(SENSOR_PROPERTY):
        return str(props[SENSOR_PROPERTY])
    parts = [str(props[k]) for k in ("constellation", "platform") if props.get(k)]
    instruments = props.get("instruments")
    if isinstance(instruments, list) and instruments:
        parts.append("/".join(str(i) for i in instruments))
    return " ".join(parts) or None


def _record(item: pystac.Item, where: str) -> StacAssetRecord | StacProblem:
    picked = _pick_asset(item)
    if picked is None:
        return StacProblem(
            where,
            f"item {item.id!r} has no GeoTIFF asset (looked for keys "
            f"{', '.join(IMAGE_ASSET_KEYS)} or a TIFF media type)",
        )
    key, asset = picked
    href = asset.get_absolute_href() or asset.href
    if "://" in href and not href.startswith("file://"):
        return StacProblem(
            href, f"item {item.id!r} asset {key!r} is remote; only local files are ingested"
        )
    path = os.path.abspath(href.removeprefix("file://"))
    props = item.properties
    acquired = item.datetime or (
        parse_utc(props["start_datetime"]) if props.get("start_datetime") else None
    )
    checksum = asset.extra_fields.get("file:checksum")
    sha = None
    if isinstance(checksum, str) and checksum.lower().startswith(_SHA256_MULTIHASH_PREFIX):
        sha = checksum.lower()[len(_SHA256_MULTIHASH_PREFIX) :]
    gsd = props.get("gsd", asset.extra_fields.get("gsd"))
    others = []
    for other_key, other in item.assets.items():
        other_href = other.get_absolute_href() or other.href
        if other_key != key and "://" not in other_href.removeprefix("file://"):
            others.append(os.path.abspath(other_href.removeprefix("file://")))
    return StacAssetRecord(
        path=path,
        item_id=item.id,
        acquired=None if acquired is None else utc(acquired),
        site_id=str(props[SITE_PROPERTY]) if props.get(SITE_PROPERTY) else None,
        collection_id=item.collection_id,
        sensor=_sensor(props),
        sun_azimuth_deg=_float_or_none(props.get("view:sun_azimuth"), "view:sun_azimuth", where),
        sun_elevation_deg=_float_or_none(
            props.get("view:sun_elevation"), "view:sun_elevation", where
        ),
        gsd_m=_float_or_none(gsd, "gsd", where),
        sha256=sha,
        other_assets=tuple(sorted(others)),
    )


def _items(path: str) -> Iterable[pystac.Item]:
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    if not isinstance(raw, dict) or "type" not in raw:
        raise CatalogError(f"{path}: not a STAC object (no 'type' member)")
    if raw["type"] == "FeatureCollection":
        return list(pystac.ItemCollection.from_file(path))
    obj = pystac.read_file(path)
    if isinstance(obj, pystac.Item):
        return [obj]
    if isinstance(obj, pystac.Catalog):  # Collection is a Catalog subclass
        return list(obj.get_items(recursive=True))
    raise CatalogError(f"{path}: unsupported STAC object type {raw['type']!r}")


def read_catalog(path: str | os.PathLike[str]) -> tuple[list[StacAssetRecord], list[StacProblem]]:
    """Read a STAC catalog/collection/item/item-collection into asset records.

    Returns the records (sorted by asset path) and the items that could not be
    turned into one (no image asset, remote href, bad property), each with the
    reason. Asset files are not opened.

    Raises
    ------
    CatalogError
        When the file is not valid JSON, not a STAC object, or links to a
        child/item that is missing or malformed.
    """
    p = os.path.abspath(os.fspath(path))
    try:
        items = _items(p)
    except CatalogError:
        raise
    except FileNotFoundError as exc:
        raise CatalogError(f"{p}: STAC file or a linked child/item is missing ({exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{p}: not valid JSON ({exc})") from exc
    except (pystac.STACError, pystac.STACTypeError, KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{p}: malformed STAC catalog ({type(exc).__name__}: {exc})") from exc
    records: list[StacAssetRecord] = []
    problems: list[StacProblem] = []
    for item in items:
        where = item.get_self_href() or f"{p}#{item.id}"
        try:
            rec = _record(item, where)
        except (CatalogError, ValueError) as exc:
            problems.append(StacProblem(where, str(exc)))
            continue
        (records if isinstance(rec, StacAssetRecord) else problems).append(rec)  # type: ignore[arg-type]
    records.sort(key=lambda r: (r.path, r.item_id))
    problems.sort(key=lambda q: (q.location, q.reason))
    return records, problems


def is_stac_file(path: str | os.PathLike[str]) -> bool:
    """True for a ``.json`` / ``.geojson`` file (treated as STAC by ingest)."""
    return Path(path).suffix.lower() in (".json", ".geojson")


# --------------------------------------------------------------------------- writing
class _AtomicStacIO(DefaultStacIO):
    """pystac I/O that writes every JSON file atomically."""

    def write_text_to_href(self, href: str, txt: str) -> None:  # noqa: D102
        write_text_atomic(href, txt)


def _bbox(rings: Sequence[Sequence[tuple[float, float]]]) -> list[float]:
    lons = [p[0] for r in rings for p in r]
    lats = [p[1] for r in rings for p in r]
    return [min(lons), min(lats), max(lons), max(lats)]


def _item(tile: Tile) -> pystac.Item:
    ring = tile.footprint_lonlat
    item = pystac.Item(
        id=tile.id,
        geometry={"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        bbox=_bbox([ring]),
        datetime=tile.acquired,
        properties={"gsd": tile.gsd_m, SITE_PROPERTY: tile.site_id, SENSOR_PROPERTY: tile.sensor},
    )
    media = _COG_MEDIA_TYPE if tile.path.lower().endswith((".tif", ".tiff")) else None
    asset = pystac.Asset(href=os.path.abspath(tile.path), media_type=media, roles=["data"])
    item.add_asset("data", asset)
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code = tile.grid.crs if tile.grid.crs.startswith("EPSG:") else None
    if proj.code is None:
        proj.wkt2 = tile.grid.crs
    proj.shape = list(tile.grid.shape)
    proj.transform = list(tuple(tile.grid.transform)[:6])
    proj.bbox = list(tile.grid.bounds)
    if tile.sun_azimuth_deg is not None or tile.sun_elevation_deg is not None:
        view = ViewExtension.ext(item, add_if_missing=True)
        view.sun_azimuth = tile.sun_azimuth_deg
        view.sun_elevation = tile.sun_elevation_deg
    fext = FileExtension.ext(asset, add_if_missing=True)
    fext.checksum = _SHA256_MULTIHASH_PREFIX + tile.sha256
    if os.path.isfile(tile.path):
        fext.size = os.path.getsize(tile.path)
    return item


def write_catalog(
    tiles: Sequence[Tile],
    out_dir: str | os.PathLike[str],
    *,
    catalog_id: str = "sitewatch",
    description: str = "Tiles ingested by sitewatch, one collection per site.",
) -> Path:
    """Write a self-contained STAC catalog of ``tiles`` under ``out_dir``.

    Layout: ``out_dir/catalog.json``, ``out_dir/<site>/collection.json``,
    ``out_dir/<site>/<tile_id>/<tile_id>.json``. Asset hrefs are relative to
    each item file, so the catalog and tiles can move together. Re-running with
    the same tiles rewrites the same files (atomically).

    Returns
    -------
    pathlib.Path
        Path of ``catalog.json``.

    Raises
    ------
    CatalogError
        When ``tiles`` is empty or holds duplicate tile ids.
    """
    if not tiles:
        raise CatalogError(f"{out_dir}: no tiles to write a STAC catalog for")
    ids = [t.id for t in tiles]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise CatalogError(f"{out_dir}: duplicate tile ids {dup}")
    out = Path(out_dir).resolve()
    catalog = pystac.Catalog(id=catalog_id, description=description)
    by_site: dict[str, list[Tile]] = {}
    for t in sorted(tiles, key=lambda t: (t.site_id, t.acquired, t.id)):
        by_site.setdefault(t.site_id, []).append(t)
    for site_id, site_tiles in by_site.items():
        rings = [t.footprint_lonlat for t in site_tiles]
        times = [t.acquired for t in site_tiles]
        collection = pystac.Collection(
            id=site_id,
            description=f"Tiles of site {site_id}",
            extent=pystac.Extent(
                pystac.SpatialExtent([_bbox(rings)]),
                pystac.TemporalExtent([[min(times), max(times)]]),
            ),
            license="other",
        )
        for t in site_tiles:
            collection.add_item(_item(t))
        catalog.add_child(collection)
    catalog.normalize_hrefs(str(out))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(pystac.CatalogType.SELF_CONTAINED, stac_io=_AtomicStacIO())
    return out / "catalog.json"
