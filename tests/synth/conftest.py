"""Fixtures for the synthetic generator tests: tiny one-object scenes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from pipeline.sites import default_registry
from pipeline.synth import PlacedObject, SceneSpec, scene_grid
from pipeline.synth.scenario import site_centre_xy

SceneFactory = Callable[..., SceneSpec]


@pytest.fixture(scope="session")
def one_object_scene() -> SceneFactory:
    """Build a square scene with (at most) one object at the tile centre."""
    site = default_registry().get("khmeimim")
    cx, cy = site_centre_xy(site)

    def make(
        type_name: str | None,
        *,
        gsd: float = 0.5,
        heading: float = 0.0,
        attributes: dict[str, str] | None = None,
        extent_m: float = 100.0,
        sun_az: float = 160.0,
        sun_el: float = 35.0,
        offset: tuple[float, float] = (0.0, 0.0),
        dx: float = 0.0,
        dy: float = 0.0,
        bands: int = 4,
        noise_dn: float = 1.0,
    ) -> SceneSpec:
        n = int(round(extent_m / gsd))
        probe = SceneSpec(
            site=site, acquired=datetime(2024, 12, 13, 8, 30, tzinfo=UTC),
            sun_azimuth_deg=sun_az, sun_elevation_deg=sun_el, gsd_m=gsd, size_px=(n, n),
            centre_xy=(cx, cy),
        )  # fmt: skip
        g = scene_grid(probe)
        left, bottom, right, top = g.bounds
        ox, oy = (left + right) / 2 + dx, (bottom + top) / 2 + dy
        objs = ()
        if type_name is not None:
            objs = (PlacedObject("obj-1", type_name, ox, oy, heading, attributes or {}),)
        return SceneSpec(
            site=site, acquired=probe.acquired, sun_azimuth_deg=sun_az,
            sun_elevation_deg=sun_el, gsd_m=gsd, size_px=(n, n), bands=bands,
            misregistration_m=offset, objects=objs, ground_seed=11, vegetation=0.3,
            noise_dn=noise_dn, centre_xy=(cx, cy),
        )  # fmt: skip

    return make
