"""Type classification from measured length and span (pure functions).

A measured ``(length_m, span_m)`` pair is compared with every row of the
object-type table (:func:`pipeline.objects.object_types`) under a Gaussian
measurement model whose standard deviation grows with the tile's ground
sample distance::

    sigma = k_px * gsd_m + rel * reference_dimension_m

``k_px`` (pixels) covers edge localisation at both ends of a measured extent;
``rel`` covers pose, model variants and partial occlusion. The score of the
best type is its posterior probability against all types plus a flat
"none of these" alternative (``chi2_reject``); when the best type's chi-square
exceeds ``chi2_reject`` the generic class of the size category is returned
(``aircraft`` or ``vehicle``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.objects import ObjectType, object_types

#: Categories the measurement detector considers (vessels are not on aprons).
DEFAULT_CATEGORIES = ("aircraft", "helicopter", "vehicle")


@dataclass(frozen=True)
class TypeCall:
    """Result of classifying one measured object.

    ``cls`` is a canonical type name or a generic class; ``score`` in ``[0, 1]``;
    ``alternatives`` lists ``(name, posterior)`` pairs, best first.
    """

    cls: str
    category: str
    score: float
    chi2: float
    alternatives: tuple[tuple[str, float], ...]


def format_alternatives(alternatives: Iterable[tuple[str, float]], *, top: int = 3) -> str:
    """``"Il-76:0.480;A-50:0.480"``: the first ``top`` ``(name, posterior)`` pairs."""
    return ";".join(f"{n}:{p:.3f}" for n, p in list(alternatives)[:top])


def parse_alternatives(text: str | None) -> tuple[tuple[str, float], ...]:
    """Inverse of :func:`format_alternatives`; malformed entries are skipped."""
    out: list[tuple[str, float]] = []
    for part in (text or "").split(";"):
        name, sep, prob = part.rpartition(":")
        try:
            p = float(prob)
        except ValueError:
            continue
        if sep and name and math.isfinite(p):
            out.append((name, p))
    return tuple(out)


def generic_class(length_m: float) -> tuple[str, str]:
    """Generic ``(class, category)`` for an object of overall length ``length_m`` metres."""
    if length_m < 12.0:
        return ("vehicle", "vehicle")
    return ("aircraft", "aircraft")


def type_chi2(
    length_m: float,
    span_m: float,
    ref: ObjectType,
    *,
    gsd_m: float,
    k_px: float = 2.0,
    rel: float = 0.05,
    length_shortfall_m: float = 0.0,
) -> float:
    """Chi-square of a measurement against one reference type (2 degrees of freedom).

    ``length_shortfall_m`` lets a measured length fall short of the reference by
    up to that many metres at no cost (used for visor-nose types, whose raised
    visor shortens the plan-view length).
    """
    sl = k_px * gsd_m + rel * ref.length_m
    sw = k_px * gsd_m + rel * ref.wingspan_m
    dl = length_m - ref.length_m
    if dl < 0 and length_shortfall_m > 0:
        dl = min(0.0, dl + length_shortfall_m)
    dw = span_m - ref.wingspan_m
    return (dl / sl) ** 2 + (dw / sw) ** 2


def classify_dims(
    length_m: float,
    span_m: float,
    *,
    gsd_m: float,
    categories: Iterable[str] = DEFAULT_CATEGORIES,
    chi2_reject: float = 9.21,
    k_px: float = 2.0,
    rel: float = 0.05,
    visor_shortfall_m: float = 6.0,
) -> TypeCall:
    """Classify a measured object against the reference table.

    Parameters
    ----------
    length_m, span_m : float
        Measured overall length along the body axis and span across it, metres.
    gsd_m : float
        Ground sample distance of the tile, metres per pixel.
    categories : iterable of str
        Table categories to consider.
    chi2_reject : float
        Chi-square (2 dof) above which no type fits (9.21 = 99th percentile).
    k_px, rel : float
        Measurement-error model, see the module docstring.
    visor_shortfall_m : float
        Maximum plan-view shortening of visor-nose types when the visor is open.

    Returns
    -------
    TypeCall
    """
    cats = set(categories)
    refs = [t for t in object_types().values() if t.category in cats]
    scored: list[tuple[float, ObjectType]] = []
    for ref in refs:
        short = visor_shortfall_m if ref.visor_nose else 0.0
        c2 = type_chi2(
            length_m, span_m, ref, gsd_m=gsd_m, k_px=k_px, rel=rel, length_shortfall_m=short
        )
        scored.append((c2, ref))
    return _posterior(scored, chi2_reject, generic_class(length_m))


def _posterior(
    scored: list[tuple[float, ObjectType]], chi2_reject: float, generic: tuple[str, str]
) -> TypeCall:
    """Best type and posteriors from ``(chi2, type)`` pairs; ``generic`` when none fits."""
    # stable sort: equal chi2 (identical dimensions, e.g. Il-76 / A-50) keeps table order
    scored = sorted(scored, key=lambda s: s[0])
    floor = math.exp(-chi2_reject / 2.0)
    liks = [math.exp(-c2 / 2.0) for c2, _ in scored]
    total = sum(liks) + floor
    alts = tuple(
        (ref.name, lik / total) for (_, ref), lik in zip(scored[:5], liks[:5], strict=True)
    )
    if not scored or scored[0][0] > chi2_reject:
        best_c2 = scored[0][0] if scored else float("inf")
        return TypeCall(generic[0], generic[1], floor / total, best_c2, alts)
    best_c2, best = scored[0]
    return TypeCall(best.name, best.category, liks[0] / total, best_c2, alts)


def classify_rotor(
    diameter_m: float,
    *,
    length_m: float | None = None,
    gsd_m: float,
    chi2_reject: float = 9.21,
    k_px: float = 2.0,
    rel: float = 0.05,
) -> TypeCall:
    """Helicopter type from the measured main-rotor diameter (and overall length if known).

    The table's helicopter rows hold the rotor diameter in ``wingspan_m`` and
    the overall length (rotors turning) in ``length_m``; both in metres. Same
    error model as :func:`classify_dims`; without ``length_m`` only the
    diameter term counts. No fit gives the generic class ``helicopter``.
    """
    scored = []
    for ref in object_types().values():
        if ref.category != "helicopter":
            continue
        sd = k_px * gsd_m + rel * ref.wingspan_m
        c2 = ((diameter_m - ref.wingspan_m) / sd) ** 2
        if length_m is not None:
            sl = k_px * gsd_m + rel * ref.length_m
            c2 += ((length_m - ref.length_m) / sl) ** 2
        scored.append((c2, ref))
    return _posterior(scored, chi2_reject, ("helicopter", "helicopter"))
