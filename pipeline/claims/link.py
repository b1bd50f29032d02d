"""Linking claims to evidence: verdicts with rationales and provenance (pure).

For each checkable claim the site's tiles inside the claim window (widened by
``tolerance_days``) are examined:

* presence/absence: per tile, count detections whose class matches
  hierarchically (see :func:`pipeline.claims.vocab.class_matches`) and whose
  attributes match; compare with the claim's count range (qualifier, not
  equality). Too few model detections are evidence against the claim only
  when the detector would have found the objects: where its measured recall
  for the class at the tile's GSD makes the shortfall likely anyway
  (binomial test, :mod:`pipeline.detect.capability`), the verdict is
  ``insufficient`` and the rationale says why. A model detection typed as a
  look-alike of a claimed type (:func:`lookalike`: by measured size the two
  cannot be told apart, e.g. Mi-24 / Mi-28) may be either: the true count
  lies between the exact matches and the exact matches plus the look-alikes,
  and a claim that holds for only part of that range is ``insufficient``
  (for movements and trends: when look-alikes could make a contradicted
  claim true);
* arrival/departure: object changes between the tiles bracketing the window,
  else the count difference between those tiles;
* increase/decrease: counts on the earliest vs latest tile in (or bracketing)
  the window;
* activity: change polygons, object changes or matching detections in the window.

Human annotations already override model detections in
:class:`pipeline.io.run_store.RunData`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Literal

from pipeline.claims.vocab import category_of, class_matches
from pipeline.detect.capability import RecallTable, default_recall_table, undercount_p_value
from pipeline.detect.classify import parse_alternatives
from pipeline.io.run_store import RunData
from pipeline.model import (
    ChangeRegion,
    Claim,
    ClaimObject,
    Detection,
    EvidenceItem,
    EvidenceLink,
    ObjectChange,
    Tile,
    Verdict,
    isoformat_z,
)
from pipeline.objects import object_types

MAX_EVIDENCE = 60
#: a type whose posterior is within this factor of a detection's best cannot be told apart from it
LOOKALIKE_ODDS = 2.0


# --------------------------------------------------------------------------- helpers
def describe_range(lo: int | None, hi: int | None) -> str:
    """Human wording of a count range: "at least 2", "exactly 1", "no"."""
    if lo is not None and hi is not None:
        if lo == hi:
            return "no" if lo == 0 else f"exactly {lo}"
        return f"between {lo} and {hi}"
    if lo is not None:
        return f"at least {lo}"
    if hi is not None:
        return f"at most {hi}"
    return "some"


def in_range(n: int, lo: int | None, hi: int | None) -> bool:
    """True when ``n`` satisfies the inclusive range (``None`` = unbounded)."""
    return (lo is None or n >= lo) and (hi is None or n <= hi)


def _label(o: ClaimObject) -> str:
    role = o.attributes.get("role")
    return f"{role} {o.cls}" if role and o.cls == "aircraft" else o.cls


def _attrs(o: ClaimObject) -> dict[str, str]:
    return {k: v for k, v in o.attributes.items() if k != "role"}


def _attr_text(attrs: dict[str, str]) -> str:
    parts = []
    for k, v in attrs.items():
        parts.append(f"nose {v}" if k == "nose_cone" else f"{k.replace('_', ' ')} {v}")
    return ", ".join(parts)


def matches(o: ClaimObject, d: Detection) -> bool:
    """Class match (hierarchical), ignoring attributes."""
    return class_matches(o.cls, o.attributes.get("role"), d.cls)


def lookalike(o: ClaimObject, d: Detection) -> bool:
    """True when a model detection typed otherwise may be the claimed specific type.

    The detection's ``alternatives`` (type posteriors from the measured length
    and span, :mod:`pipeline.detect.classify`) give the claimed type at least
    ``1 / LOOKALIKE_ODDS`` of the best posterior: at the tile's GSD the two
    types differ by less than the measurement error (Mi-24 / Mi-28 differ by
    0.2 m). Analysts' labels and generic claims ("aircraft") are never
    look-alikes.
    """
    if d.source == "human" or d.cls == o.cls or o.cls not in object_types():
        return False
    alts = dict(parse_alternatives(d.attributes.get("alternatives")))
    top = max(alts.values(), default=0.0)
    return top > 0 and alts.get(o.cls, 0.0) * LOOKALIKE_ODDS >= top


def lookalike_text(near: Sequence[Detection], o: ClaimObject) -> str:
    """``", and 2 Mi-28 that may be Mi-24 (...)"`` for a rationale; empty when none."""
    if not near:
        return ""
    names = "/".join(sorted({d.cls for d in near}))
    return (
        f", and {len(near)} {names} that may be {o.cls}"
        " (by measured size they cannot be told apart)"
    )


def attr_state(o: ClaimObject, d: Detection) -> bool | None:
    """True/False when the detection's attributes agree/disagree; None when not measured."""
    wanted = _attrs(o)
    if not wanted:
        return True
    if any(k not in d.attributes for k in wanted):
        return None
    return all(str(d.attributes[k]).lower() == v.lower() for k, v in wanted.items())


