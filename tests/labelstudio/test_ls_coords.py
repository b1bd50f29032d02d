"""Percent <-> pixel <-> map conversions (property tests) and chip windows/quick-looks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.annotate.chips import Chip, chip_id, chip_window, quicklook
from pipeline.annotate.coords import (
    PercentRect,
    map_to_pixel,
    percent_to_pixel_ring,
    pixel_ring_to_percent,
    pixel_to_map,
)
from pipeline.model import parse_utc

sizes = st.integers(min_value=16, max_value=2048)


def _same_corners(a: list[tuple[float, float]], b: list[tuple[float, float]], tol: float) -> bool:
    """Every corner of ``a`` has a corner of ``b`` within ``tol`` pixels (and vice versa)."""

    def near(p: tuple[float, float], ring: list[tuple[float, float]]) -> bool:
        return min(math.hypot(p[0] - q[0], p[1] - q[1]) for q in ring[:4]) <= tol

    return all(near(p, b) for p in a[:4]) and all(near(q, a) for q in b[:4])


@settings(max_examples=200, deadline=None)
@given(
    w=sizes,
    h=sizes,
    x=st.floats(0, 90),
    y=st.floats(0, 90),
    bw=st.floats(1, 40),
    bh=st.floats(1, 40),
    rot=st.floats(0, 359.99),
)
def test_percent_pixel_round_trip(
    w: int, h: int, x: float, y: float, bw: float, bh: float, rot: float
) -> None:
    rect = PercentRect(x, y, bw, bh, rot)
    ring = percent_to_pixel_ring(rect, w, h)
    back = pixel_ring_to_percent(ring, w, h)
    assert 0.0 <= back.rotation < 90.0
    ring2 = percent_to_pixel_ring(back, w, h)
    assert _same_corners(ring, ring2, tol=1e-3)


def test_rotation_is_clockwise_about_top_left() -> None:
    ring = percent_to_pixel_ring(PercentRect(10, 10, 20, 10, 90), 100, 100)
    # top-left stays; the width edge now points down the image (rows increase)
    assert ring[0] == pytest.approx((10.0, 10.0))
    assert ring[1] == pytest.approx((30.0, 10.0))
    assert ring[3] == pytest.approx((10.0, 0.0))


def test_axis_aligned_box() -> None:
    ring = [(20.0, 10.0), (20.0, 50.0), (40.0, 50.0), (40.0, 10.0), (20.0, 10.0)]
    rect = pixel_ring_to_percent(ring, 200, 100)
    assert rect == PercentRect(5.0, 20.0, 20.0, 20.0, 0.0)


def test_irregular_ring_gets_enclosing_rectangle() -> None:
    ring = [(0.0, 0.0), (0.0, 10.0), (5.0, 12.0), (10.0, 10.0), (10.0, 0.0)]
    rect = pixel_ring_to_percent(ring, 100, 100)
    corners = percent_to_pixel_ring(rect, 100, 100)
    rs = [p[0] for p in corners]
    cs = [p[1] for p in corners]
    assert min(rs) <= 0.0 + 1e-6 and max(rs) >= 10.0 - 1e-6 and max(cs) >= 12.0 - 1e-6


def test_degenerate_ring_raises() -> None:
    with pytest.raises(ValueError, match="degenerate|at least 3"):
        pixel_ring_to_percent([(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)], 10, 10)
    with pytest.raises(ValueError, match="positive"):
        percent_to_pixel_ring(PercentRect(0, 0, 1, 1), 0, 10)


@settings(max_examples=100, deadline=None)
@given(
    a=st.floats(0.3, 30),
    e=st.floats(0.3, 30),
    x0=st.floats(-1e6, 1e6),
    y0=st.floats(-1e7, 1e7),
    r=st.floats(0, 5000),
    c=st.floats(0, 5000),
)
def test_pixel_map_round_trip(a: float, e: float, x0: float, y0: float, r: float, c: float) -> None:
    t = Affine(a, 0, x0, 0, -e, y0)
    (xy,) = pixel_to_map([(r, c)], t)
    ((r2, c2),) = map_to_pixel([xy], t)
    assert math.isclose(r, r2, abs_tol=1e-6) and math.isclose(c, c2, abs_tol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    r0=st.floats(0, 900),
    c0=st.floats(0, 900),
    dr=st.floats(1, 90),
    dc=st.floats(1, 90),
    pad=st.integers(0, 64),
    min_size=st.integers(8, 256),
)
def test_chip_window_contains_ring_and_stays_inside(
    r0: float, c0: float, dr: float, dc: float, pad: int, min_size: int
) -> None:
    shape = (1000, 1000)
    ring = [(r0, c0), (r0, c0 + dc), (r0 + dr, c0 + dc), (r0 + dr, c0)]
    wr, wc, h, w = chip_window(ring, shape, pad_px=pad, min_size=min_size)
    assert 0 <= wr and 0 <= wc and wr + h <= shape[0] and wc + w <= shape[1]
    assert h >= min(min_size, shape[0]) and w >= min(min_size, shape[1])
    rows = [p[0] for p in ring]
    cols = [p[1] for p in ring]
    if max(rows) <= shape[0] and max(cols) <= shape[1]:
        assert wr <= min(rows) and max(rows) <= wr + h
        assert wc <= min(cols) and max(cols) <= wc + w


def test_chip_affine_maps_chip_pixels_to_tile_map() -> None:
    tile_t = Affine(0.5, 0, 500000.0, 0, -0.5, 3900000.0)
    window = (100, 40, 64, 64)
    sub = tile_t * Affine.translation(40, 100)
    chip = Chip(
        id=chip_id("abc", window),
        tile_id="t",
        tile_sha256="abc",
        acquired=parse_utc("2024-01-01T00:00:00Z"),
        crs="EPSG:32636",
        transform=tuple(sub)[:6],  # type: ignore[arg-type]
        window=window,
    )
    assert chip.grid.xy(0, 0, offset="ul") == pytest.approx(tile_t * (40, 100))
    assert Chip.from_dict(chip.to_dict()) == chip
    assert chip_id("abc", window) == chip.id and chip_id("abd", window) != chip.id


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_quicklook_stretch_and_nodata(dtype: str) -> None:
    rng = np.random.default_rng(1)
    arr = rng.uniform(100, 4000, size=(3, 32, 48)).astype(dtype)
    if dtype == "uint8":
        arr = rng.integers(10, 240, size=(3, 32, 48)).astype(dtype)
    valid = np.ones((32, 48), dtype=bool)
    valid[:4, :] = False
    before = arr.copy()
    out = quicklook(arr, valid)
    assert out.shape == (32, 48, 4) and out.dtype == np.uint8
    assert np.array_equal(arr, before)  # caller's array untouched
    assert (out[:4, :, 3] == 0).all() and (out[:4, :, :3] == 0).all()
    assert (out[4:, :, 3] == 255).all()
    # 2-98 % stretch: about 2 % of valid pixels saturate at each end
    band = out[4:, :, 0]
    assert 0.005 < (band == 0).mean() < 0.05 and 0.005 < (band == 255).mean() < 0.05


def test_quicklook_single_band_nan_is_transparent() -> None:
    arr = np.linspace(0, 1, 100, dtype=np.float32).reshape(1, 10, 10)
    arr[0, 0, 0] = np.nan
    out = quicklook(arr)
    assert out[0, 0, 3] == 0
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
