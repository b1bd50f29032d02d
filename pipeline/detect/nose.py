"""Nose-cone state of visor-nose transports (An-124, C-5) from plan-view geometry.

An An-124 or C-5 loads through the nose: the visor (the front ~11 % of the
fuselage) hinges upward and the loading ramp folds down to the ground. Seen
from nadir (see also :mod:`pipeline.synth.shapes`):

* **closed** -- the fuselage ends in a rounded nose cone whose width grows
  smoothly from the tip: at 4-6 % of the aircraft length behind the tip it
  is already ~80-95 % of the fuselage width;
* **open** -- the full-width body stops at the hinge; ahead of it lie a short
  full-width cap (the raised visor seen from above) and, reaching forward to
  the original nose station, the lowered ramp and cargo floor: a *narrow,
  parallel-sided* tongue (~0.6 of the fuselage width). At 4-6 % of the length
  behind the tip the object is therefore only ~60-70 % of the fuselage width.

So the call reads the width profile of the measured object (widths across the
body axis in one-pixel steps from the nose tip, see
:func:`pipeline.detect.measure.measure_mask`): ``r`` is the median width over
``[0.04 L, 0.06 L]`` behind the tip divided by the fuselage width
(median width at 15-30 % of the length). ``r <= open_max`` is ``open``,
``r >= closed_min`` is ``closed``, in between ``unknown``.

``unknown`` is also returned when the GSD is too coarse to resolve the nose
(fewer than ``min_body_px`` pixels across the fuselage, or fewer than
``min_window_px`` pixels in the measuring window), or when the object is cut
by the tile edge / nodata (the nose may be hidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

NoseState = Literal["open", "closed", "unknown"]


def nose_width_ratio(
    nose_profile: Sequence[float],
    *,
    body_width_px: float,
    length_px: float,
    window: tuple[float, float] = (0.04, 0.06),
) -> float:
    """Median width in ``window`` (fractions of the length behind the tip) over the body width.

    ``nose_profile`` holds object widths (pixels) in 1-pixel steps starting at
    the nose tip. Returns NaN when the profile is too short.
    """
    prof = np.asarray(nose_profile, dtype=np.float64)
    a = int(np.floor(window[0] * length_px))
    b = max(a + 1, int(np.ceil(window[1] * length_px)))
    if prof.size < b or body_width_px <= 0:
        return float("nan")
    return float(np.median(prof[a:b]) / body_width_px)


def nose_state(
    nose_profile: Sequence[float],
    *,
    body_width_px: float,
    length_px: float,
    occluded: bool = False,
    min_body_px: float = 6.0,
    min_window_px: float = 1.5,
    open_max: float = 0.68,
    closed_min: float = 0.71,
) -> tuple[NoseState, float]:
    """Call the visor ``open`` / ``closed`` / ``unknown`` with a confidence in ``[0, 1]``.

    Parameters
    ----------
    nose_profile : sequence of float
        Object widths in pixels, 1-pixel steps from the nose tip.
    body_width_px : float
        Fuselage width behind the nose, pixels.
    length_px : float
        Measured overall length, pixels.
    occluded : bool
        True when the object touches the tile edge or nodata.
    min_body_px, min_window_px : float
        Resolution needed for a call (pixels across the fuselage / along the window).
    open_max, closed_min : float
        Decision thresholds on the width ratio (see the module docstring).
    """
    if occluded or body_width_px < min_body_px or 0.02 * length_px < min_window_px:
        return ("unknown", 0.0)
    r = nose_width_ratio(nose_profile, body_width_px=body_width_px, length_px=length_px)
    if not np.isfinite(r):
        return ("unknown", 0.0)
    if r <= open_max:
        return ("open", round(min(1.0, 0.5 + (open_max - r) / 0.2), 3))
    if r >= closed_min:
        return ("closed", round(min(1.0, 0.5 + (r - closed_min) / 0.2), 3))
    return ("unknown", 0.0)