def _tile_prov(run: RunData, tile_id: str, det: Detection | None = None) -> dict[str, str]:
    t = run.tile(tile_id)
    if t is not None:
        return t.provenance()
    if det is not None:
        return {"id": det.tile_id, "sha256": det.tile_sha256, "acquired": isoformat_z(det.acquired)}
    return {"id": tile_id, "sha256": "", "acquired": "1970-01-01T00:00:00Z"}


def detection_item(run: RunData, d: Detection, **extra: Any) -> EvidenceItem:
    """Evidence item (kind detection, or annotation for human) with provenance and chip path."""
    ex: dict[str, Any] = {
        "detector": d.detector,
        "detector_version": d.detector_version,
        "model": d.model,
        "annotation_id": d.annotation_id,
        "category": d.category,
        "length_m": d.length_m,
        "wingspan_m": d.wingspan_m,
        "heading_deg": d.heading_deg,
        "footprint_px": [list(p) for p in d.footprint_px],
    }
    chip = run.chips.get(d.id) or (run.chips.get(d.annotation_id) if d.annotation_id else None)
    if chip:
        ex["chip"] = chip
    else:
        found = run.chip_for(d.tile_id, d.footprint_px)
        if found:
            ex["chip"], ex["chip_window"] = found[0], list(found[1])
    ex.update(extra)
    return EvidenceItem(
        kind="annotation" if d.source == "human" else "detection",
        id=d.id,
        tile=_tile_prov(run, d.tile_id, d),
        geometry=d.geometry,
        source=d.source,
        cls=d.cls,
        attributes=dict(d.attributes),
        score=d.score,
        extra=ex,
    )


def change_item(run: RunData, r: ChangeRegion) -> EvidenceItem:
    """Evidence item for a change polygon (tile = after tile; before tile in ``before_tile``)."""
    return EvidenceItem(
        kind="change",
        id=r.id,
        tile=_tile_prov(run, r.after_tile_id),
        geometry=r.geometry,
        source="model",
        cls=None,
        attributes={},
        score=r.mean_score,
        extra={
            "before_tile": _tile_prov(run, r.before_tile_id),
            "after_tile": _tile_prov(run, r.after_tile_id),
            "method": r.method,
            "area_m2": r.area_m2,
            "max_score": r.max_score,
        },
    )


