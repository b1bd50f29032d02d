"""Scenarios: lists of :class:`~pipeline.synth.spec.SceneSpec` to render.

:func:`sample_scenario` is the committed sample set; it makes the checkable
sentences of ``sample_tiles/report.md`` true:

* Khmeimim, 2024-12-05: Il-76, An-26, fighters, helicopters, trucks, NO An-124.
  2024-12-13: three An-124s arrive (two with the nose visor open, one closed),
  two more Il-76s, a loading truck; one Su-24 gone. 2024-12-15: one An-124
  (an open one) gone, the other open one has closed its visor, a Su-24 and the
  loading truck gone, a Mi-8 repositioned, two trucks and a pickup arrived;
  a partial cloud with its shadow lies over the south-east of the tile.
* Tartus, 2024-12-05: one landing ship at the pier; 2024-12-12: plus a cargo ship.
* Al Khadim, 2024-12-10: An-26, Mi-8, two trucks; 2024-12-17: two Il-76s
  arrived, pickups and three ZU-23-2 guns near the apron.
* Al-Jufra, 2024-12-09: An-26 and two MiG-29s; 2024-12-16: an Il-76 arrived
  beside the An-26, one MiG-29 gone.

Layouts are described in a per-site frame (``s`` metres along the runway
heading, ``t`` metres to its right) and converted to UTM map metres, so the
same code builds any airbase; :func:`random_scenario` draws a different layout,
sun, date, object mix, headings and misregistration from a seed for held-out
evaluation (at 0.3 or 0.8 m GSD too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from affine import Affine
from shapely.geometry import Polygon

from pipeline.errors import ConfigError
from pipeline.grid import Grid
from pipeline.model import Site
from pipeline.objects import get_type, types_in
from pipeline.sites import default_registry
from pipeline.synth.render import stable_int
from pipeline.synth.spec import CloudSpec, PlacedObject, SceneSpec, Surface, oriented_rect
from pipeline.synth.sun import solar_position

#: Seed of the committed sample set.
DEFAULT_SEED = 2024
#: Ground extent in metres of the sample tiles per site (tile size = extent / GSD).
SAMPLE_EXTENT_M = {"khmeimim": 608.0, "tartus": 480.0, "al-khadim": 480.0, "al-jufra": 480.0}


@dataclass(frozen=True)
class Frame:
    """A site frame: ``s`` along ``heading_deg`` (the runway), ``t`` to its right, metres."""

    cx: float
    cy: float
    heading_deg: float

    def xy(self, s: float, t: float) -> tuple[float, float]:
        """Map ``(x, y)`` of frame point ``(s, t)``."""
        h = math.radians(self.heading_deg)
        return (
            self.cx + s * math.sin(h) + t * math.cos(h),
            self.cy + s * math.cos(h) - t * math.sin(h),
        )

    def heading(self, rel_deg: float) -> float:
        """Map heading of a direction ``rel_deg`` clockwise from the frame's ``s`` axis."""
        return (self.heading_deg + rel_deg) % 360.0

    def surface(
        self,
        kind: str,
        s0: float,
        s1: float,
        t0: float,
        t1: float,
        *,
        height_m: float = 0.0,
        panel_m: float = 0.0,
    ) -> Surface:
        """A surface covering ``[s0, s1] x [t0, t1]`` in the frame."""
        x, y = self.xy((s0 + s1) / 2, (t0 + t1) / 2)
        return Surface(kind, x, y, s1 - s0, t1 - t0, self.heading_deg, height_m, panel_m)

    def obj(
        self,
        object_id: str,
        type_name: str,
        s: float,
        t: float,
        rel_heading: float,
        attributes: Mapping[str, str] | None = None,
    ) -> PlacedObject:
        """An object centred at frame ``(s, t)``, nose ``rel_heading`` from the ``s`` axis."""
        x, y = self.xy(s, t)
        return PlacedObject(object_id, type_name, x, y, self.heading(rel_heading), attributes or {})

    def cloud(self, s: float, t: float, radius_m: float, height_m: float) -> CloudSpec:
        """A cloud centred above frame point ``(s, t)``."""
        x, y = self.xy(s, t)
        return CloudSpec(x, y, radius_m, height_m)


