"""Helicopters found body-first: a rotor looked for around a measured body.

The rotor finder (:func:`pipeline.detect.rotor.find_rotors`) starts from
hub-vote peaks and takes the rotor radius as the 30th percentile of all
radial runs. Where pavement joints run through the hub, their dashes add
runs of several rotor radii and pull that radius off the blades; where the
blades are faint, no vote peak forms. A measured body of helicopter size
(fuselage, stub wings, boom) says where the hub can be: on the body axis,
or displaced from it away from the sun by the blades' shadow offset. This
test looks there:

1. **Hubs** -- the ``body_hubs`` strongest hub-vote pixels (2 px apart) on the
   body axis segment (the body's length), shifted by 0 to the blades'
   farthest shadow offset away from the sun.
2. **Blades** -- around each hub, the radial runs off the body axis (more
   than ``body_axis_sep_deg`` from it: the fuselage, boom and a joint along
   them are no blades). For every run length in the rotor radius range, the
   runs ending within ``equal_tol`` of it must pass the rotor finder's blade
   test (:func:`pipeline.detect.rotor._blade_count`: evenly spaced for 5-8
   blades, at least three of them, on three lines through the hub). The
   radius with the most such runs wins (then the shorter: runs
   over-measure); the rotor radius is their 30th percentile, as in the star
   test. Unlike a free-standing star, the radius must be a table
   helicopter's rotor radius within ``equal_tol``, and that radius at most
   ``body_max_radius_m``: the body is weaker evidence than a full star. On
   real airports (Airbus sample, development images) 9 of the 13 rotors
   found this way were of Mi-26 size (16 m) and 8 of those were markings and
   vehicles around large aircraft, while on synthetic airbases the Mi-26's
   long blades are found by the star test anyway (the 12.5 m bound lost none
   of the body-first finds on seeds 7000-7009).
3. **Tail and heading** -- the longest run along the body axis of
   helicopter proportions (``tail_min_ratio``-``tail_max_ratio`` rotor radii)
   is the boom; the nose points away from it. Without one the nose points
   from the body's middle toward the hub (a rotor sits forward of the
   boom), and the length is left to the table.

The evidence is the same kind as a free-standing blade star, with the body
as the prior that replaces the vote peak, so the result is an ordinary
:class:`pipeline.detect.rotor.Rotor` (``on_body`` set).

The body also checks a star rotor's heading (:func:`align_to_body`): the
star test takes the tail from the longest radial run of boom proportions,
which may be a blade's shadow or a pavement joint. Where that run lies more
than ``body_align_deg`` off the axis of the body under the hub, or no tail
run was measured, the heading follows the body axis instead, the tail
pointing to the side where the object mask runs farther along it from the
hub (the boom: 1.2-1.5 rotor radii behind the hub, the nose about 0.7 ahead).

Units: pixel ``(row, col)``; headings degrees clockwise from grid north.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage
from skimage.measure import regionprops

from pipeline.detect.geometry import heading_vector, vector_heading
from pipeline.detect.rotor import (
    BladeField,
    Rotor,
    RotorParams,
    _blade_count,
    _run_length,
    _shadow_ray,
    radial_runs,
)
from pipeline.objects import types_in


@dataclass(frozen=True)
class Body:
    """Where a helicopter body may be: centre ``(row, col)``, axis heading, length.

    Units: pixels; the heading in degrees clockwise from grid north (either end).
    """

    center_rc: tuple[float, float]
    axis_heading_deg: float
    length_px: float


def solid_bodies(solid: np.ndarray, *, gsd_m: float, length_m: tuple[float, float]) -> list[Body]:
    """Connected parts of ``solid`` (object pixels, blades opened away) of body length.

    The length is the major axis of the part's moment ellipse (1.15 times a
    bar's length); parts outside ``length_m`` (metres) are left out. Where
    dark pavement joints join a dark fuselage to a grid, the measured objects
    lose the body; opened, the joints go and the body stands alone.
    """
    lab, _ = ndimage.label(solid)
    out: list[Body] = []
    for rp in regionprops(lab):
        length = float(rp.axis_major_length)
        if not length_m[0] <= length * gsd_m <= length_m[1]:
            continue
        th = float(rp.orientation)
        r, c = rp.centroid
        axis = vector_heading(math.cos(th), math.sin(th))
        out.append(Body((float(r) + 0.5, float(c) + 0.5), axis, length))
    return out


#: A hub's best blade set: (most equal runs, minus the radius), hub, run angles,
#: run reaches, off-axis runs, equal runs, blade count.
_Best = tuple[tuple[int, float], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]


def _off_axis(angles: np.ndarray, axis_rad: float, sep_rad: float) -> np.ndarray:
    """True for angles more than ``sep_rad`` from the axis line (either way)."""
    d = np.abs((angles - axis_rad + math.pi / 2.0) % math.pi - math.pi / 2.0)
    return d > sep_rad


def _hub_candidates(
    field: BladeField,
    centre: np.ndarray,
    axis: np.ndarray,
    length_px: float,
    shadow: np.ndarray,
    count: int,
) -> list[np.ndarray]:
    """The ``count`` strongest vote pixels on the axis segment and its shadow shifts."""
    along = np.arange(-length_px / 2.0, length_px / 2.0 + 1e-9, 1.0)
    pts = centre[None, None, :] + along[:, None, None] * axis + shadow[None, :, :]
    pts = np.rint(pts.reshape(-1, 2) - 0.5)
    rows, cols = field.votes.shape
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < rows) & (pts[:, 1] >= 0) & (pts[:, 1] < cols)
    pts = np.unique(pts[inside], axis=0)
    if pts.size == 0:
        return []
    v = field.votes[pts[:, 0].astype(np.int64), pts[:, 1].astype(np.int64)]
    chosen: list[np.ndarray] = []
    for j in np.argsort(-v, kind="stable"):
        if v[j] <= 0 or len(chosen) >= count:
            break
        if all(np.abs(pts[j] - c).max() > 2.0 for c in chosen):
            chosen.append(pts[j])
    return chosen


def rotor_on_body(
    field: BladeField,
    *,
    center_rc: tuple[float, float],
    axis_heading_deg: float,
    length_px: float,
    gsd_m: float,
    sun_azimuth_deg: float | None = None,
    sun_elevation_deg: float | None = None,
    params: RotorParams | None = None,
) -> Rotor | None:
    """The rotor over a measured body, or ``None`` when its blades do not show.

    Parameters
    ----------
    field : BladeField
        :func:`pipeline.detect.rotor.blade_field` of the image.
    center_rc : tuple of float
        Body centre, pixel ``(row, col)``.
    axis_heading_deg : float
        Body axis, degrees clockwise from grid north (either end).
    length_px : float
        Body length along the axis, pixels.
    gsd_m : float
        Ground sample distance, metres per pixel.
    sun_azimuth_deg, sun_elevation_deg : float, optional
        Sun position (degrees); unknown: hubs on the axis only.
    params : RotorParams, optional
    """
    p = params or RotorParams()
    axis = np.array(heading_vector(axis_heading_deg))
    centre = np.asarray(center_rc, dtype=np.float64)
    if sun_azimuth_deg is None:
        shadow = np.zeros((1, 2))
    else:
        toward, far = _shadow_ray(gsd_m, sun_azimuth_deg, sun_elevation_deg, p)
        shadow = -np.arange(0.0, far + 1e-9, 1.0)[:, None] * toward
    axis_rad = math.atan2(axis[1], axis[0])
    sep = math.radians(p.body_axis_sep_deg)
    table = np.array(
        [
            t.wingspan_m / 2.0 / gsd_m
            for t in types_in("helicopter")
            if t.wingspan_m / 2.0 <= p.body_max_radius_m
        ]
    )
    if table.size == 0:
        return None
    best: _Best | None = None
    for hub in _hub_candidates(field, centre, axis, length_px, shadow, p.body_hubs):
        runs = radial_runs(field, hub)
        if len(runs) < p.min_equal:
            continue
        ang = np.array([a for a, _ in runs])
        reach = np.array([r for _, r in runs])
        off = _off_axis(ang, axis_rad, sep)
        for rho in np.unique(reach[off & (reach >= field.r_lo) & (reach <= field.r_hi)]):
            if not (np.abs(table - rho) <= p.equal_tol * table).any():
                continue
            eq = off & (np.abs(reach - rho) <= p.equal_tol * rho)
            if int(eq.sum()) < p.min_equal:
                continue
            n = _blade_count(ang[eq], p.blade_angle_tol_deg)
            key = (int(eq.sum()), -float(rho))
            if n is not None and (best is None or key > best[0]):
                best = (key, hub, ang, reach, off, eq, n)
    if best is None:
        return None
    _, hub, ang, reach, off, eq, n = best
    radius = float(np.percentile(reach[eq], 30))
    centre_hub = hub + 0.5
    boom = ~off & (reach >= p.tail_min_ratio * radius) & (reach <= p.tail_max_ratio * radius)
    tail: float | None = None
    if boom.any():
        j = int(np.argmax(np.where(boom, reach, -1.0)))
        tail = float(reach[j])
        heading = vector_heading(-math.cos(ang[j]), -math.sin(ang[j]))
    else:
        ahead = float((centre_hub - centre) @ axis) >= 0.0
        heading = axis_heading_deg if ahead else (axis_heading_deg + 180.0) % 360.0
    return Rotor(
        hub_rc=(float(centre_hub[0]), float(centre_hub[1])),
        radius_px=radius,
        tail_px=tail,
        heading_deg=heading,
        blades=n,
        on_body=True,
    )


def _axis_run(mask: np.ndarray, hub: np.ndarray, direction: np.ndarray, *, max_gap: float) -> float:
    """Longest run of ``mask`` from ``hub`` along ``direction`` turned up to 6 degrees (pixels)."""
    heading = vector_heading(float(direction[0]), float(direction[1]))
    return max(
        _run_length(mask, hub, np.array(heading_vector(heading + d)), 0.0, max_gap=max_gap)
        for d in range(-6, 7, 2)
    )


def body_tail(
    solid: np.ndarray,
    hub_rc: tuple[float, float],
    radius_px: float,
    *,
    min_elongation: float = 1.6,
    objects: np.ndarray | None = None,
) -> tuple[np.ndarray, float] | None:
    """Unit ``(drow, dcol)`` from the hub toward the tail along the body under it, and its reach.

    The body is the connected part of ``solid`` (object pixels, blades opened
    away) nearest the hub, within 0.3 rotor radii of it, cut to a window of
    2.2 rotor radii; its axis is the major axis of its moment ellipse, and
    the tail is the way the body reaches farther from the hub (reach in
    pixels). With ``objects`` (the object mask before blades were opened
    away) the reaches are runs of it along the axis from the hub, bridging
    gaps of 0.12 rotor radii: the opening takes a tail boom thinner than a
    blade's bound off ``solid``, and blade shadows cut the fuselage, which
    left the cabin ahead of the hub as the longer side. ``None`` when no
    part is that near or the part is not elongated (major over minor axis
    below ``min_elongation``).
    """
    h = int(math.ceil(2.2 * radius_px))
    r0, c0 = int(math.floor(hub_rc[0])), int(math.floor(hub_rc[1]))
    top, left = max(0, r0 - h), max(0, c0 - h)
    window = (slice(top, r0 + h + 1), slice(left, c0 + h + 1))
    sub = solid[window]
    hr, hc = r0 - top, c0 - left
    if not (0 <= hr < sub.shape[0] and 0 <= hc < sub.shape[1]):
        return None
    lab, n = ndimage.label(sub)
    if n == 0:
        return None
    dist, (ir, ic) = ndimage.distance_transform_edt(lab == 0, return_indices=True)
    if dist[hr, hc] > 0.3 * radius_px:
        return None
    part = lab == lab[ir[hr, hc], ic[hr, hc]]
    rp = regionprops(part.astype(np.uint8))[0]
    if rp.axis_major_length < min_elongation * max(rp.axis_minor_length, 1e-6):
        return None
    th = float(rp.orientation)
    axis = np.array([math.cos(th), math.sin(th)])
    if objects is None:
        rr, cc = np.nonzero(part)
        proj = (rr - (hub_rc[0] - top - 0.5)) * axis[0] + (cc - (hub_rc[1] - left - 0.5)) * axis[1]
        ahead, behind = float(proj.max()), float(-proj.min())
    else:
        look = ndimage.binary_dilation(objects[window])
        hub = np.array([hub_rc[0] - top, hub_rc[1] - left])
        gap = max(1.0, 0.12 * radius_px)
        ahead = _axis_run(look, hub, axis, max_gap=gap)
        behind = _axis_run(look, hub, -axis, max_gap=gap)
    return (axis, ahead) if ahead > behind else (-axis, behind)


def align_to_body(
    rotor: Rotor,
    solid: np.ndarray,
    *,
    params: RotorParams | None = None,
    objects: np.ndarray | None = None,
) -> Rotor:
    """``rotor`` headed along the body under its hub where its tail run lies off it or is missing.

    When the tail direction (opposite ``heading_deg``) is more than
    ``body_align_deg`` off the axis of :func:`body_tail` (``objects`` goes to
    it), or the rotor has no measured tail run (its heading was then taken
    from a blade), the nose points away from the body's tail and the tail
    run is dropped (the length is then the called type's). Otherwise, or
    without an elongated body at the hub, ``rotor`` is returned unchanged.
    """
    p = params or RotorParams()
    found = body_tail(solid, rotor.hub_rc, rotor.radius_px, objects=objects)
    if found is None:
        return rotor
    tail, _ = found
    nose = np.array(heading_vector(rotor.heading_deg))
    off = math.degrees(math.acos(min(1.0, abs(float(nose @ tail)))))
    if off <= p.body_align_deg and rotor.tail_px is not None:
        return rotor
    return replace(rotor, heading_deg=vector_heading(-tail[0], -tail[1]), tail_px=None)


__all__ = ["Body", "align_to_body", "body_tail", "rotor_on_body", "solid_bodies"]
