"""Label Studio task/result JSON <-> typed objects (the one place that wire format is built).

Detection tasks hold one chip (``data.image``) with the chip sidecar under
``data.chip``; predictions and annotations are rotatable ``rectanglelabels``
regions on ``image`` plus per-region ``nose_cone`` choices sharing the
region id. Change tasks hold ``data.before``/``data.after`` chips of one
change region and a task-level ``change`` choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.annotate.chips import Chip
from pipeline.annotate.config import (
    AFTER_NAME,
    CHANGE_NAME,
    CHANGE_REGION_NAME,
    GENERIC_CLASSES,
    IMAGE_NAME,
    LABEL_NAME,
    NOSE_NAME,
    label_names,
)
from pipeline.annotate.coords import (
    PercentRect,
    chip_to_tile_ring,
    percent_to_pixel_ring,
    pixel_ring_to_percent,
    tile_to_chip_ring,
)
from pipeline.grid import Grid
from pipeline.model import ChangeRegion, Detection, isoformat_z, parse_utc, stable_id
from pipeline.objects import object_types

HUMAN_DETECTOR = "label-studio"


@dataclass(frozen=True)
class ChipTask:
    """One detection chip and the model detections to pre-annotate on it."""

    chip: Chip
    detections: tuple[Detection, ...] = ()


@dataclass(frozen=True)
class ChangeTask:
    """One change region with its before and after chips."""

    region: ChangeRegion
    before: Chip
    after: Chip
    region_ring_after_px: tuple[tuple[float, float], ...] = ()

    @property
    def id(self) -> str:
        """Stable task key: hash of both chip ids and the region id."""
        return stable_id(self.before.id, self.after.id, self.region.id)


@dataclass(frozen=True)
class Provenance:
    """Who drew an annotation and when (UTC)."""

    annotation_id: str
    annotator: str
    created_at: datetime | None
    updated_at: datetime | None = None
    task_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "annotation_id": self.annotation_id,
            "annotator": self.annotator,
            "created_at": isoformat_z(self.created_at) if self.created_at else None,
            "updated_at": isoformat_z(self.updated_at) if self.updated_at else None,
            "task_id": self.task_id,
        }


@dataclass(frozen=True)
class HumanRegion:
    """One region an analyst kept or drew, with its chip, provenance and attributes."""

    detection: Detection
    chip: Chip
    provenance: Provenance
    region_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeVerdict:
    """An analyst's answer for one change region."""

    region_id: str
    task_key: str
    verdict: str
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "region_id": self.region_id,
            "task_key": self.task_key,
            "verdict": self.verdict,
            **self.provenance.to_dict(),
        }


# --------------------------------------------------------------------------- building
def label_for(det: Detection, labels: Sequence[str] | None = None) -> str:
    """Config label for a detection: its class when offered, else its generic category."""
    offered = label_names() if labels is None else labels
    if det.cls in offered:
        return det.cls
    return det.category if det.category in offered else "aircraft"


def detection_results(chip: Chip, detections: Sequence[Detection]) -> list[dict[str, Any]]:
    """Label Studio result items (percent rectangles + per-region choices) for ``detections``.

    Each detection's tile pixel ring is shifted into the chip and converted to
    its (minimum rotated) rectangle in percent of the chip.
    """
    row_off, col_off = chip.window[0], chip.window[1]
    labels = label_names()
    out: list[dict[str, Any]] = []
    for det in detections:
        if det.tile_id != chip.tile_id:
            raise ValueError(
                f"detection {det.id} is on tile {det.tile_id}, chip {chip.id} on {chip.tile_id}"
            )
        ring = tile_to_chip_ring(det.footprint_px, row_off, col_off)
        rect = pixel_ring_to_percent(ring, chip.width, chip.height)
        common = {
            "id": det.id,
            "to_name": IMAGE_NAME,
            "original_width": chip.width,
            "original_height": chip.height,
            "image_rotation": 0,
        }
        out.append(
            {
                **common,
                "from_name": LABEL_NAME,
                "type": "rectanglelabels",
                "score": float(det.score),
                "value": {**rect.to_value(), "rectanglelabels": [label_for(det, labels)]},
            }
        )
        nose = det.attributes.get(NOSE_NAME)
        if nose:
            out.append(
                {
                    **common,
                    "from_name": NOSE_NAME,
                    "type": "choices",
                    "value": {**rect.to_value(), "choices": [nose]},
                }
            )
    return out