def site_centre_xy(site: Site) -> tuple[float, float]:
    """The site's lon/lat in its UTM CRS (map metres)."""
    from pipeline.grid import utm_crs_for

    probe = Grid(utm_crs_for(site.lon, site.lat), Affine(1, 0, 0, 0, -1, 0), (1, 1))
    x, y = probe.from_lonlat(site.lon, site.lat)
    return float(x[0]), float(y[0])


def airbase_surfaces(
    f: Frame,
    *,
    runway_t: float,
    taxi_t: float,
    apron: tuple[float, float, float, float],
    connectors: Sequence[float],
    buildings: Sequence[tuple[float, float, float, float, float]],
    road_t: float | None = None,
    reach_m: float = 3000.0,
) -> tuple[Surface, ...]:
    """Runway, parallel taxiway, connectors, a panelled apron, buildings and a road.

    ``apron`` is ``(s0, s1, t0, t1)``; ``buildings`` rows are ``(s0, s1, t0, t1, height_m)``;
    ``connectors`` are the ``s`` stations of taxiway links. All in frame metres.
    """
    s0, s1, t0, t1 = apron
    out = [
        f.surface("runway", -reach_m, reach_m, runway_t - 22.5, runway_t + 22.5),
        f.surface("taxiway", -reach_m, reach_m, taxi_t - 11.5, taxi_t + 11.5, panel_m=5.0),
    ]
    for s in connectors:
        out.append(f.surface("taxiway", s - 11.5, s + 11.5, runway_t, taxi_t, panel_m=5.0))
        out.append(f.surface("taxiway", s - 11.5, s + 11.5, taxi_t, t0 + 1.0, panel_m=5.0))
    out.append(f.surface("apron", s0, s1, t0, t1, panel_m=7.5))
    for b in buildings:
        out.append(f.surface("building", b[0], b[1], b[2], b[3], height_m=b[4]))
    if road_t is not None:
        out.append(f.surface("road", -reach_m, reach_m, road_t - 4.0, road_t + 4.0))
    return tuple(out)


def _spec(
    site: Site,
    when: datetime,
    *,
    gsd_m: float,
    extent_m: float,
    seed: int,
    surfaces: Sequence[Surface],
    objects: Sequence[PlacedObject],
    misreg: tuple[float, float],
    haze: float,
    gain: float,
    noise_dn: float,
    vegetation: float,
    clouds: Sequence[CloudSpec] = (),
    centre_xy: tuple[float, float] | None = None,
    psf_sigma_px: float = 0.45,
    grid_shift_px: tuple[int, int] = (0, 0),
    collar: tuple[float, float] | None = None,
) -> SceneSpec:
    az, el = solar_position(when, site.lon, site.lat)
    n = max(16, int(round(extent_m / gsd_m)))
    return SceneSpec(
        site=site,
        acquired=when,
        sun_azimuth_deg=round(az, 3),
        sun_elevation_deg=round(el, 3),
        gsd_m=gsd_m,
        size_px=(n, n),
        bands=4,
        haze=haze,
        gain=gain,
        noise_dn=noise_dn,
        misregistration_m=misreg,
        surfaces=tuple(surfaces),
        objects=tuple(objects),
        clouds=tuple(clouds),
        ground_seed=stable_int(seed, "ground", site.id),
        vegetation=vegetation,
        centre_xy=centre_xy,
        psf_sigma_px=psf_sigma_px,
        grid_shift_px=grid_shift_px,
        collar=collar,
    )


