"""Evaluation runs (read data, run detectors, score): synthetic, sample tiles, Airbus.

* :func:`evaluate_synthetic` renders held-out scenes with
  :func:`pipeline.synth.scenario.random_scenario` (seeds, GSDs, sun and layout
  differ from the sample tiles) in memory and scores per GSD.
* :func:`evaluate_truth_dir` scores tiles that have ``<stem>.truth.geojson``
  beside them (e.g. ``sample_tiles/``).
* :func:`evaluate_airbus` scores real 0.5 m Pleiades JPEGs against their
  axis-aligned boxes (envelope IoU), unknown sun, on the report split (the last
  10 images by name), optionally with a candidate filter trained in-process on
  the development split (first 20) -- nothing is written to disk.

Scoring rules: :mod:`pipeline.detect.evaluate`.
"""

from __future__ import annotations

import ast
import csv
import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from pipeline.detect import get_detector
from pipeline.detect.base import Detector
from pipeline.detect.detectors import MeasureDetector
from pipeline.detect.evaluate import Score, TruthBox, merge_duplicate_truths, score_tile
from pipeline.detect.features import feature_names, object_features
from pipeline.detect.geometry import box_iou, ring_iou
from pipeline.detect.measure import Blob, MeasureParams, find_objects, to_gray
from pipeline.grid import Grid
from pipeline.io.rasters import read_array, read_grid
from pipeline.model import Detection, Tile


def _drop_near(dets: Sequence[Detection], rings: Sequence[Any]) -> list[Detection]:
    """Detections not overlapping (IoU >= 0.3) any of ``rings`` (ignored truths)."""
    return [d for d in dets if all(ring_iou(d.footprint_px, r) < 0.3 for r in rings)]


def evaluate_synthetic(
    *,
    seeds: Iterable[int] = (9101, 9102, 9103),
    gsds: Sequence[float] = (0.3, 0.5, 0.8),
    size_px: int = 1024,
    detector: Detector | None = None,
    with_visor: bool = True,
) -> dict[str, Any]:
    """Score a detector on held-out synthetic tiles, per GSD.

    Per seed and GSD: one :func:`~pipeline.synth.scenario.random_scenario`
    airbase tile and (``with_visor``) one :func:`visor_scene` apron of
    An-124/C-5 with visors open and closed (for the nose-state figure).

    Objects cut by the tile edge (``inside`` false) or more than half under
    cloud are neither required nor counted against the detector.
    """
    from pipeline.synth.scenario import random_scenario

    det = detector or get_detector("measure")
    out: dict[str, Any] = {}
    total = Score()
    for gsd in gsds:
        sc = Score()
        visor = Score()
        n_tiles = 0
        pairs: list[tuple[str, str | None]] = []
        for seed in seeds:
            for spec in random_scenario(seed, gsd_m=gsd, n_tiles=1, size_px=size_px):
                s, p = _score_synth(det, spec, seed)
                sc.add(s)
                pairs.extend(p)
                n_tiles += 1
            if with_visor:
                visor.add(_score_synth(det, visor_scene(seed, gsd), seed)[0])
        out[f"gsd_{gsd:g}"] = {"tiles": n_tiles, **sc.summary(), "by_class": class_breakdown(pairs)}
        if with_visor:
            out[f"gsd_{gsd:g}_visor_apron"] = visor.summary()
            sc.add(visor)
        total.add(sc)
    out["all"] = total.summary()
    out["iou"] = "polygon IoU of oriented footprints >= 0.5"
    return out


def visor_scene(seed: int, gsd_m: float) -> Any:
    """A held-out synthetic apron with An-124s and C-5s, visors open and closed.

    Random (seeded) headings, positions on a 3x4 lattice, sun azimuth and
    elevation; rendered through :mod:`pipeline.synth` (returns a ``SceneSpec``).
    """

    def pick(rng: np.random.Generator) -> tuple[str, dict[str, str]]:
        t = ("An-124", "C-5")[int(rng.integers(2))]
        return t, {"nose_cone": ("open", "closed")[int(rng.integers(2))]}

    return apron_scene(seed, gsd_m, pick, spacing_m=110.0)