def object_change_item(run: RunData, c: ObjectChange) -> EvidenceItem:
    """Evidence item for an object-level change (arrived/departed/stayed)."""
    det = c.after if c.kind == "arrived" else c.before
    det = det or c.after or c.before
    geometry = det.geometry if det else {"type": "GeometryCollection", "geometries": []}
    tile_id = c.after_tile_id if c.kind != "departed" else c.before_tile_id
    ex: dict[str, Any] = {
        "change": c.kind,
        "before_tile": _tile_prov(run, c.before_tile_id),
        "after_tile": _tile_prov(run, c.after_tile_id),
        "before_detection": c.before.id if c.before else None,
        "after_detection": c.after.id if c.after else None,
    }
    if det is not None:
        ex.update(
            detector=det.detector,
            detector_version=det.detector_version,
            model=det.model,
            annotation_id=det.annotation_id,
            length_m=det.length_m,
            wingspan_m=det.wingspan_m,
            heading_deg=det.heading_deg,
            footprint_px=[list(p) for p in det.footprint_px],
        )
        chip = run.chips.get(c.id) or run.chips.get(det.id)
        if chip:
            ex["chip"] = chip
    return EvidenceItem(
        kind="change",
        id=c.id,
        tile=_tile_prov(run, tile_id, det),
        geometry=geometry,
        source=det.source if det else "model",
        cls=c.cls,
        attributes={"change": c.kind, **(dict(det.attributes) if det else {})},
        score=c.score,
        extra=ex,
    )


