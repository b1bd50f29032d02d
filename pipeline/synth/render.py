"""Render a :class:`~pipeline.synth.spec.SceneSpec` into an 11-bit multispectral tile.

Image model (per band, all in relative radiance before scaling to DN)::

    ground    = reflectance(x, y) * (sin(elev) * (1 - shadow) + diffuse)
    objects   = reflectance(part) * (sin(elev) + diffuse)         (drawn over ground)
    cloud     = ground * (1 - 0.75 * cloud_shadow); mix toward white by cloud opacity
    haze      = (1 - haze) * signal + haze * path_radiance(band)
    DN        = dark(band) + 2300 * gain * signal, blurred by a Gaussian PSF (0.45 px default),
                plus Gaussian noise (sigma = noise_dn * sqrt(1 + DN / 1200)), clipped to 0..2047

Bands are red, green, blue and (when 4) near-infrared, uint16 with 11-bit range.
Geometry is anti-aliased by exact-edge coverage (:mod:`pipeline.synth.raster`).

Misregistration: the spec's ``misregistration_m = (dx, dy)`` displaces the image
CONTENT by ``dx`` metres east and ``dy`` north relative to the true map position
(the tile's georeferencing is off by that much). Ground truth is given where the
objects APPEAR in the tile (``footprint_px``, and ``footprint_map`` is the same
ring through the tile's own georeferencing, so pixel <-> map <-> lon/lat are
consistent); the true position is kept as ``true_center_map``.

Shadows: every part's 3-D points are projected onto the ground by
``height / tan(elevation)`` metres away from the sun azimuth; the shadow is the
convex hull of the projected points (a body from ``z0`` to ``z1`` sweeps its
outline between the two offsets).

Change truth (:func:`change_truth`), on the LATER tile's grid: 1 where the
ground content differs because an object arrived, departed, moved or turned --
its footprint AND its shadow at each date; for an object that stayed put but
changed attributes (a nose visor opened or closed) only the pixels whose
outline or shadow differ (the nose area); 0 elsewhere, including pure
illumination, haze, noise and the shifted shadows of objects that did not
move; 255 where either date is cloudy or under cloud shadow, or where the
earlier tile does not image the ground (misregistration margins, grid shifts,
a no-data swath collar at either date). Cloud is never counted as change.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine
from scipy.ndimage import gaussian_filter

from pipeline.grid import Grid
from pipeline.model import Ring
from pipeline.objects import get_type
from pipeline.synth.raster import convex_coverage, fbm, value_noise
from pipeline.synth.shapes import Part, object_parts
from pipeline.synth.spec import SURFACE_KINDS, CloudSpec, PlacedObject, SceneSpec, oriented_rect

#: Band names in file order.
BAND_NAMES = ("red", "green", "blue", "nir")
#: Maximum digital number (11-bit radiometry).
DN_MAX = 2047
_DN_SCALE = 2300.0
_DARK = np.array([62.0, 70.0, 88.0, 48.0], dtype=np.float32)
_HAZE_COLOUR = np.array([0.30, 0.34, 0.42, 0.18], dtype=np.float32)

#: Reflectance (red, green, blue, nir) of every material.
MATERIALS: dict[str, tuple[float, float, float, float]] = {
    "soil": (0.31, 0.26, 0.20, 0.36),
    "vegetation": (0.07, 0.10, 0.05, 0.42),
    "concrete": (0.33, 0.32, 0.30, 0.35),
    "concrete_old": (0.27, 0.26, 0.24, 0.30),
    "asphalt": (0.09, 0.09, 0.09, 0.11),
    "marking": (0.55, 0.55, 0.53, 0.52),
    "water": (0.035, 0.055, 0.075, 0.012),
    "roof": (0.42, 0.42, 0.43, 0.42),
    "roof_rust": (0.30, 0.20, 0.15, 0.30),
    "aircraft_paint": (0.55, 0.56, 0.58, 0.55),
    "fighter_paint": (0.27, 0.30, 0.34, 0.30),
    "heli_paint": (0.16, 0.17, 0.12, 0.26),
    "engine": (0.38, 0.39, 0.40, 0.38),
    "cargo_floor": (0.66, 0.66, 0.64, 0.62),
    "dark": (0.06, 0.06, 0.06, 0.07),
    "blade": (0.10, 0.10, 0.10, 0.11),
    "olive": (0.15, 0.16, 0.10, 0.22),
    "canvas": (0.23, 0.22, 0.15, 0.30),
    "tan": (0.40, 0.34, 0.25, 0.42),
    "pickup_white": (0.58, 0.58, 0.57, 0.56),
    "deck_grey": (0.26, 0.27, 0.29, 0.26),
    "deck_red": (0.30, 0.14, 0.11, 0.26),
    "hatch": (0.22, 0.30, 0.36, 0.24),
    "superstructure": (0.55, 0.55, 0.54, 0.52),
    "cloud": (0.82, 0.83, 0.86, 0.80),
}
_SURFACE_MATERIAL = {
    "water": "water",
    "soil": "soil",
    "yard": "concrete_old",
    "road": "asphalt",
    "runway": "asphalt",
    "taxiway": "concrete",
    "apron": "concrete",
    "hardstand": "asphalt",
    "quay": "concrete",
    "building": "roof",
    "container": "roof",
}
#: Paint of shipping containers / ground equipment (chosen per box, stable across dates).
_CONTAINER_PAINTS = ("roof_rust", "hatch", "olive", "pickup_white", "deck_red", "tan")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class TruthObject:
    """Ground truth of one object as it appears on one tile.

    ``footprint_px`` is the closed oriented ``length x wingspan`` box as continuous
    ``(row, col)`` pixel coordinates of the tile; ``footprint_map`` the same ring
    in the tile's CRS (map metres, via the tile's georeferencing) and
    ``footprint_lonlat`` in EPSG:4326. ``true_center_map`` is the real position
    before misregistration. ``pixel_count`` counts instance-mask pixels and
    ``cloud_fraction`` the share of them under cloud or cloud shadow.
    """

    object_id: str
    type_name: str
    category: str
    attributes: Mapping[str, str]
    heading_deg: float
    length_m: float
    wingspan_m: float
    center_map: tuple[float, float]
    true_center_map: tuple[float, float]
    footprint_map: Ring
    footprint_px: Ring
    footprint_lonlat: Ring
    pixel_count: int
    cloud_fraction: float
    inside: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "object_id": self.object_id,
            "class": self.type_name,
            "category": self.category,
            "attributes": dict(sorted(self.attributes.items())),
            "heading_deg": self.heading_deg,
            "length_m": self.length_m,
            "wingspan_m": self.wingspan_m,
            "center_map": list(self.center_map),
            "true_center_map": list(self.true_center_map),
            "footprint_map": [list(p) for p in self.footprint_map],
            "footprint_px": [list(p) for p in self.footprint_px],
            "footprint_lonlat": [list(p) for p in self.footprint_lonlat],
            "pixel_count": self.pixel_count,
            "cloud_fraction": self.cloud_fraction,
            "inside": self.inside,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TruthObject:
        """Inverse of :meth:`to_dict`."""

        def ring(key: str) -> Ring:
            return tuple((float(p[0]), float(p[1])) for p in d[key])

        return cls(
            object_id=d["object_id"],
            type_name=d["class"],
            category=d["category"],
            attributes=dict(d.get("attributes", {})),
            heading_deg=float(d["heading_deg"]),
            length_m=float(d["length_m"]),
            wingspan_m=float(d["wingspan_m"]),
            center_map=(float(d["center_map"][0]), float(d["center_map"][1])),
            true_center_map=(float(d["true_center_map"][0]), float(d["true_center_map"][1])),
            footprint_map=ring("footprint_map"),
            footprint_px=ring("footprint_px"),
            footprint_lonlat=ring("footprint_lonlat"),
            pixel_count=int(d["pixel_count"]),
            cloud_fraction=float(d["cloud_fraction"]),
            inside=bool(d["inside"]),
        )


@dataclass(frozen=True, eq=False)
class SynthTile:
    """A rendered tile with its ground truth.

    Attributes
    ----------
    spec : SceneSpec
        What was rendered.
    seed : int
        Seed of the sensor noise.
    grid : Grid
        Georeferencing (site UTM CRS, ``gsd_m`` metre pixels, north up).
    array : ndarray, (bands, rows, cols) uint16
        Digital numbers, 0..2047.
    valid : ndarray, (rows, cols) bool
        True where pixels hold data (all True for synthetic tiles).
    cloud : ndarray, (rows, cols) bool
        True under cloud (opacity > 5 %).
    cloud_shadow : ndarray, (rows, cols) bool
        True under a cloud's shadow.
    instances : ndarray, (rows, cols) int32
        0 background, ``k`` = pixel covered (>= 50 %) by ``objects[k - 1]``.
    objects : tuple of TruthObject
        Objects with at least one pixel on the tile, in spec order.
    """

    spec: SceneSpec
    seed: int
    grid: Grid
    array: np.ndarray
    valid: np.ndarray
    cloud: np.ndarray
    cloud_shadow: np.ndarray
    instances: np.ndarray
    objects: tuple[TruthObject, ...] = field(default_factory=tuple)

    @property
    def stem(self) -> str:
        """File stem ``<site>_<YYYYMMDDTHHMMSSZ>``."""
        return self.spec.stem


# --------------------------------------------------------------------------- geometry helpers
def stable_int(*parts: object) -> int:
    """Deterministic 32-bit integer from the string forms of ``parts``."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:4], "big")


