"""The detection stage's I/O edge: read tiles and labels, run detectors, write results.

Layout written (see the run-folder contract):

* ``<out_dir>/<tile_id>.json`` -- list of :meth:`Detection.to_dict`
* ``<out_dir>/<tile_id>.geojson`` / ``.gpkg`` -- footprints in EPSG:4326
* ``<path_stem>.json`` / ``.geojson`` -- object changes (:func:`write_object_changes`)

All writes are atomic; re-running replaces the files (no duplicates).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.detect import get_detector
from pipeline.detect.base import Detector
from pipeline.detect.cnn import CnnParams, CnnResult, CnnTrainingImage, train_cnn
from pipeline.detect.dense import DenseModel, DenseParams, TrainingImage, train_dense
from pipeline.detect.detectors import MeasureDetector
from pipeline.detect.features import object_features
from pipeline.detect.geometry import ring_iou
from pipeline.detect.learned import ClassifierModel, Example, train_classifier
from pipeline.detect.measure import to_gray
from pipeline.detect.vector import changes_fc, detections_fc
from pipeline.errors import ConfigError, TileReadError
from pipeline.io.atomic import sha256_file, write_bytes_atomic, write_json_atomic
from pipeline.io.rasters import read_array, read_grid
from pipeline.io.vector import write_features
from pipeline.learn.modelfile import read_model_json
from pipeline.model import Detection, ObjectChange, Tile

#: Tiles larger than this many pixels on a side are processed in windows.
WINDOW_PX = 4096


# --------------------------------------------------------------------------- detection
def _windows(rows: int, cols: int, size: int, overlap: int) -> list[tuple[int, int, int, int]]:
    step = max(1, size - overlap)
    rs = list(range(0, max(1, rows - overlap), step)) or [0]
    cs = list(range(0, max(1, cols - overlap), step)) or [0]
    return [(r, c, min(size, rows - r), min(size, cols - c)) for r in rs for c in cs]


def _shift(det: Detection, dr: int, dc: int) -> Detection:
    ring = tuple((r + dr, c + dc) for r, c in det.footprint_px)
    return replace(det, footprint_px=ring)


def run_detector(
    detector: Detector, tile: Tile, *, window_px: int = WINDOW_PX, overlap_m: float = 120.0
) -> list[Detection]:
    """Read ``tile`` (in overlapping windows when large) and run ``detector`` on it.

    A detection found in the overlap of two windows is kept only by the
    window whose core contains its centre. Footprints are in tile pixels.
    """
    rows, cols = tile.grid.shape
    if rows <= window_px and cols <= window_px:
        image, valid = read_array(tile.path)
        return detector.detect(image, grid=tile.grid, tile=tile, valid=valid)
    overlap = int(round(overlap_m / max(tile.gsd_m, 1e-6)))
    out: list[Detection] = []
    for r0, c0, h, w in _windows(rows, cols, window_px, overlap):
        image, valid = read_array(tile.path, window=(r0, c0, h, w))
        sub = tile.grid.window(r0, c0, h, w)
        half = overlap / 2
        lo_r = r0 + (half if r0 > 0 else 0)
        lo_c = c0 + (half if c0 > 0 else 0)
        hi_r = r0 + h - (half if r0 + h < rows else 0)
        hi_c = c0 + w - (half if c0 + w < cols else 0)
        for d in detector.detect(image, grid=sub, tile=tile, valid=valid):
            d2 = _shift(d, r0, c0)
            cr = float(np.mean([p[0] for p in d2.footprint_px[:-1]]))
            cc = float(np.mean([p[1] for p in d2.footprint_px[:-1]]))
            if lo_r <= cr < hi_r and lo_c <= cc < hi_c:
                out.append(d2)
    return out


def write_detections(dets: Sequence[Detection], path_stem: str | os.PathLike[str]) -> list[Path]:
    """Write ``<stem>.json``, ``<stem>.geojson`` and ``<stem>.gpkg`` atomically."""
    stem = Path(path_stem)
    feats = detections_fc(dets)["features"]
    return [
        write_json_atomic(stem.with_name(stem.name + ".json"), [d.to_dict() for d in dets]),
        write_features(
            stem.with_name(stem.name + ".geojson"),
            feats,
            layer="detections",
            geometry_type="Polygon",
        ),
        write_features(
            stem.with_name(stem.name + ".gpkg"), feats, layer="detections", geometry_type="Polygon"
        ),
    ]


def read_detections(path: str | os.PathLike[str]) -> list[Detection]:
    """Read a ``<tile_id>.json`` detections file (list of :meth:`Detection.to_dict`)."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
        return [Detection.from_dict(d) for d in data]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TileReadError(f"{path}: not a detections file ({exc})") from exc