def _containers(
    f: Frame, s0: float, t0: float, n: int, *, along: bool = True, length: float = 12.2
) -> list[Surface]:
    """A tidy row of ``n`` containers (2.6 m high) starting at frame ``(s0, t0)``."""
    out = []
    for k in range(n):
        if along:
            s = s0 + k * (length + 0.6)
            out.append(f.surface("container", s, s + length, t0, t0 + 2.44, height_m=2.6))
        else:
            t = t0 + k * 3.0
            out.append(f.surface("container", s0, s0 + length, t, t + 2.44, height_m=2.6))
    return out


def _utc(y: int, mo: int, d: int, h: int, mi: int) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


# --------------------------------------------------------------------------- the sample set
def _khmeimim(site: Site, *, gsd_m: float, seed: int) -> list[SceneSpec]:
    c = site_centre_xy(site)
    f = Frame(c[0], c[1], 175.0)
    surfaces = airbase_surfaces(
        f,
        runway_t=-260.0,
        taxi_t=-160.0,
        apron=(-305.0, 305.0, -95.0, 135.0),
        connectors=(-270.0, -120.0, 50.0, 190.0),
        buildings=(
            (-290.0, -235.0, 165.0, 195.0, 8.0),
            (-205.0, -120.0, 158.0, 212.0, 13.0),
            (-60.0, -22.0, 170.0, 190.0, 6.0),
            (30.0, 112.0, 165.0, 205.0, 10.0),
            (180.0, 262.0, 172.0, 198.0, 7.0),
        ),
        road_t=235.0,
    ) + tuple(_containers(f, -100.0, 150.0, 4) + _containers(f, 150.0, 142.0, 5, along=False,
                                                             length=6.1))  # fmt: skip
    open_ = {"nose_cone": "open"}
    closed = {"nose_cone": "closed"}
    base = {
        "il76-1": f.obj("khmeimim-il76-1", "Il-76", -240.0, 85.0, 90.0),
        "an26-1": f.obj("khmeimim-an26-1", "An-26", -20.0, 95.0, 120.0),
        "su35-1": f.obj("khmeimim-su35-1", "Su-35", 55.0, -50.0, 270.0),
        "su35-2": f.obj("khmeimim-su35-2", "Su-35", 90.0, -45.0, 265.0),
        "su24-1": f.obj("khmeimim-su24-1", "Su-24", 130.0, -55.0, 275.0),
        "su24-2": f.obj("khmeimim-su24-2", "Su-24", 170.0, -48.0, 300.0),
        "mi8-1": f.obj("khmeimim-mi8-1", "Mi-8", 195.0, 80.0, 0.0),
        "mi8-2": f.obj("khmeimim-mi8-2", "Mi-8", 240.0, 95.0, 20.0),
        "mi24-1": f.obj("khmeimim-mi24-1", "Mi-24", 282.0, 72.0, 350.0),
        "truck-1": f.obj("khmeimim-truck-1", "truck", 10.0, 121.0, 0.0),
        "truck-2": f.obj("khmeimim-truck-2", "truck", 26.0, 122.0, 3.0),
    }
    d1 = list(base.values())
    arrivals = [
        f.obj("khmeimim-an124-1", "An-124", -250.0, -35.0, 270.0, open_),
        f.obj("khmeimim-an124-2", "An-124", -168.0, -28.0, 278.0, open_),
        f.obj("khmeimim-an124-3", "An-124", -86.0, -40.0, 262.0, closed),
        f.obj("khmeimim-il76-2", "Il-76", -180.0, 85.0, 90.0),
        f.obj("khmeimim-il76-3", "Il-76", -120.0, 88.0, 96.0),
        f.obj("khmeimim-truck-3", "truck", -241.0, -78.0, 0.0),
    ]
    d2 = [o for k, o in base.items() if k != "su24-2"] + arrivals
    d3: list[PlacedObject] = []
    for o in d2:
        if o.object_id in ("khmeimim-an124-2", "khmeimim-su24-1", "khmeimim-truck-3"):
            continue
        if o.object_id == "khmeimim-an124-1":
            o = f.obj("khmeimim-an124-1", "An-124", -250.0, -35.0, 270.0, closed)
        if o.object_id == "khmeimim-mi8-2":
            o = f.obj("khmeimim-mi8-2", "Mi-8", 228.0, 112.0, 45.0)
        d3.append(o)
    d3 += [
        f.obj("khmeimim-truck-4", "truck", -71.0, -81.0, 10.0),
        f.obj("khmeimim-truck-5", "truck", -55.0, -83.0, 352.0),
        f.obj("khmeimim-pickup-1", "pickup", 120.0, 125.0, 90.0),
    ]
    common = dict(gsd_m=gsd_m, extent_m=SAMPLE_EXTENT_M["khmeimim"], seed=seed,
                  surfaces=surfaces, vegetation=0.45)  # fmt: skip
    return [
        _spec(site, _utc(2024, 12, 5, 8, 40), objects=d1, misreg=(0.0, 0.0), haze=0.06,
              gain=1.0, noise_dn=1.2, **common),  # type: ignore[arg-type]
        _spec(site, _utc(2024, 12, 13, 8, 35), objects=d2, misreg=(1.3, -0.8),
              grid_shift_px=(3, -5), haze=0.12,
              gain=0.96, noise_dn=1.27, **common),  # type: ignore[arg-type]
        _spec(site, _utc(2024, 12, 15, 8, 30), objects=d3, misreg=(-0.6, 2.2),
              grid_shift_px=(-4, 2), haze=0.09,
              gain=1.04, noise_dn=1.22, clouds=[CloudSpec(c[0] + 300.0, c[1] - 250.0, 80.0, 200.0)],
              **common),  # type: ignore[arg-type]
    ]  # fmt: skip