def dome_scene(seed: int, gsd_m: float) -> Any:
    """A synthetic apron of Il-76, A-50 and Tu-95 (same length and span; the A-50 has a dome).

    Like :func:`visor_scene`: seeded type, heading, position on a 3x4
    lattice, sun; the rotodome test (:mod:`pipeline.detect.rotodome`) is
    scored on it.
    """

    def pick(rng: np.random.Generator) -> tuple[str, dict[str, str]]:
        return ("Il-76", "A-50", "Tu-95")[int(rng.integers(3))], {}

    return apron_scene(seed, gsd_m, pick, spacing_m=90.0)


def apron_scene(
    seed: int,
    gsd_m: float,
    pick: Callable[[np.random.Generator], tuple[str, dict[str, str]]],
    *,
    spacing_m: float,
) -> Any:
    """A seeded apron with 12 objects on a 4x3 lattice ``spacing_m`` metres apart.

    ``pick(rng)`` returns each object's ``(type, attributes)``; headings,
    jitter, site, sun azimuth (100-260 degrees) and elevation (25-70) are
    drawn from ``rng`` too. Returns a ``SceneSpec``.
    """
    from pipeline.sites import default_registry
    from pipeline.synth import PlacedObject, SceneSpec, Surface
    from pipeline.synth.scenario import site_centre_xy

    rng = np.random.default_rng(seed)
    sites = [s for s in default_registry() if s.kind != "naval"]
    site = sites[int(rng.integers(len(sites)))]
    cx, cy = site_centre_xy(site)
    objs = []
    k = 0
    for i in range(4):
        for j in range(3):
            t, attrs = pick(rng)
            objs.append(
                PlacedObject(
                    f"v{k}",
                    t,
                    cx - 1.5 * spacing_m + i * spacing_m + rng.uniform(-8, 8),
                    cy - spacing_m + j * spacing_m + rng.uniform(-8, 8),
                    float(rng.uniform(0, 360)),
                    attrs,
                )
            )
            k += 1
    n = int(round((3 * spacing_m + 140.0) / gsd_m))
    return SceneSpec(
        site=site,
        acquired=datetime(2024, 12, 13, 9, 0, tzinfo=UTC),
        sun_azimuth_deg=float(rng.uniform(100, 260)),
        sun_elevation_deg=float(rng.uniform(25, 70)),
        gsd_m=gsd_m,
        size_px=(n, n),
        surfaces=(Surface("apron", cx, cy, 700, 700, panel_m=7.5),),
        objects=tuple(objs),
        centre_xy=(cx, cy),
        ground_seed=seed,
    )


def synth_tile(st: Any, spec: Any, seed: int) -> Tile:
    """The in-memory :class:`Tile` of a rendered synthetic scene (sun and GSD from its spec)."""
    return Tile(
        id=st.stem,
        path="<memory>",
        site_id=spec.site.id,
        acquired=spec.acquired,
        grid=st.grid,
        sha256=f"synthetic-{seed}-{spec.gsd_m}",
        band_count=st.array.shape[0],
        dtype=str(st.array.dtype),
        gsd_m=spec.gsd_m,
        sun_azimuth_deg=spec.sun_azimuth_deg,
        sun_elevation_deg=spec.sun_elevation_deg,
    )


def class_breakdown(pairs: Sequence[tuple[str, str | None]]) -> dict[str, Any]:
    """Per truth class: count, recall and what it was called (``"missed"`` when unmatched).

    ``pairs`` are ``(truth class, detected class or None)``, one per truth.
    """
    out: dict[str, Any] = {}
    for cls in sorted({t for t, _ in pairs}):
        got = [d for t, d in pairs if t == cls]
        called: dict[str, int] = {}
        for d in got:
            called[d or "missed"] = called.get(d or "missed", 0) + 1
        hits = sum(d is not None for d in got)
        out[cls] = {
            "n": len(got),
            "recall": round(hits / len(got), 4),
            "called": dict(sorted(called.items(), key=lambda kv: -kv[1])),
        }
    return out


