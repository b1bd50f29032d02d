"""Pure parsers and checks: file-name dates (property-tested), timestamps, nodata, transforms."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.grid import Grid, utm_crs_for
from pipeline.ingest import parse_datetime_text, parse_filename, tile_id
from pipeline.ingest.checks import check_nodata, check_transform, ground_pixel_size_m

_site = st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,6})?", fullmatch=True)
_when = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@given(site=_site, when=_when, with_time=st.booleans(), suffix=st.sampled_from(["", "_pan", "-v2"]))
def test_filename_round_trip(site, when, with_time, suffix):
    stamp = when.strftime("%Y%m%dT%H%M%SZ") if with_time else when.strftime("%Y%m%d")
    info = parse_filename(f"{site}_{stamp}{suffix}")
    assert info is not None
    assert info.site_token == site
    expected = when if with_time else when.replace(hour=0, minute=0, second=0)
    assert info.acquired == expected
    assert tile_id(site, info.acquired) == f"{site}_{expected.strftime('%Y%m%dT%H%M%SZ')}"


@given(when=_when)
def test_filename_with_dashed_date(when):
    info = parse_filename(f"al-jufra_{when:%Y-%m-%d}T{when:%H:%M:%S}Z")
    assert info is not None and info.site_token == "al-jufra" and info.acquired == when


@pytest.mark.parametrize(
    "stem",
    ["scene", "khmeimim", "khmeimim_20241332", "khmeimim_2024121", "x_2024121399", "v12345678"],
)
def test_filename_without_valid_date(stem):
    assert parse_filename(stem) is None


@pytest.mark.parametrize(
    ("stem", "token", "expected"),
    [
        ("20241213", "", datetime(2024, 12, 13, tzinfo=UTC)),
        ("20241213T083000_khmeimim_pan", "khmeimim", datetime(2024, 12, 13, 8, 30, tzinfo=UTC)),
        (
            "S2B_MSIL2A_20241213T083000_N0511",
            "S2B_MSIL2A",
            datetime(2024, 12, 13, 8, 30, tzinfo=UTC),
        ),
        ("benina_20241399_20241214", "benina_20241399", datetime(2024, 12, 14, tzinfo=UTC)),
    ],
)
def test_filename_date_anywhere(stem, token, expected):
    info = parse_filename(stem)
    assert info is not None and (info.site_token, info.acquired) == (token, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-12-13T08:30:00Z", datetime(2024, 12, 13, 8, 30, tzinfo=UTC)),
        ("2024-12-13T10:30:00+02:00", datetime(2024, 12, 13, 8, 30, tzinfo=UTC)),
        ("2024-12-13 08:30:00.250", datetime(2024, 12, 13, 8, 30, 0, 250000, tzinfo=UTC)),
        ("2024:12:13 08:30:00", datetime(2024, 12, 13, 8, 30, tzinfo=UTC)),
        ("2024-12-13", datetime(2024, 12, 13, tzinfo=UTC)),
    ],
)
def test_parse_datetime_text(text, expected):
    assert parse_datetime_text(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "13/12/2024", "2024-13-45T00:00:00"])
def test_parse_datetime_text_rejects(text):
    with pytest.raises(ValueError, match="timestamp"):
        parse_datetime_text(text)


def test_check_nodata():
    assert check_nodata(None, "uint8") is None
    assert check_nodata(0, "uint16") == 0.0
    assert math.isnan(check_nodata(float("nan"), "float32"))  # type: ignore[arg-type]
    for value, dtype in ((256, "uint8"), (-1, "uint16"), (0.5, "int16"), (float("nan"), "uint8")):
        with pytest.raises(ValueError, match="nodata"):
            check_nodata(value, dtype)
    with pytest.raises(ValueError, match="infinite"):
        check_nodata(float("inf"), "float32")


def test_check_transform():
    check_transform(Affine(0.5, 0, 100, 0, -0.5, 200), 45)
    check_transform(Affine(0.5, 0, 100, 0, -0.5, 200) * Affine.rotation(30), 45)
    with pytest.raises(ValueError, match="identity"):
        check_transform(Affine.identity(), 45)
    with pytest.raises(ValueError, match="rotated"):
        check_transform(Affine(0.5, 0, 100, 0, -0.5, 200) * Affine.rotation(60), 45)
    with pytest.raises(ValueError, match="sheared"):
        check_transform(Affine(0.5, 0.3, 100, 0, -0.5, 200), 45)
    with pytest.raises(ValueError, match="degenerate"):
        check_transform(Affine(0.5, 0.5, 100, 0.5, 0.5, 200), 45)


@given(
    lon=st.floats(-179.0, 179.0),
    lat=st.floats(-79.0, 83.0),
    res=st.floats(0.2, 30.0),
)
@settings(max_examples=60, deadline=None)
def test_ground_pixel_size_matches_utm_resolution(lon, lat, res):
    """In the UTM zone of a point, ground pixel size equals the grid res within the scale factor."""
    crs = utm_crs_for(lon, lat)
    probe = Grid(crs, Affine(1, 0, 0, 0, -1, 0), (1, 1))
    x, y = probe.from_lonlat(lon, lat)
    grid = Grid(crs, Affine(res, 0, float(x[0]), 0, -res, float(y[0])), (64, 64))
    dx, dy = ground_pixel_size_m(grid)
    # UTM scale factor is 0.9996 on the central meridian and ~1.001 at a zone edge; the
    # spherical distance adds up to ~0.5 % against the ellipsoid.
    assert dx / res == pytest.approx(1.0, abs=8e-3)
    assert dy / res == pytest.approx(1.0, abs=8e-3)