def scene_grid(spec: SceneSpec) -> Grid:
    """North-up grid of the tile: site UTM CRS, ``gsd_m`` pixels, centred on the site.

    The upper-left corner is snapped to a multiple of the GSD so every date of a
    site shares one pixel lattice; ``spec.grid_shift_px`` then moves the footprint
    by whole pixels.
    """
    rows, cols = spec.size_px
    if spec.centre_xy is None:
        probe = Grid(spec.crs, Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0), (1, 1))
        cx_arr, cy_arr = probe.from_lonlat(spec.site.lon, spec.site.lat)
        cx, cy = float(cx_arr[0]), float(cy_arr[0])
    else:
        cx, cy = spec.centre_xy
    g = spec.gsd_m
    left = (math.floor((cx - cols * g / 2.0) / g) + spec.grid_shift_px[1]) * g
    top = (math.floor((cy + rows * g / 2.0) / g) - spec.grid_shift_px[0]) * g
    return Grid(spec.crs, Affine(g, 0.0, left, 0.0, -g, top), (rows, cols))


def _true_axes(grid: Grid, offset: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """True map x of each column centre and y of each row centre (content shift removed)."""
    t = grid.transform
    xs = t.c + (np.arange(grid.width) + 0.5) * t.a - offset[0]
    ys = t.f + (np.arange(grid.height) + 0.5) * t.e - offset[1]
    return xs, ys


def _shadow_vector(sun_az: float, sun_el: float) -> tuple[float, float]:
    """Ground displacement (map x, y) per metre of height, pointing away from the sun."""
    k = 1.0 / math.tan(math.radians(max(sun_el, 1.0)))
    a = math.radians(sun_az)
    return (-math.sin(a) * k, -math.cos(a) * k)


def _variant(object_id: str) -> float:
    return (stable_int("variant", object_id) % 10_000) / 10_000.0


def _parts_of(obj: PlacedObject) -> list[Part]:
    return object_parts(get_type(obj.type_name), obj.attributes, variant=_variant(obj.object_id))


def _map_points(
    obj: PlacedObject, uv: Sequence[tuple[float, float]] | np.ndarray, offset: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    h = math.radians(obj.heading_deg)
    fx, fy, rx, ry = math.sin(h), math.cos(h), math.cos(h), -math.sin(h)
    a = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    x = obj.x + offset[0] + a[:, 0] * fx + a[:, 1] * rx
    y = obj.y + offset[1] + a[:, 0] * fy + a[:, 1] * ry
    return x, y


def _rc(grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r, c = grid.rowcol(x, y)
    return np.stack([np.asarray(r), np.asarray(c)], axis=1)


def part_rings_px(
    obj: PlacedObject,
    grid: Grid,
    *,
    offset: tuple[float, float],
    sun_az: float,
    sun_el: float,
) -> list[tuple[Part, np.ndarray, np.ndarray | None]]:
    """Each part of ``obj`` with its plan ring and shadow points in pixel ``(row, col)``."""
    sx, sy = _shadow_vector(sun_az, sun_el)
    out: list[tuple[Part, np.ndarray, np.ndarray | None]] = []
    for part in _parts_of(obj):
        x, y = _map_points(obj, part.ring, offset)
        ring = _rc(grid, x, y)
        shadow = None
        if part.solid:
            pts = np.asarray(part.solid, dtype=np.float64)
            x3, y3 = _map_points(obj, pts[:, :2], offset)
            shadow = _rc(grid, x3 + pts[:, 2] * sx, y3 + pts[:, 2] * sy)
        out.append((part, ring, shadow))
    return out


def objects_coverage(
    objects: Sequence[PlacedObject],
    grid: Grid,
    *,
    offset: tuple[float, float],
    sun_az: float,
    sun_el: float,
    shadows: bool = True,
) -> np.ndarray:
    """Union coverage ``[0, 1]`` of the visible parts (and shadows) of ``objects`` on ``grid``.

    ``offset`` is the content displacement (metres east, north) of the tile the
    grid belongs to; the sun sets the shadows. Returns float32 ``(rows, cols)``.
    """
    cov = np.zeros(grid.shape, dtype=np.float32)
    for obj in objects:
        for part, ring, shadow in part_rings_px(
            obj, grid, offset=offset, sun_az=sun_az, sun_el=sun_el
        ):
            if not part.visible:
                continue  # a rotor disc shows nothing on the ground
            rings = [ring] + ([shadow] if shadows and shadow is not None else [])
            for rr in rings:
                got = convex_coverage(rr, grid.shape)
                if got is not None:
                    (r0, r1, c0, c1), c = got
                    np.maximum(cov[r0:r1, c0:c1], c, out=cov[r0:r1, c0:c1])
    return cov


def cloud_alpha(
    clouds: Sequence[CloudSpec],
    xs: np.ndarray,
    ys: np.ndarray,
    *,
    sun_az: float,
    sun_el: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Cloud opacity and cloud-shadow opacity on the separable true-map grid ``ys x xs``."""
    alpha = np.zeros((len(ys), len(xs)), dtype=np.float32)
    shade = np.zeros_like(alpha)
    sx, sy = _shadow_vector(sun_az, sun_el)
    for i, c in enumerate(clouds):
        cseed = stable_int(seed, "cloud", i, round(c.cx, 3), round(c.cy, 3))
        for target, dx, dy in ((alpha, 0.0, 0.0), (shade, c.height_m * sx, c.height_m * sy)):
            # the shadow at ground point P comes from the cloud above P - shift
            px, py = xs - dx, ys - dy
            reach = 1.5 * c.radius_m  # opacity is exactly 0 beyond 1.45 radii
            cols = np.flatnonzero(np.abs(px - c.cx) < reach)
            rows = np.flatnonzero(np.abs(py - c.cy) < reach)
            if len(cols) == 0 or len(rows) == 0:
                continue
            pxw, pyw = px[cols[0] : cols[-1] + 1], py[rows[0] : rows[-1] + 1]
            r = np.hypot((pxw - c.cx)[None, :], (pyw - c.cy)[:, None]) / c.radius_m
            tex = fbm(pxw, pyw, c.radius_m / 2.5, cseed, octaves=4)
            a = np.clip(1.8 * (1.0 - r) + 1.6 * (tex - 0.5), 0.0, 1.0) * np.float32(c.opacity)
            win = target[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            np.maximum(win, a.astype(np.float32), out=win)
    return alpha, shade


# --------------------------------------------------------------------------- ground
def _mat(name: str, bands: int) -> np.ndarray:
    return np.asarray(MATERIALS[name][:bands], dtype=np.float32)


def _ground(
    spec: SceneSpec,
    grid: Grid,
    xs: np.ndarray,
    ys: np.ndarray,
    shadow: np.ndarray,
    raised: np.ndarray,
) -> np.ndarray:
    """Ground reflectance ``(bands, rows, cols)`` with soil, vegetation and surfaces.

    Building and quay shadows are accumulated into ``shadow`` and the coverage of
    their (sunlit) tops into ``raised`` (both in place).
    """
    nb = spec.bands
    gs = spec.ground_seed
    large = fbm(xs, ys, 120.0, gs, octaves=3)
    mid = fbm(xs, ys, 24.0, gs + 1, octaves=2)
    fine = value_noise(xs, ys, 1.6, gs + 2)
    stain = fbm(xs, ys, 22.0, gs + 3, octaves=2)
    t = 0.5 + (0.5 - spec.vegetation) * 0.45
    veg = np.clip((large - t) / 0.08 + 0.5, 0.0, 1.0)
    soil, green = _mat("soil", nb), _mat("vegetation", nb)
    refl = soil[:, None, None] * (1 - veg) + green[:, None, None] * veg
    refl *= 0.88 + 0.24 * mid
    offset = spec.misregistration_m
    sx, sy = _shadow_vector(spec.sun_azimuth_deg, spec.sun_elevation_deg)
    order = sorted(
        range(len(spec.surfaces)), key=lambda i: SURFACE_KINDS.index(spec.surfaces[i].kind)
    )
    for i in order:
        s = spec.surfaces[i]
        ring_xy = np.asarray(s.ring()[:-1])
        rc = _rc(grid, ring_xy[:, 0] + offset[0], ring_xy[:, 1] + offset[1])
        got = convex_coverage(rc, grid.shape)
        if s.height_m > 0:
            sh = _rc(
                grid,
                ring_xy[:, 0] + offset[0] + s.height_m * sx,
                ring_xy[:, 1] + offset[1] + s.height_m * sy,
            )
            shc = convex_coverage(np.vstack([rc, sh]), grid.shape)
            if shc is not None:
                (r0, r1, c0, c1), c = shc
                np.maximum(shadow[r0:r1, c0:c1], c, out=shadow[r0:r1, c0:c1])
        if got is None:
            continue
        (r0, r1, c0, c1), cov = got
        win = (slice(r0, r1), slice(c0, c1))
        if s.height_m > 0:
            np.maximum(raised[win], cov, out=raised[win])
        mat = _SURFACE_MATERIAL[s.kind]
        if s.kind == "building" and stable_int(gs, "roof", i) % 3 == 0:
            mat = "roof_rust"
        elif s.kind == "container":
            key = stable_int("container", round(s.cx, 2), round(s.cy, 2))
            mat = _CONTAINER_PAINTS[key % len(_CONTAINER_PAINTS)]
        base = _mat(mat, nb)[:, None, None] * np.ones((1, r1 - r0, c1 - c0), np.float32)
        # local frame: u along the heading, v to the right, metres
        h = math.radians(s.heading_deg)
        dx = xs[c0:c1][None, :] - s.cx
        dy = ys[r0:r1][:, None] - s.cy
        u = dx * math.sin(h) + dy * math.cos(h)
        v = dx * math.cos(h) - dy * math.sin(h)
        if s.kind == "water":
            base *= 0.85 + 0.3 * fine[win]
        elif s.kind in ("apron", "hardstand", "taxiway", "quay", "yard", "runway", "road"):
            base *= 0.9 + 0.2 * mid[win]
            base *= 1.0 - 0.22 * np.clip((stain[win] - 0.6) * 5.0, 0.0, 1.0)
        if s.panel_m > 0:
            du = np.abs(u / s.panel_m - np.round(u / s.panel_m)) * s.panel_m
            dv = np.abs(v / s.panel_m - np.round(v / s.panel_m)) * s.panel_m
            d = np.minimum(du, dv)
            joint = np.clip(0.5 - (d - 0.12) / spec.gsd_m, 0.0, 1.0).astype(np.float32)
            base *= 1.0 - 0.28 * joint
        if s.kind == "runway":
            edge = np.abs(np.abs(v) - (s.width_m / 2 - 2.0))
            centre = np.where((u % 50.0) < 30.0, np.abs(v), 99.0)
            d = np.minimum(edge, centre)
            mark = np.clip(0.5 - (d - 0.45) / spec.gsd_m, 0.0, 1.0).astype(np.float32)
            base = base * (1 - mark) + _mat("marking", nb)[:, None, None] * mark
        refl[:, r0:r1, c0:c1] = refl[:, r0:r1, c0:c1] * (1 - cov) + base * cov
    return refl


# --------------------------------------------------------------------------- render
def _truth(
    spec: SceneSpec,
    grid: Grid,
    instances: np.ndarray,
    cloudy: np.ndarray,
) -> tuple[TruthObject, ...]:
    out: list[TruthObject] = []
    ox, oy = spec.misregistration_m
    rows, cols = grid.shape
    labels = instances.ravel()
    counts = np.bincount(labels, minlength=len(spec.objects) + 1)
    cloud_counts = np.bincount(labels[cloudy.ravel()], minlength=len(spec.objects) + 1)
    for k, obj in enumerate(spec.objects, start=1):
        if counts[k] == 0:
            continue
        t = get_type(obj.type_name)
        ring_map = oriented_rect(obj.x + ox, obj.y + oy, t.length_m, t.wingspan_m, obj.heading_deg)
        xs = [p[0] for p in ring_map]
        ys = [p[1] for p in ring_map]
        r, c = grid.rowcol(xs, ys)
        ring_px = tuple((float(a), float(b)) for a, b in zip(r, c, strict=True))
        lon, lat = grid.to_lonlat(xs, ys)
        inside = bool(all(0 <= a <= rows and 0 <= b <= cols for a, b in ring_px))
        out.append(
            TruthObject(
                object_id=obj.object_id,
                type_name=t.name,
                category=t.category,
                attributes=dict(obj.attributes),
                heading_deg=obj.heading_deg,
                length_m=t.length_m,
                wingspan_m=t.wingspan_m,
                center_map=(obj.x + ox, obj.y + oy),
                true_center_map=(obj.x, obj.y),
                footprint_map=tuple((float(a), float(b)) for a, b in ring_map),
                footprint_px=ring_px,
                footprint_lonlat=tuple((float(a), float(b)) for a, b in zip(lon, lat, strict=True)),
                pixel_count=int(counts[k]),
                cloud_fraction=float(cloud_counts[k] / counts[k]),
                inside=inside,
            )
        )
    return tuple(out)


def _tube_light(
    obj: PlacedObject,
    cylinder: tuple[float, float],
    grid: Grid,
    window: tuple[int, int, int, int],
    offset: tuple[float, float],
    sun_az: float,
    sun_el: float,
    diffuse: float,
) -> np.ndarray:
    """Irradiance over a window of a horizontal tube along the object's axis (Lambert)."""
    r0, r1, c0, c1 = window
    v0, radius = cylinder
    t = grid.transform
    x = t.c + (np.arange(c0, c1) + 0.5) * t.a - offset[0] - obj.x
    y = t.f + (np.arange(r0, r1) + 0.5) * t.e - offset[1] - obj.y
    h = math.radians(obj.heading_deg)
    v = x[None, :] * math.cos(h) - y[:, None] * math.sin(h) - v0
    s = np.clip(v / max(radius, 1e-6), -1.0, 1.0)  # sine of the surface normal's tilt
    c = np.sqrt(1.0 - s * s)
    # sun component across the tube (toward +v, the object's right) and up
    across = math.cos(math.radians(sun_el)) * math.cos(math.radians(sun_az - obj.heading_deg - 90))
    up = math.sin(math.radians(sun_el))
    return (np.maximum(s * across + c * up, 0.0) + diffuse).astype(np.float32)


#: DN written where the sensor swath has no data (below every valid DN: dark >= 48).
NODATA = 0


def swath_valid(spec: SceneSpec, grid: Grid, content_offset: tuple[float, float]) -> np.ndarray:
    """Pixels of ``grid`` imaged by ``spec``'s sensor swath (see ``SceneSpec.collar``).

    ``grid`` may be another tile's grid; ``content_offset`` is that tile's
    misregistration, so each pixel is tested at the true ground point it shows.
    """
    if spec.collar is None:
        return np.ones(grid.shape, dtype=bool)
    own = scene_grid(spec)
    left, bottom, right, top = own.bounds
    cx, cy = (left + right) / 2, (bottom + top) / 2
    xs, ys = _true_axes(grid, content_offset)
    # the true ground point appears in this spec's image at true + its own offset
    xs = xs + spec.misregistration_m[0] - cx
    ys = ys + spec.misregistration_m[1] - cy
    a = math.radians(spec.collar[0])
    proj = ys[:, None] * math.cos(a) + xs[None, :] * math.sin(a)
    return np.asarray(proj <= spec.collar[1])


def render_scene(spec: SceneSpec, seed: int) -> SynthTile:
    """Render one tile and its ground truth. Pure and deterministic in ``(spec, seed)``.

    Parameters
    ----------
    spec : SceneSpec
        The scene (site, time, sun, GSD, objects...).
    seed : int
        Seeds the sensor noise (numpy ``Generator``; no global state).

    Returns
    -------
    SynthTile
    """
    grid = scene_grid(spec)
    nb = spec.bands
    offset = spec.misregistration_m
    xs, ys = _true_axes(grid, offset)
    az, el = spec.sun_azimuth_deg, spec.sun_elevation_deg
    direct = math.sin(math.radians(el))
    diffuse = 0.22 + 0.3 * spec.haze
    shadow = np.zeros(grid.shape, dtype=np.float32)
    raised = np.zeros(grid.shape, dtype=np.float32)
    refl = _ground(spec, grid, xs, ys, shadow, raised)
    shadow *= 1.0 - raised  # roofs and quay tops stand above their own shadows

    # object shadows on the ground, then objects over them
    geoms = [part_rings_px(o, grid, offset=offset, sun_az=az, sun_el=el) for o in spec.objects]
    for parts in geoms:
        for _part, _ring, sh in parts:
            if sh is None:
                continue
            got = convex_coverage(sh, grid.shape)
            if got is not None:
                (r0, r1, c0, c1), c = got
                np.maximum(shadow[r0:r1, c0:c1], c, out=shadow[r0:r1, c0:c1])
    rad = refl * (direct * (1.0 - 0.93 * shadow) + diffuse)[None]
    del refl
    instances = np.zeros(grid.shape, dtype=np.int32)
    lit = direct + diffuse
    for k, (obj, parts) in enumerate(zip(spec.objects, geoms, strict=True), start=1):
        for part, ring, _sh in sorted(parts, key=lambda p: p[0].z_top):
            got = convex_coverage(ring, grid.shape)
            if got is None:
                continue
            (r0, r1, c0, c1), cov = got
            if part.visible:
                mat = _mat(part.material, nb) * np.float32(part.shade)
                if part.cylinder is None:
                    col = (mat * np.float32(lit))[:, None, None]
                else:
                    col = (
                        mat[:, None, None]
                        * _tube_light(
                            obj, part.cylinder, grid, (r0, r1, c0, c1), offset, az, el, diffuse
                        )[None]
                    )
                sub = rad[:, r0:r1, c0:c1]
                rad[:, r0:r1, c0:c1] = sub * (1 - cov) + col * cov
            if part.footprint:
                sub_i = instances[r0:r1, c0:c1]
                sub_i[cov >= 0.5] = k

    # clouds and their shadows
    alpha, cshade = cloud_alpha(spec.clouds, xs, ys, sun_az=az, sun_el=el, seed=spec.ground_seed)
    if spec.clouds:
        rad *= 1.0 - 0.75 * cshade[None]
        cloud_col = _mat("cloud", nb) * np.float32(lit)
        rad = rad * (1 - alpha[None]) + cloud_col[:, None, None] * alpha[None]
    h = np.float32(spec.haze)
    rad = rad * (1 - h) + (h * _HAZE_COLOUR[:nb] * np.float32(lit))[:, None, None]

    dn = _DARK[:nb, None, None] + np.float32(_DN_SCALE * spec.gain) * rad
    del rad
    for b in range(nb):
        if spec.psf_sigma_px > 0:
            dn[b] = gaussian_filter(dn[b], sigma=spec.psf_sigma_px, mode="nearest")
    rng = np.random.default_rng(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, stable_int(spec.stem, "noise")])
    )
    sigma = np.float32(spec.noise_dn) * np.sqrt(1.0 + dn / np.float32(1200.0))
    dn += rng.standard_normal(dn.shape, dtype=np.float32) * sigma
    array = np.clip(np.rint(dn), 0, DN_MAX).astype(np.uint16)
    cloud = alpha > 0.05
    cloud_shadow = cshade > 0.05
    valid = swath_valid(spec, grid, offset)
    if not valid.all():
        array[:, ~valid] = NODATA
        instances[~valid] = 0
        cloud &= valid
        cloud_shadow &= valid
    objs = _truth(spec, grid, instances, cloud | cloud_shadow)
    return SynthTile(
        spec=spec,
        seed=int(seed),
        grid=grid,
        array=array,
        valid=valid,
        cloud=cloud,
        cloud_shadow=cloud_shadow,
        instances=instances,
        objects=objs,
    )


# --------------------------------------------------------------------------- change truth
CHANGE = 1
NO_CHANGE = 0
UNKNOWN = 255


def changed_objects(
    before: Sequence[PlacedObject], after: Sequence[PlacedObject]
) -> tuple[list[PlacedObject], list[PlacedObject]]:
    """Objects of each date that are not present, unchanged, at the other date.

    Returns ``(gone_or_changed_before, new_or_changed_after)``.
    """
    b = {o.object_id: o for o in before}
    a = {o.object_id: o for o in after}
    gone = [o for o in before if not (o.object_id in a and a[o.object_id].same_pose(o))]
    new = [o for o in after if not (o.object_id in b and b[o.object_id].same_pose(o))]
    return gone, new


def change_truth(before: SynthTile, after: SynthTile) -> np.ndarray:
    """True change mask between two tiles of one site, on ``after``'s grid.

    Returns
    -------
    ndarray, (rows, cols) uint8
        :data:`CHANGE` (1), :data:`NO_CHANGE` (0) or :data:`UNKNOWN` (255: cloud or
        cloud shadow at either date, or ground not imaged by ``before``).
    """
    grid = after.grid
    sa, sb = after.spec, before.spec
    off = sa.misregistration_m
    sun_b = {"sun_az": sb.sun_azimuth_deg, "sun_el": sb.sun_elevation_deg}
    sun_a = {"sun_az": sa.sun_azimuth_deg, "sun_el": sa.sun_elevation_deg}
    gone, new = changed_objects(sb.objects, sa.objects)
    # same airframe, same place, new attributes (a visor opened): only what looks different
    b_by_id = {o.object_id: o for o in sb.objects}
    restyled = [
        (b_by_id[o.object_id], o)
        for o in new
        if o.object_id in b_by_id
        and b_by_id[o.object_id].type_name == o.type_name
        and b_by_id[o.object_id].same_pose(
            PlacedObject(
                o.object_id, o.type_name, o.x, o.y, o.heading_deg, b_by_id[o.object_id].attributes
            )  # fmt: skip
        )
    ]
    skip = {o.object_id for o, _ in restyled}
    gone = [o for o in gone if o.object_id not in skip]
    new = [o for o in new if o.object_id not in skip]
    cov = objects_coverage(gone, grid, offset=off, sun_az=sun_b["sun_az"], sun_el=sun_b["sun_el"])
    cov_new = objects_coverage(
        new, grid, offset=off, sun_az=sun_a["sun_az"], sun_el=sun_a["sun_el"]
    )
    np.maximum(cov, cov_new, out=cov)
    changed = cov >= 0.5
    for ob, oa in restyled:
        for shadows in (False, True):
            cb = objects_coverage(
                [ob], grid, offset=off, sun_az=sun_a["sun_az"], sun_el=sun_a["sun_el"],
                shadows=shadows,
            ) >= 0.5  # fmt: skip
            ca = objects_coverage(
                [oa], grid, offset=off, sun_az=sun_a["sun_az"], sun_el=sun_a["sun_el"],
                shadows=shadows,
            ) >= 0.5  # fmt: skip
            changed |= cb ^ ca
    out = np.where(changed, CHANGE, NO_CHANGE).astype(np.uint8)
    xs, ys = _true_axes(grid, off)
    b_alpha, b_shade = cloud_alpha(
        sb.clouds,
        xs,
        ys,
        sun_az=sb.sun_azimuth_deg,
        sun_el=sb.sun_elevation_deg,
        seed=sb.ground_seed,
    )
    unknown = after.cloud | after.cloud_shadow | (b_alpha > 0.05) | (b_shade > 0.05)
    unknown |= ~after.valid | ~swath_valid(sb, grid, off)
    # ground the earlier tile did not image
    left, bottom, right, top = before.grid.bounds
    bx, by = sb.misregistration_m
    outside_x = (xs < left - bx) | (xs > right - bx)
    outside_y = (ys < bottom - by) | (ys > top - by)
    unknown |= outside_y[:, None] | outside_x[None, :]
    out[unknown] = UNKNOWN
    return out


def truth_objects_by_id(tile: SynthTile) -> Mapping[str, TruthObject]:
    """The tile's truth objects keyed by object id."""
    return {o.object_id: o for o in tile.objects}