def truth_calls(
    dets: Sequence[Detection],
    truths: Sequence[TruthBox],
    *,
    categories: Sequence[str] | None = ("aircraft", "helicopter"),
) -> list[tuple[str, str | None]]:
    """``(truth class, class of its best-overlap detection or None)`` per scored truth.

    The detection is the one of a scored category (``categories``; ``None`` =
    every category) with the highest footprint IoU, if that reaches 0.5 (a
    diagnostic: unlike :func:`score_tile` a detection may serve two truths).
    """
    ds = [d for d in dets if categories is None or d.category in categories]
    out: list[tuple[str, str | None]] = []
    for t in truths:
        if categories is not None and t.category not in categories:
            continue
        best = max(ds, key=lambda d: ring_iou(d.footprint_px, t.ring), default=None)
        hit = best is not None and ring_iou(best.footprint_px, t.ring) >= 0.5
        out.append((t.cls, best.cls if hit and best is not None else None))
    return out


def _score_synth(det: Detector, spec: Any, seed: int) -> tuple[Score, list[tuple[str, str | None]]]:
    from pipeline.synth import render_scene

    st = render_scene(spec, seed=seed)
    tile = synth_tile(st, spec, seed)
    dets = det.detect(st.array, grid=st.grid, tile=tile, valid=st.valid)
    keep = [o for o in st.objects if o.inside and o.cloud_fraction <= 0.5]
    ignore = [o.footprint_px for o in st.objects if o not in keep]
    truths = [TruthBox(o.type_name, o.footprint_px, o.category, o.attributes) for o in keep]
    scored = [o for o in keep if o.category in ("aircraft", "helicopter")]
    lengths = {i: o.length_m for i, o in enumerate(scored)}
    kept = _drop_near(dets, ignore)
    return score_tile(kept, truths, truth_length_m=lengths), truth_calls(kept, truths)


def _truth_file_boxes(path: Path) -> list[TruthBox]:
    data = json.loads(path.read_text("utf-8"))
    out = []
    for f in data.get("features", []):
        p = f.get("properties") or {}
        ring = tuple((float(q[0]), float(q[1])) for q in p["footprint_px"])
        out.append(
            TruthBox(
                str(p["class"]),
                ring,
                str(p.get("category", "aircraft")),
                dict(p.get("attributes") or {}),
            )
        )
    return out


def evaluate_truth_dir(
    root: str | os.PathLike[str], *, detector: Detector | None = None
) -> dict[str, Any]:
    """Score every ``<stem>.tif`` with a ``<stem>.truth.geojson`` under ``root``, per GSD."""
    from pipeline.ingest import ingest

    det = detector or get_detector("measure")
    report = ingest(root)
    by_gsd: dict[str, Score] = {}
    total = Score()
    vessels = Score()
    n = 0
    for tile in report.tiles:
        tp = Path(tile.path)
        truth = tp.with_name(tp.stem + ".truth.geojson")
        if not truth.is_file():
            continue
        image, valid = read_array(tile.path)
        dets = det.detect(image, grid=tile.grid, tile=tile, valid=valid)
        boxes = _truth_file_boxes(truth)
        s = score_tile(dets, boxes)
        vessels.add(score_tile(dets, boxes, categories=("vessel",)))
        by_gsd.setdefault(f"gsd_{tile.gsd_m:.2g}", Score()).add(s)
        total.add(s)
        n += 1
    out: dict[str, Any] = {k: v.summary() for k, v in sorted(by_gsd.items())}
    out["all"] = {"tiles": n, **total.summary()}
    out["vessel"] = vessels.summary()
    out["iou"] = "polygon IoU of oriented footprints >= 0.5"
    return out


