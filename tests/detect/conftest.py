"""Fixtures for tests/detect: paint plan-view aircraft of known size on a textured apron."""

from __future__ import annotations

import math

import numpy as np
from skimage.draw import polygon as draw_polygon


def aircraft_outline(
    length_m: float, span_m: float, *, visor_open: bool = False
) -> list[list[tuple[float, float]]]:
    """Polygons (u forward, v right) in metres, nose at u = +L/2.

    Closed: a rounded nose cone 1.3 fuselage widths long. Open (visor-nose
    geometry): the body ends at the hinge 11 % of the length behind the nose;
    a narrow (0.6 width) ramp/floor tongue reaches the original nose station.
    """
    L, S = length_m, span_m
    fw = max(0.093 * L, 1.0)  # fuselage width
    nose = L / 2
    tail = -L / 2
    polys = []
    nose_len = 1.3 * fw
    right = [(tail, 0.3 * fw), (tail + 0.1 * L, fw / 2)]
    if visor_open:
        hinge = nose - 0.11 * L
        right.append((hinge, fw / 2))
        polys.append(right + [(u, -v) for u, v in reversed(right)])
        rw = 0.6 * fw / 2
        polys.append([(hinge - 0.5, rw), (nose, rw), (nose, -rw), (hinge - 0.5, -rw)])
    else:
        for i in range(8, -1, -1):
            th = math.pi / 2 * i / 8
            right.append((nose - nose_len + nose_len * math.cos(th), fw / 2 * math.sin(th)))
        polys.append(right + [(u, -v) for u, v in reversed(right[:-1])])
    root_u = 0.06 * L
    chord = 0.19 * L
    tip_u = root_u - 0.18 * L
    tip_chord = 0.06 * L
    polys.append([(root_u, 0.0), (tip_u, S / 2), (tip_u - tip_chord, S / 2), (root_u - chord, 0.0)])
    polys.append(
        [(root_u, 0.0), (tip_u, -S / 2), (tip_u - tip_chord, -S / 2), (root_u - chord, 0.0)]
    )
    ts = 0.42 * S
    polys.append(
        [
            (tail + 0.14 * L, 0.0),
            (tail + 0.04 * L, ts / 2),
            (tail, ts / 2),
            (tail, -ts / 2),
            (tail + 0.04 * L, -ts / 2),
        ]
    )
    return polys


def paint_aircraft(
    img: np.ndarray,
    center_rc: tuple[float, float],
    *,
    length_m: float,
    span_m: float,
    heading_deg: float,
    gsd_m: float,
    value: float,
    visor_open: bool = False,
    shadow_offset_px: tuple[float, float] | None = None,
    shadow_value: float | None = None,
    supersample: int = 4,
) -> None:
    """Paint (anti-aliased) one aircraft (and optionally its shadow first) into ``img``."""
    h = math.radians(heading_deg)
    ar, ac = -math.cos(h), math.sin(h)
    br, bc = ac, -ar  # +v is to the right of the nose... (image space)

    def raster(offset: tuple[float, float]) -> np.ndarray:
        ss = supersample
        cover = np.zeros((img.shape[0] * ss, img.shape[1] * ss), dtype=bool)
        for poly in aircraft_outline(length_m, span_m, visor_open=visor_open):
            rr = [(center_rc[0] + offset[0] + (u * ar + v * br) / gsd_m) * ss for u, v in poly]
            cc = [(center_rc[1] + offset[1] + (u * ac + v * bc) / gsd_m) * ss for u, v in poly]
            pr, pc = draw_polygon(rr, cc, shape=cover.shape)
            cover[pr, pc] = True
        return cover.reshape(img.shape[0], ss, img.shape[1], ss).mean(axis=(1, 3))

    if shadow_offset_px is not None and shadow_value is not None:
        a = raster(shadow_offset_px)
        img[:] = img * (1 - a) + shadow_value * a
    a = raster((0.0, 0.0))
    img[:] = img * (1 - a) + value * a


