"""Ingest throughput: header checks, pixel scan and SHA-256 on tiles of a few sizes.

Usage: .venv/bin/python benchmarks/bench_ingest.py [--sizes 2048,8192] [--bands 3]

Writes tiled, DEFLATE-compressed uint8 GeoTIFFs centred on Khmeimim in a temp
folder, then prints seconds per tile and megapixels per second for
``ingest`` with and without the pixel scan, and the declared-huge sparse file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform as warp_transform

from pipeline.grid import utm_crs_for
from pipeline.ingest import IngestConfig, ingest
from pipeline.sites import default_registry


def _write(path: Path, size: int, bands: int, *, sparse: bool = False, seed: int = 0) -> Path:
    site = default_registry().get("khmeimim")
    crs = utm_crs_for(site.lon, site.lat)
    xs, ys = warp_transform("EPSG:4326", crs, [site.lon], [site.lat])
    res = 0.5 if size * 0.5 < 4000 else 4000 / size
    t = Affine(res, 0, xs[0] - size * res / 2, 0, -res, ys[0] + size * res / 2)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=bands,
        dtype="uint8",
        crs=crs,
        transform=t,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    )
    rng = np.random.default_rng(seed)
    with rasterio.open(path, "w", SPARSE_OK=sparse, **profile) as ds:
        if sparse:
            ds.write(np.full((bands, 512, 512), 7, np.uint8), window=((0, 512), (0, 512)))
            return path
        for row in range(0, size, 1024):
            h = min(1024, size - row)
            block = rng.integers(0, 255, (bands, h, size), dtype=np.uint8)
            block[:, :, ::7] = 0  # some structure so DEFLATE has work to do
            ds.write(block, window=((row, row + h), (0, size)))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2048,8192")
    ap.add_argument("--bands", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            folder = Path(tmp) / f"s{size}"
            folder.mkdir()
            p = _write(folder / "khmeimim_20241213T083000Z.tif", size, args.bands)
            mpix = size * size * args.bands / 1e6
            for scan in (True, False):
                t0 = time.perf_counter()
                report = ingest(folder, config=IngestConfig(scan_pixels=scan))
                dt = time.perf_counter() - t0
                assert len(report.tiles) == 1, report.rejected
                print(
                    f"{size}x{size}x{args.bands} uint8 ({p.stat().st_size / 1e6:.1f} MB) "
                    f"scan={scan!s:5}: {dt:.2f} s  ({mpix / dt:.0f} Mpx/s)"
                )
        multi = Path(tmp) / "multi"
        multi.mkdir()
        for day in range(10, 14):
            _write(multi / f"khmeimim_202412{day}T083000Z.tif", 4096, args.bands, seed=day)
        for workers in (1, 2):
            t0 = time.perf_counter()
            report = ingest(multi, config=IngestConfig(workers=workers))
            dt = time.perf_counter() - t0
            assert len(report.tiles) == 4, report.rejected
            print(f"4 tiles of 4096x4096x{args.bands}, workers={workers}: {dt:.2f} s")
        huge = Path(tmp) / "huge"
        huge.mkdir()
        _write(huge / "khmeimim_20241213.tif", 200_000, 1, sparse=True)
        t0 = time.perf_counter()
        report = ingest(huge)
        print(
            f"sparse 200000x200000 declared: rejected in {time.perf_counter() - t0:.3f} s: "
            f"{report.rejected[0].reason}"
        )


if __name__ == "__main__":
    main()
