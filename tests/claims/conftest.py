"""Builders for hand-made tiles, detections and claims with known answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine

from pipeline.grid import Grid, utm_crs_for
from pipeline.model import Claim, ClaimObject, Detection, ObjectChange, Tile
from pipeline.sites import default_registry

SHARED_SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "schemas"


def site_grid(site_id: str, *, size: int = 200, gsd: float = 0.5) -> Grid:
    """A UTM grid of ``size`` x ``size`` pixels centred on the site."""
    site = default_registry().get(site_id)
    crs = utm_crs_for(site.lon, site.lat)
    probe = Grid(crs, Affine(gsd, 0, 0, 0, -gsd, 0), (size, size))
    x, y = probe.from_lonlat(site.lon, site.lat)
    half = size * gsd / 2
    t = Affine(gsd, 0, float(x[0]) - half, 0, -gsd, float(y[0]) + half)
    return Grid(crs, t, (size, size))


def make_tile(site_id: str, day: date, *, hour: int = 8, path: str = "", size: int = 200) -> Tile:
    acquired = datetime(day.year, day.month, day.day, hour, 30, tzinfo=UTC)
    tid = f"{site_id}_{acquired.strftime('%Y%m%dT%H%M%SZ')}"
    return Tile(
        id=tid,
        path=path or f"{tid}.tif",
        site_id=site_id,
        acquired=acquired,
        grid=site_grid(site_id, size=size),
        sha256=f"sha-{tid}",
        band_count=1,
        dtype="uint16",
    )


def make_det(
    tile: Tile,
    cls: str,
    row: float,
    col: float,
    *,
    size: float = 20.0,
    attributes: dict[str, str] | None = None,
    source: str = "model",
    det_id: str | None = None,
) -> Detection:
    ring = ((row, col), (row, col + size), (row + size, col + size), (row + size, col), (row, col))
    return Detection(
        id=det_id or f"{tile.id}-{cls}-{int(row)}-{int(col)}-{source}",
        cls=cls,
        score=0.9 if source == "model" else 1.0,
        footprint_px=ring,
        footprint_lonlat=tuple(tile.grid.pixel_ring_to_lonlat(ring)),
        tile_id=tile.id,
        tile_sha256=tile.sha256,
        acquired=tile.acquired,
        detector="test-detector",
        detector_version="1.0",
        attributes=attributes or {},
        length_m=size * 0.5,
        wingspan_m=size * 0.5,
        heading_deg=90.0,
        source=source,  # type: ignore[arg-type]
        annotation_id="ann-1" if source == "human" else None,
    )


def make_change(kind: str, before: Tile, after: Tile, det: Detection) -> ObjectChange:
    return ObjectChange(
        id=f"oc-{kind}-{det.id}",
        site_id=before.site_id,
        kind=kind,  # type: ignore[arg-type]
        cls=det.cls,
        before_tile_id=before.id,
        after_tile_id=after.id,
        before_acquired=before.acquired,
        after_acquired=after.acquired,
        before=det if kind != "arrived" else None,
        after=det if kind != "departed" else None,
    )


def make_claim(
    site_id: str,
    window: tuple[date, date] | None,
    event: str,
    objects: list[ClaimObject],
    *,
    extra: dict[str, Any] | None = None,
    checkable: bool = True,
) -> Claim:
    return Claim(
        id=f"c-{site_id}-{event}-{len(objects)}",
        document="test.txt",
        sentence="test sentence",
        char_start=0,
        char_end=13,
        checkable=checkable,
        site=default_registry().get(site_id),
        window=window,
        event=event,
        objects=tuple(objects),
        extra=extra or {},  # type: ignore[arg-type]
    )


@pytest.fixture
def shared_schemas() -> Path:
    if not SHARED_SCHEMAS.is_dir():
        pytest.skip(f"shared schemas not found at {SHARED_SCHEMAS}")
    return SHARED_SCHEMAS


@pytest.fixture
def schema_validator(shared_schemas: Path) -> Callable[[Any, str], None]:
    """Validate against the shared (not vendored) schemas with a $ref registry."""
    import jsonschema
    from referencing import Registry, Resource

    docs = {p.name: json.loads(p.read_text()) for p in shared_schemas.glob("*.json")}
    reg: Registry[Any] = Registry().with_resources(
        [(n, Resource.from_contents(d)) for n, d in docs.items()]
    )

    def check(obj: Any, name: str) -> None:
        cls = jsonschema.validators.validator_for(docs[name])
        cls(docs[name], registry=reg, format_checker=cls.FORMAT_CHECKER).validate(obj)

    return check


def scene(size: int = 200, boxes: list[tuple[int, int, int]] | None = None) -> np.ndarray:
    """uint16 scene: textured background plus bright squares (row, col, side) as aircraft."""
    rng = np.random.default_rng(7)
    arr = (rng.normal(900, 40, (size, size))).clip(0, 4000).astype(np.uint16)
    for r, c, s in boxes or []:
        arr[r : r + s, c : c + s] = 3000
    return arr


@pytest.fixture
def build() -> Any:
    """Builders as one namespace (test modules cannot import conftest in importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        tile=make_tile,
        det=make_det,
        change=make_change,
        claim=make_claim,
        scene=scene,
        grid=site_grid,
    )
