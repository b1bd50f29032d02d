"""The object-type reference table: canonical names, plan-view dimensions, aliases.

The table lives in ``pipeline/data/object_types.csv``. Dimensions are overall
length and span (wingspan for aircraft, main-rotor diameter for helicopters,
beam/width for vehicles and vessels), in metres, from public manufacturer data.
``visor_nose`` marks types whose nose opens upward for loading (An-124, C-5);
``rotodome_m`` is the diameter of an airborne-early-warning radar dome carried over
the rear fuselage (A-50: 10.8 m; empty for types without one).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

CATEGORIES = ("aircraft", "helicopter", "vehicle", "vessel")


@dataclass(frozen=True)
class ObjectType:
    """One row of the reference table (lengths in metres)."""

    name: str
    category: str
    length_m: float
    wingspan_m: float
    visor_nose: bool = False
    nato_name: str | None = None
    aliases: tuple[str, ...] = ()
    role: str = ""
    rotodome_m: float | None = None


@lru_cache(maxsize=1)
def object_types() -> dict[str, ObjectType]:
    """All reference types keyed by canonical name (read once, cached)."""
    text = resources.files("pipeline.data").joinpath("object_types.csv").read_text("utf-8")
    out: dict[str, ObjectType] = {}
    for row in csv.DictReader(io.StringIO(text)):
        out[row["name"]] = ObjectType(
            name=row["name"],
            category=row["category"],
            length_m=float(row["length_m"]),
            wingspan_m=float(row["wingspan_m"]),
            visor_nose=row["visor_nose"].strip().lower() == "true",
            nato_name=row["nato_name"] or None,
            aliases=tuple(a.strip() for a in row["aliases"].split(";") if a.strip()),
            role=row["role"],
            rotodome_m=float(row["rotodome_m"]) if (row.get("rotodome_m") or "").strip() else None,
        )
    return out


def get_type(name: str) -> ObjectType:
    """Look up a canonical type name; raises ``KeyError`` listing the known names."""
    types = object_types()
    if name not in types:
        raise KeyError(f"unknown object type {name!r}; known: {', '.join(sorted(types))}")
    return types[name]


def types_in(category: str) -> list[ObjectType]:
    """Reference types of one category (aircraft, helicopter, vehicle, vessel)."""
    return [t for t in object_types().values() if t.category == category]