def detection_task(
    item: ChipTask, *, image_url: str, model_version: str, caption: str | None = None
) -> dict[str, Any]:
    """Import JSON of one detection task with its predictions."""
    chip = item.chip
    task: dict[str, Any] = {
        "data": {
            "image": image_url,
            "chip_id": chip.id,
            "kind": "detection",
            "caption": caption
            or f"{chip.site_id} | tile {chip.tile_id} | {isoformat_z(chip.acquired)}",
            "chip": chip.to_dict(),
        }
    }
    task["predictions"] = (
        [prediction(chip, item.detections, model_version=model_version)] if item.detections else []
    )
    return task


def prediction(
    chip: Chip, detections: Sequence[Detection], *, model_version: str
) -> dict[str, Any]:
    """One prediction object (result, score = mean detection score, model_version)."""
    scores = [float(d.score) for d in detections]
    return {
        "model_version": model_version,
        "score": sum(scores) / len(scores) if scores else 0.0,
        "result": detection_results(chip, detections),
    }


def change_task(
    item: ChangeTask, *, before_url: str, after_url: str, model_version: str
) -> dict[str, Any]:
    """Import JSON of one change-review task (before/after chips, region pre-drawn on after)."""
    a = item.after
    data = {
        "before": before_url,
        "after": after_url,
        "chip_id": item.id,
        "kind": "change",
        "region_id": item.region.id,
        "caption": f"{a.site_id} | change {item.region.id} ({item.region.method}, "
        f"{item.region.area_m2:.0f} m2)",
        "before_date": isoformat_z(item.before.acquired),
        "after_date": isoformat_z(item.after.acquired),
        "before_chip": item.before.to_dict(),
        "after_chip": item.after.to_dict(),
    }
    result: list[dict[str, Any]] = []
    rows_all = [r for r, _ in item.region_ring_after_px]
    cols_all = [c for _, c in item.region_ring_after_px]
    inside = bool(rows_all) and (
        max(rows_all) > 0
        and min(rows_all) < a.height
        and max(cols_all) > 0
        and min(cols_all) < a.width
    )
    if inside:
        # axis-aligned box of the region, clipped to the chip (the change config does not rotate)
        rows = [min(max(r, 0.0), float(a.height)) for r, _ in item.region_ring_after_px]
        cols = [min(max(c, 0.0), float(a.width)) for _, c in item.region_ring_after_px]
        box = [(min(rows), min(cols)), (min(rows), max(cols)), (max(rows), max(cols)),
               (max(rows), min(cols))]  # fmt: skip
        rect = pixel_ring_to_percent(box, a.width, a.height)
        result.append(
            {
                "id": item.region.id[:12],
                "from_name": CHANGE_REGION_NAME,
                "to_name": AFTER_NAME,
                "type": "rectanglelabels",
                "original_width": a.width,
                "original_height": a.height,
                "image_rotation": 0,
                "value": {**rect.to_value(), "rectanglelabels": ["change"]},
            }
        )
    return {
        "data": data,
        "predictions": [
            # no score: change scores are in each method's own units, not 0..1
            {"model_version": model_version, "result": result}
        ],
    }


# --------------------------------------------------------------------------- parsing
def _annotator(completed_by: Any, users: Mapping[str, str]) -> str:
    if isinstance(completed_by, Mapping):
        for key in ("email", "username", "id"):
            if completed_by.get(key):
                return users.get(str(completed_by[key]), str(completed_by[key]))
        return "unknown"
    if completed_by is None:
        return "unknown"
    return users.get(str(completed_by), str(completed_by))


def _time(value: Any) -> datetime | None:
    return parse_utc(str(value)) if value else None


def provenance_of(
    annotation: Mapping[str, Any],
    task_id: int | None = None,
    users: Mapping[str, str] | None = None,
) -> Provenance:
    """Provenance (id, annotator, created/updated UTC) of an exported annotation.

    ``users`` maps user ids (as text) to e-mails, for exports that give
    ``completed_by`` as a bare id.
    """
    return Provenance(
        annotation_id=str(annotation.get("id")),
        annotator=_annotator(annotation.get("completed_by"), users or {}),
        created_at=_time(annotation.get("created_at")),
        updated_at=_time(annotation.get("updated_at")),
        task_id=task_id,
    )


def category_of(cls: str) -> str:
    """Broad category of a label (reference type's category, or the generic class itself)."""
    t = object_types().get(cls)
    if t is not None:
        return t.category
    return cls if cls in GENERIC_CLASSES else "aircraft"


