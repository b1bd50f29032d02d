"""Write rendered tiles, their ground truth and a STAC catalog to a folder.

This is the only module of :mod:`pipeline.synth` that touches files. Layout::

    <out>/<site>_<YYYYMMDDTHHMMSSZ>.tif                    4-band uint16 COG (red, green, blue, nir)
    <out>/<site>_<YYYYMMDDTHHMMSSZ>.truth.geojson          objects, EPSG:4326 (+ px / map rings)
    <out>/<site>_<before>__<after>.change_truth.tif         uint8 COG on the after grid:
                                                            1 change, 0 none, 255 cloud/unknown
    <out>/catalog.json                      STAC catalog (self-contained)
    <out>/<site>/collection.json            one STAC collection per site
    <out>/<site>/<stem>.json                one STAC item per tile
    <out>/scenario.json                     the scene specs and seed that made it all

``<before>`` and ``<after>`` in the change-truth name are the ``YYYYMMDDTHHMMSSZ``
parts of the two tile stems. Every file is written atomically and
deterministically, so regenerating gives byte-identical files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pystac

from pipeline.errors import CatalogError
from pipeline.io.atomic import sha256_file, write_json_atomic
from pipeline.io.rasters import (
    TAG_ACQUIRED,
    TAG_SENSOR,
    TAG_SITE,
    TAG_SUN_AZIMUTH,
    TAG_SUN_ELEVATION,
    write_cog,
)
from pipeline.model import isoformat_z, polygon_geojson
from pipeline.synth.render import (
    BAND_NAMES,
    NODATA,
    UNKNOWN,
    SynthTile,
    TruthObject,
    change_truth,
    render_scene,
)
from pipeline.synth.spec import SceneSpec

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
GEOJSON_MEDIA_TYPE = "application/geo+json"
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
]
GENERATOR = "pipeline.synth"


def _when(stem: str) -> str:
    return stem.rsplit("_", 1)[1]


def change_truth_name(before_stem: str, after_stem: str) -> str:
    """File name of the change mask between two tile stems of one site."""
    site = after_stem.rsplit("_", 1)[0]
    return f"{site}_{_when(before_stem)}__{_when(after_stem)}.change_truth.tif"


def _r(v: float, nd: int) -> float:
    return float(round(float(v), nd))


def truth_geojson(tile: SynthTile) -> dict[str, Any]:
    """GeoJSON FeatureCollection (EPSG:4326) of the tile's truth objects.

    Each feature's properties hold ``object_id``, ``class``, ``category``,
    ``attributes``, ``length_m``, ``wingspan_m``, ``heading_deg``,
    ``footprint_px`` (closed ``(row, col)`` ring), ``footprint_map`` (closed
    ``(x, y)`` ring in the tile CRS), ``center_map``, ``true_center_map``,
    ``pixel_count``, ``cloud_fraction`` and ``inside``. The top-level ``tile``
    member describes the tile (id, site, time, CRS, grid, sun, misregistration).
    """
    spec = tile.spec
    feats = []
    for o in tile.objects:
        props = {
            "object_id": o.object_id,
            "class": o.type_name,
            "category": o.category,
            "attributes": dict(sorted(o.attributes.items())),
            "length_m": o.length_m,
            "wingspan_m": o.wingspan_m,
            "heading_deg": _r(o.heading_deg, 4),
            "footprint_px": [[_r(a, 4), _r(b, 4)] for a, b in o.footprint_px],
            "footprint_map": [[_r(a, 3), _r(b, 3)] for a, b in o.footprint_map],
            "center_map": [_r(v, 3) for v in o.center_map],
            "true_center_map": [_r(v, 3) for v in o.true_center_map],
            "pixel_count": o.pixel_count,
            "cloud_fraction": _r(o.cloud_fraction, 4),
            "inside": o.inside,
            "tile_id": spec.stem,
        }
        ring = [(_r(a, 8), _r(b, 8)) for a, b in o.footprint_lonlat]
        feats.append(
            {
                "type": "Feature",
                "id": o.object_id,
                "geometry": polygon_geojson(ring),
                "properties": props,
            }  # fmt: skip
        )
    return {
        "type": "FeatureCollection",
        "tile": {
            "id": spec.stem,
            "site_id": spec.site.id,
            "acquired": isoformat_z(spec.acquired),
            "crs": tile.grid.crs,
            "grid": tile.grid.to_dict(),
            "gsd_m": spec.gsd_m,
            "sun_azimuth_deg": spec.sun_azimuth_deg,
            "sun_elevation_deg": spec.sun_elevation_deg,
            "misregistration_m": list(spec.misregistration_m),
            "seed": tile.seed,
            "generator": GENERATOR,
        },
        "features": feats,
    }


def tile_tags(tile: SynthTile) -> dict[str, str]:
    """GeoTIFF tags of a tile (names from :mod:`pipeline.io.rasters`)."""
    s = tile.spec
    return {
        TAG_ACQUIRED: isoformat_z(s.acquired),
        TAG_SITE: s.site.id,
        TAG_SENSOR: s.sensor,
        TAG_SUN_AZIMUTH: f"{s.sun_azimuth_deg:.3f}",
        TAG_SUN_ELEVATION: f"{s.sun_elevation_deg:.3f}",
        "SITEWATCH_GENERATOR": GENERATOR,
        "SITEWATCH_SEED": str(tile.seed),
    }


def write_tile(tile: SynthTile, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``<stem>.tif`` (COG) and ``<stem>.truth.geojson``; returns both paths."""
    out = Path(out_dir)
    tif = write_cog(
        out / f"{tile.stem}.tif",
        tile.array,
        tile.grid,
        nodata=None if tile.valid.all() else NODATA,
        tags=tile_tags(tile),
        band_descriptions=BAND_NAMES[: tile.array.shape[0]],
    )
    truth = write_json_atomic(out / f"{tile.stem}.truth.geojson", truth_geojson(tile), indent=1)
    return tif, truth


