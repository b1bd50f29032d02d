"""Concrete detectors: the training-free measurement detector and its refinement.

:class:`MeasureDetector` (registry name ``measure``, the default) wraps
:func:`pipeline.detect.measure.find_objects`, classifies each measured object
against the type table and calls the nose-cone state of visor-nose types.
It detects aircraft and helicopters, and vehicles when the GSD resolves them
(length >= ~8 pixels), and vessels on open water
(:func:`pipeline.detect.vessels.find_vessels`; category ``vessel``, typed by
length and beam against the table's vessel rows, ``wingspan_m`` = beam).

Attributes written on each detection (all strings): ``nose_cone``
(``open``/``closed``/``unknown``, visor-nose types only), ``rotodome``
(``present``/``absent``/``unknown``, only where the look-alike types differ by a
radar dome, e.g. Il-76 / A-50: :mod:`pipeline.detect.rotodome`), ``symmetry``,
``fill``, ``alternatives`` (``"Il-76:0.48;A-50:0.48"``; a decided dome removes
the types it rules out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from skimage.draw import polygon as draw_polygon

from pipeline.detect.base import make_detection
from pipeline.detect.classify import (
    TypeCall,
    classify_dims,
    classify_rotor,
    format_alternatives,
)
from pipeline.detect.geometry import ring_polygon
from pipeline.detect.measure import Blob, Evidence, MeasureParams, evidence, find_objects
from pipeline.detect.nose import nose_state
from pipeline.detect.rotodome import (
    DomeParams,
    DomeState,
    apply_dome,
    dome_twin,
    rotodome_state,
)
from pipeline.detect.rotor import (
    Rotor,
    RotorParams,
    blade_field,
    body_share,
    find_rotors,
    seat_on_body,
    without_blades,
)
from pipeline.detect.rotor_body import Body, align_to_body, rotor_on_body, solid_bodies
from pipeline.detect.vessels import VesselBlob, VesselParams, find_vessels, water_mask
from pipeline.grid import Grid
from pipeline.model import Detection, Tile
from pipeline.objects import object_types, types_in


@dataclass(frozen=True)
class ShapeGate:
    """Which measured blobs are kept as objects (shape plausibility).

    Aircraft-sized objects (length >= ``vehicle_max_m``) must be mirror
    symmetric (``min_symmetry``) and hollow in their bounding rectangle
    (``aircraft_fill`` range: wings and tailplane leave most of it empty --
    plan-view area / (length x span) is about 0.2-0.45 from airlifters to
    fighters, while soil/grass patches and roof edges fill 0.5-0.7) and
    have a span/length ratio in ``aircraft_span_ratio``;
    objects coloured mostly like soil or vegetation (``max_natural``) are
    ground, not objects; vehicle-sized objects must be compact (``vehicle_min_fill``) and elongated
    (``vehicle_aspect``).
    """

    vehicle_max_m: float = 12.0
    min_symmetry: float = 0.6
    aircraft_fill: tuple[float, float] = (0.1, 0.5)
    vehicle_min_fill: float = 0.45
    vehicle_aspect: tuple[float, float] = (1.2, 5.0)
    min_vehicle_px: float = 8.0
    aircraft_span_ratio: tuple[float, float] = (0.4, 2.0)
    max_natural: float = 0.5


def keep_blob(blob: Blob, *, gsd_m: float, gate: ShapeGate) -> bool:
    """True when ``blob`` has a plausible aircraft or vehicle shape."""
    length_m = blob.length_px * gsd_m
    if blob.natural_fraction > gate.max_natural:
        return False
    if length_m < gate.vehicle_max_m:
        if blob.length_px < gate.min_vehicle_px:
            return False
        aspect = blob.length_px / max(blob.width_px, 1e-9)
        lo, hi = gate.vehicle_aspect
        return blob.fill >= gate.vehicle_min_fill and lo <= max(aspect, 1 / aspect) <= hi
    lo, hi = gate.aircraft_fill
    rlo, rhi = gate.aircraft_span_ratio
    ratio = blob.width_px / max(blob.length_px, 1e-9)
    return blob.symmetry >= gate.min_symmetry and lo <= blob.fill <= hi and rlo <= ratio <= rhi


#: Table categories a measured blob is typed against. Not helicopters: the table
#: gives a helicopter's rotor diameter as its span and its length over the rotor
#: disc, while a blob is the solid object (fuselage, stub wings, boom): the thin
#: blades never fill it out to the disc. A blob of a helicopter row's size is a
#: fixed-wing aircraft (a Su-25, 15.3 x 14.4 m, measured a little long fits the
#: Ka-52's 16 x 14.5 m); helicopters are typed by their rotors (:func:`classify_rotor`).
BLOB_CATEGORIES = ("aircraft", "vehicle")


def blob_to_call(blob: Blob, *, gsd_m: float) -> tuple[TypeCall, float, float]:
    """Classify a blob against :data:`BLOB_CATEGORIES`: returns ``(call, length_m, span_m)``.

    Vehicles are long along their body axis; for compact blobs the longer
    extent is taken as the length.
    """
    length_m = blob.length_px * gsd_m
    span_m = blob.width_px * gsd_m
    if length_m < 12.0 and span_m > length_m:
        length_m, span_m = span_m, length_m
    call = classify_dims(length_m, span_m, gsd_m=gsd_m, categories=BLOB_CATEGORIES)
    return call, length_m, span_m


def blob_nose(blob: Blob, call: TypeCall, *, gsd_m: float, length_m: float) -> str | None:
    """Nose-cone state for visor-nose types, else ``None``."""
    ref = object_types().get(call.cls)
    if ref is None or not ref.visor_nose:
        return None
    state, _ = nose_state(
        blob.nose_profile,
        body_width_px=blob.body_width_px,
        length_px=blob.length_px,
        occluded=blob.touches_edge,
    )
    return state


def _inside_rotor(blob: Blob, rotor: Rotor) -> bool:
    """True when ``blob`` is a piece of the helicopter ``rotor`` (or of its shadow).

    Its centre lies within 1.5 rotor radii of the hub, or it lies mostly
    (> 50 %) inside the rotor disc's square.
    """
    dr = blob.center_rc[0] - rotor.hub_rc[0]
    dc = blob.center_rc[1] - rotor.hub_rc[1]
    if (dr * dr + dc * dc) ** 0.5 <= 1.5 * rotor.radius_px:
        return True
    poly = ring_polygon(blob.footprint_px)
    disc = ring_polygon(rotor.footprint_px(2.0 * rotor.radius_px))
    return poly.area > 0 and poly.intersection(disc).area > 0.5 * poly.area


def _fixed_wing_type(blob: Blob, *, gsd_m: float) -> bool:
    """True when ``blob`` is typed as a fixed-wing table type (not a generic class)."""
    call = blob_to_call(blob, gsd_m=gsd_m)[0]
    return call.cls in object_types() and call.category == "aircraft"


def _fixed_wing_in(blob: Blob, rotor: Rotor, *, gsd_m: float, overlap: float) -> bool:
    """True when ``blob`` is of a fixed-wing table type and overlaps ``rotor``'s disc.

    Overlap: more than ``overlap`` of the smaller of the two areas.
    """
    if not _fixed_wing_type(blob, gsd_m=gsd_m):
        return False
    poly = ring_polygon(blob.footprint_px)
    disc = ring_polygon(rotor.footprint_px(2.0 * rotor.radius_px))
    return poly.intersection(disc).area > overlap * min(poly.area, disc.area)


def spans_rotor(blob: Blob, rotor: Rotor, *, gsd_m: float, share: float) -> bool:
    """True when ``blob`` is a fixed-wing aircraft covering ``rotor``'s disc: the rotor is its own.

    The blob's centre lies within one rotor radius of the hub, it is of a
    fixed-wing table type, and both its length and its span are at least
    ``share`` of the rotor diameter. An aircraft's wings, fuselage and their
    shadow edges can make a blade star over the whole aircraft (on
    synthetic seeds 7000-7009 and 7100-7109 a 737, a C-130 and an A320 typed
    Mi-26, a Su-25 typed Ka-52: blobs 0.95-1.3 of the false rotor's diameter
    both ways). A helicopter's solid body is smaller than its disc even with
    its shadow merged (0.71 x 0.86 of the diameter on the sample tiles).
    """
    if math.dist(blob.center_rc, rotor.hub_rc) > rotor.radius_px:
        return False
    if min(blob.width_px, blob.length_px) < share * 2.0 * rotor.radius_px:
        return False
    return _fixed_wing_type(blob, gsd_m=gsd_m)


def tail_confirmed_holds(
    rotor: Rotor,
    *,
    body: np.ndarray,
    blobs: Sequence[Blob],
    gsd_m: float,
    params: RotorParams,
) -> bool:
    """Whether a rotor confirmed only by two blades and its tail stands.

    Such a rotor (``tail_confirmed``) is weaker evidence than a full blade
    star: it needs a solid body along its axis (:func:`pipeline.detect.rotor.body_share`
    at least ``min_body_cover`` of ``body``, object pixels without blade-thin
    structures), and it yields to a measured blob of a fixed-wing type
    overlapping its disc by ``yield_overlap`` (a fighter's swept wing edges
    and fuselage, a wing's engines make the same three lines). Not to a
    vehicle: a helicopter's own fuselage often measures as a truck. Full
    stars always stand.
    """
    if not rotor.tail_confirmed:
        return True
    if float(body_share(rotor, body, params=params)[0]) < params.min_body_cover:
        return False
    return not any(
        _fixed_wing_in(b, rotor, gsd_m=gsd_m, overlap=params.yield_overlap) for b in blobs
    )


def _rotor_evidence(rotor: Rotor) -> str:
    """What a helicopter was found by: ``blades``, ``blades+tail`` or ``body+blades``."""
    if rotor.on_body:
        return "body+blades"
    return "blades+tail" if rotor.tail_confirmed else "blades"


@dataclass(frozen=True)
class MeasureDetector:
    """Training-free detector: background top-hat, shadow removal, measurement, type table.

    Parameters
    ----------
    params : MeasureParams
        Candidate-finding parameters.
    gate : ShapeGate
        Shape plausibility gate.
    gsd_m : float, optional
        Override the tile GSD (metres per pixel), e.g. for plain JPEGs.
    vessels : VesselParams or None
        Vessel detection on open water; ``None`` disables it (and the water test).
    rotors : RotorParams or None
        Helicopters by their rotor blades (:mod:`pipeline.detect.rotor`);
        ``None`` disables it. Measured blobs inside a found helicopter (its
        fuselage, boom and shadow fragments) are dropped; a helicopter seen
        only by two blades and its tail must pass :func:`tail_confirmed_holds`
        first.
    max_wet_fraction : float
        Aircraft/vehicle candidates whose footprint is more than this share
        water or vessel hull are dropped.
    domes : DomeParams or None
        Rotodome test for look-alikes that differ by a radar dome
        (:mod:`pipeline.detect.rotodome`); ``None`` disables it.
    """

    params: MeasureParams = field(default_factory=MeasureParams)
    gate: ShapeGate = field(default_factory=ShapeGate)
    gsd_m: float | None = None
    name: str = "measure"
    version: str = "1.23"
    vessels: VesselParams | None = field(default_factory=VesselParams)
    rotors: RotorParams | None = field(default_factory=RotorParams)
    max_wet_fraction: float = 0.3
    domes: DomeParams | None = field(default_factory=DomeParams)

    def measured(
        self,
        image: np.ndarray,
        *,
        tile: Tile,
        valid: np.ndarray | None,
        ev_maps: Evidence | None = None,
    ) -> tuple[list[Blob], float]:
        """All measured blobs, before the shape gate, and the GSD used (metres per pixel)."""
        gsd = float(self.gsd_m or tile.gsd_m)
        found = find_objects(
            image,
            gsd_m=gsd,
            valid=valid,
            sun_azimuth_deg=tile.sun_azimuth_deg,
            sun_elevation_deg=tile.sun_elevation_deg,
            params=self.params,
            ev_maps=ev_maps,
        )
        return found, gsd

    def blobs(
        self,
        image: np.ndarray,
        *,
        tile: Tile,
        valid: np.ndarray | None,
        ev_maps: Evidence | None = None,
    ) -> tuple[list[Blob], float]:
        """Kept blobs (those passing the shape gate) and the GSD used (metres per pixel)."""
        found, gsd = self.measured(image, tile=tile, valid=valid, ev_maps=ev_maps)
        return [b for b in found if keep_blob(b, gsd_m=gsd, gate=self.gate)], gsd

    def helicopters(
        self,
        ev_maps: Evidence,
        *,
        gsd_m: float,
        grid: Grid,
        tile: Tile,
        blobs: Sequence[Blob] = (),
        bodies: Sequence[Blob] = (),
    ) -> list[tuple[Rotor, Detection]]:
        """Helicopters found by their rotors, with their detections.

        Hubs are seated on the body (:func:`pipeline.detect.rotor.seat_on_body`)
        and headings follow the body where the tail run lies off it or is missing
        (:func:`pipeline.detect.rotor_body.align_to_body`);
        rotors seen only by two blades and a tail must pass
        :func:`tail_confirmed_holds` against ``blobs`` (the measured objects).
        Then each of ``bodies`` (measured blobs of helicopter size, shape gate
        or not, largest first), and each part of the object mask with blade-thin
        structures opened away (:func:`pipeline.detect.rotor_body.solid_bodies`),
        that lies outside the rotors found is searched for a rotor of its own
        (:func:`pipeline.detect.rotor_body.rotor_on_body`). Last, a rotor under
        a fixed-wing blob spanning its disc is dropped (:func:`spans_rotor`):
        it is the aircraft's.
        """
        p = self.rotors
        if p is None:
            return []
        blade = blade_field(ev_maps.gray, ev_maps.z, gsd_m=gsd_m, params=p)
        if blade is None:  # no helicopter in the table, or too few blade pixels for one rotor
            return []
        objects = ev_maps.bright | ev_maps.dark
        solid = without_blades(objects, gsd_m=gsd_m, params=p)

        def seat(r: Rotor) -> Rotor:
            return seat_on_body(
                r,
                ev_maps.bright,
                gsd_m=gsd_m,
                sun_azimuth_deg=tile.sun_azimuth_deg,
                sun_elevation_deg=tile.sun_elevation_deg,
                params=p,
            )

        def confirm(r: Rotor) -> bool:
            return tail_confirmed_holds(seat(r), body=solid, blobs=blobs, gsd_m=gsd_m, params=p)

        found = find_rotors(
            ev_maps.gray,
            ev_maps.z,
            gsd_m=gsd_m,
            sun_azimuth_deg=tile.sun_azimuth_deg,
            sun_elevation_deg=tile.sun_elevation_deg,
            params=p,
            confirm=confirm,
            field=blade,
        )
        rotors = [align_to_body(seat(r), solid, params=p, objects=objects) for r in found]
        lengths = [t.length_m for t in types_in("helicopter")]
        lo, hi = p.body_length[0] * min(lengths), p.body_length[1] * max(lengths)
        candidates = [
            Body(b.center_rc, b.axis_heading_deg, b.length_px)
            for b in sorted(bodies, key=lambda b: -b.area_px)
            if lo <= b.length_px * gsd_m <= hi and b.natural_fraction <= self.gate.max_natural
        ]
        candidates += solid_bodies(solid, gsd_m=gsd_m, length_m=(lo, hi))
        for b in candidates:
            if any(math.dist(b.center_rc, r.hub_rc) <= 1.5 * r.radius_px for r in rotors):
                continue
            r = rotor_on_body(
                blade,
                center_rc=b.center_rc,
                axis_heading_deg=b.axis_heading_deg,
                length_px=b.length_px,
                gsd_m=gsd_m,
                sun_azimuth_deg=tile.sun_azimuth_deg,
                sun_elevation_deg=tile.sun_elevation_deg,
                params=p,
            )
            if r is not None:
                rotors.append(seat(r))
        rotors = [
            r
            for r in rotors
            if not any(spans_rotor(b, r, gsd_m=gsd_m, share=p.yield_span) for b in blobs)
        ]
        return [(r, self.rotor_detection(r, gsd_m=gsd_m, grid=grid, tile=tile)) for r in rotors]

    def rotor_detection(self, rotor: Rotor, *, gsd_m: float, grid: Grid, tile: Tile) -> Detection:
        """One helicopter as a :class:`Detection`; ``wingspan_m`` is the rotor diameter.

        Without a measured tail the overall length is the called type's.
        """
        diameter_m = 2.0 * rotor.radius_px * gsd_m
        measured = None if rotor.tail_px is None else (rotor.tail_px + rotor.radius_px) * gsd_m
        call = classify_rotor(diameter_m, length_m=measured, gsd_m=gsd_m)
        ref = object_types().get(call.cls)
        length_m = measured or (ref.length_m if ref is not None else 1.2 * diameter_m)
        return make_detection(
            cls=call.cls,
            category="helicopter",
            score=call.score,
            footprint_px=rotor.footprint_px(length_m / gsd_m),
            grid=grid,
            tile=tile,
            detector=self.name,
            detector_version=self.version,
            attributes={
                "blades": str(rotor.blades),
                "evidence": _rotor_evidence(rotor),
                "length": "measured" if measured else "table",
                "alternatives": format_alternatives(call.alternatives),
            },
            length_m=length_m,
            wingspan_m=diameter_m,
            heading_deg=rotor.heading_deg,
        )

    def detect(
        self,
        image: np.ndarray,
        *,
        grid: Grid,
        tile: Tile,
        valid: np.ndarray | None,
    ) -> list[Detection]:
        """Detect, measure and classify objects (see :class:`pipeline.detect.base.Detector`)."""
        gsd = float(self.gsd_m or tile.gsd_m)
        ev = evidence(image, gsd_m=gsd, valid=valid, params=self.params)
        bodies, gsd = self.measured(image, tile=tile, valid=valid, ev_maps=ev)
        blobs = [b for b in bodies if keep_blob(b, gsd_m=gsd, gate=self.gate)]
        helis = self.helicopters(ev, gsd_m=gsd, grid=grid, tile=tile, blobs=blobs, bodies=bodies)
        blobs = [b for b in blobs if not any(_inside_rotor(b, r) for r, _ in helis)]
        rotor_dets = [d for _, d in helis]
        if self.vessels is None:
            out = [
                self.to_detection(b, gsd_m=gsd, grid=grid, tile=tile, gray=ev.gray) for b in blobs
            ]
            return out + rotor_dets
        water = water_mask(image, gsd_m=gsd, valid=valid, params=self.vessels)
        found = find_vessels(image, gsd_m=gsd, valid=valid, params=self.vessels, water=water)
        # aircraft stand on land: drop candidates lying mostly on water or vessels
        wet = water.copy()
        for v in found:
            ring = np.asarray(v.footprint_px)
            wet[draw_polygon(ring[:, 0], ring[:, 1], shape=wet.shape)] = True
        kept = []
        for b in blobs:
            ring = np.asarray(b.footprint_px)
            rr, cc = draw_polygon(ring[:, 0], ring[:, 1], shape=wet.shape)
            if rr.size and float(wet[rr, cc].mean()) > self.max_wet_fraction:
                continue
            kept.append(b)
        out = [self.to_detection(b, gsd_m=gsd, grid=grid, tile=tile, gray=ev.gray) for b in kept]
        out.extend(rotor_dets)
        out.extend(self.vessel_detection(v, gsd_m=gsd, grid=grid, tile=tile) for v in found)
        return out

    def dome_state(
        self, blob: Blob, call: TypeCall, *, gray: np.ndarray, gsd_m: float
    ) -> DomeState | None:
        """Rotodome state of ``blob`` when ``call``'s look-alikes differ by one, else ``None``."""
        if self.domes is None:
            return None
        dome_m = dome_twin(call, lookalike=self.domes.lookalike)
        if dome_m is None:
            return None
        return rotodome_state(
            gray,
            center_rc=blob.center_rc,
            heading_deg=blob.axis_heading_deg,
            length_px=blob.length_px,
            dome_m=dome_m,
            gsd_m=gsd_m,
            params=self.domes,
        )

    def vessel_detection(
        self, blob: VesselBlob, *, gsd_m: float, grid: Grid, tile: Tile
    ) -> Detection:
        """One vessel candidate as a :class:`Detection` (length/beam in metres)."""
        length_m, beam_m = blob.length_px * gsd_m, blob.beam_px * gsd_m
        call = classify_dims(length_m, beam_m, gsd_m=gsd_m, categories=("vessel",), rel=0.1)
        cls = call.cls if call.category == "vessel" else "vessel"
        return make_detection(
            cls=cls,
            category="vessel",
            score=call.score,
            footprint_px=blob.footprint_px,
            grid=grid,
            tile=tile,
            detector=self.name,
            detector_version=self.version,
            attributes={
                "fill": f"{blob.fill:.3f}",
                "water_contact": f"{blob.water_contact:.3f}",
                "alternatives": format_alternatives(call.alternatives),
            },
            length_m=length_m,
            wingspan_m=beam_m,
            heading_deg=blob.axis_heading_deg,
        )

    def to_detection(
        self,
        blob: Blob,
        *,
        gsd_m: float,
        grid: Grid,
        tile: Tile,
        model: str | None = None,
        cls: str | None = None,
        nose: str | None = None,
        score: float | None = None,
        gray: np.ndarray | None = None,
    ) -> Detection:
        """Turn one measured blob into a :class:`Detection` (optionally overriding the call).

        With ``gray`` (the tile's ``(rows, cols)`` brightness,
        :attr:`pipeline.detect.measure.Evidence.gray`) look-alike types that
        differ by a rotodome are told apart (:meth:`dome_state`).
        """
        call, length_m, span_m = blob_to_call(blob, gsd_m=gsd_m)
        dome = None if gray is None else self.dome_state(blob, call, gray=gray, gsd_m=gsd_m)
        if dome is not None:
            call = apply_dome(call, dome)
        attrs = {
            "symmetry": f"{blob.symmetry:.3f}",
            "fill": f"{blob.fill:.3f}",
            "alternatives": format_alternatives(call.alternatives),
        }
        final_cls = cls or call.cls
        category = call.category
        ref = object_types().get(final_cls)
        if ref is not None:
            category = ref.category
        state = (
            nose
            if nose is not None
            else blob_nose(
                blob,
                TypeCall(final_cls, category, call.score, call.chi2, call.alternatives),
                gsd_m=gsd_m,
                length_m=length_m,
            )
        )
        if state is not None and ref is not None and ref.visor_nose:
            attrs["nose_cone"] = state
        if dome is not None:
            attrs["rotodome"] = dome
        return make_detection(
            cls=final_cls,
            category=category,
            score=call.score if score is None else score,
            footprint_px=blob.footprint_px,
            grid=grid,
            tile=tile,
            detector=self.name,
            detector_version=self.version,
            attributes=attrs,
            length_m=length_m,
            wingspan_m=span_m,
            heading_deg=blob.axis_heading_deg,
            model=model,
        )