def _tartus(site: Site, *, gsd_m: float, seed: int) -> list[SceneSpec]:
    c = site_centre_xy(site)
    f = Frame(c[0], c[1], 0.0)  # s north, t east; the sea lies to the west
    surfaces = (
        f.surface("water", -2000.0, 2000.0, -2000.0, -60.0),
        f.surface("quay", -2000.0, 2000.0, -75.0, -20.0, height_m=2.5, panel_m=10.0),
        f.surface("quay", -20.0, 20.0, -235.0, -60.0, height_m=2.5, panel_m=10.0),
        f.surface("yard", -210.0, 150.0, -20.0, 190.0),
        f.surface("road", -2000.0, 2000.0, 200.0, 212.0),
        f.surface("building", 60.0, 120.0, 40.0, 120.0, height_m=12.0),
        f.surface("building", -150.0, -90.0, 150.0, 185.0, height_m=9.0),
        f.surface("building", -60.0, -30.0, 20.0, 70.0, height_m=7.0),
        f.surface("building", 170.0, 230.0, 30.0, 90.0, height_m=15.0),
        *_containers(f, -190.0, 130.0, 8, along=False),
        *_containers(f, -170.0, 100.0, 6, along=False, length=6.1),
        *_containers(f, 20.0, 140.0, 3),
    )
    ship1 = f.obj("tartus-ship-1", "landing ship", -28.5, -150.0, 270.0)
    ship2 = f.obj("tartus-ship-2", "cargo ship", 31.0, -160.0, 270.0)
    trucks = [
        f.obj("tartus-truck-1", "truck", -120.0, 20.0, 90.0),
        f.obj("tartus-truck-2", "truck", -108.0, 21.0, 92.0),
    ]
    common = dict(gsd_m=gsd_m, extent_m=SAMPLE_EXTENT_M["tartus"], seed=seed,
                  surfaces=surfaces, vegetation=0.2)  # fmt: skip
    return [
        _spec(site, _utc(2024, 12, 5, 8, 20), objects=[ship1, trucks[0]], misreg=(0.4, 0.3),
              haze=0.08, gain=1.0, noise_dn=1.22, **common),  # type: ignore[arg-type]
        _spec(site, _utc(2024, 12, 12, 8, 25), objects=[ship1, ship2, *trucks],
              misreg=(-1.7, 1.1),
              grid_shift_px=(2, 3), haze=0.14, gain=0.97, noise_dn=1.3, **common),  # type: ignore[arg-type]
    ]  # fmt: skip


