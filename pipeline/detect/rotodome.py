"""Rotodome test: tell an airborne-early-warning aircraft from its airframe twin.

An A-50 is an Il-76 airframe with a 10.8 m radar dome on struts over the rear
fuselage; length and span cannot tell them apart, the dome can. Seen from
above the dome is a disc centred on the body axis behind the wing (a little
past mid-length), larger than the fuselage is wide, with a sharp circular
outline against whatever lies under it (wing root, fuselage, ground or the
dome's own shadow).

The test looks for that outline: for centres on the body axis at
``fracs`` of the length from the nose (and one pixel either side), the
radial brightness gradient ``|grad I . r|`` is averaged in ``sectors`` angular
sectors on the circle of the dome's radius and on two neighbouring circles
(``inner`` and ``outer`` times the radius). A sector supports the dome when
its edge on the circle beats the stronger neighbour by ``edge_ratio`` (plus
the image's gradient noise): a circle's edge is sharp in radius everywhere
round, while straight edges (fuselage sides, wing roots) crossing the circle
show up on all three circles alike. The share of supporting sectors decides:
``present`` at ``present_share`` or more, ``absent`` at ``absent_share`` or
less, else ``unknown``; ``unknown`` also when the dome's radius is under
``min_radius_px`` (the outline blurs into its neighbours: at 0.8 m GSD the
A-50's dome has a 6.75 px radius and the test no longer separates).

Thresholds chosen on synthetic development aprons of Il-76, A-50 and Tu-95
(:func:`pipeline.detect.evalrun.dome_scene`, seeds 100-111): at 0.5 m the
A-50s' sector shares were 7/12 or more (52 of 53 at 8/12 or more), the
others' 6/12 or less; at 0.4 m 9/12 or more against 7/12 or less. Figures
on held-out seeds are in the CHANGELOG; never fitted to real imagery.

Units: pixel ``(row, col)``; metres; headings degrees clockwise from grid north.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from pipeline.detect.classify import TypeCall
from pipeline.detect.geometry import heading_vector
from pipeline.objects import object_types

DomeState = Literal["present", "absent", "unknown"]


@dataclass(frozen=True)
class DomeParams:
    """Parameters of the rotodome test (see the module docstring).

    ``fracs``: range of dome-centre positions, as fractions of the length
    from the nose (AEW aircraft carry the dome behind the wing: A-50, E-3 and
    KJ-2000 at about 0.6). ``lookalike``: only types whose posterior is at
    least this share of the best type's are considered twins.
    """

    fracs: tuple[float, float] = (0.55, 0.70)
    inner: float = 0.75
    outer: float = 1.25
    sectors: int = 12
    edge_ratio: float = 1.5
    present_share: float = 0.66  # 8 of 12 sectors
    absent_share: float = 0.5
    min_radius_px: float = 10.0
    lookalike: float = 0.5


def dome_support(
    gray: np.ndarray,
    *,
    center_rc: tuple[float, float],
    heading_deg: float,
    length_px: float,
    radius_px: float,
    params: DomeParams | None = None,
) -> tuple[float, float]:
    """Best share of sectors supporting a circular outline of ``radius_px`` on the body axis.

    ``gray`` is ``(rows, cols)`` brightness; the object is the oriented box of
    ``length_px`` centred on ``center_rc`` with its nose toward ``heading_deg``.
    Returns ``(share, frac)``: the sector share in ``[0, 1]`` and the centre's
    position as a fraction of the length from the nose.
    """
    p = params or DomeParams()
    pad = int(math.ceil(length_px / 2 + p.outer * radius_px + 4))
    r0 = max(0, int(center_rc[0]) - pad)
    c0 = max(0, int(center_rc[1]) - pad)
    chip = gray[r0 : int(center_rc[0]) + pad + 1, c0 : int(center_rc[1]) + pad + 1]
    g = ndimage.gaussian_filter(chip.astype(np.float64), 0.8)
    grad_r = ndimage.sobel(g, 0) / 8.0
    grad_c = ndimage.sobel(g, 1) / 8.0
    noise = 1.4826 * float(np.median(np.abs(grad_r))) + 1e-9
    axis = np.asarray(heading_vector(heading_deg))
    across = np.array([axis[1], -axis[0]])
    nose = np.array([center_rc[0] - r0, center_rc[1] - c0]) + 0.5 * length_px * axis
    theta = np.linspace(0.0, 2.0 * math.pi, 8 * p.sectors, endpoint=False)
    cos, sin = np.cos(theta), np.sin(theta)

    def ring(centre: np.ndarray, radius: float) -> np.ndarray:
        rr, cc = centre[0] + radius * cos, centre[1] + radius * sin
        a = ndimage.map_coordinates(grad_r, [rr, cc], order=1, mode="nearest")
        b = ndimage.map_coordinates(grad_c, [rr, cc], order=1, mode="nearest")
        radial: np.ndarray = np.abs(a * cos + b * sin).reshape(p.sectors, -1).mean(axis=1)
        return radial

    best = (0.0, 0.0, 0.0)  # share, edge ratio, frac
    fracs = np.arange(p.fracs[0], p.fracs[1] + 1e-9, 0.5 / max(length_px, 1.0))
    for f in fracs:
        for lateral in (-1.0, 0.0, 1.0):
            centre = nose - f * length_px * axis + lateral * across
            on = ring(centre, radius_px)
            off = np.maximum(ring(centre, p.inner * radius_px), ring(centre, p.outer * radius_px))
            share = float((on > p.edge_ratio * off + noise).mean())
            ratio = float(on.mean() / (off.mean() + noise))
            if (share, ratio) > best[:2]:
                best = (share, ratio, float(f))
    return best[0], best[2]


def rotodome_state(
    gray: np.ndarray,
    *,
    center_rc: tuple[float, float],
    heading_deg: float,
    length_px: float,
    dome_m: float,
    gsd_m: float,
    params: DomeParams | None = None,
) -> DomeState:
    """``present`` / ``absent`` / ``unknown``: a dome of ``dome_m`` metres over the object.

    ``unknown`` when the dome's radius is under ``min_radius_px`` at ``gsd_m``
    (metres per pixel) or the evidence falls between the two thresholds.
    """
    p = params or DomeParams()
    radius_px = dome_m / 2.0 / gsd_m
    if radius_px < p.min_radius_px:
        return "unknown"
    share, _ = dome_support(
        gray,
        center_rc=center_rc,
        heading_deg=heading_deg,
        length_px=length_px,
        radius_px=radius_px,
        params=p,
    )
    if share >= p.present_share:
        return "present"
    if share <= p.absent_share:
        return "absent"
    return "unknown"


def dome_twin(call: TypeCall, *, lookalike: float = 0.5) -> float | None:
    """Dome diameter (metres) to test for when ``call``'s look-alikes differ by a rotodome.

    Look-alikes are the alternatives whose posterior is at least ``lookalike``
    of the best one's; ``None`` unless some of them carry a dome and some do not.
    """
    types = object_types()
    if not call.alternatives or call.cls not in types:
        return None
    top = call.alternatives[0][1]
    domes = [
        types[n].rotodome_m
        for n, p in call.alternatives
        if n in types and p >= lookalike * top and types[n].category == call.category
    ]
    with_dome = [d for d in domes if d]
    if not with_dome or len(with_dome) == len(domes):
        return None
    return max(with_dome)


def apply_dome(call: TypeCall, state: DomeState) -> TypeCall:
    """``call`` with the alternatives that contradict the dome ``state`` removed.

    ``present`` keeps the types that carry a dome, ``absent`` those that do
    not; the best remaining one becomes the call (posteriors renormalised
    over what is left, the generic floor share kept). ``unknown`` changes
    nothing.
    """
    if state == "unknown" or not call.alternatives:
        return call
    types = object_types()
    want = state == "present"
    kept = tuple(
        (n, p) for n, p in call.alternatives if n in types and bool(types[n].rotodome_m) == want
    )
    if not kept:
        return call
    total = sum(p for _, p in call.alternatives)
    floor = max(0.0, 1.0 - total)
    scale = (1.0 - floor) / max(sum(p for _, p in kept), 1e-12)
    alts = tuple((n, p * scale) for n, p in kept)
    best = types[alts[0][0]]
    return TypeCall(best.name, best.category, alts[0][1], call.chi2, alts)


__all__ = [
    "DomeParams",
    "DomeState",
    "apply_dome",
    "dome_support",
    "dome_twin",
    "rotodome_state",
]
