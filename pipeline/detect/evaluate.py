"""Scoring detections against ground truth (pure functions).

Matching: greedy by descending detection score, one truth per detection, at
``iou >= 0.5``. IoU is **polygon IoU of the oriented footprints** when the
truth is oriented (synthetic ``footprint_px`` rings, Label Studio polygons);
against **axis-aligned truth boxes** (the Airbus annotations) both sides are
reduced to their axis-aligned envelopes (:func:`pipeline.detect.geometry.box_iou`),
so like is always compared with like.

* precision = TP / detections, recall = TP / truths (objects of the scored
  categories only);
* type accuracy = share of matched aircraft/helicopter truths whose
  detection has the truth's exact class;
* nose accuracy = share of matched truths with ``nose_cone`` open/closed
  whose detection states the same (``unknown`` or a missing attribute counts
  as wrong); ``nose_called`` is the share that got a call at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.detect.geometry import box_iou, envelope, ring_iou
from pipeline.model import Detection

IouFn = Callable[[Sequence[Sequence[float]], Sequence[Sequence[float]]], float]


@dataclass(frozen=True)
class TruthBox:
    """One ground-truth object: class, category, ``(row, col)`` ring, attributes."""

    cls: str
    ring: tuple[tuple[float, float], ...]
    category: str = "aircraft"
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Score:
    """Running counts; :meth:`summary` gives the rates."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    type_ok: int = 0
    type_n: int = 0
    nose_ok: int = 0
    nose_called: int = 0
    nose_n: int = 0
    length_err: list[float] = field(default_factory=list)

    def add(self, other: Score) -> None:
        """Accumulate another score."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.type_ok += other.type_ok
        self.type_n += other.type_n
        self.nose_ok += other.nose_ok
        self.nose_called += other.nose_called
        self.nose_n += other.nose_n
        self.length_err.extend(other.length_err)

    def summary(self) -> dict[str, Any]:
        """Precision, recall, type and nose accuracy (``None`` when undefined)."""

        def rate(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        errs = sorted(abs(e) for e in self.length_err)
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": rate(self.tp, self.tp + self.fp),
            "recall": rate(self.tp, self.tp + self.fn),
            "type_accuracy": rate(self.type_ok, self.type_n),
            "type_n": self.type_n,
            "nose_accuracy": rate(self.nose_ok, self.nose_n),
            "nose_called": rate(self.nose_called, self.nose_n),
            "nose_n": self.nose_n,
            "median_abs_length_err_m": round(errs[len(errs) // 2], 3) if errs else None,
        }


def merge_duplicate_truths(
    truths: Sequence[TruthBox], *, iou: float = 0.3
) -> tuple[list[TruthBox], int]:
    """Merge truth boxes that label one object twice; return ``(truths, merged)``.

    Boxes of one category whose axis-aligned envelopes overlap at
    ``IoU >= iou`` are taken as the same object (linked transitively) and
    replaced by one box: the mean of their envelopes, with the first box's
    class and attributes plus ``labels`` (how many boxes it stands for).
    ``merged`` is the number of boxes removed. Other boxes are returned
    unchanged, in order.

    Why: two images of the Airbus sample label most aircraft twice (two
    annotators, envelopes offset by 1-20 px, IoU 0.53-0.98), while distinct
    parked aircraft there never overlap at more than IoU 0.08; counted as
    they are, one aircraft found counts as one hit and one miss.
    """
    n = len(truths)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i):
            if truths[i].category == truths[j].category and (
                box_iou(truths[i].ring, truths[j].ring) >= iou
            ):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    out: list[TruthBox] = []
    for i in range(n):
        members = groups.get(i)
        if members is None:
            continue
        first = truths[members[0]]
        if len(members) == 1:
            out.append(first)
            continue
        mean = np.mean([envelope(truths[k].ring) for k in members], axis=0)
        ring = tuple((float(r), float(c)) for r, c in mean)
        attrs = {**first.attributes, "labels": str(len(members))}
        out.append(TruthBox(first.cls, ring, first.category, attrs))
    return out, n - len(out)


def score_tile(
    dets: Sequence[Detection],
    truths: Sequence[TruthBox],
    *,
    iou: float = 0.5,
    iou_fn: IouFn = ring_iou,
    categories: Iterable[str] = ("aircraft", "helicopter"),
    truth_length_m: Mapping[int, float] | None = None,
) -> Score:
    """Match one tile's detections to its truth and count (see module docstring)."""
    cats = set(categories)
    tr = [t for t in truths if t.category in cats]
    ds = sorted((d for d in dets if d.category in cats), key=lambda d: -d.score)
    used: set[int] = set()
    s = Score()
    for d in ds:
        best, best_iou = -1, iou
        for j, t in enumerate(tr):
            if j in used:
                continue
            v = iou_fn(d.footprint_px, t.ring)
            if v >= best_iou:
                best, best_iou = j, v
        if best < 0:
            s.fp += 1
            continue
        used.add(best)
        s.tp += 1
        t = tr[best]
        if t.cls not in ("aircraft", "Airplane", "helicopter"):
            s.type_n += 1
            s.type_ok += int(d.cls == t.cls)
        if truth_length_m and best in truth_length_m and d.length_m is not None:
            s.length_err.append(d.length_m - truth_length_m[best])
        want = t.attributes.get("nose_cone")
        if want in ("open", "closed"):
            s.nose_n += 1
            got = d.attributes.get("nose_cone")
            s.nose_called += int(got in ("open", "closed"))
            s.nose_ok += int(got == want)
    s.fn = len(tr) - len(used)
    return s


__all__ = ["Score", "TruthBox", "box_iou", "merge_duplicate_truths", "ring_iou", "score_tile"]
