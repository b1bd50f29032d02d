"""Nose-cone state of visor-nose transports (An-124, C-5) from plan-view geometry.

An An-124 or C-5 loads through the nose: the visor (the whole nose cone)
hinges upward. Seen from above, a closed visor is a nose cone that tapers to
a point; with the visor raised the fuselage ends bluntly (the raised visor
stands up over the cut, so its plan-view footprint no longer extends the
body forward) and the measured overall length falls short of the reference
length by a few metres.

The call uses two geometric cues measured on the object mask:

* **tip bluntness** -- the largest width within the first ``tip_m`` metres
  of the body (from the nose tip) divided by the fuselage width behind the
  nose.
  A tapering cone gives well under 0.6; a blunt cut end about 0.8-1.
* **length shortfall** -- reference length minus measured length, metres.

``unknown`` is returned when the GSD is too coarse to resolve the nose
(fewer than ``min_body_px`` pixels across the fuselage), when the object is
cut by the tile edge / nodata, or when the cues disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

NoseState = Literal["open", "closed", "unknown"]


def tip_bluntness(
    nose_profile: Sequence[float], *, body_width_px: float, gsd_m: float, tip_m: float = 2.0
) -> float:
    """Largest width in the first ``tip_m`` metres over the body width (0 pointed .. 1 blunt).

    ``nose_profile`` holds object widths (pixels) in 1-pixel steps starting
    at the nose tip.
    """
    prof = np.asarray(nose_profile, dtype=np.float64)
    if prof.size == 0 or body_width_px <= 0:
        return float("nan")
    n = max(1, int(round(tip_m / gsd_m)))
    return float(np.max(prof[:n]) / body_width_px)


def nose_state(
    nose_profile: Sequence[float],
    *,
    body_width_px: float,
    gsd_m: float,
    measured_length_m: float,
    reference_length_m: float,
    occluded: bool = False,
    min_body_px: float = 6.0,
    tip_m: float = 2.0,
    blunt_open: float = 0.72,
    blunt_closed: float = 0.6,
) -> tuple[NoseState, float]:
    """Call the visor ``open`` / ``closed`` / ``unknown`` with a confidence in ``[0, 1]``.

    Parameters
    ----------
    nose_profile : sequence of float
        Object widths in pixels, 1-pixel steps from the nose tip.
    body_width_px : float
        Fuselage width behind the nose, pixels.
    gsd_m : float
        Ground sample distance, metres per pixel.
    measured_length_m, reference_length_m : float
        Measured and reference overall length, metres.
    occluded : bool
        True when the object touches the tile edge or nodata.
    min_body_px : float
        Fewest pixels across the fuselage for a call.
    tip_m, blunt_open, blunt_closed : float
        Bluntness window and decision thresholds (see module docstring).
    """
    if occluded or body_width_px < min_body_px or gsd_m <= 0:
        return ("unknown", 0.0)
    blunt = tip_bluntness(nose_profile, body_width_px=body_width_px, gsd_m=gsd_m, tip_m=tip_m)
    if not np.isfinite(blunt):
        return ("unknown", 0.0)
    shortfall = reference_length_m - measured_length_m
    short_tol = max(2.0 * gsd_m, 0.03 * reference_length_m)
    if blunt >= blunt_open and shortfall > -short_tol:
        conf = min(1.0, 0.5 + (blunt - blunt_open) / (1.0 - blunt_open + 1e-9) * 0.5)
        return ("open", round(conf, 3))
    if blunt <= blunt_closed and shortfall < 3.0 * short_tol:
        conf = min(1.0, 0.5 + (blunt_closed - blunt) / blunt_closed * 0.5)
        return ("closed", round(conf, 3))
    return ("unknown", 0.0)
