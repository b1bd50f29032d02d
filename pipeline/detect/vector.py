"""GeoJSON features of detections and object changes (EPSG:4326).

The feature dicts (wire format) are built here from typed objects; files are
written by :func:`pipeline.io.vector.write_features` (GeoJSON and GeoPackage,
atomic). :func:`write_geojson` / :func:`write_gpkg` are the small local
writers used before that module existed, kept for callers outside a run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import shape

from pipeline.io.atomic import atomic_path, write_json_atomic
from pipeline.model import Detection, ObjectChange


def detection_properties(d: Detection) -> dict[str, Any]:
    """Flat GeoJSON properties of a detection (rings left out, attributes kept nested)."""
    p = d.to_dict()
    p.pop("footprint_lonlat")
    return p


def change_properties(c: ObjectChange) -> dict[str, Any]:
    """Flat GeoJSON properties of an object change (the detections by id and class)."""
    return {
        "id": c.id,
        "site_id": c.site_id,
        "kind": c.kind,
        "class": c.cls,
        "before_tile_id": c.before_tile_id,
        "after_tile_id": c.after_tile_id,
        "before_acquired": c.to_dict()["before_acquired"],
        "after_acquired": c.to_dict()["after_acquired"],
        "before_detection": c.before.id if c.before else None,
        "after_detection": c.after.id if c.after else None,
        "score": c.score,
    }


def feature_collection(
    items: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> dict[str, Any]:
    """GeoJSON FeatureCollection from ``(geometry, properties)`` pairs (EPSG:4326)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": dict(g), "properties": dict(p)} for g, p in items
        ],
    }


def write_geojson(path: str | os.PathLike[str], fc: Mapping[str, Any]) -> Path:
    """Write a FeatureCollection atomically."""
    return write_json_atomic(path, fc)


def write_gpkg(path: str | os.PathLike[str], fc: Mapping[str, Any], *, layer: str) -> Path:
    """Write a FeatureCollection of polygons to a GeoPackage layer (EPSG:4326), atomically.

    Nested property values (dicts, lists) are stored as JSON text. An empty
    collection writes an empty layer.
    """
    from pyogrio.raw import write as ogr_write

    feats = list(fc["features"])
    names: list[str] = []
    for f in feats:
        for k in f["properties"]:
            if k not in names:
                names.append(k)
    if not names:
        names = ["id"]
    cols = []
    for k in names:
        vals = [f["properties"].get(k) for f in feats]
        if (
            vals
            and all(isinstance(v, bool) for v in vals if v is not None)
            and any(v is not None for v in vals)
        ):
            cols.append(np.asarray([str(v) for v in vals], dtype=object))
        elif (
            vals
            and all(
                isinstance(v, int | float) and not isinstance(v, bool)
                for v in vals
                if v is not None
            )
            and any(v is not None for v in vals)
        ):
            cols.append(np.asarray([np.nan if v is None else float(v) for v in vals]))
        else:
            cols.append(
                np.asarray(
                    [
                        None if v is None else (v if isinstance(v, str) else json.dumps(v))
                        for v in vals
                    ],
                    dtype=object,
                )
            )
    geoms = np.asarray([shape(f["geometry"]).wkb for f in feats], dtype=object)
    target = Path(path)
    with atomic_path(target, suffix=".gpkg") as tmp:
        ogr_write(
            str(tmp),
            geoms,
            cols,
            names,
            layer=layer,
            driver="GPKG",
            geometry_type="Polygon",
            crs="EPSG:4326",
        )
    return target


def detections_fc(dets: Sequence[Detection]) -> dict[str, Any]:
    """FeatureCollection of detection footprints."""
    return feature_collection([(d.geometry, detection_properties(d)) for d in dets])


def changes_fc(changes: Sequence[ObjectChange]) -> dict[str, Any]:
    """FeatureCollection of object changes (geometry: the after footprint, else before)."""
    items = []
    for c in changes:
        det = c.after or c.before
        if det is None:
            continue
        items.append((det.geometry, change_properties(c)))
    return feature_collection(items)
