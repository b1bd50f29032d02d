"""Helicopters by their main rotor: thin dark blades radiating from one hub.

A parked helicopter seen from above is a fuselage and tail boom under a star
of rotor blades a few decimetres wide; on a dark surface the fuselage may
barely show, but the blades and their shadows do. Steps:

1. **Blade evidence** -- dark structures narrower than ``blade_max_m`` (black
   top-hat, :func:`thin_dark_lines`), minus straight lines too long to be a
   blade (pavement joints run across the whole apron).
2. **Hub votes** -- every blade pixel votes along its own line direction
   (structure tensor); the hub is where many lines meet.
3. **Rotor test** -- around a vote peak, the radial runs (blade pixels whose
   line passes through the peak) must be equally long (a rotor's blades are)
   and evenly spaced for 5-8 blades on at least three lines through the
   hub (two crossing joints are no rotor). Where the fuselage or its shadow
   hides the other blades, two equally long blades plus a tail boom of
   helicopter proportions off both blade lines also pass; such a rotor is
   ``tail_confirmed``, needs a body along its axis and yields to a
   fixed-wing aircraft measured in its disc
   (:func:`pipeline.detect.detectors.tail_confirmed_holds`). The blades'
   shadows meet at a second hub displaced away from the sun: when the sun
   is known, of two hubs that both pass the rotor test the one away from
   the sun is dropped; a shadows' hub whose real hub failed the test moves
   to the real hub's vote peak (:func:`sunward_twin`).
4. **Measurement** -- rotor radius = 30th percentile of the run lengths, each
   run followed to its tip on weaker evidence (runs over-measure far more
   often than they fall short: a blade whose shadow or the tail boom
   continues its line); tail = the longest run of helicopter
   proportions beyond the rotor (boom and tail rotor; ``None`` if none);
   heading = from the tail through the hub; overall length = tail run +
   radius (the front of the rotor disc is the front of the footprint, as in
   the reference table's ``length_m``).
5. **Hub onto the body** (:func:`seat_on_body`) -- on dark asphalt the blades
   hardly differ from the ground and only their shadows show, so the star
   found is the shadows' hub, displaced from the real one away from the sun
   by (rotor height) / tan(sun elevation). The fuselage, brighter than such
   ground, lies on the body axis through the real hub: the hub is moved
   toward the sun to where the axis runs along the fuselage.

Typing is :func:`pipeline.detect.classify.classify_rotor` against the table's
helicopter rows, whose ``wingspan_m`` column holds the rotor diameter.

Units: pixel ``(row, col)``; metres; headings degrees clockwise from grid north.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage
from skimage.feature import structure_tensor

from pipeline.detect.geometry import Ring, heading_vector, oriented_rect, vector_heading
from pipeline.objects import types_in


@dataclass(frozen=True)
class RotorParams:
    """Parameters of the rotor finder (metres unless stated).

    Blade evidence: pixels darker than their surroundings by ``blade_contrast``
    (relative) and ``blade_sigma`` noise sigmas in structures narrower than
    ``blade_max_m`` (blades are 0.3-0.7 m wide, fuselages 1.5 m and more), or
    darker than ``threshold_sigma`` sigmas of the background; straight lines
    longer than ``max_line_radii`` of the largest rotor radius are not blades
    (pavement joints). Hubs: the ``max_hubs`` strongest vote peaks, each
    needing ``min_blades`` radial directions within ``hub_tol_m``.
    Blades: at least ``min_equal`` radial runs end within ``equal_tol`` of the
    rotor radius (the runs' 30th percentile, within ``radius_slack`` of the
    table's smallest and largest helicopter) and lie within ``blade_angle_tol_deg`` of an even
    spacing (see :func:`_blade_count`); or two such runs and a tail run at
    least ``tail_blade_sep_deg`` off both (:func:`_two_blades_and_tail`; 180
    turns this off). Tail: the run from hub to tail end is
    ``tail_min_ratio``-``tail_max_ratio`` rotor radii (the table's types:
    1.2-1.5). ``max_blade_height_m``: highest rotor above the ground (bounds
    the offset of the blades' shadow hub). ``body_reach_radii``,
    ``min_body_gain``, ``min_body_cover``: see :func:`seat_on_body` and
    :func:`body_share` (a tail-confirmed rotor needs ``min_body_cover`` too);
    ``yield_overlap``: a tail-confirmed rotor yields to a fixed-wing blob
    overlapping its disc by this share (see
    :func:`pipeline.detect.detectors.tail_confirmed_holds`); any rotor yields to
    a fixed-wing blob centred in its disc whose length and span are both
    ``yield_span`` of its diameter or more
    (:func:`pipeline.detect.detectors.spans_rotor`). ``twin_votes``,
    ``twin_dip``: see :func:`sunward_twin`. Body-first
    (:func:`pipeline.detect.rotor_body.rotor_on_body`): measured bodies
    ``body_length`` times the table's shortest to longest helicopter are
    searched at ``body_hubs`` hubs for blades more than ``body_axis_sep_deg``
    off the body axis, for table rotors up to ``body_max_radius_m``; a star
    rotor whose tail run lies more than ``body_align_deg`` off the body under
    its hub, or that has no tail run, takes the body's heading
    (:func:`pipeline.detect.rotor_body.align_to_body`).
    """

    blade_contrast: float = 0.08
    blade_sigma: float = 3.0
    blade_max_m: float = 1.0
    threshold_sigma: float = 4.0
    max_line_radii: float = 2.2
    max_hubs: int = 400
    min_blades: int = 4
    hub_tol_m: float = 0.8
    min_equal: int = 3
    equal_tol: float = 0.15
    radius_slack: float = 0.25
    blade_angle_tol_deg: float = 12.0
    tail_blade_sep_deg: float = 25.0
    tail_min_ratio: float = 1.08
    tail_max_ratio: float = 1.8
    max_blade_height_m: float = 8.0
    body_reach_radii: float = 0.5
    min_body_gain: float = 0.25
    min_body_cover: float = 0.6
    yield_overlap: float = 0.2
    twin_votes: float = 0.6
    twin_dip: float = 0.7
    body_length: tuple[float, float] = (0.4, 1.1)
    body_hubs: int = 8
    body_axis_sep_deg: float = 20.0
    body_max_radius_m: float = 12.5
    body_align_deg: float = 25.0
    yield_span: float = 0.9


@dataclass(frozen=True)
class Rotor:
    """One helicopter found by its rotor (pixel units unless stated).

    ``hub_rc`` is the rotor hub; ``radius_px`` the rotor radius;
    ``tail_px`` the distance from the hub to the tail end (``None`` when no
    radial run reaches past the rotor); ``heading_deg`` the nose direction
    (away from the longest radial run); ``blades`` the blade count whose even
    spacing fits the equally long radial runs; ``tail_confirmed`` is True when
    only two blades showed and the tail boom confirmed them (weaker evidence);
    ``on_body`` when the rotor was found around a measured body
    (:func:`pipeline.detect.rotor_body.rotor_on_body`).
    """

    hub_rc: tuple[float, float]
    radius_px: float
    tail_px: float | None
    heading_deg: float
    blades: int
    tail_confirmed: bool = False
    on_body: bool = False

    def footprint_px(self, length_px: float) -> Ring:
        """Closed ring: ``length_px x rotor diameter`` box, front edge at the disc's front."""
        ur, uc = heading_vector(self.heading_deg)
        off = length_px / 2.0 - self.radius_px
        centre = (self.hub_rc[0] - ur * off, self.hub_rc[1] - uc * off)
        return oriented_rect(centre, length_px, 2.0 * self.radius_px, self.heading_deg)


def _blade_half_px(gsd_m: float, p: RotorParams) -> int:
    """Half the widest blade, in pixels (at least 1): the opening that removes blades."""
    return max(1, int(round(p.blade_max_m / gsd_m / 2.0)))


def without_blades(
    mask: np.ndarray, *, gsd_m: float, params: RotorParams | None = None
) -> np.ndarray:
    """``mask`` opened so that structures narrower than ``blade_max_m`` (blades, joints) go."""
    p = params or RotorParams()
    return ndimage.binary_opening(mask, iterations=_blade_half_px(gsd_m, p))


def _shadow_ray(
    gsd_m: float, sun_azimuth_deg: float, sun_elevation_deg: float | None, p: RotorParams
) -> tuple[np.ndarray, float]:
    """Unit ``(drow, dcol)`` toward the sun, and the blades' farthest shadow offset in pixels.

    The offset is ``max_blade_height_m / tan(elevation)``; an unknown
    elevation counts as 30 degrees, and it is clamped to 10-89 degrees.
    """
    elev = min(max(sun_elevation_deg or 30.0, 10.0), 89.0)
    s = math.radians(sun_azimuth_deg)
    toward = np.array([-math.cos(s), math.sin(s)])
    return toward, p.max_blade_height_m / math.tan(math.radians(elev)) / gsd_m


def _radius_range_m(slack: float) -> tuple[float, float]:
    radii = [t.wingspan_m / 2.0 for t in types_in("helicopter")]
    if not radii:
        return (0.0, 0.0)
    return (min(radii) * (1.0 - slack), max(radii) * (1.0 + slack))


def _run_length(
    mask: np.ndarray, hub: np.ndarray, direction: np.ndarray, start: float, max_gap: float = 1.0
) -> float:
    """Distance (pixels) from ``hub`` along ``direction`` to the end of the run of ``mask``.

    Steps of half a pixel from ``start``; the run ends at the first gap longer
    than ``max_gap`` pixels.
    """
    rows, cols = mask.shape
    t, last, gap = start, start, 0.0
    while True:
        r, c = hub + t * direction
        ri, ci = int(r), int(c)
        if not (0 <= ri < rows and 0 <= ci < cols):
            return last
        if mask[ri, ci]:
            last, gap = t, 0.0
        else:
            gap += 0.5
            if gap > max_gap:
                return last
        t += 0.5


def _line_directions(
    thin: np.ndarray, darkening: np.ndarray, *, sigma_px: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of ``thin`` lying on straight lines and their unit line directions.

    Returns ``(rows, cols, dirs)`` with ``dirs`` of shape ``(n, 2)``
    (``(drow, dcol)``); orientation from the structure tensor (integration
    scale ``sigma_px``, coherence > 0.5) of ``darkening``, the continuous
    line-depth image ``thin`` was thresholded from (:func:`thin_dark_lines`).
    Not of ``thin`` itself: a faint one-pixel line 8-14 degrees off an image
    axis thresholds to a staircase of axis-parallel dashes, whose tensor
    leans 7-11 degrees toward the axis (a blade's votes then miss its hub by
    a fifth of its length); in the depth image it is a straight
    anti-aliased ridge, read within 2-4 degrees.
    """
    arr, arc, acc = structure_tensor(
        np.asarray(darkening, dtype=np.float64), sigma=sigma_px, order="rc"
    )
    rr, cc = np.nonzero(thin)
    a, b, c = arr[rr, cc], arc[rr, cc], acc[rr, cc]
    tr = a + c
    diff = np.sqrt((a - c) ** 2 + 4 * b * b)
    coh = diff / np.maximum(tr, 1e-12)
    theta = 0.5 * np.arctan2(2 * b, a - c) + math.pi / 2.0  # along the line
    ok = coh > 0.5
    dirs = np.stack([np.cos(theta[ok]), np.sin(theta[ok])], axis=1)
    return rr[ok], cc[ok], dirs


def _accumulate(
    shape: tuple[int, int], rr: np.ndarray, cc: np.ndarray, dirs: np.ndarray, reach: int
) -> np.ndarray:
    """Votes: every line pixel votes for the points of its line within ``reach`` pixels."""
    acc = np.zeros(shape, dtype=np.float64)
    t = np.arange(-reach, reach + 1, dtype=np.float64)
    vr = np.rint(rr[:, None] + t[None, :] * dirs[:, 0:1]).astype(np.int64).ravel()
    vc = np.rint(cc[:, None] + t[None, :] * dirs[:, 1:2]).astype(np.int64).ravel()
    ok = (vr >= 0) & (vr < shape[0]) & (vc >= 0) & (vc < shape[1])
    np.add.at(acc, (vr[ok], vc[ok]), 1.0)
    return acc


def _radial_clusters(
    hub: np.ndarray,
    pts: np.ndarray,
    dirs: np.ndarray,
    *,
    tol: float,
    r_max: float,
    bin_deg: float,
    min_px: int,
) -> list[tuple[float, float]]:
    """Radial line pixels around ``hub`` grouped by angle: ``(angle_rad, reach_px)`` each.

    Pixels are binned by angle (``bin_deg``) and runs of occupied bins are
    groups. A group's reach is its farthest pixel within ``tol`` of the ray
    from the hub at the group's median angle: near the hub every line's
    pixels spread over many bins and chain groups together, so a pavement
    joint passing a few pixels from the hub, a few degrees off a blade,
    would otherwise lend the blade its length.
    """
    d = pts - hub
    dist = np.linalg.norm(d, axis=1)
    perp = np.abs(d[:, 0] * dirs[:, 1] - d[:, 1] * dirs[:, 0])
    sel = (perp <= tol) & (dist <= r_max) & (dist >= 2.0)
    if not sel.any():
        return []
    vec = d[sel]
    ang = np.arctan2(vec[:, 1], vec[:, 0])
    far = dist[sel]
    nb = int(round(360.0 / bin_deg))
    b = ((ang + math.pi) / (2 * math.pi) * nb).astype(np.int64) % nb
    counts = np.bincount(b, minlength=nb)
    occupied = counts >= 1
    if occupied.all():
        return []
    # circular runs of occupied bins, starting after an empty bin
    start = int(np.argmin(occupied))
    out: list[tuple[float, float]] = []
    run: list[int] = []
    for k in range(1, nb + 1):
        i = (start + k) % nb
        if occupied[i]:
            run.append(i)
            continue
        if run:
            members = np.isin(b, run)
            if int(members.sum()) >= min_px:
                a = ang[members]
                mean = math.atan2(float(np.sin(a).mean()), float(np.cos(a).mean()))
                # reach along the run's own ray: chained bins also hold other lines' pixels
                ray = mean + float(np.median(np.mod(a - mean + math.pi, 2 * math.pi) - math.pi))
                off = np.abs(vec[members, 0] * math.sin(ray) - vec[members, 1] * math.cos(ray))
                on_ray = off <= tol
                along = far[members][on_ray] if on_ray.any() else far[members]
                out.append((mean, float(along.max()) + 0.5))
            run = []
    return out


def thin_dark_lines(gray: np.ndarray, *, size_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Dark structures narrower than ``size_px`` pixels: relative depth and significance.

    The black top-hat (grey closing with a ``size_px`` square, minus the
    image) divided by the closing gives the relative darkening (0 to 1: a
    rotor blade or its shadow darkens the ground by 30-80 %, a pavement joint
    by under 30 %); divided by 1.4826 x its median over the image it gives a
    noise significance.
    """
    g = gray.astype(np.float32)
    closed = ndimage.grey_closing(g, size=(size_px, size_px))
    bth = closed - g
    noise = max(1.4826 * float(np.median(bth)), 1e-6)
    lo = float(np.percentile(g, 1)) if g.size else 0.0
    rel = bth / np.maximum(closed - min(lo, 0.0), 1e-6)
    return rel.astype(np.float32), (bth / noise).astype(np.float32)


@dataclass(frozen=True)
class BladeField:
    """Blade evidence of one image, shared by the hub search and the body-first test.

    ``pts`` ``(n, 2)`` line pixels ``(row, col)`` that may be blades (thin, dark,
    on lines no longer than ``max_line_radii`` of the largest rotor radius) and
    ``dirs`` ``(n, 2)`` their unit line directions; ``votes`` ``(rows, cols)``
    hub votes (every line pixel votes along its line, smoothed over ``tol``);
    ``weak`` ``(rows, cols)`` the weaker evidence blade tips are followed on.
    ``tol`` is the hub tolerance, ``min_px`` the fewest pixels of one radial
    run and ``r_lo``-``r_hi`` the rotor radius range, all in pixels.
    """

    pts: np.ndarray
    dirs: np.ndarray
    votes: np.ndarray
    weak: np.ndarray
    tol: float
    min_px: int
    r_lo: float
    r_hi: float

    def near(self, center_rc: np.ndarray, reach_px: float) -> BladeField:
        """The field with only the line pixels within ``reach_px`` (square) of ``center_rc``.

        ``pts`` are sorted by row (:func:`blade_field`), so the rows are cut
        by bisection: a large image's hundreds of thousands of line pixels
        are not scanned once per hub.
        """
        r, c = float(center_rc[0]), float(center_rc[1])
        i0 = int(np.searchsorted(self.pts[:, 0], r - reach_px, side="left"))
        i1 = int(np.searchsorted(self.pts[:, 0], r + reach_px, side="right"))
        cols = self.pts[i0:i1, 1]
        keep = np.abs(cols - c) <= reach_px
        return replace(self, pts=self.pts[i0:i1][keep], dirs=self.dirs[i0:i1][keep])


def blade_field(
    gray: np.ndarray, z: np.ndarray, *, gsd_m: float, params: RotorParams | None = None
) -> BladeField | None:
    """Blade evidence of an image (see :func:`find_rotors` for ``gray`` and ``z``).

    ``None`` when the table has no helicopter or the image too few blade pixels
    for one rotor.
    """
    p = params or RotorParams()
    r_lo_m, r_hi_m = _radius_range_m(p.radius_slack)
    if r_hi_m <= 0:
        return None
    r_lo, r_hi = r_lo_m / gsd_m, r_hi_m / gsd_m
    dark = z < -p.threshold_sigma
    k = _blade_half_px(gsd_m, p)
    thick = without_blades(dark, gsd_m=gsd_m, params=p)
    rel, line_sig = thin_dark_lines(gray, size_px=2 * k + 1)
    cand = ((rel > p.blade_contrast) & (line_sig > p.blade_sigma) | dark) & ~thick
    rr, cc, dirs = _line_directions(cand, np.clip(rel, 0.0, 1.0))
    # blades end within a rotor radius of the hub: drop long straight lines (pavement joints)
    # a line continues under an object (a joint under a parked aircraft) and past the border
    keep = _line_extent(cand | dark, rr, cc, dirs, limit=int(math.ceil(p.max_line_radii * r_hi)))
    rr, cc, dirs = rr[keep], cc[keep], dirs[keep]
    tol = max(1.0, p.hub_tol_m / gsd_m)
    min_px = max(3, int(round(0.3 * r_lo)))
    if rr.size < p.min_blades * min_px:
        return None
    votes = _accumulate(z.shape, rr, cc, dirs, int(math.ceil(r_hi)))
    rad = int(math.ceil(tol))
    yy, xx = np.mgrid[-rad : rad + 1, -rad : rad + 1]
    disc = (yy**2 + xx**2 <= tol**2).astype(np.float64)
    votes = ndimage.convolve(votes, disc, mode="constant")
    weak = (rel > p.blade_contrast) | (z < -p.blade_sigma)
    order = np.argsort(rr, kind="stable")  # by row, for BladeField.near
    pts = np.stack([rr[order], cc[order]], axis=1).astype(np.float64)
    return BladeField(pts, dirs[order], votes, weak, tol, min_px, r_lo, r_hi)


def _clusters_at(field: BladeField, hub: np.ndarray) -> list[tuple[float, float]]:
    """:func:`_radial_clusters` of ``field`` around ``hub`` (vote-map pixel)."""
    f = field.near(hub, 2.0 * field.r_hi)
    return _radial_clusters(
        hub, f.pts, f.dirs, tol=f.tol, r_max=2.0 * f.r_hi, bin_deg=6.0, min_px=f.min_px
    )


def radial_runs(
    field: BladeField, hub: np.ndarray, clusters: list[tuple[float, float]] | None = None
) -> list[tuple[float, float]]:
    """Radial runs of blade evidence around ``hub`` (vote-map pixel): ``(angle_rad, reach_px)``.

    Line pixels whose line passes within ``tol`` of the hub are grouped by
    angle (or ``clusters``, those groups already made); each run is then
    followed to its tip on the weaker evidence (blade tips cover a pixel only
    partly), by at most 30 % of its length. Reaches are measured from the
    pixel centre ``hub + 0.5``.
    """
    cl = _clusters_at(field, hub) if clusters is None else clusters
    centre = hub + 0.5
    return [
        (
            a,
            min(
                1.3 * r,
                max(
                    r,
                    _run_length(field.weak, centre, np.array([math.cos(a), math.sin(a)]), r - 1.0)
                    + 0.5,
                ),
            ),
        )
        for a, r in cl
    ]


def find_rotors(
    gray: np.ndarray,
    z: np.ndarray,
    *,
    gsd_m: float,
    sun_azimuth_deg: float | None = None,
    sun_elevation_deg: float | None = None,
    params: RotorParams | None = None,
    confirm: Callable[[Rotor], bool] | None = None,
    field: BladeField | None = None,
) -> list[Rotor]:
    """Find helicopters by their rotor blades in a signed residual image.

    Parameters
    ----------
    gray : ndarray
        ``(rows, cols)`` brightness, linear in radiance with zero at black
        (:attr:`pipeline.detect.measure.Evidence.gray`).
    z : ndarray
        ``(rows, cols)`` brightness residual over the local background in noise
        sigmas (:attr:`pipeline.detect.measure.Evidence.z`).
    gsd_m : float
        Ground sample distance, metres per pixel.
    sun_azimuth_deg, sun_elevation_deg : float, optional
        Sun position (degrees); with it the hub of the blades' shadows is told
        from the real hub (it lies away from the sun).
    params : RotorParams, optional
    confirm : callable, optional
        Second test of rotors seen only by two blades and a tail
        (``tail_confirmed``), e.g. a body under the hub; those it rejects are
        dropped before shadow hubs are told, so that they drop no real rotor.
    field : BladeField, optional
        Precomputed :func:`blade_field` of this image with these ``params``.

    Returns
    -------
    list of Rotor
    """
    p = params or RotorParams()
    f = field or blade_field(gray, z, gsd_m=gsd_m, params=p)
    if f is None:
        return []
    votes = f.votes
    peaks = (votes == ndimage.maximum_filter(votes, size=max(3, int(f.r_lo) | 1))) & (
        votes >= p.min_blades * f.min_px
    )
    pr, pc = np.nonzero(peaks)
    order = np.argsort(-votes[pr, pc])[: p.max_hubs]
    found: list[tuple[np.ndarray, list[tuple[float, float]]]] = []
    for j in order:
        hub = np.array([pr[j], pc[j]], dtype=np.float64)
        cl = _clusters_at(f, hub)
        if len(cl) >= p.min_blades:
            found.append((hub, radial_runs(f, hub, cl)))
    measured: list[Rotor] = []
    for hub, ext in found:
        rotor = _measure(hub + 0.5, ext, r_lo=f.r_lo, r_hi=f.r_hi, p=p)
        if rotor is not None and (not rotor.tail_confirmed or confirm is None or confirm(rotor)):
            measured.append(rotor)
    # shadow hubs are told only among hubs that pass the rotor test: a vote peak on the
    # blade star sun-ward of the real hub is no rotor and must not drop the real one
    measured = _drop_shadow_hubs(
        measured, gsd_m, sun_azimuth_deg, sun_elevation_deg, tol=f.tol, p=p
    )
    # a shadows' star whose real hub failed the rotor test: move it to the real hub
    measured = [
        sunward_twin(
            r,
            votes,
            gsd_m=gsd_m,
            sun_azimuth_deg=sun_azimuth_deg,
            sun_elevation_deg=sun_elevation_deg,
            params=p,
        )
        for r in measured
    ]
    out: list[Rotor] = []
    # strongest vote first, full blade stars before tail-confirmed pairs
    for rotor in sorted(measured, key=lambda r: r.tail_confirmed):
        if all(
            math.dist(rotor.hub_rc, o.hub_rc) > o.radius_px + rotor.radius_px * 0.5 for o in out
        ):
            out.append(rotor)
    return out


def _line_extent(
    mask: np.ndarray, rr: np.ndarray, cc: np.ndarray, dirs: np.ndarray, *, limit: int
) -> np.ndarray:
    """True for line pixels whose straight run in ``mask`` (both ways) is at most ``limit`` px.

    The run follows the pixel's line direction and ends at the first gap of
    two samples (one-pixel steps); outside the image it goes on (unknown).
    """
    keep = np.ones(rr.size, dtype=bool)
    rows, cols = mask.shape
    t = np.arange(1, limit + 2, dtype=np.float64)
    for s0 in range(0, rr.size, 20000):
        s1 = min(rr.size, s0 + 20000)
        total = np.zeros(s1 - s0)
        for sign in (1.0, -1.0):
            r = np.rint(rr[s0:s1, None] + sign * t[None, :] * dirs[s0:s1, 0:1]).astype(np.int64)
            c = np.rint(cc[s0:s1, None] + sign * t[None, :] * dirs[s0:s1, 1:2]).astype(np.int64)
            inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
            hit = np.ones(r.shape, dtype=bool)
            hit[inside] = mask[r[inside], c[inside]]
            gap = ~hit[:, :-1] & ~hit[:, 1:]
            first = np.where(gap.any(axis=1), gap.argmax(axis=1), limit + 1)
            total += first
        keep[s0:s1] = total <= limit
    return keep


def _drop_shadow_hubs(
    found: list[Rotor],
    gsd_m: float,
    sun_azimuth_deg: float | None,
    sun_elevation_deg: float | None,
    *,
    tol: float,
    p: RotorParams,
) -> list[Rotor]:
    """Drop rotors that are another rotor's blade shadows.

    A shadow's hub lies away from the sun within the blades' shadow reach,
    and its radius is the rotor's (within ``equal_tol``): a smaller or larger
    star next to a rotor is another hypothesis, not its shadow.
    """
    if sun_azimuth_deg is None or len(found) < 2:
        return found
    toward, reach = _shadow_ray(gsd_m, sun_azimuth_deg, sun_elevation_deg, p)
    away, far = -toward, reach + tol
    hubs = [np.asarray(r.hub_rc) for r in found]
    shadow = set()
    for i, hi in enumerate(hubs):
        for j, hj in enumerate(hubs):
            delta = hj - hi
            dist = float(np.linalg.norm(delta))
            # a shadow has its rotor's plan shape: the same radius (within equal_tol)
            ri, rj = found[i].radius_px, found[j].radius_px
            same = abs(ri - rj) <= p.equal_tol * max(ri, rj)
            if i != j and same and 0 < dist <= far and float(delta @ away) / dist > 0.85:
                shadow.add(j)
    return [f for k, f in enumerate(found) if k not in shadow]


def _line_axes(angles: np.ndarray, tol: float) -> int:
    """Number of distinct straight lines (directions modulo 180 degrees) among ``angles``."""
    axes: list[float] = []
    for a in np.sort(np.mod(angles, math.pi)):
        if not axes or a - axes[-1] > tol:
            axes.append(float(a))
    if len(axes) > 1 and math.pi - (axes[-1] - axes[0]) <= tol:
        axes.pop()
    return len(axes)


def _star_lines(angles: np.ndarray, tol: float) -> bool:
    """Whether runs at ``angles`` (radians) lie on lines a blade star, not a joint grid, makes.

    Three or more straight lines through the hub; or two, from at least four
    runs (both ends of both lines), crossing more than ``tol`` off square:
    a 6- or 8-blade rotor with two blades hidden shows two lines at 60 or 45
    degrees, while pavement joints meet at right angles.
    """
    n_lines = _line_axes(angles, tol)
    if n_lines >= 3:
        return True
    if n_lines < 2:
        return False
    ends = np.sort(np.mod(angles, 2.0 * math.pi))
    if int((np.diff(np.append(ends, ends[0] + 2.0 * math.pi)) > tol).sum()) < 4:
        return False
    axes = np.mod(angles, math.pi)
    cross = np.abs((axes[:, None] - axes[None, :] + math.pi / 2) % math.pi - math.pi / 2)
    return bool(abs(float(cross.max()) - math.pi / 2) > tol)


def _blade_count(angles: np.ndarray, tol_deg: float) -> int | None:
    """Blade count ``n`` whose even spacing (360/n degrees) fits the most of ``angles``.

    A rotor's blades are evenly spaced: at least ``max(3, n / 2)`` of the
    radial runs (the rest may be hidden under the fuselage, or be shadows)
    must lie within ``tol_deg`` of one grid of ``n`` directions. ``n`` runs over
    5-8, the blade counts of the table's helicopters (Ka-52: two coaxial
    3-blade rotors); 2- and 4-blade rotors look like crossed lines -- a
    fuselage and straight wings -- and are not looked for. The fitting runs
    must lie on at least three straight lines through the hub: two crossing
    lines (pavement joints meeting at a panel corner, markings) fit an 8-blade
    grid with four runs but are no rotor; two lines crossing off square will
    do (:func:`_star_lines`). ``None`` when no ``n`` fits.
    """
    tol = math.radians(tol_deg)
    best: tuple[int, int] | None = None
    for n in range(5, 9):
        step = 2.0 * math.pi / n
        fit = 0
        for a0 in angles:
            off = (angles - a0 + step / 2.0) % step - step / 2.0
            on = np.abs(off) <= tol
            if int(on.sum()) > fit and _star_lines(angles[on], tol):
                fit = int(on.sum())
        if fit >= max(3, math.ceil(n / 2)) and (best is None or fit > best[1]):
            best = (n, fit)
    return None if best is None else best[0]


def sunward_twin(
    rotor: Rotor,
    votes: np.ndarray,
    *,
    gsd_m: float,
    sun_azimuth_deg: float | None,
    sun_elevation_deg: float | None,
    params: RotorParams | None = None,
) -> Rotor:
    """Move a rotor found on its blades' shadows to the real hub, a second vote peak sunward.

    A dark helicopter on light ground shows two blade stars: the blades and,
    displaced away from the sun by up to ``max_blade_height_m / tan(elevation)``,
    their shadows. When only the shadows' star passes the rotor test (the
    body hides the real blades' inner halves), the real hub is still a vote
    peak: of the ``votes`` (hub votes, ``(rows, cols)``) on the ray from the
    hub toward the sun, 3 px or more away, those past a dip (the votes
    between fall below ``twin_dip`` of the smaller peak: two hubs, not one
    smeared one, nor the hub peak's own shoulder) are searched, and the
    largest is taken when it reaches ``twin_votes`` of the hub's votes.
    Radius, tail and heading are kept (a shadow on flat ground has the
    rotor's plan shape). Unknown sun: unchanged.
    """
    p = params or RotorParams()
    if sun_azimuth_deg is None:
        return rotor
    toward, far = _shadow_ray(gsd_m, sun_azimuth_deg, sun_elevation_deg, p)
    hub = np.asarray(rotor.hub_rc, dtype=np.float64) - 0.5  # vote-map pixel
    ts = np.arange(0.0, far + 2.0, 0.5)
    pts = hub[None, :] + ts[:, None] * toward
    ri = np.clip(np.rint(pts[:, 0]).astype(np.int64), 0, votes.shape[0] - 1)
    ci = np.clip(np.rint(pts[:, 1]).astype(np.int64), 0, votes.shape[1] - 1)
    v = votes[ri, ci]
    # a twin peak: the votes between it and the hub dip (not the hub peak's own shoulder)
    before = np.concatenate([[np.inf], np.minimum.accumulate(v)[:-1]])
    twin = (ts >= 3.0) & (before <= p.twin_dip * np.minimum(v[0], v))
    k = int(np.argmax(np.where(twin, v, -1.0)))
    if not twin[k] or v[k] < p.twin_votes * v[0]:
        return rotor
    new = hub + ts[k] * toward + 0.5
    return replace(rotor, hub_rc=(float(new[0]), float(new[1])))


def _two_blades_and_tail(
    blades: np.ndarray, tail: float, *, tol_deg: float, sep_deg: float
) -> int | None:
    """Blade count for two equally long blades (angles, radians) confirmed by a tail run.

    The fuselage and its shadow can hide all but two blades. Two blades
    alone are a line crossing, so the tail boom (``tail``: angle of the run
    of helicopter proportions) must stand at least ``sep_deg`` off both blade
    directions and the three make three distinct lines through the hub. The
    blades' angle must be a multiple of ``360 / n`` within ``tol_deg`` for a
    table blade count ``n`` (5-8; the smallest that fits is returned).
    ``None`` when they do not fit.
    """
    tol = math.radians(tol_deg)
    diff = abs((blades[1] - blades[0] + math.pi) % (2.0 * math.pi) - math.pi)
    for b in blades:
        if abs((tail - b + math.pi) % (2.0 * math.pi) - math.pi) < math.radians(sep_deg):
            return None
    if _line_axes(np.append(blades, tail), tol) < 3:
        return None
    for n in range(5, 9):
        step = 2.0 * math.pi / n
        k = round(diff / step)
        if k >= 1 and abs(diff - k * step) <= tol:
            return n
    return None


def _measure(
    hub: np.ndarray,
    clusters: list[tuple[float, float]],
    *,
    r_lo: float,
    r_hi: float,
    p: RotorParams,
) -> Rotor | None:
    """Rotor radius, tail and heading from the hub and its radial line clusters.

    The blades of one rotor are equally long: at least ``min_equal`` radial
    runs must end within ``equal_tol`` of the rotor radius, or two of them
    and a tail run (:func:`_two_blades_and_tail`).
    """
    reaches = np.array([r for _, r in clusters])
    angles = np.array([a for a, _ in clusters])
    radius = float(np.percentile(reaches, 30))
    if not (r_lo <= radius <= r_hi):
        return None
    equal = np.abs(reaches - radius) <= p.equal_tol * radius
    # the tail boom is the longest radial run that still fits a helicopter's proportions
    fits = (reaches >= p.tail_min_ratio * radius) & (reaches <= p.tail_max_ratio * radius)
    j = int(np.argmax(np.where(fits, reaches, -1.0))) if fits.any() else int(np.argmax(reaches))
    n_blades: int | None = None
    if int(equal.sum()) >= p.min_equal:
        n_blades = _blade_count(angles[equal], p.blade_angle_tol_deg)
    confirmed = False
    if n_blades is None and int(equal.sum()) >= 2 and fits.any():
        # any two of the equal runs (the others may be a blade's shadow)
        for pair in itertools.combinations(
            np.nonzero(equal & (np.arange(len(reaches)) != j))[0], 2
        ):
            n_blades = _two_blades_and_tail(
                angles[list(pair)],
                float(angles[j]),
                tol_deg=p.blade_angle_tol_deg,
                sep_deg=p.tail_blade_sep_deg,
            )
            if n_blades is not None:
                break
        confirmed = n_blades is not None
    if n_blades is None:
        return None
    ang = clusters[j][0]
    tail = float(reaches[j]) if fits.any() else None
    heading = vector_heading(-math.cos(ang), -math.sin(ang))
    return Rotor(
        hub_rc=(float(hub[0]), float(hub[1])),
        radius_px=radius,
        tail_px=tail,
        heading_deg=heading,
        blades=n_blades,
        tail_confirmed=confirmed,
    )


def body_share(
    rotor: Rotor,
    body: np.ndarray,
    *,
    offsets: np.ndarray | None = None,
    params: RotorParams | None = None,
) -> np.ndarray:
    """Share of ``body`` pixels on the rotor's body axis, per hub offset.

    The axis segment runs ``body_reach_radii`` rotor radii either side of the
    hub along ``heading_deg``, sampled every half pixel, with one pixel of
    slack (``body`` dilated once). ``offsets`` is ``(n, 2)`` hub shifts in
    pixels ``(drow, dcol)`` (default: none); returns ``(n,)`` shares, 0 to 1.
    """
    p = params or RotorParams()
    offs = np.zeros((1, 2)) if offsets is None else np.asarray(offsets, dtype=np.float64)
    axis = np.array(heading_vector(rotor.heading_deg))
    reach = p.body_reach_radii * rotor.radius_px
    along = np.arange(-reach, reach + 1e-9, 0.5)
    look = ndimage.binary_dilation(body)
    rows, cols = body.shape
    hub = np.asarray(rotor.hub_rc, dtype=np.float64)
    pts = hub[None, None, :] + offs[:, None, :] + along[None, :, None] * axis
    ri = np.floor(pts[..., 0]).astype(np.int64)
    ci = np.floor(pts[..., 1]).astype(np.int64)
    inside = (ri >= 0) & (ri < rows) & (ci >= 0) & (ci < cols)
    hit = np.zeros(ri.shape, dtype=bool)
    hit[inside] = look[ri[inside], ci[inside]]
    return hit.mean(axis=1)


def seat_on_body(
    rotor: Rotor,
    body: np.ndarray,
    *,
    gsd_m: float,
    sun_azimuth_deg: float | None,
    sun_elevation_deg: float | None = None,
    params: RotorParams | None = None,
) -> Rotor:
    """Move a rotor hub found on the blades' shadows onto the fuselage.

    The real hub lies up to ``max_blade_height_m / tan(elevation)`` metres
    toward the sun from the shadows' hub, on the body axis (the line through
    the hub along ``heading_deg``). ``body`` is ``(rows, cols)`` True on object
    pixels that are not shadow (e.g. :attr:`pipeline.detect.measure.Evidence.bright`).
    For offsets in half-pixel steps toward the sun, the share of body pixels
    (one pixel of slack) on the axis segment ``body_reach_radii`` rotor radii
    either side of the hub is taken; the hub moves to the middle of the
    offsets within 0.05 of the best share when that share beats the share at
    the found hub by ``min_body_gain`` and reaches ``min_body_cover``.
    Otherwise, or with an unknown sun, ``rotor`` is returned unchanged.
    Radius, heading and tail are kept (a shadow on flat ground has the
    rotor's plan shape).
    """
    p = params or RotorParams()
    if sun_azimuth_deg is None or not body.any():
        return rotor
    toward, far = _shadow_ray(gsd_m, sun_azimuth_deg, sun_elevation_deg, p)
    offsets = np.arange(0.0, far + 1e-9, 0.5)
    hub = np.asarray(rotor.hub_rc, dtype=np.float64)
    share = body_share(rotor, body, offsets=offsets[:, None] * toward, params=p)
    best = float(share.max())
    if best < p.min_body_cover or best < share[0] + p.min_body_gain:
        return rotor
    top = np.nonzero(share >= best - 0.05)[0]
    new = hub + 0.5 * (offsets[top[0]] + offsets[top[-1]]) * toward
    return replace(rotor, hub_rc=(float(new[0]), float(new[1])))


__all__ = [
    "BladeField",
    "Rotor",
    "RotorParams",
    "blade_field",
    "body_share",
    "find_rotors",
    "radial_runs",
    "seat_on_body",
    "sunward_twin",
    "without_blades",
]
