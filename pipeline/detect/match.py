"""Object-level change: match detections of two dates of one site.

Footprints are compared in the map CRS of the *before* tile (metres for the
UTM grids sitewatch uses), so the matching is independent of pixel grids.
Two detections can match when their footprints, each grown by
``tolerance_m`` (misregistration allowance), overlap and their types are
compatible (same class, or one is the generic class of the other's
category, or same category with dimensions within ``dims_tolerance``; never
when one was seen with a rotodome and the other without, an A-50 and an
Il-76 swapped on one stand).
Among candidate pairs a minimum-cost assignment (Hungarian, scipy) is made
with cost ``1 - IoU(grown footprints) + centre_distance / (length + tolerance)``.
Unmatched *before* objects departed, unmatched *after* objects arrived.

Human-verified detections (``source="human"``) outrank model ones: on each
date a model detection overlapping a human one (IoU >= ``human_iou``) is
dropped before matching.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from shapely.geometry import Polygon

from pipeline.annotate.merge import prefer_human
from pipeline.model import ChangeKind, Detection, ObjectChange, Tile, stable_id
from pipeline.objects import object_types

GENERIC = {"aircraft", "helicopter", "vehicle", "vessel", "object"}


def _polys(dets: Sequence[Detection], tile: Tile) -> list[Polygon]:
    out = []
    for d in dets:
        lon = [p[0] for p in d.footprint_lonlat]
        lat = [p[1] for p in d.footprint_lonlat]
        x, y = tile.grid.from_lonlat(lon, lat)
        poly = Polygon(list(zip(x.tolist(), y.tolist(), strict=True)))
        out.append(poly if poly.is_valid else poly.buffer(0))
    return out


def types_compatible(a: Detection, b: Detection, *, dims_tolerance: float = 0.15) -> bool:
    """True when two detections may be the same object (class/category/dimension test).

    A ``rotodome`` attribute decided both times (``present`` / ``absent``,
    :mod:`pipeline.detect.rotodome`) must agree: the dome is what tells two
    airframes of the same size apart.
    """
    domes = {a.attributes.get("rotodome"), b.attributes.get("rotodome")}
    if domes == {"present", "absent"}:
        return False
    if a.cls == b.cls:
        return True
    if a.category != b.category:
        return False
    if a.cls in GENERIC or b.cls in GENERIC:
        return True
    if a.length_m and b.length_m and a.wingspan_m and b.wingspan_m:
        return abs(a.length_m - b.length_m) <= dims_tolerance * max(a.length_m, b.length_m) and abs(
            a.wingspan_m - b.wingspan_m
        ) <= dims_tolerance * max(a.wingspan_m, b.wingspan_m)
    ta, tb = object_types().get(a.cls), object_types().get(b.cls)
    return bool(ta and tb and abs(ta.length_m - tb.length_m) <= dims_tolerance * ta.length_m)


def _human_first(dets: Sequence[Detection], min_overlap: float) -> list[Detection]:
    """``dets`` in input order without the model detections an analyst's box supersedes."""
    human = [d for d in dets if d.source == "human"]
    model = [d for d in dets if d.source != "human"]
    kept = {id(d) for d in prefer_human(model, human, min_overlap=min_overlap)}
    return [d for d in dets if id(d) in kept]


def match_detections(
    before: list[Detection],
    after: list[Detection],
    *,
    before_tile: Tile,
    after_tile: Tile,
    site_id: str,
    tolerance_m: float = 4.0,
    human_iou: float = 0.3,
) -> list[ObjectChange]:
    """Label objects arrived / departed / stayed between two tiles of one site.

    Parameters
    ----------
    before, after : list of Detection
        Detections (model and/or human) on ``before_tile`` and ``after_tile``.
    before_tile, after_tile : Tile
        The two tiles (kept as provenance on every change).
    site_id : str
        Registry id of the site.
    tolerance_m : float
        Misregistration allowance in metres (footprints are grown by it).
    human_iou : float
        Overlap (fraction of the smaller footprint) above which a human detection
        replaces a model one on the same date (see :func:`pipeline.annotate.merge.prefer_human`).

    Returns
    -------
    list of ObjectChange
        ``stayed`` pairs first (with both detections), then ``departed`` and
        ``arrived``; ids are stable for the same inputs.
    """
    b = _human_first(before, human_iou)
    a = _human_first(after, human_iou)
    pb = [p.buffer(tolerance_m) for p in _polys(b, before_tile)]
    pa = [p.buffer(tolerance_m) for p in _polys(a, before_tile)]
    big = 1e6
    cost = np.full((len(b), len(a)), big)
    iou = np.zeros((len(b), len(a)))
    for i, (db, gb) in enumerate(zip(b, pb, strict=True)):
        for j, (da, ga) in enumerate(zip(a, pa, strict=True)):
            if not gb.intersects(ga) or not types_compatible(db, da):
                continue
            inter = gb.intersection(ga).area
            union = gb.area + ga.area - inter
            if inter <= 0:
                continue
            iou[i, j] = inter / union
            length = max(db.length_m or 0.0, da.length_m or 0.0, 1.0)
            dist = gb.centroid.distance(ga.centroid)
            cost[i, j] = (1.0 - iou[i, j]) + dist / (length + tolerance_m)
    pairs: list[tuple[int, int]] = []
    if b and a:
        rows, cols = linear_sum_assignment(cost)
        pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < big]
    matched_b = {r for r, _ in pairs}
    matched_a = {c for _, c in pairs}

    def change(
        kind: ChangeKind, cls: str, db: Detection | None, da: Detection | None, score: float
    ) -> ObjectChange:
        ids = [d.id for d in (db, da) if d is not None]
        return ObjectChange(
            id=stable_id(site_id, before_tile.id, after_tile.id, kind, *ids),
            site_id=site_id,
            kind=kind,
            cls=cls,
            before_tile_id=before_tile.id,
            after_tile_id=after_tile.id,
            before_acquired=before_tile.acquired,
            after_acquired=after_tile.acquired,
            before=db,
            after=da,
            score=float(score),
        )

    out: list[ObjectChange] = []
    for r, c in sorted(pairs):
        db, da = b[r], a[c]
        cls = da.cls if da.source == "human" or db.cls in GENERIC else db.cls
        out.append(change("stayed", cls, db, da, min(db.score, da.score) * iou[r, c] ** 0.25))
    for r, db in enumerate(b):
        if r not in matched_b:
            out.append(change("departed", db.cls, db, None, db.score))
    for c, da in enumerate(a):
        if c not in matched_a:
            out.append(change("arrived", da.cls, None, da, da.score))
    return out