def write_change(
    before: SynthTile, after: SynthTile, out_dir: str | os.PathLike[str]
) -> tuple[Path, np.ndarray]:
    """Write the true change mask of ``before -> after`` (uint8 COG); returns path and mask."""
    mask = change_truth(before, after)
    path = write_cog(
        Path(out_dir) / change_truth_name(before.stem, after.stem),
        mask,
        after.grid,
        nodata=UNKNOWN,
        tags={
            "SITEWATCH_BEFORE": before.stem,
            "SITEWATCH_AFTER": after.stem,
            "SITEWATCH_VALUES": "1=change 0=no change 255=cloud or unknown",
            "SITEWATCH_GENERATOR": GENERATOR,
        },
        overview_resampling="nearest",
    )
    return path, mask


@dataclass(frozen=True)
class WrittenTile:
    """What the catalog needs to know about one written tile."""

    spec: SceneSpec
    grid_dict: dict[str, Any]
    footprint_lonlat: tuple[tuple[float, float], ...]
    tif: Path
    truth: Path
    change: Path | None
    before_stem: str | None
    n_objects: int


def _checksum(path: Path) -> str:
    return "1220" + sha256_file(path)  # multihash: sha2-256, 32 bytes


def build_catalog(written: Sequence[WrittenTile], out_dir: Path) -> pystac.Catalog:
    """A self-contained STAC catalog: one collection per site, one item per tile."""
    cat = pystac.Catalog(
        id="sitewatch-sample",
        description="Synthetic sitewatch sample tiles with ground truth (pipeline.synth).",
        title="sitewatch sample tiles",
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    cat.set_self_href(str(out_dir / "catalog.json"))
    sites: dict[str, list[WrittenTile]] = {}
    for w in written:
        sites.setdefault(w.spec.site.id, []).append(w)
    for site_id in sorted(sites):
        tiles = sorted(sites[site_id], key=lambda w: w.spec.acquired)
        lons = [p[0] for w in tiles for p in w.footprint_lonlat]
        lats = [p[1] for w in tiles for p in w.footprint_lonlat]
        extent = pystac.Extent(
            pystac.SpatialExtent([[min(lons), min(lats), max(lons), max(lats)]]),
            pystac.TemporalExtent([[tiles[0].spec.acquired, tiles[-1].spec.acquired]]),
        )
        site = tiles[0].spec.site
        col = pystac.Collection(
            id=site_id,
            description=f"Synthetic tiles of {site.name} ({site.kind}, {site.country}).",
            extent=extent,
            title=site.name,
            license="CC-BY-4.0",
        )
        cat.add_child(col)
        col.set_self_href(str(out_dir / site_id / "collection.json"))
        for w in tiles:
            s = w.spec
            ring = [list(p) for p in w.footprint_lonlat]
            lo = [p[0] for p in ring]
            la = [p[1] for p in ring]
            epsg = int(w.grid_dict["crs"].split(":")[1])
            item = pystac.Item(
                id=s.stem,
                geometry=polygon_geojson(w.footprint_lonlat),
                bbox=[min(lo), min(la), max(lo), max(la)],
                datetime=s.acquired,
                properties={
                    "gsd": s.gsd_m,
                    "proj:code": f"EPSG:{epsg}",
                    "proj:epsg": epsg,
                    "proj:shape": list(w.grid_dict["shape"]),
                    "proj:transform": list(w.grid_dict["transform"]) + [0.0, 0.0, 1.0],
                    "view:sun_azimuth": s.sun_azimuth_deg,
                    "view:sun_elevation": s.sun_elevation_deg,
                    "constellation": "synthetic",
                    "instruments": [s.sensor],
                    "sitewatch:site_id": s.site.id,
                    "sitewatch:misregistration_m": list(s.misregistration_m),
                    "sitewatch:object_count": w.n_objects,
                },
                stac_extensions=list(STAC_EXTENSIONS),
                collection=col,
            )
            # self href first: relative asset hrefs are resolved against it
            item.set_self_href(str(out_dir / site_id / f"{s.stem}.json"))
            item.add_asset(
                "image",
                pystac.Asset(
                    href=f"../{w.tif.name}",
                    media_type=COG_MEDIA_TYPE,
                    title="Multispectral image (red, green, blue, nir), uint16 11-bit",
                    roles=["data"],
                    extra_fields={"file:checksum": _checksum(w.tif)},
                ),
            )
            item.add_asset(
                "truth",
                pystac.Asset(
                    href=f"../{w.truth.name}",
                    media_type=GEOJSON_MEDIA_TYPE,
                    title="Ground-truth objects",
                    roles=["metadata", "ground-truth"],
                    extra_fields={"file:checksum": _checksum(w.truth)},
                ),
            )
            if w.change is not None:
                item.add_asset(
                    "change_truth",
                    pystac.Asset(
                        href=f"../{w.change.name}",
                        media_type=COG_MEDIA_TYPE,
                        title=f"True change since {w.before_stem} (1 change, 0 none, 255 unknown)",
                        roles=["labels", "ground-truth"],
                        extra_fields={
                            "file:checksum": _checksum(w.change),
                            "sitewatch:before": w.before_stem,
                        },
                    ),
                )
            col.add_item(item)
            item.set_self_href(str(out_dir / site_id / f"{s.stem}.json"))  # add_item resets it
    return cat


def save_catalog(cat: pystac.Catalog) -> list[Path]:
    """Write every catalog, collection and item JSON atomically; returns the paths."""
    paths: list[Path] = []

    def emit(obj: pystac.STACObject) -> None:
        href = obj.get_self_href()
        if href is None:  # pragma: no cover - build_catalog always sets hrefs
            raise ValueError(f"STAC object {obj.id} has no self href")
        paths.append(write_json_atomic(href, obj.to_dict(include_self_link=False), indent=1))

    emit(cat)
    for col in cat.get_children():
        emit(col)
        for item in col.get_items():
            emit(item)
    return paths


def render_all(specs: Sequence[SceneSpec], seed: int) -> Iterator[SynthTile]:
    """Render ``specs`` in order, lazily (one tile in memory at a time per consumer)."""
    for spec in specs:
        yield render_scene(spec, seed)


def generate(
    specs: Sequence[SceneSpec],
    out_dir: str | os.PathLike[str],
    *,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Render every spec and write tiles, truth, change masks, STAC catalog and scenario.

    Change masks are written for consecutive dates of the same site (specs are
    grouped by site and sorted by time). Returns every written path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(specs, key=lambda s: (s.site.id, s.acquired))
    written: list[WrittenTile] = []
    paths: list[Path] = []
    prev: SynthTile | None = None
    for tile in render_all(ordered, seed):
        tif, truth = write_tile(tile, out)
        change = None
        before_stem = None
        if prev is not None and prev.spec.site.id == tile.spec.site.id:
            change, _ = write_change(prev, tile, out)
            before_stem = prev.stem
            paths.append(change)
        paths += [tif, truth]
        written.append(
            WrittenTile(
                spec=tile.spec,
                grid_dict=tile.grid.to_dict(),
                footprint_lonlat=tuple(tile.grid.footprint_lonlat()),
                tif=tif,
                truth=truth,
                change=change,
                before_stem=before_stem,
                n_objects=len(tile.objects),
            )
        )
        if progress is not None:
            progress(tile.stem)
        prev = tile
    paths += save_catalog(build_catalog(written, out))
    paths.append(
        write_json_atomic(
            out / "scenario.json",
            {"generator": GENERATOR, "seed": seed, "scenes": [s.to_dict() for s in ordered]},
            indent=1,
        )
    )
    return paths


def read_truth(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[TruthObject]]:
    """Read a ``<stem>.truth.geojson`` back: the ``tile`` member and the truth objects.

    Raises
    ------
    CatalogError
        The file is not JSON or not a sitewatch truth FeatureCollection.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        if doc.get("type") != "FeatureCollection" or "tile" not in doc:
            raise ValueError("not a FeatureCollection with a 'tile' member")
        objs = []
        for f in doc["features"]:
            props = dict(f["properties"])
            props["footprint_lonlat"] = f["geometry"]["coordinates"][0]
            objs.append(TruthObject.from_dict(props))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CatalogError(f"{p}: not a readable sitewatch truth file ({exc})") from exc
    return dict(doc["tile"]), objs


def read_scenario(path: str | os.PathLike[str]) -> tuple[int, list[SceneSpec]]:
    """Read ``scenario.json`` back: the seed and the scene specs that made a folder.

    ``generate(specs, out, seed=seed)`` with the result reproduces the folder.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return int(doc["seed"]), [SceneSpec.from_dict(d) for d in doc["scenes"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogError(f"{p}: not a readable sitewatch scenario file ({exc})") from exc


#: Files in a sample folder that the generator does not own.
NOT_GENERATED = frozenset({"report.md"})


def folder_digests(folder: str | os.PathLike[str]) -> dict[str, str]:
    """``relative posix path -> sha256`` of every file under ``folder`` (hidden files skipped)."""
    root = Path(folder)
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = sha256_file(p)
    return out


def compare_folders(
    generated: str | os.PathLike[str], committed: str | os.PathLike[str]
) -> list[str]:
    """Differences between a fresh generation and a committed folder, one line each.

    Files in :data:`NOT_GENERATED` are ignored. An empty list means byte-identical.
    """
    new = folder_digests(generated)
    old = {k: v for k, v in folder_digests(committed).items() if k not in NOT_GENERATED}
    lines = []
    for k in sorted(set(new) | set(old)):
        if k not in old:
            lines.append(f"missing from {committed}: {k}")
        elif k not in new:
            lines.append(f"not produced by the generator: {k}")
        elif new[k] != old[k]:
            lines.append(f"differs: {k}")
    return lines
