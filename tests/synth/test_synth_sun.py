"""Solar position: known geometry (equinox noon, solstice, morning/afternoon, hemispheres)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.synth import solar_position


def test_equinox_noon_on_the_equator_is_near_zenith():
    az, el = solar_position(datetime(2024, 3, 20, 12, 7, tzinfo=UTC), 0.0, 0.0)
    assert el > 88.0


@pytest.mark.parametrize(
    ("lat", "expected"), [(35.4, 90 - 35.4 - 23.44), (29.2, 90 - 29.2 - 23.44)]
)
def test_december_solstice_noon_elevation(lat, expected):
    # local solar noon at lon 36 E is ~09:35 UTC (+ equation of time ~ -2 min)
    best = max(
        solar_position(datetime(2024, 12, 21, 9, 0, tzinfo=UTC) + timedelta(minutes=m), 36.0, lat)[
            1
        ]
        for m in range(0, 90)
    )
    assert best == pytest.approx(expected, abs=0.3)


def test_khmeimim_morning_sun_is_south_east():
    az, el = solar_position(datetime(2024, 12, 13, 8, 35, tzinfo=UTC), 35.9487, 35.4011)
    assert 155 < az < 175 and 25 < el < 35


def test_southern_hemisphere_noon_sun_is_north():
    az, el = solar_position(datetime(2024, 12, 21, 12, 0, tzinfo=UTC), 0.0, -60.0)
    assert az < 10 or az > 350
    assert el == pytest.approx(90 - 60 + 23.44, abs=0.5)


@settings(max_examples=50, deadline=None)
@given(
    lon=st.floats(-179, 179),
    lat=st.floats(-80, 80),
    minutes=st.integers(0, 366 * 24 * 60),
)
def test_azimuth_and_elevation_ranges(lon, lat, minutes):
    when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    az, el = solar_position(when, lon, lat)
    assert 0 <= az < 360 and -90 <= el <= 90
    # morning sun (before local solar noon) is in the eastern half of the sky
    solar_hour = (when.hour + when.minute / 60 + lon / 15) % 24
    if el > 5 and 6.5 < solar_hour < 11.0 and abs(lat) < 60:
        assert 0 < az < 180