def detect_tile(
    tile: Tile,
    out_dir: str | os.PathLike[str],
    *,
    detector: str = "measure",
    model_path: str | os.PathLike[str] | None = None,
) -> list[Detection]:
    """Detect objects on one tile and write ``<out_dir>/<tile_id>.{json,geojson,gpkg}``.

    Parameters
    ----------
    tile : Tile
        An ingested tile (its ``path`` is read, in windows when large).
    out_dir : path
        Output folder (created).
    detector : str
        A name in :data:`pipeline.detect.DETECTORS`.
    model_path : path, optional
        Model file for the ``learned``, ``onnx`` and ``dense`` detectors.

    Returns
    -------
    list of Detection
        Footprints in tile pixels and EPSG:4326, sorted by id.
    """
    det = get_detector(detector, model_path=None if model_path is None else os.fspath(model_path))
    dets = sorted(run_detector(det, tile), key=lambda d: d.id)
    write_detections(dets, Path(out_dir) / tile.id)
    return dets


def write_object_changes(
    changes: Sequence[ObjectChange], path_stem: str | os.PathLike[str]
) -> list[Path]:
    """Write ``<stem>.json`` (list of :meth:`ObjectChange.to_dict`) and ``<stem>.geojson``."""
    stem = Path(path_stem)
    return [
        write_json_atomic(stem.with_name(stem.name + ".json"), [c.to_dict() for c in changes]),
        write_features(
            stem.with_name(stem.name + ".geojson"),
            changes_fc(changes)["features"],
            layer="object_changes",
            geometry_type="Polygon",
        ),
    ]


# --------------------------------------------------------------------------- labels
@dataclass(frozen=True)
class LabelledObject:
    """One labelled footprint on a tile file (``ring`` in pixel (row, col))."""

    tile_path: str
    cls: str
    ring: tuple[tuple[float, float], ...]
    attributes: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


