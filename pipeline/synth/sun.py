"""Solar position from time and place (NOAA's simplified algorithm, no extra package).

Accuracy is about 0.1 degree between 1950 and 2050, far better than the
synthetic scenes need. Atmospheric refraction is ignored (it lifts the sun by
under 0.1 degree above 20 degrees elevation).
"""

from __future__ import annotations

import math
from datetime import datetime

from pipeline.model import utc


def solar_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Sun azimuth and elevation seen from ``(lon, lat)`` at ``when``.

    Parameters
    ----------
    when : datetime
        Time (naive means UTC).
    lon, lat : float
        Observer position in degrees (EPSG:4326), east and north positive.

    Returns
    -------
    tuple of float
        ``(azimuth_deg, elevation_deg)``: azimuth clockwise from true north in
        ``[0, 360)``, elevation above the horizon in ``[-90, 90]``.
    """
    t = utc(when)
    jd = t.timestamp() / 86400.0 + 2440587.5
    jc = (jd - 2451545.0) / 36525.0
    l0 = (280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0
    m = 357.52911 + jc * (35999.05029 - 0.0001537 * jc)
    ecc = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    mr = math.radians(m)
    centre = (
        math.sin(mr) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + math.sin(2 * mr) * (0.019993 - 0.000101 * jc)
        + math.sin(3 * mr) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * jc)
    app_long = l0 + centre - 0.00569 - 0.00478 * math.sin(omega)
    mean_obliq = (
        23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60.0) / 60.0
    )
    obliq = math.radians(mean_obliq + 0.00256 * math.cos(omega))
    decl = math.asin(math.sin(obliq) * math.sin(math.radians(app_long)))
    y = math.tan(obliq / 2.0) ** 2
    l0r = math.radians(l0)
    eq_time = 4.0 * math.degrees(
        y * math.sin(2 * l0r)
        - 2 * ecc * math.sin(mr)
        + 4 * ecc * y * math.sin(mr) * math.cos(2 * l0r)
        - 0.5 * y * y * math.sin(4 * l0r)
        - 1.25 * ecc * ecc * math.sin(2 * mr)
    )
    minutes = t.hour * 60.0 + t.minute + (t.second + t.microsecond / 1e6) / 60.0
    true_solar = (minutes + eq_time + 4.0 * lon) % 1440.0
    hour_angle = true_solar / 4.0 - 180.0
    latr = math.radians(lat)
    ha = math.radians(hour_angle)
    cos_zen = math.sin(latr) * math.sin(decl) + math.cos(latr) * math.cos(decl) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    elevation = 90.0 - math.degrees(zen)
    denom = math.cos(latr) * math.sin(zen)
    if abs(denom) < 1e-12:
        azimuth = 180.0
    else:
        cos_az = (math.sin(latr) * math.cos(zen) - math.sin(decl)) / denom
        az = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
        azimuth = (az + 180.0) % 360.0 if hour_angle > 0 else (540.0 - az) % 360.0
    return azimuth, elevation