# --------------------------------------------------------------------------- Airbus
#: Envelope IoU at which two Airbus boxes of one image label the same aircraft (the sample's
#: duplicates overlap at 0.53-0.98, distinct aircraft at <= 0.08; chosen on the dev split).
AIRBUS_MERGE_IOU = 0.3


def airbus_boxes(
    root: str | os.PathLike[str], *, merge_iou: float | None = None
) -> dict[str, list[TruthBox]]:
    """Axis-aligned truth boxes per image name from ``annotations.csv`` (pixel x, y -> row, col).

    With ``merge_iou`` set, boxes labelling one aircraft twice (envelope IoU
    >= ``merge_iou``) are merged by
    :func:`~pipeline.detect.evaluate.merge_duplicate_truths`; by default the
    boxes are returned as given.
    """
    out: dict[str, list[TruthBox]] = {}
    with open(Path(root) / "annotations.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            pts = ast.literal_eval(row["geometry"])
            ring = tuple((float(y), float(x)) for x, y in pts)
            cls = "aircraft"
            out.setdefault(row["image_id"], []).append(
                TruthBox(cls, ring, "aircraft", {"airbus_class": row["class"]})
            )
    if merge_iou is not None:
        out = {k: merge_duplicate_truths(v, iou=merge_iou)[0] for k, v in out.items()}
    return out


def _plain_tile(name: str, shape: tuple[int, int], gsd: float) -> Tile:
    # A local metric grid so the pipeline's geometry works on non-georeferenced JPEGs.
    grid = Grid("EPSG:32631", Affine(gsd, 0.0, 500_000.0, 0.0, -gsd, 5_000_000.0), shape)
    return Tile(
        id=name,
        path=name,
        site_id="airbus",
        acquired=datetime(2020, 1, 1, tzinfo=UTC),
        grid=grid,
        sha256=name,
        band_count=3,
        dtype="uint8",
        gsd_m=gsd,
    )


def read_plain_image(path: str | os.PathLike[str]) -> np.ndarray:
    """``(bands, rows, cols)`` uint8 pixels of a JPEG/PNG (no georeferencing)."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def airbus_split(root: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """``(development, report)`` image names: the first 20 and the rest, sorted by name."""
    names = sorted(airbus_boxes(root))
    return names[:20], names[20:]


def evaluate_airbus(
    root: str | os.PathLike[str],
    *,
    gsd_m: float = 0.5,
    detector: Detector | None = None,
    names: Sequence[str] | None = None,
    merge_iou: float = AIRBUS_MERGE_IOU,
) -> dict[str, Any]:
    """Score aircraft detection on Airbus images (envelope IoU >= 0.5, unknown sun).

    ``names`` defaults to the report split (last 10 images by name).
    Truncated aircraft (cut by the border) count as truth like the others.
    The same detections are scored twice: ``all`` against the boxes as given,
    ``all_merged`` after merging boxes that label one aircraft twice
    (envelope IoU >= ``merge_iou``, see :func:`airbus_boxes`);
    ``duplicates_merged`` counts the boxes that merge removed.
    """
    boxes = airbus_boxes(root)
    merged = airbus_boxes(root, merge_iou=merge_iou)
    use = list(names) if names is not None else airbus_split(root)[1]
    det = detector or get_detector("measure", gsd_m=gsd_m)
    total, total_m = Score(), Score()
    per: dict[str, Any] = {}
    for name in use:
        img = read_plain_image(Path(root) / "images" / name)
        tile = _plain_tile(name, img.shape[1:], gsd_m)
        dets = det.detect(img, grid=tile.grid, tile=tile, valid=None)
        dets = [
            Detection.from_dict({**d.to_dict(), "category": "aircraft"})
            if d.category == "helicopter"
            else d
            for d in dets
        ]
        s = score_tile(dets, boxes.get(name, []), iou_fn=box_iou, categories=("aircraft",))
        per[name] = s.summary()
        total.add(s)
        total_m.add(
            score_tile(dets, merged.get(name, []), iou_fn=box_iou, categories=("aircraft",))
        )
    return {
        "images": len(use),
        "all": total.summary(),
        "all_merged": total_m.summary(),
        "duplicates_merged": sum(len(boxes.get(n, [])) - len(merged.get(n, [])) for n in use),
        "per_image": per,
        "iou": "axis-aligned envelope IoU >= 0.5",
        "merge_iou": merge_iou,
    }


# --------------------------------------------------------------------------- Airbus, learned filter
#: Candidate finder for the in-process learned filter: more sensitive, no paved gate
#: (the classifier decides), unknown sun.
AIRBUS_CANDIDATES = MeasureParams(threshold_sigma=3.0, join_m=3.0, min_paved_fraction=0.0)


def _candidate_rows(
    args: tuple[str, float, MeasureParams],
) -> tuple[list[Blob], np.ndarray]:
    """Candidates of one image and their feature rows (worker function)."""
    path, gsd, params = args
    img = read_plain_image(path)
    blobs = find_objects(img, gsd_m=gsd, params=params)
    gray = to_gray(img)
    rows = [
        np.concatenate(
            [
                object_features(gray, gsd_m=gsd, blob=b, gray=gray),
                [
                    b.paved_fraction,
                    b.natural_fraction,
                    b.area_px * gsd**2,
                    b.polarity,
                    b.length_px * gsd,
                    b.width_px * gsd,
                ],
            ]
        )
        for b in blobs
    ]
    return blobs, (np.stack(rows) if rows else np.zeros((0, len(feature_names()) + 6)))


def _all_candidates(
    root: Path, names: Sequence[str], gsd: float, params: MeasureParams, workers: int
) -> list[tuple[list[Blob], np.ndarray]]:
    jobs = [(str(root / "images" / n), gsd, params) for n in names]
    if workers <= 1:
        return [_candidate_rows(j) for j in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(_candidate_rows, jobs))


def evaluate_airbus_learned(
    root: str | os.PathLike[str],
    *,
    gsd_m: float = 0.5,
    threshold: float = 0.5,
    workers: int = 2,
    params: MeasureParams = AIRBUS_CANDIDATES,
) -> dict[str, Any]:
    """Train a candidate filter on the development split, score the report split.

    Candidates come from :func:`pipeline.detect.measure.find_objects` (unknown
    sun); a candidate is positive when its footprint envelope has IoU >= 0.5
    with a truth box. A gradient-boosting classifier on
    :func:`pipeline.detect.features.object_features` plus blob statistics is
    fitted in memory on the first 20 images only (nothing is written), then
    applied to the last 10; kept candidates (probability >= ``threshold``) go
    through envelope non-maximum suppression (IoU > 0.3).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    rootp = Path(root)
    boxes = airbus_boxes(rootp)
    dev, rep = airbus_split(rootp)
    dev_c = _all_candidates(rootp, dev, gsd_m, params, workers)
    xs, ys = [], []
    for name, (blobs, x) in zip(dev, dev_c, strict=True):
        tr = boxes.get(name, [])
        for b, row in zip(blobs, x, strict=True):
            best = max((box_iou(b.footprint_px, t.ring) for t in tr), default=0.0)
            xs.append(row)
            ys.append(int(best >= 0.5))
    clf = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.08, random_state=0)
    clf.fit(np.stack(xs), np.asarray(ys))
    rep_c = _all_candidates(rootp, rep, gsd_m, params, workers)
    base = MeasureDetector(params=params, gsd_m=gsd_m)
    total = Score()
    cand_hits = 0
    n_truth = 0
    for name, (blobs, x) in zip(rep, rep_c, strict=True):
        tile = _plain_tile(name, (2560, 2560), gsd_m)
        proba = clf.predict_proba(x)[:, 1] if len(x) else np.zeros(0)
        order = np.argsort(-proba)
        kept: list[Detection] = []
        for i in order:
            if proba[i] < threshold:
                break
            d = base.to_detection(
                blobs[i],
                gsd_m=gsd_m,
                grid=tile.grid,
                tile=tile,
                model="airbus-dev20-hgb",
                score=float(proba[i]),
            )
            if all(box_iou(d.footprint_px, k.footprint_px) <= 0.3 for k in kept):
                kept.append(d)
        kept = [Detection.from_dict({**d.to_dict(), "category": "aircraft"}) for d in kept]
        tr = boxes.get(name, [])
        n_truth += len(tr)
        cand_hits += sum(
            max((box_iou(b.footprint_px, t.ring) for b in blobs), default=0.0) >= 0.5 for t in tr
        )
        total.add(score_tile(kept, tr, iou_fn=box_iou, categories=("aircraft",)))
    return {
        "images": len(rep),
        "all": total.summary(),
        "candidate_recall": round(cand_hits / n_truth, 4) if n_truth else None,
        "train_candidates": len(ys),
        "train_positives": int(sum(ys)),
        "iou": "axis-aligned envelope IoU >= 0.5",
        "note": "candidate filter trained in memory on the first 20 images; nothing saved",
    }


