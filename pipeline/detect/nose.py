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
(90th percentile of the widths at 15-30 % of the length). A second cue,
the flatness (:func:`nose_flatness`), separates the parallel-sided tongue
from a cone that is still widening; see :func:`nose_state` for the rule.

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


def nose_flatness(nose_profile: Sequence[float], *, length_px: float) -> float:
    """Median width at 1-3 % of the length behind the tip over that at 4-6 % (NaN if short).

    About 1 for the parallel-sided ramp tongue of an open visor; well below 1
    for a rounded nose cone that is still widening.
    """
    near = nose_width_ratio(
        nose_profile, body_width_px=1.0, length_px=length_px, window=(0.01, 0.03)
    )
    far = nose_width_ratio(nose_profile, body_width_px=1.0, length_px=length_px)
    return float(near / far) if far > 0 else float("nan")


def nose_state(
    nose_profile: Sequence[float],
    *,
    body_width_px: float,
    length_px: float,
    occluded: bool = False,
    min_body_px: float = 6.0,
    min_window_px: float = 1.5,
    open_max: float = 0.72,
    closed_min: float = 0.74,
    flat_open: float = 0.8,
    flat_closed: float = 0.75,
    min_ratio: float = 0.3,
) -> tuple[NoseState, float]:
    """Call the visor ``open`` / ``closed`` / ``unknown`` with a confidence in ``[0, 1]``.

    ``open`` needs a narrow (``r <= open_max``) *and* parallel-sided
    (flatness >= ``flat_open``) nose; ``closed`` a wide (``r >= closed_min``)
    or still-widening (flatness <= ``flat_closed``) one. ``r < min_ratio``
    means the body was mis-measured (e.g. a wrong axis): ``unknown``.

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
    open_max, closed_min, flat_open, flat_closed, min_ratio : float
        Decision thresholds (see the module docstring and :func:`nose_flatness`).
    """
    if occluded or body_width_px < min_body_px or 0.02 * length_px < min_window_px:
        return ("unknown", 0.0)
    r = nose_width_ratio(nose_profile, body_width_px=body_width_px, length_px=length_px)
    flat = nose_flatness(nose_profile, length_px=length_px)
    if not (np.isfinite(r) and np.isfinite(flat)) or r < min_ratio:
        return ("unknown", 0.0)
    if r <= open_max and flat >= flat_open:
        return ("open", round(min(1.0, 0.5 + (open_max - r) / 0.2), 3))
    if r >= closed_min or flat <= flat_closed:
        return ("closed", round(min(1.0, 0.5 + max(r - closed_min, flat_closed - flat) / 0.2), 3))
    return ("unknown", 0.0)