def box_dimensions_m(
    chip: Chip, ring_chip: Sequence[tuple[float, float]], cls: str
) -> tuple[float | None, float | None]:
    """``(length_m, span_m)`` of a drawn rectangle on a projected chip, else ``(None, None)``.

    The two side lengths are measured in map units (metres in UTM). For a
    reference type the assignment closest to its table length/span is used;
    for a generic class the longer side is the length.
    """
    if not chip.grid.is_projected or len(ring_chip) < 4:
        return None, None
    pts = [chip.affine * (c, r) for r, c in ring_chip[:3]]
    a = math.dist(pts[0], pts[1])
    b = math.dist(pts[1], pts[2])
    t = object_types().get(cls)
    if t is None:
        return max(a, b), min(a, b)
    if abs(a - t.length_m) + abs(b - t.wingspan_m) <= abs(b - t.length_m) + abs(a - t.wingspan_m):
        return a, b
    return b, a


def regions_from_annotation(
    task: Mapping[str, Any],
    annotation: Mapping[str, Any],
    users: Mapping[str, str] | None = None,
) -> list[HumanRegion]:
    """Analyst regions of one annotation on a detection task, in tile pixels and EPSG:4326.

    Rectangles come from ``rectanglelabels`` items; per-region choices with the
    same region id become attributes (e.g. ``{"nose_cone": "open"}``).
    """
    data = task.get("data", {})
    if "chip" not in data:
        raise ValueError(f"task {task.get('id')}: no chip sidecar in data; not a sitewatch task")
    chip = Chip.from_dict(data["chip"])
    prov = provenance_of(annotation, task.get("id"), users)
    rects: dict[str, dict[str, Any]] = {}
    attrs: dict[str, dict[str, str]] = {}
    for item in annotation.get("result", []) or []:
        rid = str(item.get("id"))
        value = item.get("value", {})
        if (
            item.get("type") == "rectanglelabels"
            and item.get("from_name", LABEL_NAME) == LABEL_NAME
        ):
            rects[rid] = item
        elif item.get("type") == "choices" and value.get("choices"):
            attrs.setdefault(rid, {})[str(item.get("from_name"))] = str(value["choices"][0])
    grid: Grid = chip.grid
    out: list[HumanRegion] = []
    for rid, item in rects.items():
        v = item["value"]
        labels = v.get("rectanglelabels") or ["aircraft"]
        w = int(item.get("original_width") or chip.width)
        h = int(item.get("original_height") or chip.height)
        rect = PercentRect(
            float(v["x"]),
            float(v["y"]),
            float(v["width"]),
            float(v["height"]),
            float(v.get("rotation", 0.0) or 0.0),
        )
        # scale from the size Label Studio saw to the chip size (equal for our PNGs)
        ring_chip = [
            (r * chip.height / h, c * chip.width / w) for r, c in percent_to_pixel_ring(rect, w, h)
        ]
        ring_tile = chip_to_tile_ring(ring_chip, chip.window[0], chip.window[1])
        lonlat = grid.pixel_ring_to_lonlat(ring_chip)
        cls = str(labels[0])
        region_attrs = attrs.get(rid, {})
        length_m, span_m = box_dimensions_m(chip, ring_chip, cls)
        det = Detection(
            id=stable_id("human", chip.tile_sha256, prov.annotation_id, rid),
            cls=cls,
            category=category_of(cls),
            score=1.0,
            footprint_px=tuple(ring_tile),
            footprint_lonlat=tuple(lonlat),
            tile_id=chip.tile_id,
            tile_sha256=chip.tile_sha256,
            acquired=chip.acquired,
            detector=HUMAN_DETECTOR,
            detector_version="human",
            attributes=region_attrs,
            length_m=length_m,
            wingspan_m=span_m,
            source="human",
            annotation_id=prov.annotation_id,
        )
        out.append(HumanRegion(det, chip, prov, rid, region_attrs))
    return out


def change_verdicts(
    task: Mapping[str, Any],
    annotation: Mapping[str, Any],
    users: Mapping[str, str] | None = None,
) -> list[ChangeVerdict]:
    """The ``change`` choice of one annotation on a change-review task."""
    data = task.get("data", {})
    prov = provenance_of(annotation, task.get("id"), users)
    out = []
    for item in annotation.get("result", []) or []:
        if item.get("type") == "choices" and item.get("from_name") == CHANGE_NAME:
            choices = item.get("value", {}).get("choices") or []
            if choices:
                out.append(
                    ChangeVerdict(
                        region_id=str(data.get("region_id")),
                        task_key=str(data.get("chip_id")),
                        verdict=str(choices[0]),
                        provenance=prov,
                    )
                )
    return out