def apron(
    shape: tuple[int, int], *, level: float = 120.0, noise: float = 3.0, seed: int = 0
) -> np.ndarray:
    """Smooth textured concrete: level + gentle gradient + pixel noise."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    rr, cc = np.mgrid[0:rows, 0:cols]
    base = level + 10.0 * rr / rows - 5.0 * cc / cols
    return (base + rng.normal(0.0, noise, shape)).astype(np.float64)


# --------------------------------------------------------------------------- tiles & fixtures
import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from affine import Affine  # noqa: E402

from pipeline.detect.geometry import oriented_rect  # noqa: E402
from pipeline.grid import Grid  # noqa: E402
from pipeline.io.atomic import sha256_file  # noqa: E402
from pipeline.io.rasters import write_cog  # noqa: E402
from pipeline.model import Tile  # noqa: E402

UTM = "EPSG:32636"  # Khmeimim (UTM 36N)
X0, Y0 = 767_700.0, 3_921_600.0  # inside the Khmeimim AOI


def make_grid(shape: tuple[int, int], gsd: float, *, x0: float = X0, y0: float = Y0) -> Grid:
    return Grid(UTM, Affine(gsd, 0.0, x0, 0.0, -gsd, y0), shape)


@dataclass
class Plane:
    cls: str
    length_m: float
    span_m: float
    center_m: tuple[float, float]  # (row, col) in metres from the tile corner
    heading: float
    visor_open: bool | None = None


def render_scene(
    planes: list[Plane],
    *,
    gsd: float,
    size_m: float = 240.0,
    sun_az: float | None = 135.0,
    sun_el: float = 40.0,
    seed: int = 0,
    dtype: str = "uint8",
    value: float = 205.0,
) -> tuple[np.ndarray, list[dict]]:
    n = int(round(size_m / gsd))
    img = apron((n, n), seed=seed)
    truth = []
    for p in planes:
        c = (p.center_m[0] / gsd, p.center_m[1] / gsd)
        off = None
        if sun_az is not None:
            s = math.radians(sun_az)
            d = 6.0 / math.tan(math.radians(sun_el)) / gsd
            off = (math.cos(s) * d, -math.sin(s) * d)
        paint_aircraft(
            img,
            c,
            length_m=p.length_m,
            span_m=p.span_m,
            heading_deg=p.heading,
            gsd_m=gsd,
            value=value,
            visor_open=bool(p.visor_open),
            shadow_offset_px=off,
            shadow_value=55.0,
        )
        ring = oriented_rect(c, p.length_m / gsd, p.span_m / gsd, p.heading)
        attrs = {} if p.visor_open is None else {"nose_cone": "open" if p.visor_open else "closed"}
        truth.append({"class": p.cls, "attributes": attrs, "footprint_px": [list(q) for q in ring]})
    if dtype == "uint16":
        arr = (img * 40).clip(0, 65535).astype(np.uint16)
    elif dtype == "float32":
        arr = (img / 255.0).astype(np.float32)
    else:
        arr = img.clip(0, 255).astype(np.uint8)
    return np.stack([arr, arr, arr]), truth


def write_tile(
    path: Path,
    image: np.ndarray,
    *,
    gsd: float,
    truth: list[dict] | None = None,
    acquired: datetime = datetime(2024, 12, 13, 8, 30, tzinfo=UTC),
    sun_az: float | None = 135.0,
    sun_el: float | None = 40.0,
    site_id: str = "khmeimim",
    x0: float = X0,
    y0: float = Y0,
) -> Tile:
    grid = make_grid(image.shape[1:], gsd, x0=x0, y0=y0)
    tags = {
        "ACQUISITION_DATETIME": acquired.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "SITEWATCH_SITE_ID": site_id,
        "SENSOR": "test-painter",
    }
    if sun_az is not None and sun_el is not None:
        tags.update({"SUN_AZIMUTH": str(sun_az), "SUN_ELEVATION": str(sun_el)})
    write_cog(path, image, grid, tags=tags)
    if truth is not None:
        fc = {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": None, "properties": t} for t in truth],
        }
        path.with_name(path.stem + ".truth.geojson").write_text(json.dumps(fc))
    return Tile(
        id=path.stem,
        path=str(path),
        site_id=site_id,
        acquired=acquired,
        grid=grid,
        sha256=sha256_file(path),
        band_count=image.shape[0],
        dtype=str(image.dtype),
        gsd_m=gsd,
        sun_azimuth_deg=sun_az,
        sun_elevation_deg=sun_el,
    )


def mem_tile(
    shape: tuple[int, int],
    gsd: float,
    *,
    sun_az: float | None = 135.0,
    sun_el: float | None = 40.0,
    tile_id: str = "t0",
) -> Tile:
    return Tile(
        id=tile_id,
        path=f"/nonexistent/{tile_id}.tif",
        site_id="khmeimim",
        acquired=datetime(2024, 12, 13, tzinfo=UTC),
        grid=make_grid(shape, gsd),
        sha256="0" * 64,
        band_count=3,
        dtype="uint8",
        gsd_m=gsd,
        sun_azimuth_deg=sun_az,
        sun_elevation_deg=sun_el,
    )


@pytest.fixture()
def scene():
    """The scene helpers as a namespace."""
    import types

    return types.SimpleNamespace(
        Plane=Plane,
        render=render_scene,
        write_tile=write_tile,
        mem_tile=mem_tile,
        apron=apron,
        paint_aircraft=paint_aircraft,
        make_grid=make_grid,
    )
