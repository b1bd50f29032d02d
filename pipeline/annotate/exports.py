"""Exports of analyst annotations: GeoJSON (EPSG:4326), COCO and YOLO, built from typed objects.

COCO and YOLO boxes are in chip pixels (the chip PNGs are the images);
GeoJSON footprints are in EPSG:4326 with the tile pixel ring kept as
``footprint_px``. Per-region attributes (e.g. ``nose_cone``) stay attributes,
never extra categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.annotate.config import label_names
from pipeline.annotate.coords import tile_to_chip_ring
from pipeline.annotate.lsjson import HumanRegion


def geojson(regions: Sequence[HumanRegion]) -> dict[str, Any]:
    """FeatureCollection (EPSG:4326) of analyst regions with provenance properties."""
    features = []
    for reg in regions:
        d = reg.detection
        features.append(
            {
                "type": "Feature",
                "id": d.id,
                "geometry": d.geometry,
                "properties": {
                    "class": d.cls,
                    "category": d.category,
                    "attributes": dict(d.attributes),
                    "tile_id": d.tile_id,
                    "tile_sha256": d.tile_sha256,
                    "acquired": d.to_dict()["acquired"],
                    "annotation_id": reg.provenance.annotation_id,
                    "annotator": reg.provenance.annotator,
                    "created_at": reg.provenance.to_dict()["created_at"],
                    "updated_at": reg.provenance.to_dict()["updated_at"],
                    "task_id": reg.provenance.task_id,
                    "chip_id": reg.chip.id,
                    "region_id": reg.region_id,
                    "footprint_px": [list(p) for p in d.footprint_px],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _chip_bbox(reg: HumanRegion) -> tuple[list[list[float]], list[float]]:
    ring = tile_to_chip_ring(reg.detection.footprint_px, reg.chip.window[0], reg.chip.window[1])
    xs = [c for _, c in ring]
    ys = [r for r, _ in ring]
    x0, y0 = max(0.0, min(xs)), max(0.0, min(ys))
    x1, y1 = min(float(reg.chip.width), max(xs)), min(float(reg.chip.height), max(ys))
    return [[c, r] for r, c in ring], [x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)]


def coco(
    regions: Sequence[HumanRegion], *, categories: Sequence[str] | None = None
) -> dict[str, Any]:
    """COCO detection dict: chip images, one category per label, boxes in chip pixels.

    Each annotation keeps the oriented ring as ``segmentation`` and the
    per-region choices under ``attributes`` plus the provenance.
    """
    names = list(categories) if categories is not None else label_names()
    cat_id = {n: i + 1 for i, n in enumerate(names)}
    images: dict[str, dict[str, Any]] = {}
    anns: list[dict[str, Any]] = []
    for reg in regions:
        chip = reg.chip
        if chip.id not in images:
            images[chip.id] = {
                "id": len(images) + 1,
                "file_name": chip.png_name,
                "width": chip.width,
                "height": chip.height,
                "chip_id": chip.id,
                "tile_id": chip.tile_id,
                "tile_sha256": chip.tile_sha256,
            }
        if reg.detection.cls not in cat_id:
            cat_id[reg.detection.cls] = len(cat_id) + 1
        poly, bbox = _chip_bbox(reg)
        anns.append(
            {
                "id": len(anns) + 1,
                "image_id": images[chip.id]["id"],
                "category_id": cat_id[reg.detection.cls],
                "bbox": bbox,
                "area": bbox[2] * bbox[3],
                "segmentation": [[v for pt in poly for v in pt]],
                "iscrowd": 0,
                "attributes": dict(reg.detection.attributes),
                "annotation_id": reg.provenance.annotation_id,
                "annotator": reg.provenance.annotator,
            }
        )
    return {
        "info": {"description": "sitewatch analyst annotations", "version": "1"},
        "images": list(images.values()),
        "categories": [{"id": i, "name": n, "supercategory": "object"} for n, i in cat_id.items()],
        "annotations": anns,
    }


def yolo(
    regions: Sequence[HumanRegion], *, categories: Sequence[str] | None = None
) -> dict[str, str]:
    """YOLO text files: ``classes.txt`` and ``labels/<chip_id>.txt`` (normalised cx cy w h).

    Returns a mapping of relative path to file content.
    """
    names = list(categories) if categories is not None else label_names()
    for reg in regions:
        if reg.detection.cls not in names:
            names.append(reg.detection.cls)
    index = {n: i for i, n in enumerate(names)}
    files: dict[str, list[str]] = {}
    for reg in regions:
        _, (x, y, w, h) = _chip_bbox(reg)
        cw, chh = reg.chip.width, reg.chip.height
        line = (
            f"{index[reg.detection.cls]} {(x + w / 2) / cw:.6f} {(y + h / 2) / chh:.6f} "
            f"{w / cw:.6f} {h / chh:.6f}"
        )
        files.setdefault(f"labels/{reg.chip.id}.txt", []).append(line)
    out = {path: "\n".join(lines) + "\n" for path, lines in sorted(files.items())}
    out["classes.txt"] = "\n".join(names) + "\n"
    return out