def _features_of(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise TileReadError(f"{path}: cannot read labels as GeoJSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise TileReadError(f"{path}: labels must be a GeoJSON FeatureCollection")
    return list(data.get("features", []))


def _ring_of(props: Mapping[str, Any], path: Path) -> tuple[tuple[float, float], ...]:
    fp = props.get("footprint_px")
    if not fp or len(fp) < 3:
        raise TileReadError(
            f"{path}: feature {props.get('annotation_id', '?')} has no "
            "footprint_px ring of (row, col) points"
        )
    ring = tuple((float(p[0]), float(p[1])) for p in fp)
    return ring if ring[0] == ring[-1] else (*ring, ring[0])


def find_label_files(root: str | os.PathLike[str]) -> list[Path]:
    """``annotations.geojson`` exports and ``*.truth.geojson`` files under ``root`` (sorted)."""
    p = Path(root)
    if p.is_file():
        return [p]
    files = set(p.rglob("annotations.geojson")) | set(p.rglob("*.truth.geojson"))
    return sorted(files)


def load_labels(
    roots: Iterable[str | os.PathLike[str]], *, tile_dirs: Iterable[str | os.PathLike[str]] = ()
) -> list[LabelledObject]:
    """Labelled objects from Label Studio exports and synthetic truth files.

    A ``<stem>.truth.geojson`` labels the raster ``<stem>.tif`` beside it. An
    export's features name their tile by ``tile_sha256`` (preferred) or
    ``tile_id``; the raster is looked up among ``*.tif`` files in
    ``tile_dirs`` (by sha256, or by file stem equal to the tile id).
    """
    by_sha: dict[str, Path] = {}
    by_stem: dict[str, Path] = {}
    for d in tile_dirs:
        for tif in sorted(Path(d).rglob("*.tif")):
            by_stem.setdefault(tif.stem, tif)
    out: list[LabelledObject] = []
    for root in roots:
        for f in find_label_files(root):
            feats = _features_of(f)
            for feat in feats:
                props = feat.get("properties") or {}
                cls = props.get("class")
                if not cls:
                    raise TileReadError(f"{f}: a feature has no 'class' property")
                if f.name.endswith(".truth.geojson"):
                    tif = f.with_name(f.name[: -len(".truth.geojson")] + ".tif")
                else:
                    sha, tid = props.get("tile_sha256"), props.get("tile_id")
                    if sha and not by_sha:
                        for tif_ in by_stem.values():
                            by_sha[sha256_file(tif_)] = tif_
                    tif_found = by_sha.get(sha or "") or by_stem.get(tid or "")
                    if tif_found is None:
                        raise TileReadError(
                            f"{f}: tile {tid or sha} not found; pass the tile folder with --tiles"
                        )
                    tif = tif_found
                if not tif.is_file():
                    raise TileReadError(f"{f}: labelled raster {tif} does not exist")
                attrs = props.get("attributes") or {}
                if isinstance(attrs, str):
                    attrs = json.loads(attrs)
                out.append(
                    LabelledObject(str(tif), str(cls), _ring_of(props, f), dict(attrs), str(f))
                )
    return out


def examples_from_labels(
    labels: Sequence[LabelledObject], *, gsd_override: float | None = None
) -> list[Example]:
    """Feature examples for :func:`train_classifier` (one tile read per raster).

    Each label is matched to the measure detector's candidate with the best
    footprint IoU (>= 0.3); unmatched labels use the footprint ring alone.
    """
    by_tile: dict[str, list[LabelledObject]] = {}
    for lab in labels:
        by_tile.setdefault(lab.tile_path, []).append(lab)
    out: list[Example] = []
    base = MeasureDetector()
    for path, labs in sorted(by_tile.items()):
        image, valid = read_array(path)
        grid = read_grid(path)
        gsd = gsd_override or grid.gsd
        from pipeline.detect.measure import find_objects

        blobs = find_objects(image, gsd_m=gsd, valid=valid, params=base.params)
        gray = to_gray(image, valid)
        for lab in labs:
            best, best_iou = None, 0.3
            for b in blobs:
                iou = ring_iou(b.footprint_px, lab.ring)
                if iou >= best_iou:
                    best, best_iou = b, iou
            feats = object_features(
                gray, gsd_m=gsd, gray=gray, blob=best, ring=None if best else lab.ring
            )
            nose = lab.attributes.get("nose_cone")
            out.append(Example(feats, lab.cls, str(nose) if nose else None))
    return out


def save_model(model: ClassifierModel, path: str | os.PathLike[str]) -> Path:
    """Write a model file (JSON, atomic)."""
    return write_json_atomic(path, model.to_dict())


def load_model(path: str | os.PathLike[str]) -> ClassifierModel:
    """Read and validate a model file written by :func:`save_model`."""
    return ClassifierModel.from_dict(read_model_json(path), source=str(Path(path)))


def train_from_labels(
    label_roots: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    tile_dirs: Sequence[str | os.PathLike[str]] = (),
    c: float = 1.0,
) -> ClassifierModel:
    """Train the refinement classifier from labels and write the model file."""
    labels = load_labels(label_roots, tile_dirs=tile_dirs)
    if not labels:
        raise TileReadError(
            f"no labelled objects under {', '.join(map(str, label_roots))} "
            "(expected annotations.geojson or *.truth.geojson)"
        )
    model = train_classifier(examples_from_labels(labels), c=c)
    save_model(model, out_path)
    return model


# --------------------------------------------------------------------------- dense detector
#: Label classes that count as aircraft for the dense detector (besides aircraft types).
GENERIC_AIRCRAFT = ("aircraft", "airplane", "Airplane", "Truncated_airplane")


def _is_aircraft(cls: str) -> bool:
    from pipeline.objects import object_types

    ref = object_types().get(cls)
    return cls in GENERIC_AIRCRAFT or (ref is not None and ref.category == "aircraft")


def dense_training_images(
    labels: Sequence[LabelledObject], *, gsd_override: float | None = None
) -> list[TrainingImage]:
    """One :class:`TrainingImage` per labelled raster: its pixels and aircraft box envelopes.

    Every aircraft on a labelled raster must be labelled: the rest of the
    raster is used as background. Labels of other categories are ignored.
    """
    by_tile: dict[str, list[LabelledObject]] = {}
    for lab in labels:
        by_tile.setdefault(lab.tile_path, []).append(lab)
    out: list[TrainingImage] = []
    for path, labs in sorted(by_tile.items()):
        image, _ = read_array(path)
        gsd = gsd_override or read_grid(path).gsd
        boxes = []
        for lab in labs:
            if not _is_aircraft(lab.cls):
                continue
            rc = np.asarray(lab.ring, dtype=np.float64)
            boxes.append(
                (
                    float(rc[:, 0].min()),
                    float(rc[:, 1].min()),
                    float(rc[:, 0].max()),
                    float(rc[:, 1].max()),
                )
            )
        out.append(TrainingImage(image, gsd, boxes))
    return out


def train_cnn_from_labels(
    label_roots: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    tile_dirs: Sequence[str | os.PathLike[str]] = (),
    params: CnnParams | None = None,
) -> CnnResult:
    """Train the small CNN (:mod:`pipeline.detect.cnn`) from labelled rasters; write its ONNX file.

    Same labels as :func:`train_dense_from_labels` (every aircraft on a
    labelled raster must be labelled; their box envelopes are the targets).
    Needs the optional ``torch`` dependency; the model file runs with
    ``--detector onnx --model FILE`` (onnxruntime only), at the threshold and
    flip averaging written into it. Written atomically: a failed run leaves
    no file.
    """
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise ConfigError(
            "training the cnn detector needs PyTorch, an optional dependency: "
            "pip install 'sitewatch[cnn]' (a CPU build is enough); running the model "
            "file needs only onnxruntime"
        )
    labels = load_labels(label_roots, tile_dirs=tile_dirs)
    # rasters without aircraft stay in as background
    images = [CnnTrainingImage(t.image, t.gsd_m, t.boxes) for t in dense_training_images(labels)]
    if not any(t.boxes for t in images):
        raise TileReadError(
            f"no labelled aircraft under {', '.join(map(str, label_roots))} "
            "(expected annotations.geojson or *.truth.geojson with aircraft classes)"
        )
    result = train_cnn(images, params=params)
    write_bytes_atomic(out_path, result.onnx)
    return result


def save_dense_model(model: DenseModel, path: str | os.PathLike[str]) -> Path:
    """Write a dense detector model file (JSON, atomic)."""
    return write_json_atomic(path, model.to_dict())


def load_dense_model(path: str | os.PathLike[str]) -> DenseModel:
    """Read and validate a model file written by :func:`save_dense_model`."""
    return DenseModel.from_dict(read_model_json(path), source=str(Path(path)))


def train_dense_from_labels(
    label_roots: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    tile_dirs: Sequence[str | os.PathLike[str]] = (),
    params: DenseParams | None = None,
) -> DenseModel:
    """Train the dense aircraft detector from labelled rasters and write the model file."""
    labels = load_labels(label_roots, tile_dirs=tile_dirs)
    images = dense_training_images(labels)
    if not any(t.boxes for t in images):
        raise TileReadError(
            f"no labelled aircraft under {', '.join(map(str, label_roots))} "
            "(expected annotations.geojson or *.truth.geojson with aircraft classes)"
        )
    model = train_dense(images, params=params)
    save_dense_model(model, out_path)
    return model


def detections_summary(dets: Sequence[Detection]) -> dict[str, Any]:
    """Counts by class and nose state (for CLI output)."""
    by_cls: dict[str, int] = {}
    nose: dict[str, int] = {}
    for d in dets:
        by_cls[d.cls] = by_cls.get(d.cls, 0) + 1
        if "nose_cone" in d.attributes:
            k = f"{d.cls}:{d.attributes['nose_cone']}"
            nose[k] = nose.get(k, 0) + 1
    return {"count": len(dets), "by_class": by_cls, "nose_cone": nose}


def object_changes_for_tiles(
    tiles: Sequence[Tile],
    detections: Mapping[str, Sequence[Detection]],
    out_dir: str | os.PathLike[str] | None = None,
) -> list[ObjectChange]:
    """Match consecutive tiles of each site; optionally write the run-folder files.

    Tiles are grouped by ``site_id`` and sorted by acquisition time; each
    consecutive pair ``(before, after)`` is matched with
    :func:`pipeline.detect.match.match_detections`. With ``out_dir`` the
    result of each pair is written to
    ``<out_dir>/<site>/<before_id>__<after_id>.{json,geojson}``.
    """
    from pipeline.detect.match import match_detections

    by_site: dict[str, list[Tile]] = {}
    for t in tiles:
        by_site.setdefault(t.site_id, []).append(t)
    out: list[ObjectChange] = []
    for site, ts in sorted(by_site.items()):
        ts = sorted(ts, key=lambda t: (t.acquired, t.id))
        for b, a in zip(ts, ts[1:], strict=False):
            changes = match_detections(
                list(detections.get(b.id, ())),
                list(detections.get(a.id, ())),
                before_tile=b,
                after_tile=a,
                site_id=site,
            )
            if out_dir is not None:
                write_object_changes(changes, Path(out_dir) / site / f"{b.id}__{a.id}")
            out.extend(changes)
    return out
