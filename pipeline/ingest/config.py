"""Typed configuration and result objects of the ingest stage.

:class:`IngestConfig` holds every limit a tile is checked against;
:class:`IngestReport` is what :func:`pipeline.ingest.ingest` returns and what the
replay stores as ``<run>/tiles.json``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import ConfigError
from pipeline.model import Tile

#: Pixel data types sitewatch stages accept (numpy / GDAL names).
DEFAULT_DTYPES: tuple[str, ...] = ("uint8", "uint16", "int16", "float32")


@dataclass(frozen=True)
class IngestConfig:
    """Limits every tile is checked against.

    Parameters
    ----------
    max_pixels : int
        Cap on the declared ``width * height * bands`` (pixels). Checked from the
        header before any pixel is read, so a file that declares a huge raster is
        rejected without allocating.
    min_bands, max_bands : int
        Accepted band count range (inclusive).
    dtypes : tuple of str
        Accepted pixel data types.
    max_rotation_deg : float
        Largest rotation of the pixel grid against map north (degrees). North-up
        imagery has 0; larger rotations usually mean a broken geotransform.
    max_pixel_aspect : float
        Largest ratio between the longer and shorter pixel side (ground metres).
    min_gsd_m, max_gsd_m : float
        Accepted ground sample distance range in metres (measured on the ground
        at the tile centre, whatever the CRS units are).
    min_valid_fraction : float
        A tile whose share of valid (not nodata, not masked, not NaN) pixels is
        at or below this is rejected; the default 0 rejects only all-nodata tiles.
    reject_constant : bool
        Reject tiles whose valid pixels all hold the same value (blank tiles
        delivered without a nodata value).
    scan_pixels : bool
        Stream every pixel block once (bounded memory) to find all-nodata,
        constant and truncated/corrupt tiles. Off: header checks only.
    quick_scan : bool
        Stop the scan as soon as valid pixels of two different values are seen
        (only when ``min_valid_fraction`` is 0). Much faster on big tiles; a
        corrupt block after that point goes unnoticed (truncation is still
        caught from the header's block offsets).
    chunk_pixels : int
        Pixels per band read in one window during the scan; peak memory is
        about ``chunk_pixels * bands * bytes_per_pixel`` (64 MB for 8 float32
        bands at the default).
    workers : int
        Files validated concurrently (threads; GDAL decoding and hashing release
        the GIL). Results do not depend on it.
    extensions : tuple of str
        File name endings (lower case) picked up when ingesting a folder.
    """

    max_pixels: int = 2_000_000_000
    min_bands: int = 1
    max_bands: int = 8
    dtypes: tuple[str, ...] = DEFAULT_DTYPES
    max_rotation_deg: float = 45.0
    max_pixel_aspect: float = 3.0
    min_gsd_m: float = 0.01
    max_gsd_m: float = 1000.0
    min_valid_fraction: float = 0.0
    reject_constant: bool = True
    scan_pixels: bool = True
    quick_scan: bool = False
    chunk_pixels: int = 2_097_152
    workers: int = 1
    extensions: tuple[str, ...] = (".tif", ".tiff")

    def __post_init__(self) -> None:
        if self.max_pixels <= 0:
            raise ConfigError(f"max_pixels must be positive, got {self.max_pixels}")
        if not 1 <= self.min_bands <= self.max_bands:
            raise ConfigError(
                f"need 1 <= min_bands <= max_bands, got {self.min_bands}..{self.max_bands}"
            )
        if not self.dtypes:
            raise ConfigError("dtypes must name at least one pixel data type")
        if not 0.0 <= self.max_rotation_deg <= 180.0:
            raise ConfigError(f"max_rotation_deg must be in [0, 180], got {self.max_rotation_deg}")
        if self.max_pixel_aspect < 1.0:
            raise ConfigError(f"max_pixel_aspect must be >= 1, got {self.max_pixel_aspect}")
        if not 0.0 < self.min_gsd_m < self.max_gsd_m:
            raise ConfigError(
                f"need 0 < min_gsd_m < max_gsd_m, got {self.min_gsd_m}..{self.max_gsd_m}"
            )
        if not 0.0 <= self.min_valid_fraction < 1.0:
            raise ConfigError(
                f"min_valid_fraction must be in [0, 1), got {self.min_valid_fraction}"
            )
        if self.chunk_pixels < 1024:
            raise ConfigError(f"chunk_pixels must be >= 1024, got {self.chunk_pixels}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        object.__setattr__(self, "dtypes", tuple(str(d) for d in self.dtypes))
        object.__setattr__(self, "extensions", tuple(e.lower() for e in self.extensions))


@dataclass(frozen=True)
class Rejection:
    """A file that was not ingested: its path and the precise reason."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready dict ``{"path", "reason"}``."""
        return {"path": self.path, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rejection:
        """Inverse of :meth:`to_dict`."""
        return cls(path=str(d["path"]), reason=str(d["reason"]))


def _strict_nodata(d: dict[str, Any]) -> dict[str, Any]:
    nodata = d.get("nodata")
    if isinstance(nodata, float) and math.isnan(nodata):
        return {**d, "nodata": "NaN"}
    return d


def _float_nodata(d: Mapping[str, Any]) -> Mapping[str, Any]:
    nodata = d.get("nodata")
    if isinstance(nodata, str):
        return {**d, "nodata": float(nodata)}  # "NaN", "nan", "-inf" all parse
    return d


def _tile_key(t: Tile) -> tuple[str, Any, str]:
    return (t.site_id, t.acquired, t.id)


@dataclass(frozen=True)
class IngestReport:
    """Outcome of one ingest: accepted tiles and rejected files.

    ``tiles`` are sorted by site id, then acquisition time (UTC); ``rejected``
    by path. ``provenance`` maps a tile id to where each derived field came
    from, e.g. ``{"acquired": "tag:ACQUISITION_DATETIME", "site": "footprint"}``.
    """

    tiles: tuple[Tile, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    provenance: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiles", tuple(sorted(self.tiles, key=_tile_key)))
        object.__setattr__(
            self, "rejected", tuple(sorted(self.rejected, key=lambda r: (r.path, r.reason)))
        )
        object.__setattr__(
            self, "provenance", {k: dict(v) for k, v in sorted(self.provenance.items())}
        )

    @property
    def ok(self) -> bool:
        """True when at least one tile was accepted."""
        return bool(self.tiles)

    def by_site(self) -> dict[str, list[Tile]]:
        """Accepted tiles grouped by site id, each list in acquisition order."""
        out: dict[str, list[Tile]] = defaultdict(list)
        for t in self.tiles:
            out[t.site_id].append(t)
        return dict(out)

    def pairs(self) -> list[tuple[Tile, Tile]]:
        """``(before, after)`` pairs of consecutive acquisitions of each site.

        Sites are visited in id order; a site with ``n`` tiles gives ``n - 1``
        pairs. Tiles taken at the same instant are never paired together.
        """
        out: list[tuple[Tile, Tile]] = []
        for tiles in self.by_site().values():
            out.extend(
                (a, b) for a, b in zip(tiles, tiles[1:], strict=False) if a.acquired < b.acquired
            )
        return out

    def get(self, tile_id: str) -> Tile:
        """The accepted tile with id ``tile_id``; raises ``KeyError`` when absent."""
        for t in self.tiles:
            if t.id == tile_id:
                return t
        raise KeyError(f"no accepted tile with id {tile_id!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict ``{"tiles": [...], "rejected": [...], "provenance": {...}}``.

        A NaN nodata value is written as the string ``"NaN"`` so the result is
        strict JSON (browsers' ``JSON.parse`` rejects a bare ``NaN``).
        """
        return {
            "tiles": [_strict_nodata(t.to_dict()) for t in self.tiles],
            "rejected": [r.to_dict() for r in self.rejected],
            "provenance": {k: dict(v) for k, v in self.provenance.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IngestReport:
        """Inverse of :meth:`to_dict` (``provenance`` is optional)."""
        return cls(
            tiles=tuple(Tile.from_dict(_float_nodata(t)) for t in d.get("tiles", ())),
            rejected=tuple(Rejection.from_dict(r) for r in d.get("rejected", ())),
            provenance={k: dict(v) for k, v in d.get("provenance", {}).items()},
        )