def _al_khadim(site: Site, *, gsd_m: float, seed: int) -> list[SceneSpec]:
    c = site_centre_xy(site)
    f = Frame(c[0], c[1], 152.0)
    surfaces = airbase_surfaces(
        f,
        runway_t=-215.0,
        taxi_t=-140.0,
        apron=(-235.0, 235.0, -80.0, 110.0),
        connectors=(-150.0, 120.0),
        buildings=(
            (-200.0, -140.0, 140.0, 175.0, 7.0),
            (-60.0, 20.0, 135.0, 185.0, 11.0),
            (90.0, 130.0, 145.0, 170.0, 5.0),
        ),
        road_t=205.0,
    ) + tuple(_containers(f, 40.0, 118.0, 3, length=6.1))
    d1 = [
        f.obj("al-khadim-an26-1", "An-26", -150.0, 60.0, 90.0),
        f.obj("al-khadim-mi8-1", "Mi-8", 180.0, 35.0, 30.0),
        f.obj("al-khadim-truck-1", "truck", 120.0, 95.0, 0.0),
        f.obj("al-khadim-truck-2", "truck", 138.0, 97.0, 4.0),
    ]
    d2 = d1 + [
        f.obj("al-khadim-il76-1", "Il-76", -60.0, -20.0, 270.0),
        f.obj("al-khadim-il76-2", "Il-76", 12.0, -12.0, 255.0),
        f.obj("al-khadim-pickup-1", "pickup", 88.0, 100.0, 180.0),
        f.obj("al-khadim-pickup-2", "pickup", 99.0, 103.0, 168.0),
        f.obj("al-khadim-zu23-1", "ZU-23-2", 168.0, 80.0, 45.0),
        f.obj("al-khadim-zu23-2", "ZU-23-2", 181.0, 72.0, 30.0),
        f.obj("al-khadim-zu23-3", "ZU-23-2", 176.0, 93.0, 62.0),
    ]
    common = dict(gsd_m=gsd_m, extent_m=SAMPLE_EXTENT_M["al-khadim"], seed=seed,
                  surfaces=surfaces, vegetation=0.04)  # fmt: skip
    return [
        _spec(site, _utc(2024, 12, 10, 9, 5), objects=d1, misreg=(0.0, 0.0), haze=0.05,
              gain=1.0, noise_dn=1.2, **common),  # type: ignore[arg-type]
        _spec(site, _utc(2024, 12, 17, 9, 10), objects=d2, misreg=(2.6, -1.4),
              grid_shift_px=(-3, -2), haze=0.1,
              gain=1.05, noise_dn=1.25, **common),  # type: ignore[arg-type]
    ]  # fmt: skip


def _al_jufra(site: Site, *, gsd_m: float, seed: int) -> list[SceneSpec]:
    c = site_centre_xy(site)
    f = Frame(c[0], c[1], 135.0)
    surfaces = airbase_surfaces(
        f,
        runway_t=-200.0,
        taxi_t=-130.0,
        apron=(-220.0, 220.0, -70.0, 95.0),
        connectors=(-100.0, 160.0),
        buildings=(
            (-180.0, -110.0, 125.0, 160.0, 8.0),
            (40.0, 100.0, 120.0, 170.0, 12.0),
        ),
        road_t=190.0,
    )
    d1 = [
        f.obj("al-jufra-an26-1", "An-26", -120.0, 50.0, 90.0),
        f.obj("al-jufra-mig29-1", "MiG-29", 100.0, -30.0, 270.0),
        f.obj("al-jufra-mig29-2", "MiG-29", 135.0, -25.0, 262.0),
    ]
    d2 = [o for o in d1 if o.object_id != "al-jufra-mig29-2"] + [
        f.obj("al-jufra-il76-1", "Il-76", -30.0, -8.0, 252.0),
    ]
    common = dict(gsd_m=gsd_m, extent_m=SAMPLE_EXTENT_M["al-jufra"], seed=seed,
                  surfaces=surfaces, vegetation=0.02)  # fmt: skip
    return [
        _spec(site, _utc(2024, 12, 9, 9, 15), objects=d1, misreg=(0.2, -0.5), haze=0.07,
              gain=1.02, noise_dn=1.2, **common),  # type: ignore[arg-type]
        _spec(site, _utc(2024, 12, 16, 9, 20), objects=d2, misreg=(-0.9, -2.8),
              grid_shift_px=(5, 1), haze=0.04,
              gain=0.98, noise_dn=1.22, **common),  # type: ignore[arg-type]
    ]  # fmt: skip