# --------------------------------------------------------------------------- Airbus, dense
def airbus_training_images(
    root: str | os.PathLike[str], names: Sequence[str], *, gsd_m: float = 0.5
) -> list[Any]:
    """:class:`~pipeline.detect.dense.TrainingImage` per Airbus image (box envelopes, pixels)."""
    from pipeline.detect.dense import TrainingImage

    boxes = airbus_boxes(root)
    out = []
    for n in names:
        env = []
        for tb in boxes.get(n, []):
            rc = np.asarray(tb.ring, dtype=np.float64)
            env.append((rc[:, 0].min(), rc[:, 1].min(), rc[:, 0].max(), rc[:, 1].max()))
        out.append(TrainingImage(read_plain_image(Path(root) / "images" / n), gsd_m, env))
    return out


def evaluate_airbus_dense(
    root: str | os.PathLike[str],
    *,
    gsd_m: float = 0.5,
    params: Any = None,
    model: Any = None,
) -> dict[str, Any]:
    """Train the dense detector on the development split in memory, score the report split.

    ``params`` (:class:`~pipeline.detect.dense.DenseParams`) default to the
    module defaults; with ``model`` (a :class:`~pipeline.detect.dense.DenseModel`)
    nothing is trained. Nothing is written to disk.
    """
    import time

    from pipeline.detect.dense import DenseDetector, train_dense

    dev, rep = airbus_split(root)
    t0 = time.monotonic()
    trained = model is None
    if model is None:
        model = train_dense(airbus_training_images(root, dev, gsd_m=gsd_m), params=params)
    t1 = time.monotonic()
    res = evaluate_airbus(root, gsd_m=gsd_m, detector=DenseDetector(model, gsd_m=gsd_m))
    res.update(
        {
            "model": model.tag,
            "train_images": len(dev) if trained else None,
            "train_s": round(t1 - t0, 1) if trained else None,
            "detect_s_per_image": round((time.monotonic() - t1) / max(1, len(rep)), 1),
            "note": "dense detector trained in memory on the first 20 images; nothing saved"
            if trained
            else "dense detector from the given model file",
        }
    )
    return res


__all__ = [
    "AIRBUS_MERGE_IOU",
    "airbus_training_images",
    "evaluate_airbus_dense",
    "evaluate_airbus_learned",
    "airbus_boxes",
    "airbus_split",
    "evaluate_airbus",
    "evaluate_synthetic",
    "evaluate_truth_dir",
    "read_plain_image",
    "read_grid",
]