# --------------------------------------------------------------------------- linker
class _Linker:
    def __init__(
        self,
        run: RunData,
        tolerance_days: int,
        bracket_days: int,
        recall: RecallTable | None = None,
        alpha: float = 0.05,
    ) -> None:
        self.run = run
        self.recall = recall
        self.alpha = alpha
        self.tol = timedelta(days=tolerance_days)
        self.bracket = timedelta(days=bracket_days)
        self.by_tile: dict[str, list[Detection]] = {}
        self.categories: set[str] = set()
        for d in run.detections:
            self.by_tile.setdefault(d.tile_id, []).append(d)
            self.categories.update((d.category, category_of(d.cls)))

    def covered(self, o: ClaimObject) -> bool:
        """True when the run detected anything of the object's category at all.

        A run with no vessel detections anywhere cannot contradict a vessel
        claim: the detector may simply not look for vessels.
        """
        return category_of(o.cls) in self.categories

    def _uncovered(self, o: ClaimObject) -> str:
        cat = category_of(o.cls)
        return (
            f"no {cat} detections anywhere in this run (the detector may not cover "
            f"{cat}s), so {_label(o)} cannot be counted"
        )

    def undercount_excused(self, tile: Tile, o: ClaimObject, seen: int, claimed: int) -> str | None:
        """Why seeing ``seen`` of a claimed ``claimed`` on ``tile`` is no evidence against it.

        ``None`` (the undercount stands) when an analyst labelled anything on the
        tile, or the detector's recall for the class at the tile's GSD is not
        measured (:mod:`pipeline.detect.capability`), or a Binomial(claimed,
        recall) count as low as ``seen`` is less likely than ``alpha``.
        """
        on_tile = self.by_tile.get(tile.id, [])
        if self.recall is None or any(d.source == "human" for d in on_tile):
            return None
        model = next((d for d in on_tile if d.source == "model"), None) or next(
            (d for d in self.run.detections if d.source == "model"), None
        )
        gsd = tile.gsd_m or tile.grid.gsd
        if model is None:
            return None
        r = self.recall.recall(model.detector, model.detector_version, o.cls, gsd)
        if r is None:
            return None
        p = undercount_p_value(seen, claimed, r)
        if p < self.alpha:
            return None
        return (
            f"but the {model.detector} detector finds and types only {r:.0%} of {o.cls}s at "
            f"{gsd:.2f} m ({self.recall.measured_on.split(':')[0]}), so {seen} of {claimed} is "
            f"expected {p:.0%} of the time even if the claim is true: not evidence against it"
        )

    def site_tiles(self, site_id: str) -> list[Tile]:
        return sorted((t for t in self.run.tiles if t.site_id == site_id), key=lambda t: t.acquired)

    def window_tiles(self, site_id: str, lo: date, hi: date) -> list[Tile]:
        return [t for t in self.site_tiles(site_id) if lo - self.tol <= t.date <= hi + self.tol]

    def count(self, tile: Tile, o: ClaimObject) -> tuple[list[Detection], list[Detection], int]:
        """(class matches, class+attribute matches, how many lack the attribute)."""
        cls_m = [d for d in self.by_tile.get(tile.id, []) if matches(o, d)]
        states = [attr_state(o, d) for d in cls_m]
        attr_m = [d for d, s in zip(cls_m, states, strict=True) if s]
        return cls_m, attr_m, sum(1 for s in states if s is None)

    def lookalikes(self, tile: Tile, o: ClaimObject) -> list[Detection]:
        """Detections on ``tile`` that may be ``o`` by size (:func:`lookalike`) and attributes."""
        return [
            d
            for d in self.by_tile.get(tile.id, [])
            if lookalike(o, d) and attr_state(o, d) is not False
        ]

    def regions_over(self, ocs: Sequence[ObjectChange]) -> list[ChangeRegion]:
        """Change polygons of the same tile pairs that overlap the changed objects."""
        from shapely.geometry import Polygon, shape

        out: list[ChangeRegion] = []
        for r in self.run.change_regions:
            if not r.polygon_lonlat or len(r.polygon_lonlat[0]) < 4:
                continue
            poly = shape(r.geometry).buffer(0)
            for c in ocs:
                det = c.after or c.before
                if (
                    det is not None
                    and len(det.footprint_lonlat) >= 4
                    and (r.before_tile_id, r.after_tile_id) == (c.before_tile_id, c.after_tile_id)
                    and poly.intersects(Polygon(det.footprint_lonlat).buffer(0))
                ):
                    out.append(r)
                    break
        return out

    def bracket_pair(self, site_id: str, lo: date, hi: date) -> tuple[Tile, Tile] | None:
        tiles = self.site_tiles(site_id)
        before = [t for t in tiles if lo - self.bracket - self.tol <= t.date <= lo]
        if not before:
            return None
        b = before[-1]
        after = [
            t
            for t in tiles
            if t.acquired > b.acquired and hi <= t.date <= hi + self.bracket + self.tol
        ]
        if not after:
            after = [t for t in tiles if t.acquired > b.acquired and lo <= t.date <= hi + self.tol]
            after = after[-1:]
        return (b, after[0]) if after else None

    # ---------------------------------------------------------------- per event
    def presence(self, claim: Claim, tiles: list[Tile], *, absence: bool) -> EvidenceLink:
        verdicts: list[Verdict] = []
        parts: list[str] = []
        items: list[EvidenceItem] = []
        for o in claim.objects:
            lo, hi = (0, 0) if absence else (o.count_min, o.count_max)
            attrs = _attrs(o)
            if not self.covered(o):
                verdicts.append("insufficient")
                parts.append(self._uncovered(o))
                continue
            best: tuple[int, Tile, list[Detection], list[Detection], int] | None = None
            ok_any = False
            unmeasured_block = False
            alike_block = False
            alike: dict[str, list[Detection]] = {}
            for t in tiles:
                cls_m, attr_m, unknown = self.count(t, o)
                alike[t.id] = self.lookalikes(t, o)
                n, k = len(attr_m), len(alike[t.id])
                ok = in_range(n, lo, hi) and in_range(n + k, lo, hi)
                if not ok and attrs and unknown and in_range(n + unknown, lo, hi):
                    unmeasured_block = True
                if not ok and k and (lo is None or n + k >= lo) and (hi is None or n <= hi):
                    alike_block = True
                score = (1 if ok else 0, n, len(cls_m))
                if best is None or score > (
                    1 if in_range(best[0], lo, hi) else 0,
                    best[0],
                    len(best[2]),
                ):
                    best = (n, t, cls_m, attr_m, unknown)
                ok_any = ok_any or ok
            assert best is not None  # tiles is non-empty here
            n, t, cls_m, attr_m, unknown = best
            excuse = None
            if absence:
                ok_all = all(len(self.count(tt, o)[1]) == 0 for tt in tiles)
                maybe = any(alike.values())
                verdicts.append(
                    "contradicts" if not ok_all else "insufficient" if maybe else "supports"
                )
            elif ok_any:
                verdicts.append("supports")
            elif unmeasured_block or alike_block:
                verdicts.append("insufficient")
            elif lo is not None and n < lo and not attrs:
                excuse = self.undercount_excused(t, o, n, lo)
                verdicts.append("insufficient" if excuse else "contradicts")
            else:
                verdicts.append("contradicts")
            desc = f"{len(cls_m)} {_label(o)} detected on {t.date.isoformat()} in tile {t.id}"
            if attrs:
                desc += f" ({n} with {_attr_text(attrs)}"
                desc += f", {unknown} not measured)" if unknown else ")"
            claim_txt = f"{describe_range(lo, hi)} {_label(o)}"
            if attrs:
                claim_txt += f" with {_attr_text(attrs)}"
            if len(tiles) > 1:
                desc += f" (best of {len(tiles)} tiles in window)"
            near = alike[t.id] or next((v for v in alike.values() if v), [])
            desc += lookalike_text(near, o)
            parts.append(f"{desc}; claim: {claim_txt}" + (f", {excuse}" if excuse else ""))
            for d in cls_m + near:  # all of the class, so the analyst sees non-matching attributes
                items.append(detection_item(self.run, d))
        verdict: Verdict = (
            "contradicts"
            if "contradicts" in verdicts
            else "insufficient"
            if "insufficient" in verdicts
            else "supports"
        )
        return EvidenceLink(
            claim.id,
            verdict,
            "; ".join(parts) + ".",
            tuple(items[:MAX_EVIDENCE]),
            {"tiles": [t.id for t in tiles]},
        )

    def movement(self, claim: Claim, lo: date, hi: date) -> EvidenceLink:
        assert claim.site is not None
        kind = "arrived" if claim.event == "arrival" else "departed"
        pair = self.bracket_pair(claim.site.id, lo, hi)
        if pair is None:
            return EvidenceLink(
                claim.id,
                "insufficient",
                f"No pair of {claim.site.name} tiles brackets {lo.isoformat()}..{hi.isoformat()} "
                f"(need one on/before the start and one on/after the end, within "
                f"{self.bracket.days} days); cannot see a {claim.event}.",
                (),
                {"tiles": [t.id for t in self.site_tiles(claim.site.id)]},
            )
        b, a = pair
        verdicts: list[Verdict] = []
        parts: list[str] = []
        items: list[EvidenceItem] = []
        for o in claim.objects:
            need = max(o.count_min or 1, 1)
            ocs: list[ObjectChange] = []
            alike_ocs: list[ObjectChange] = []
            for c in self.run.object_changes:
                if not (
                    c.site_id == claim.site.id
                    and c.kind == kind
                    and c.before_acquired >= b.acquired
                    and c.after_acquired <= a.acquired
                ):
                    continue
                if class_matches(o.cls, o.attributes.get("role"), c.cls):
                    ocs.append(c)
                elif any(d is not None and lookalike(o, d) for d in (c.before, c.after)):
                    alike_ocs.append(c)
            alike_changed = [d for c in alike_ocs if (d := c.before or c.after) is not None]
            near = self.lookalikes(b, o) + self.lookalikes(a, o)
            nb = len(self.count(b, o)[0])
            na = len(self.count(a, o)[0])
            delta = (na - nb) if kind == "arrived" else (nb - na)
            any_dets = bool(self.by_tile.get(b.id) or self.by_tile.get(a.id))
            period = f"between {b.id} ({b.date.isoformat()}) and {a.id} ({a.date.isoformat()})"
            if not ocs and not self.covered(o):
                verdicts.append("insufficient")
                parts.append(self._uncovered(o))
            elif ocs:
                ok = len(ocs) >= need
                maybe = not ok and len(ocs) + len(alike_ocs) >= need
                verdicts.append("supports" if ok else "insufficient" if maybe else "contradicts")
                parts.append(
                    f"{len(ocs)} {_label(o)} {kind} {period} ({nb} before, {na} after)"
                    f"{lookalike_text(alike_changed, o)}; "
                    f"claim: {describe_range(need, o.count_max)} {kind}"
                )
                items.extend(object_change_item(self.run, c) for c in ocs)
                items.extend(change_item(self.run, r) for r in self.regions_over(ocs))
            elif not any_dets:
                verdicts.append("insufficient")
                parts.append(f"no detections or object changes on tiles {b.id} and {a.id}")
            else:
                ok = delta >= need
                maybe = not ok and bool(near or alike_ocs)
                verdicts.append("supports" if ok else "insufficient" if maybe else "contradicts")
                parts.append(
                    f"{nb} {_label(o)} on {b.date.isoformat()} ({b.id}) and {na} on "
                    f"{a.date.isoformat()} ({a.id}), no object changes matched"
                    f"{lookalike_text(near, o)}; claim: "
                    f"{describe_range(need, o.count_max)} {kind}"
                )
                src = b if kind == "departed" else a
                items.extend(
                    detection_item(self.run, d, role=("before" if src is b else "after"))
                    for d in self.count(src, o)[0]
                )
        verdict: Verdict = (
            "contradicts"
            if "contradicts" in verdicts
            else "insufficient"
            if "insufficient" in verdicts or not verdicts
            else "supports"
        )
        return EvidenceLink(
            claim.id,
            verdict,
            "; ".join(parts) + ".",
            tuple(items[:MAX_EVIDENCE]),
            {"tiles": [b.id, a.id], "before_tile": b.id, "after_tile": a.id},
        )

    def trend(self, claim: Claim, lo: date, hi: date) -> EvidenceLink:
        assert claim.site is not None
        tiles = self.window_tiles(claim.site.id, lo, hi)
        if len(tiles) < 2:
            pair = self.bracket_pair(claim.site.id, lo, hi)
            if pair is None:
                return EvidenceLink(
                    claim.id,
                    "insufficient",
                    f"Fewer than two {claim.site.name} tiles around "
                    f"{lo.isoformat()}..{hi.isoformat()}; "
                    f"cannot compare counts for an {claim.event}.",
                    (),
                    {"tiles": [t.id for t in tiles]},
                )
            first, last = pair
        else:
            first, last = tiles[0], tiles[-1]
        o = claim.objects[0]
        if not self.covered(o):
            return EvidenceLink(
                claim.id,
                "insufficient",
                self._uncovered(o)[:1].upper() + self._uncovered(o)[1:] + ".",
                (),
                {"tiles": [first.id, last.id]},
            )
        cb, _, _ = self.count(first, o)
        ca, _, _ = self.count(last, o)
        nb, na = len(cb), len(ca)
        up = claim.event == "increase"
        ok = na > nb if up else na < nb
        stated_before = claim.extra.get("count_before")
        claim_txt = f"{claim.event} of {_label(o)}"
        if o.count_min is not None or o.count_max is not None:
            claim_txt += f" to {describe_range(o.count_min, o.count_max)}"
        if stated_before is not None:
            claim_txt += f" from {stated_before}"
        if ok and not in_range(na, o.count_min, o.count_max):
            ok = False
        near = self.lookalikes(first, o) + self.lookalikes(last, o)
        verdict: Verdict = "supports" if ok else "insufficient" if near else "contradicts"
        rationale = (
            f"{nb} {_label(o)} on {first.date.isoformat()} ({first.id}) and {na} on "
            f"{last.date.isoformat()} ({last.id}){lookalike_text(near, o)}; claim: {claim_txt}."
        )
        items = [detection_item(self.run, d, role="before") for d in cb]
        items += [detection_item(self.run, d, role="after") for d in ca]
        return EvidenceLink(
            claim.id,
            verdict,
            rationale,
            tuple(items[:MAX_EVIDENCE]),
            {"tiles": [first.id, last.id], "before_tile": first.id, "after_tile": last.id},
        )

    def activity(self, claim: Claim, tiles: list[Tile], lo: date, hi: date) -> EvidenceLink:
        ids = {t.id for t in tiles}
        regions = [
            r for r in self.run.change_regions if r.after_tile_id in ids or r.before_tile_id in ids
        ]
        ocs = [
            c
            for c in self.run.object_changes
            if c.kind != "stayed" and (c.after_tile_id in ids or c.before_tile_id in ids)
        ]
        dets = [
            d
            for t in tiles
            for d in self.by_tile.get(t.id, [])
            if not claim.objects or any(matches(o, d) for o in claim.objects)
        ]
        items = [change_item(self.run, r) for r in regions]
        items += [object_change_item(self.run, c) for c in ocs]
        items += [detection_item(self.run, d) for d in dets]
        area = sum(r.area_m2 for r in regions)
        txt = (
            f"{len(regions)} change regions ({area:.0f} m²), {len(ocs)} object arrivals/departures "
            f"and {len(dets)} matching detections in {len(tiles)} tile(s) {lo.isoformat()}.."
            f"{hi.isoformat()}; claim: activity"
        )
        if items:
            verdict: Verdict = "supports"
        elif len(tiles) >= 2:
            verdict = "contradicts"
        else:
            verdict = "insufficient"
            txt += " (one tile cannot show change)"
        return EvidenceLink(
            claim.id, verdict, txt + ".", tuple(items[:MAX_EVIDENCE]), {"tiles": sorted(ids)}
        )

    def link(self, claim: Claim) -> EvidenceLink:
        if not claim.checkable:
            reason = claim.extra.get("reason", "not checkable")
            return EvidenceLink(
                claim.id, "insufficient", f"Not checkable: {reason}.", (), {"checkable": False}
            )
        if claim.site is None:
            return EvidenceLink(claim.id, "insufficient", "No site resolved for this claim.")
        if claim.window is None:
            return EvidenceLink(
                claim.id,
                "insufficient",
                "The claim gives no date, so no imagery can be chosen for it.",
            )
        lo, hi = claim.window
        if claim.event in ("arrival", "departure") and claim.objects:
            return self.movement(claim, lo, hi)
        if claim.event in ("increase", "decrease") and claim.objects:
            return self.trend(claim, lo, hi)
        tiles = self.window_tiles(claim.site.id, lo, hi)
        if not tiles:
            have = [t.date.isoformat() for t in self.site_tiles(claim.site.id)]
            return EvidenceLink(
                claim.id,
                "insufficient",
                f"No imagery of {claim.site.name} in window {lo.isoformat()}..{hi.isoformat()} "
                f"(±{self.tol.days} d); tiles of this site: {', '.join(have) or 'none'}.",
            )
        if claim.event == "activity":
            return self.activity(claim, tiles, lo, hi)
        if claim.objects:
            return self.presence(claim, tiles, absence=claim.event == "absence")
        return EvidenceLink(claim.id, "insufficient", "No object class to look for in the imagery.")


def link_claims(
    claims: Sequence[Claim],
    run: RunData,
    *,
    tolerance_days: int = 1,
    bracket_days: int = 7,
    recall: RecallTable | None | Literal["default"] = "default",
) -> list[EvidenceLink]:
    """One :class:`EvidenceLink` per claim (uncheckable claims get ``insufficient``).

    Parameters
    ----------
    claims
        Extracted claims.
    run
        Tiles, detections (human-first), object changes and change regions.
    tolerance_days
        Tiles up to this many days outside a claim's window still count.
    bracket_days
        How far before/after a window to look for the tiles that bracket an
        arrival/departure.
    recall
        Measured detector recall per class and GSD
        (:func:`pipeline.detect.capability.default_recall_table` by default;
        ``None`` = treat every undercount by the model as evidence against).
    """
    table = default_recall_table() if recall == "default" else recall
    linker = _Linker(run, tolerance_days, bracket_days, recall=table)
    return [linker.link(c) for c in claims]