def sample_scenario(
    *, seed: int = DEFAULT_SEED, gsd_m: float = 0.5, bands: int = 4
) -> list[SceneSpec]:
    """The committed sample set (9 tiles, 4 sites), in site then date order.

    ``seed`` changes the ground textures; ``gsd_m`` changes the pixel size while
    keeping the ground extent (so 0.3 m gives larger tiles); ``bands`` is 3 or 4.
    """
    reg = default_registry()
    out: list[SceneSpec] = []
    for site_id, build in (
        ("khmeimim", _khmeimim),
        ("tartus", _tartus),
        ("al-khadim", _al_khadim),
        ("al-jufra", _al_jufra),
    ):
        out.extend(build(reg.get(site_id), gsd_m=gsd_m, seed=seed))
    return out if bands == 4 else [replace(s, bands=bands) for s in out]


# --------------------------------------------------------------------------- held-out scenes
_RANDOM_VEHICLES = ("truck", "pickup", "ZU-23-2")


def _footprint(o: PlacedObject) -> Polygon:
    t = get_type(o.type_name)
    return Polygon(oriented_rect(o.x, o.y, t.length_m, t.wingspan_m, o.heading_deg)[:-1])


def _pick_type(rng: np.random.Generator, max_len: float) -> str:
    u = rng.random()
    if u < 0.55:
        pool = [t.name for t in types_in("aircraft") if max(t.length_m, t.wingspan_m) <= max_len]
    elif u < 0.75:
        pool = [t.name for t in types_in("helicopter") if t.length_m <= max_len]
    else:
        pool = list(_RANDOM_VEHICLES)
    return str(pool[int(rng.integers(len(pool)))])


def _place(
    rng: np.random.Generator,
    f: Frame,
    apron: tuple[float, float, float, float],
    taken: list[Polygon],
    object_id: str,
    *,
    tries: int = 60,
) -> PlacedObject | None:
    s0, s1, t0, t1 = apron
    max_len = min(s1 - s0, t1 - t0) * 0.9
    type_name = _pick_type(rng, max_len)
    t = get_type(type_name)
    half = max(t.length_m, t.wingspan_m) / 2.0
    attrs = {"nose_cone": str(rng.choice(["open", "closed"]))} if t.visor_nose else {}
    for _ in range(tries):
        s = float(rng.uniform(s0 + half, s1 - half))
        tt = float(rng.uniform(t0 + half, t1 - half))
        if rng.random() < 0.3:
            rel = float(rng.uniform(0.0, 360.0))
        else:
            rel = float(rng.choice([270.0, 90.0, 0.0, 180.0]) + rng.normal(0.0, 12.0))
        o = f.obj(object_id, type_name, round(s, 2), round(tt, 2), round(rel, 2), attrs)
        poly = _footprint(o).buffer(3.0)
        if all(not poly.intersects(p) for p in taken):
            taken.append(poly)
            return o
    return None


