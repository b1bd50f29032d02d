"""Plan-view 3-D part models of aircraft, helicopters, vehicles and vessels.

Every object is built in a local frame, in metres: ``u`` along the body axis
(positive toward the nose / bow / cab), ``v`` across (positive to starboard),
``z`` up from the ground. The footprint box is centred on the origin and spans
exactly ``u in [-L/2, L/2]`` and ``v in [-S/2, S/2]`` with ``L`` (length) and
``S`` (wingspan, rotor diameter or beam) taken from the reference table
(:mod:`pipeline.objects`), so the rendered outline has the TRUE dimensions.

A :class:`Part` is a convex plan-view polygon (what a nadir sensor sees from
above, drawn in order of ``z_top``) plus the 3-D points whose projection along
the sun direction gives its shadow (the convex hull of the projected points;
a prism from ``z_bottom`` to ``z_top`` sweeps its ring between the two heights).

Fixed-wing aircraft: tapered fuselage with an elliptic nose and a tail cone;
two swept trapezoidal wing halves (tips exactly at ``+-S/2``); a tailplane
(T-tail types carry it at fin height, so its shadow is displaced further); a
vertical fin (its shadow is a long sliver, the classic give-away of tall tails);
engine nacelles protruding ahead of the wing leading edge; propeller discs on
turboprops; the A-50 carries its rotodome (it shares the Il-76 airframe, the dome
is what tells them apart). Fighters get a long pointed nose, a cropped-delta wing
and twin fins.

Nose visor (An-124 and C-5; attribute ``nose_cone`` = ``"open"``)
-----------------------------------------------------------------
The real visor is the front ~11 % of the fuselage and hinges upward about a
transverse hinge on the fuselage crown; the front loading ramp then folds down
to the ground. Seen from nadir this gives, compared with the closed nose:

* the full-width fuselage outline ENDS at the hinge station ``u_h = L/2 - 0.11 L``
  (a blunt, shortened body instead of the rounded nose);
* the raised visor, tilted 70 degrees up, projects as a short full-width cap
  just ahead of the hinge (``Lv cos 70`` long) but stands ``Lv sin 70`` (about
  7 m on an An-124) above the crown, so it casts a markedly LONGER shadow than
  the closed nose, with a squared-off end;
* ahead of the cap, the lowered ramp and the open cargo-bay floor show as a
  narrower (0.6 x fuselage width), BRIGHT metallic strip that reaches to the
  original nose station at ground level (its shadow is short).

So "open" differs from "closed" in outline (blunt body + narrow bright tongue
vs. rounded nose), in brightness (bright floor vs. grey paint) and in shadow
(a tall, square visor shadow vs. the low rounded nose shadow). The nominal
footprint box (``L x S``) is unchanged, so measured length stays comparable.

Helicopters: body, tail boom to ``-L/2``, tail rotor, stub wings on attack
types, rotor blades at a fixed (per-object) angle, and the rotor disc (front
edge at ``+L/2``, diameter ``S``) that counts in the footprint but is not drawn
(the blades are). Vehicles are
boxes with a cab; the ZU-23-2 is a carriage with twin barrels. Vessels have a
pointed bow, deck, superstructure and hatch covers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.objects import ObjectType

Point2 = tuple[float, float]
Point3 = tuple[float, float, float]

#: Fixed-wing types with turboprops (straight-ish wing, propeller discs).
TURBOPROPS = frozenset({"An-22", "C-130", "An-12", "An-26", "A400M", "Il-20", "Tu-95"})
#: Types whose tailplane sits on top of the fin.
T_TAILS = frozenset({"Il-76", "A-50", "C-5", "C-17", "Il-62", "Tu-154", "An-72"})
#: Number of wing-mounted engines (others have engines in the body or at the tail).
WING_ENGINES = {
    "An-124": 4, "C-5": 4, "An-22": 4, "Il-76": 4, "A-50": 4, "C-17": 4, "747": 4,
    "Tu-95": 4, "A400M": 4, "Il-20": 4, "C-130": 4, "An-12": 4, "An-72": 2, "An-26": 2,
    "A320": 2, "737": 2,
}  # fmt: skip
#: Stub-wing span of attack helicopters, as a fraction of overall length.
STUB_WINGS = {"Mi-24": 0.31, "Mi-28": 0.23, "Ka-52": 0.46}
#: Blades per main rotor (coaxial Ka-52 counts both rotors).
ROTOR_BLADES = {"Mi-26": 8, "Mi-8": 5, "Mi-24": 5, "Mi-28": 5, "Ka-52": 6}
_FIGHTER_ROLES = ("fighter", "strike", "attack", "interceptor")


@dataclass(frozen=True)
class Part:
    """One convex piece of an object.

    Parameters
    ----------
    ring : tuple of (u, v)
        Convex plan-view polygon in local metres (not closed).
    z_top : float
        Height of the visible top surface in metres (drawing order).
    solid : tuple of (u, v, z)
        3-D points whose sun-projected convex hull is the part's shadow.
    material : str
        Material key (see :data:`pipeline.synth.render.MATERIALS`).
    shade : float
        Brightness multiplier of the material for this part.
    visible : bool
        Drawn in the image (a rotor disc is footprint-only).
    footprint : bool
        Counts in the object's instance mask.
    cylinder : tuple of float or None
        ``(v0, radius)`` in metres when the part is a cylinder along ``u`` (fuselage,
        nacelle): it is then shaded by the sun like a tube (bright on the sun side,
        dark on the far side) instead of as a flat top.
    """

    ring: tuple[Point2, ...]
    z_top: float
    solid: tuple[Point3, ...]
    material: str
    shade: float = 1.0
    visible: bool = True
    footprint: bool = True
    cylinder: tuple[float, float] | None = None


def prism(
    ring: Sequence[Point2],
    z_bottom: float,
    z_top: float,
    material: str,
    *,
    shade: float = 1.0,
    cylinder: tuple[float, float] | None = None,
) -> Part:
    """A vertical prism: ``ring`` extruded from ``z_bottom`` to ``z_top`` metres."""
    r = tuple((float(u), float(v)) for u, v in ring)
    solid = tuple((u, v, z_bottom) for u, v in r) + tuple((u, v, z_top) for u, v in r)
    return Part(r, float(z_top), solid, material, shade, cylinder=cylinder)


def rect(u0: float, u1: float, v0: float, v1: float) -> tuple[Point2, ...]:
    """Axis-aligned local rectangle ``[u0, u1] x [v0, v1]``."""
    return ((u1, v0), (u1, v1), (u0, v1), (u0, v0))


def ellipse(uc: float, vc: float, ru: float, rv: float, n: int = 24) -> tuple[Point2, ...]:
    """Convex ``n``-gon inscribed in an ellipse of semi-axes ``ru, rv`` (metres).

    With ``n`` a multiple of 4 the vertices include the four extreme points
    ``uc +- ru`` and ``vc +- rv``, so the polygon's extents are exactly the ellipse's.
    """
    return tuple(
        (uc + ru * math.cos(2 * math.pi * k / n), vc + rv * math.sin(2 * math.pi * k / n))
        for k in range(n)
    )


def clip_halfplane(ring: Sequence[Point2], *, u_max: float) -> tuple[Point2, ...]:
    """Clip a convex polygon to ``u <= u_max`` (Sutherland-Hodgman, one plane)."""
    out: list[Point2] = []
    n = len(ring)
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        a_in, b_in = a[0] <= u_max, b[0] <= u_max
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (u_max - a[0]) / (b[0] - a[0])
            out.append((u_max, a[1] + t * (b[1] - a[1])))
    return tuple(out)


def _mirror(ring: Sequence[Point2]) -> tuple[Point2, ...]:
    return tuple((u, -v) for u, v in reversed(ring))


def _is_fighter(t: ObjectType) -> bool:
    return t.length_m < 25.0 and any(r in t.role for r in _FIGHTER_ROLES)


def _fuselage_ring(half_len: float, w: float, nose_len: float, tail_len: float) -> list[Point2]:
    """Right-then-left outline of a fuselage from tail to nose tip (convex)."""
    hw = w / 2.0
    right: list[Point2] = [(-half_len, max(0.3 * hw, min(0.6, hw))), (-half_len + tail_len, hw)]
    k = 8
    for i in range(k, -1, -1):
        th = math.pi / 2 * i / k
        right.append((half_len - nose_len + nose_len * math.cos(th), hw * math.sin(th)))
    # right ends at the nose tip (v=0); left side mirrored back to the tail
    left = [(u, -v) for u, v in reversed(right[:-1])]
    return right + left


def aircraft_parts(t: ObjectType, attributes: Mapping[str, str], *, variant: float) -> list[Part]:
    """Parts of a fixed-wing aircraft of type ``t`` (``variant`` in [0, 1) tweaks paint)."""
    L, S = t.length_m, t.wingspan_m
    hl, hs = L / 2.0, S / 2.0
    fighter = _is_fighter(t)
    turboprop = t.name in TURBOPROPS
    paint = "fighter_paint" if fighter else "aircraft_paint"
    if fighter:
        w = 0.15 * L
        gear, body_h = 0.9, 0.55 * w
        nose_len, tail_len = 0.30 * L, 0.06 * L
        le_root, c_root, c_tip, sweep = 0.12 * L, 0.42 * L, 0.10 * L, 42.0
        wing_z = gear + 0.5 * body_h
        tp_span, tp_chord, tp_sweep = 0.65 * S, 0.17 * L, 40.0
        fin_h = 0.27 * L
    else:
        w = min(max(0.093 * L, 2.4), 7.2)
        gear, body_h = 0.025 * L, 0.95 * w
        nose_len, tail_len = 1.3 * w, 2.2 * w
        le_root, c_root = 0.06 * L, 0.19 * L
        c_tip = 0.32 * c_root
        sweep = 6.0 if turboprop else (35.0 if t.role == "strategic bomber" else 27.0)
        high_wing = "transport" in t.role or "airlift" in t.role or "early warning" in t.role
        wing_z = gear + body_h - 0.3 if high_wing else gear + 0.6
        tp_span, tp_chord, tp_sweep = 0.42 * S, 0.10 * L, 33.0
        fin_h = 0.30 * L
    body_top = gear + body_h
    tan_sw = math.tan(math.radians(sweep))
    parts: list[Part] = []

    # engines (below a high wing, so drawn first; they protrude ahead of the leading edge)
    n_eng = 0 if fighter else WING_ENGINES.get(t.name, 0)
    etas = {4: (0.34, 0.62), 2: (0.34,)}.get(n_eng, ())
    e_len, e_wid = 0.085 * L, 0.042 * L
    for eta in etas:
        for side in (1.0, -1.0):
            v = side * eta * hs
            u_le = le_root - abs(v) * tan_sw
            uc = u_le + 0.15 * e_len
            ez = wing_z - 0.2 - 0.8 * e_wid
            parts.append(
                prism(
                    ellipse(uc, v, e_len / 2, e_wid / 2, 16),
                    ez - e_wid / 2,
                    ez + e_wid / 2,
                    "engine",
                )
            )
            if turboprop:
                prop_d = min(0.16 * L, 1.6 * e_len)
                pu = uc + e_len / 2 + 0.1
                parts.append(
                    prism(
                        rect(pu - 0.15, pu + 0.15, v - prop_d / 2, v + prop_d / 2),
                        ez,
                        ez + 0.1,
                        "dark",
                        shade=0.9,
                    )
                )

    # fuselage, possibly with the nose visor open
    fus = _fuselage_ring(hl, w, nose_len, tail_len)
    open_visor = t.visor_nose and attributes.get("nose_cone", "closed") == "open"
    if open_visor:
        lv = 0.11 * L
        u_h = hl - lv
        parts.append(prism(clip_halfplane(fus, u_max=u_h), gear, body_top, paint,
                           cylinder=(0.0, w / 2)))  # fmt: skip
        # bright lowered ramp + cargo-bay floor reaching the original nose station
        rw = 0.6 * w
        parts.append(prism(rect(u_h - 0.5, hl, -rw / 2, rw / 2), 0.0, gear + 0.4, "cargo_floor"))
        # the raised visor: a tilted shell above the hinge
        tilt = math.radians(70.0)
        cap_u1 = u_h + lv * math.cos(tilt) + 0.5
        top_z = body_top + lv * math.sin(tilt)
        cap = rect(u_h - 0.4, cap_u1, -0.45 * w, 0.45 * w)
        solid = (
            tuple((u_h, s * 0.45 * w, body_top) for s in (1, -1))
            + tuple((cap_u1, s * 0.35 * w, top_z) for s in (1, -1))
            + tuple((u_h, s * 0.45 * w, body_top - 0.5 * body_h) for s in (1, -1))
        )
        parts.append(Part(cap, top_z, solid, paint, shade=0.93))
    else:
        parts.append(prism(fus, gear, body_top, paint, cylinder=(0.0, w / 2)))

    # wings (two convex halves; tips exactly at +-S/2)
    tip_le = le_root - hs * tan_sw
    right_wing = ((le_root, 0.0), (tip_le, hs), (tip_le - c_tip, hs), (le_root - c_root, 0.0))
    for ring in (right_wing, _mirror(right_wing)):
        parts.append(prism(ring, wing_z - 0.3, wing_z, paint, shade=0.96))

    # tailplane, shifted forward if its tips would pass the tail end
    ths = tp_span / 2.0
    tp_te_root = -hl + 0.015 * L
    tp_le_root = tp_te_root + tp_chord
    tp_tip_le = tp_le_root - ths * math.tan(math.radians(tp_sweep))
    tp_tip_te = tp_tip_le - 0.45 * tp_chord
    shift = max(0.0, (-hl + 0.01 * L) - tp_tip_te)
    tp_z = fin_h - 0.3 if (t.name in T_TAILS) else body_top - 0.2
    right_tp = (
        (tp_le_root + shift, 0.0),
        (tp_tip_le + shift, ths),
        (tp_tip_te + shift, ths),
        (tp_te_root + shift, 0.0),
    )
    for ring in (right_tp, _mirror(right_tp)):
        parts.append(prism(ring, tp_z - 0.25, tp_z, paint, shade=0.97))

    if t.rotodome_m:  # the rotodome on struts over the rear fuselage (A-50: 10.8 m across)
        dome_r = t.rotodome_m / 2.0
        dz = body_top + 3.2
        dome = ellipse(-0.12 * L, 0.0, dome_r, dome_r, 32)
        parts.append(prism(dome, dz, dz + 1.8, paint, shade=0.92))

    # vertical fin(s): a thin plan sliver whose shadow is a tall trapezoid
    fin_u0, fin_u1 = -hl + 0.005 * L, -hl + 0.17 * L
    fin_top0, fin_top1 = -hl + 0.0, -hl + 0.07 * L
    fin_vs = (-0.22 * w, 0.22 * w) if fighter else (0.0,)
    fw = max(0.25, 0.05 * w)
    for fv in fin_vs:
        ring = rect(fin_u0, fin_u1, fv - fw / 2, fv + fw / 2)
        solid = (
            (fin_u0, fv, body_top), (fin_u1, fv, body_top),
            (max(fin_top0, -hl), fv, fin_h), (fin_top1, fv, fin_h),
        )  # fmt: skip
        parts.append(Part(ring, fin_h, solid, paint, shade=0.9))

    # paint differs between airframes (fresh white to weathered grey), same across dates
    shade = 0.84 + 0.2 * variant
    return [
        Part(p.ring, p.z_top, p.solid, p.material, p.shade * shade, p.visible, p.footprint,
             p.cylinder)
        for p in parts
    ]  # fmt: skip


def helicopter_parts(t: ObjectType, *, variant: float) -> list[Part]:
    """Parts of a helicopter: body, boom, tail rotor, blades and (footprint-only) disc."""
    L, D = t.length_m, t.wingspan_m
    hl, r = L / 2.0, D / 2.0
    hub = hl - r
    body_front, body_rear = hub + 0.30 * L, hub - 0.22 * L
    wb = 0.095 * L
    body_h = 0.16 * L
    n = 10
    body: list[Point2] = [
        (body_rear, 0.4 * wb),
        (body_rear + 0.25 * (body_front - body_rear), wb / 2),
    ]
    nose = 0.18 * L
    for i in range(n, -1, -1):
        th = math.pi / 2 * i / n
        body.append((body_front - nose + nose * math.cos(th), wb / 2 * math.sin(th)))
    body = body + [(u, -v) for u, v in reversed(body[:-1])]
    parts: list[Part] = []
    if t.name in STUB_WINGS:  # weapon pylons of attack helicopters
        sw = STUB_WINGS[t.name] * L
        stub = rect(hub - 0.16 * L, hub - 0.07 * L, -sw / 2, sw / 2)
        parts.append(prism(stub, 1.6, 2.0, "heli_paint", shade=0.9))
    parts += [
        prism(
            rect(-hl + 0.04 * L, body_rear + 0.5, -0.018 * L, 0.018 * L),
            1.8,
            2.8,
            "heli_paint",
            shade=0.95,
        ),
        prism(body, 0.4, body_h, "heli_paint"),
        prism(rect(-hl, -hl + 0.06 * L, -0.012 * L, 0.012 * L), 1.5, 0.2 * L, "heli_paint"),
        prism(rect(-hl + 0.02 * L, -hl + 0.035 * L, -0.075 * L, 0.075 * L), 2.5, 2.6, "dark"),
    ]
    # rotor disc: in the footprint (front edge at +L/2), not drawn
    disc = ellipse(hub, 0.0, r, r, 64)
    parts.append(Part(disc, 0.0, (), "dark", visible=False))
    nb = ROTOR_BLADES.get(t.name, 5)
    chord = max(0.022 * D, 0.3)
    rz = 0.18 * L
    phase = 360.0 * variant
    for k in range(nb):
        a = math.radians(phase + 360.0 * k / nb)
        ca, sa = math.cos(a), math.sin(a)
        pts = [(0.0, -chord / 2), (r * 0.995, -chord / 2), (r * 0.995, chord / 2), (0.0, chord / 2)]
        ring = tuple((hub + p[0] * ca - p[1] * sa, p[0] * sa + p[1] * ca) for p in pts)
        parts.append(prism(ring, rz - 0.1, rz, "blade"))
    parts.append(prism(ellipse(hub, 0.0, 0.6, 0.6, 12), rz - 0.6, rz + 0.2, "dark"))
    return parts


def vehicle_parts(t: ObjectType, *, variant: float) -> list[Part]:
    """Parts of a ground vehicle (truck, pickup, towed gun)."""
    L, W = t.length_m, t.wingspan_m
    hl, hw = L / 2.0, W / 2.0
    # the footprint (instance mask) of a vehicle is its whole L x W envelope: barrels,
    # tow bars and mirrors thinner than a pixel still belong to the object
    envelope = Part(rect(-hl, hl, -hw, hw), 0.0, (), "dark", visible=False)
    return [*_vehicle_body(t, variant=variant), envelope]


def _vehicle_body(t: ObjectType, *, variant: float) -> list[Part]:
    L, W = t.length_m, t.wingspan_m
    hl, hw = L / 2.0, W / 2.0
    if t.name == "ZU-23-2":
        return [
            prism(rect(-hl, hl - 0.3 * L, -hw, hw), 0.0, 0.5, "olive", shade=0.85),
            prism(rect(-hl + 0.2, hl - 0.45 * L, -0.3 * W, 0.3 * W), 0.5, 1.4, "olive"),
            prism(rect(-0.1 * L, hl, -0.12 * W - 0.06, -0.12 * W + 0.06), 1.3, 1.4, "dark"),
            prism(rect(-0.1 * L, hl, 0.12 * W - 0.06, 0.12 * W + 0.06), 1.3, 1.4, "dark"),
        ]
    if t.name == "pickup":
        body = "pickup_white" if variant < 0.6 else "tan"
        return [
            prism(rect(-hl, hl - 0.55 * L, -hw, hw), 0.0, 0.9, body, shade=0.9),
            prism(rect(-hl + 0.12, hl - 0.57 * L, -hw + 0.12, hw - 0.12), 0.0, 0.95, "dark"),
            prism(rect(hl - 0.55 * L, hl - 0.18 * L, -hw, hw), 0.0, 1.8, body),
            prism(rect(hl - 0.18 * L, hl, -0.96 * hw, 0.96 * hw), 0.0, 1.1, body, shade=0.95),
        ]
    cargo = "canvas" if variant < 0.5 else "olive"
    return [
        prism(rect(-hl, hl - 0.27 * L, -hw, hw), 0.0, 3.3, cargo),
        prism(rect(hl - 0.25 * L, hl, -0.95 * hw, 0.95 * hw), 0.0, 2.9, "olive", shade=1.05),
    ]


def vessel_parts(t: ObjectType, *, variant: float) -> list[Part]:
    """Parts of a moored vessel: hull with pointed bow, deck fittings, superstructure."""
    L, B = t.length_m, t.wingspan_m
    hl, hb = L / 2.0, B / 2.0
    hull = [
        (-hl, -0.42 * hb), (-hl + 0.02 * L, -hb), (hl - 0.18 * L, -hb), (hl - 0.06 * L, -0.6 * hb),
        (hl, 0.0),
        (hl - 0.06 * L, 0.6 * hb), (hl - 0.18 * L, hb), (-hl + 0.02 * L, hb), (-hl, 0.42 * hb),
    ]  # fmt: skip
    free = 6.0 if L < 120 else 9.0
    deck = "deck_red" if t.name == "cargo ship" else "deck_grey"
    parts = [prism(hull, 0.0, free, deck)]
    if t.name == "cargo ship":
        for k in range(5):
            u0 = -hl + 0.22 * L + k * 0.13 * L
            parts.append(
                prism(
                    rect(u0, u0 + 0.11 * L, -0.38 * B, 0.38 * B),
                    free,
                    free + 1.2,
                    "hatch",
                    shade=0.95 + 0.04 * (k % 2),
                )
            )
        parts.append(
            prism(
                rect(-hl + 0.04 * L, -hl + 0.15 * L, -0.42 * B, 0.42 * B),
                free,
                free + 13.0,
                "superstructure",
            )
        )
    elif t.name == "submarine":
        parts.append(prism(rect(0.05 * L, 0.2 * L, -0.1 * B, 0.1 * B), free, free + 6.0, "dark"))
    else:
        parts.append(
            prism(
                rect(-0.12 * L, 0.12 * L, -0.36 * B, 0.36 * B), free, free + 9.0, "superstructure"
            )
        )
        parts.append(
            prism(
                rect(-0.05 * L, 0.02 * L, -0.15 * B, 0.15 * B),
                free + 9.0,
                free + 17.0,
                "superstructure",
                shade=0.9,
            )
        )
    return parts


def object_parts(
    t: ObjectType, attributes: Mapping[str, str], *, variant: float = 0.5
) -> list[Part]:
    """The part model of one object of type ``t`` (dispatch on category)."""
    if t.category == "aircraft":
        return aircraft_parts(t, attributes, variant=variant)
    if t.category == "helicopter":
        return helicopter_parts(t, variant=variant)
    if t.category == "vehicle":
        return vehicle_parts(t, variant=variant)
    return vessel_parts(t, variant=variant)


def object_height(parts: Sequence[Part]) -> float:
    """Tallest point of a part model, metres."""
    return max((p[2] for part in parts for p in part.solid), default=0.0)
