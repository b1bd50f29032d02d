"""GeoJSON features of detections and object changes (EPSG:4326).

The feature dicts (wire format) are built here from typed objects; files are
written by :func:`pipeline.io.vector.write_features` (GeoJSON and GeoPackage,
atomic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
