from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import CRSMismatchError, GridError
from pipeline.grid import Grid, utm_crs_for


def make_grid(crs: str = "EPSG:32636", gsd: float = 0.5) -> Grid:
    return Grid(crs, Affine(gsd, 0, 771_000.0, 0, -gsd, 3_922_000.0), (400, 600))


def test_grid_properties() -> None:
    g = make_grid()
    assert g.shape == (400, 600)
    assert g.height == 400 and g.width == 600
    assert g.res == (0.5, 0.5)
    assert g.gsd == 0.5
    assert g.is_projected
    assert g.bounds == (771_000.0, 3_922_000.0 - 200.0, 771_000.0 + 300.0, 3_922_000.0)


@pytest.mark.parametrize(
    ("shape", "transform", "crs"),
    [
        ((0, 10), Affine(1, 0, 0, 0, -1, 0), "EPSG:32636"),
        ((10, 10), Affine(0, 0, 0, 0, 0, 0), "EPSG:32636"),
        ((10, 10), Affine.identity(), "EPSG:32636"),
        ((10, 10), Affine(1, 0, 0, 0, -1, 0), "not a crs"),
    ],
)
def test_invalid_grids_are_refused(shape, transform, crs) -> None:
    with pytest.raises(GridError):
        Grid(crs, transform, shape)


def test_pixel_centre_and_corner() -> None:
    g = make_grid()
    x, y = g.xy(0, 0)
    assert (float(x), float(y)) == (771_000.25, 3_921_999.75)
    x, y = g.xy(0, 0, offset="ul")
    assert (float(x), float(y)) == (771_000.0, 3_922_000.0)
    r, c = g.rowcol(771_000.25, 3_921_999.75)
    assert (float(r), float(c)) == (0.5, 0.5)


@settings(max_examples=60, deadline=None)
@given(
    row=st.floats(0, 399, allow_nan=False),
    col=st.floats(0, 599, allow_nan=False),
    gsd=st.sampled_from([0.3, 0.5, 0.8, 2.0]),
)
def test_pixel_map_lonlat_round_trip(row: float, col: float, gsd: float) -> None:
    g = make_grid(gsd=gsd)
    x, y = g.xy(row, col, offset="ul")
    lon, lat = g.to_lonlat(x, y)
    x2, y2 = g.from_lonlat(lon, lat)
    r2, c2 = g.rowcol(x2, y2)
    assert abs(float(r2[0]) - row) < 1e-4
    assert abs(float(c2[0]) - col) < 1e-4


def test_footprint_is_closed_and_near_site() -> None:
    g = make_grid()
    ring = g.footprint_lonlat()
    assert ring[0] == ring[-1] and len(ring) == 5
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    assert 35 < min(lons) < 37 and 35 < min(lats) < 36


def test_window_and_serialisation_round_trip() -> None:
    g = make_grid()
    w = g.window(10, 20, 50, 60)
    assert w.shape == (50, 60)
    x, y = w.xy(0, 0, offset="ul")
    x0, y0 = g.xy(10, 20, offset="ul")
    assert math.isclose(float(x), float(x0)) and math.isclose(float(y), float(y0))
    assert Grid.from_dict(g.to_dict()) == g


def test_crs_mismatch() -> None:
    a = make_grid("EPSG:32636")
    b = make_grid("EPSG:32637")
    with pytest.raises(CRSMismatchError):
        a.require_same_crs(b)


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [(35.9487, 35.4011, "EPSG:32636"), (20.27, 32.1, "EPSG:32634"), (-58.4, -34.6, "EPSG:32721")],
)
def test_utm_zone(lon: float, lat: float, expected: str) -> None:
    assert utm_crs_for(lon, lat) == expected


def test_xy_vectorised() -> None:
    g = make_grid()
    x, y = g.xy(np.array([0, 1]), np.array([0, 2]))
    assert x.shape == (2,) and y.shape == (2,)