def random_scenario(
    seed: int,
    gsd_m: float = 0.5,
    n_tiles: int = 2,
    *,
    size_px: int = 1024,
    site_id: str | None = None,
    n_objects: int | None = None,
    bands: int = 4,
) -> list[SceneSpec]:
    """A held-out scenario: a random airbase layout, dates, sun and object mix.

    Parameters
    ----------
    seed : int
        Seed of every random choice (numpy ``Generator``).
    gsd_m : float
        Ground sample distance, metres (e.g. 0.3, 0.5, 0.8).
    n_tiles : int
        Number of dates (consecutive tiles of the same site).
    size_px : int
        Tile size in pixels (square).
    site_id : str or None
        Registry id, alias or any airfield's ICAO code (e.g. ``"UUEE"``, looked up
        in ``airportsdata``); ``None`` draws one of the registry's airbases.
    n_objects : int or None
        Objects on the first date; ``None`` scales with the apron area.
    bands : int
        3 (red, green, blue) or 4 (+ near-infrared).

    Returns
    -------
    list of SceneSpec
        ``n_tiles`` specs of one site, in date order; object ids persist across dates.
    """
    if n_tiles < 1:
        raise ConfigError(f"n_tiles must be >= 1, got {n_tiles}")
    rng = np.random.default_rng(seed)
    reg = default_registry()
    if site_id is None:
        ids = [s.id for s in reg if s.kind != "naval"]
        site_id = ids[int(rng.integers(len(ids)))]
    site = reg.resolve(site_id)
    extent = size_px * gsd_m
    c = site_centre_xy(site)
    jitter = rng.uniform(-0.1, 0.1, size=2) * extent
    f = Frame(c[0] + float(jitter[0]), c[1] + float(jitter[1]), float(rng.uniform(0.0, 180.0)))
    e = extent / 2.0
    apron = (
        -e * float(rng.uniform(0.55, 0.8)),
        e * float(rng.uniform(0.55, 0.8)),
        -e * float(rng.uniform(0.2, 0.35)),
        e * float(rng.uniform(0.3, 0.5)),
    )
    taxi_t = apron[2] - e * float(rng.uniform(0.2, 0.3))
    runway_t = taxi_t - e * float(rng.uniform(0.25, 0.4))
    buildings = []
    s = apron[0]
    while s < apron[1] - 20:
        w = float(rng.uniform(20.0, 0.25 * e + 25.0))
        t0 = apron[3] + float(rng.uniform(15.0, 40.0))
        buildings.append((s, s + w, t0, t0 + float(rng.uniform(12.0, 40.0)),
                          float(rng.uniform(4.0, 14.0))))  # fmt: skip
        s += w + float(rng.uniform(10.0, 60.0))
    surfaces = airbase_surfaces(
        f,
        runway_t=runway_t,
        taxi_t=taxi_t,
        apron=apron,
        connectors=sorted(float(v) for v in rng.uniform(apron[0], apron[1], size=2)),
        buildings=buildings,
        road_t=apron[3] + 75.0,
        reach_m=4.0 * extent,
    )
    extras: list[Surface] = []
    if rng.random() < 0.5:  # an asphalt hardstand over part of the apron
        h0 = float(rng.uniform(apron[0], (apron[0] + apron[1]) / 2))
        extras.append(f.surface("hardstand", h0, h0 + (apron[1] - apron[0]) * 0.4,
                                apron[2] + 5.0, apron[3] - 5.0))  # fmt: skip
    taken: list[Polygon] = []
    # distractors: containers between apron and buildings, ground equipment on the apron
    for _ in range(int(rng.integers(3, 13))):
        cl = float(rng.choice([6.1, 12.2]))
        cs = float(rng.uniform(apron[0], apron[1] - cl))
        ct = float(rng.uniform(apron[3] + 3.0, apron[3] + 12.0))
        extras.append(f.surface("container", cs, cs + cl, ct, ct + 2.44, height_m=2.6))
    for _ in range(int(rng.integers(0, 5))):
        es = float(rng.uniform(apron[0] + 5, apron[1] - 10))
        et = float(rng.uniform(apron[2] + 5, apron[3] - 10))
        el, ew, eh = (float(v) for v in rng.uniform((2.5, 1.5, 1.2), (5.0, 2.5, 2.5)))
        box = f.surface("container", es, es + el, et, et + ew, height_m=eh)
        extras.append(box)
        taken.append(Polygon(box.ring()).buffer(3.0))
    surfaces = surfaces + tuple(extras)
    area = (apron[1] - apron[0]) * (apron[3] - apron[2])
    n0 = n_objects if n_objects is not None else int(np.clip(area / 2500.0, 6, 40))
    fixed = list(taken)
    objects: list[PlacedObject] = []
    counter = 0
    for _ in range(n0):
        counter += 1
        o = _place(rng, f, apron, taken, f"r{seed}-obj-{counter}")
        if o is not None:
            objects.append(o)
    start = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(days=int(rng.integers(0, 700)))
    veg = float(rng.uniform(0.0, 0.7))
    psf = round(float(rng.uniform(0.35, 0.9)), 3)
    specs: list[SceneSpec] = []
    day = start
    for k in range(n_tiles):
        if k > 0:
            day = day + timedelta(days=int(rng.integers(1, 7)))
            kept: list[PlacedObject] = []
            taken = list(fixed)
            for o in objects:
                if rng.random() < 0.25:
                    continue
                t = get_type(o.type_name)
                if t.visor_nose and rng.random() < 0.3:
                    flip = "closed" if o.attributes.get("nose_cone") == "open" else "open"
                    o = PlacedObject(o.object_id, o.type_name, o.x, o.y, o.heading_deg,
                                     {"nose_cone": flip})  # fmt: skip
                kept.append(o)
                taken.append(_footprint(o).buffer(3.0))
            for _ in range(int(rng.integers(1, 5))):
                counter += 1
                o2 = _place(rng, f, apron, taken, f"r{seed}-obj-{counter}")
                if o2 is not None:
                    kept.append(o2)
            objects = kept
        # a morning pass: local solar time 09:30-11:30
        for _ in range(20):
            hours = 10.5 - site.lon / 15.0 + float(rng.uniform(-1.0, 1.0))
            when = day.replace(hour=0, minute=0) + timedelta(minutes=int(hours * 60))
            _az, el = solar_position(when, site.lon, site.lat)
            if el >= 15.0:
                break
        clouds: list[CloudSpec] = []
        if rng.random() < 0.4:
            cs = float(rng.uniform(-e, e))
            ct = float(rng.uniform(-e, e))
            clouds.append(f.cloud(cs, ct, float(rng.uniform(0.08, 0.2) * extent),
                                  float(rng.uniform(100.0, 400.0))))  # fmt: skip
        shift = (0, 0) if k == 0 else (int(rng.integers(-8, 9)), int(rng.integers(-8, 9)))
        collar = None
        if rng.random() < 0.3:  # the swath edge cuts a corner: no-data pixels
            collar = (float(rng.uniform(0.0, 360.0)), float(rng.uniform(0.3, 0.48)) * extent)
        misreg = (0.0, 0.0) if k == 0 else (
            round(float(rng.normal(0.0, 1.2)), 2), round(float(rng.normal(0.0, 1.2)), 2)
        )  # fmt: skip
        specs.append(
            _spec(
                site,
                when,
                gsd_m=gsd_m,
                extent_m=extent,
                seed=seed,
                surfaces=surfaces,
                objects=objects,
                misreg=misreg,
                haze=round(float(rng.uniform(0.02, 0.2)), 3),
                gain=round(float(rng.uniform(0.9, 1.1)), 3),
                noise_dn=round(float(rng.uniform(2.0, 4.0)), 2),
                vegetation=veg,
                clouds=clouds,
                centre_xy=(f.cx, f.cy),
                psf_sigma_px=psf,
                grid_shift_px=shift,
                collar=collar,
            )
        )
    return specs if bands == 4 else [replace(sp, bands=bands) for sp in specs]
