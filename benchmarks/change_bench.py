"""Change-detection benchmark: megapixels/second and peak RSS per method and scene size.

Generates (once, cached in --workdir) a synthetic georeferenced 3-band uint16
pair of each size with painted changes and a truth raster, block by block so
generation itself stays small in memory. Each measurement runs
:func:`pipeline.change.run.compare_tiles` in a fresh child process, which
reports its own wall time, CPU time and peak RSS for compare_tiles alone; the
whole child process (interpreter start, imports, tile validation with sha256)
is timed too, as OTB's time includes its own start-up. When
``otbcli_MultivariateAlterationDetector`` exists (Debian package ``otb-bin``),
OTB's MAD is timed on the same pair (also
in a child process) and its change map is thresholded (chi-square of the MAD
variates, Otsu) and scored against the same truth.

Quick run (default sizes 1 and 25 MP)::

    .venv/bin/python benchmarks/change_bench.py

Full run (400 MP = 20000 x 20000 x 3 uint16; about 5 GB of disk in --workdir, minutes)::

    .venv/bin/python benchmarks/change_bench.py --sizes 1,25,100,400 --methods all

Run times on one machine differ from run to run (OTB MAD's by up to 40 %):
``--repeat 3`` runs three rounds per size and prints the medians and the
ratio of the medians with its spread over the rounds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
LON, LAT, CRS, GSD = 35.8716, 34.9130, "EPSG:32636", 0.5
BLOCK = 2048


def _grid_transform(side: int) -> Affine:
    from pipeline.grid import Grid

    g0 = Grid(CRS, Affine(1, 0, 0, 0, -1, 0), (1, 1))
    x, y = g0.from_lonlat(LON, LAT)
    return Affine(GSD, 0, float(x[0]) - side / 2 * GSD, 0, -GSD, float(y[0]) + side / 2 * GSD)


def _texture(r0: int, c0: int, h: int, w: int, seed: int) -> np.ndarray:
    rr = (np.arange(r0, r0 + h, dtype=np.float32))[:, None]
    cc = (np.arange(c0, c0 + w, dtype=np.float32))[None, :]
    rng = np.random.default_rng(seed)
    f = np.zeros((h, w), dtype=np.float32)
    for _ in range(6):
        fr, fc = rng.uniform(0.005, 0.08, 2)
        ph = rng.uniform(0, 6.28)
        f += np.sin(rr * fr + cc * fc + ph).astype(np.float32)
    return f


def generate(path_dir: Path, side: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """Write before/after tiles and a truth raster of ``side x side`` pixels (cached)."""
    path_dir.mkdir(parents=True, exist_ok=True)
    stem = f"tartus_{side}"
    fb = path_dir / f"{stem}_b.tif"
    fa = path_dir / f"{stem}_a.tif"
    ft = path_dir / f"{stem}_truth.tif"
    if fb.exists() and fa.exists() and ft.exists():
        return fb, fa, ft
    rng = np.random.default_rng(seed)
    n_changes = max(4, side * side // 250_000)
    sizes = rng.integers(16, 60, (n_changes, 2))
    pos = rng.integers(0, max(side - 64, 1), (n_changes, 2))
    t = _grid_transform(side)
    prof = dict(
        driver="GTiff",
        width=side,
        height=side,
        count=3,
        dtype="uint16",
        crs=CRS,
        transform=t,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        BIGTIFF="YES",
    )
    tags = {"SITEWATCH_SITE_ID": "tartus"}
    with (
        rasterio.open(fb, "w", **prof) as db,
        rasterio.open(fa, "w", **prof) as da,
        rasterio.open(ft, "w", **dict(prof, count=1, dtype="uint8")) as dt,
    ):
        db.update_tags(ACQUISITION_DATETIME="2024-01-01T10:00:00Z", **tags)
        da.update_tags(ACQUISITION_DATETIME="2024-02-01T10:00:00Z", **tags)
        for r0 in range(0, side, BLOCK):
            for c0 in range(0, side, BLOCK):
                h, w = min(BLOCK, side - r0), min(BLOCK, side - c0)
                base = 3000 + 800 * _texture(r0, c0, h, w, seed)
                brng = np.random.default_rng([seed, r0, c0])
                before = np.stack([base, base * 0.9, base * 1.1]) + brng.normal(0, 40, (3, h, w))
                after = before * 1.1 + 150 + brng.normal(0, 40, (3, h, w))
                truth = np.zeros((h, w), dtype=np.uint8)
                for (sr, sc), (pr, pc) in zip(sizes, pos, strict=True):
                    rr0, cc0 = max(pr - r0, 0), max(pc - c0, 0)
                    rr1, cc1 = min(pr + sr - r0, h), min(pc + sc - c0, w)
                    if rr0 < rr1 and cc0 < cc1:
                        after[:, rr0:rr1, cc0:cc1] = 9000
                        truth[rr0:rr1, cc0:cc1] = 1
                win = Window(c0, r0, w, h)
                db.write(np.clip(before, 0, 65535).astype(np.uint16), window=win)
                da.write(np.clip(after, 0, 65535).astype(np.uint16), window=win)
                dt.write(truth, 1, window=win)
    return fb, fa, ft


_CHILD = r"""
import json, resource, sys, time
from dataclasses import replace
from pipeline.change.engine import ChangeParams
from pipeline.change.run import compare_tiles
from pipeline.ingest import IngestConfig, validate_tile
fb, fa, out, method, block = sys.argv[1:6]
cfg = IngestConfig(scan_pixels=False, max_pixels=10**12)
b, a = validate_tile(fb, config=cfg), validate_tile(fa, config=cfg)
ru0 = resource.getrusage(resource.RUSAGE_SELF)
cpu0 = ru0.ru_utime + ru0.ru_stime
t = time.perf_counter()
res = compare_tiles(b, a, out, params=ChangeParams(method=method, block_size=int(block)))
dt = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": dt, "cpu_s": ru.ru_utime + ru.ru_stime - cpu0,
                  "peak_rss_mb": ru.ru_maxrss / 1024, "regions": len(res.regions)}))
"""

_OTB_CHILD = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(["otbcli_MultivariateAlterationDetector", "-in1", sys.argv[1], "-in2", sys.argv[2],
                "-out", sys.argv[3], "float", "-ram", "512"], check=True, capture_output=True)
dt = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": dt, "cpu_s": ru.ru_utime + ru.ru_stime,
                  "peak_rss_mb": ru.ru_maxrss / 1024}))
"""


def _run_child(code: str, *args: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    process_s = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    # whole child process: interpreter start, imports and tile validation
    # (sha256 of both files) for ours, OTB's own start-up for OTB
    return dict(json.loads(res.stdout.strip().splitlines()[-1])) | {"process_s": process_s}


def _read_through(*paths: Path) -> None:
    """Read files once so that every timed run finds them in the page cache.

    Without it the first run after generating (or after other sizes' files
    pushed them out) also times the disk, and it is always ours: round 1 at
    100 MP took 3.03 s, rounds 2 and 3 2.37-2.39 s.
    """
    for path in paths:
        with path.open("rb") as f:
            while f.read(16 << 20):
                pass


def _f1_blocks(pred_fn, truth_path: Path) -> float:  # type: ignore[no-untyped-def]
    from pipeline.change.metrics import Confusion, confusion

    total = Confusion()
    with rasterio.open(truth_path) as dt:
        for _, win in dt.block_windows(1):
            total = total + confusion(pred_fn(win), dt.read(1, window=win))
    return total.f1


def _otb_f1(mad_path: Path, truth_path: Path) -> float:
    """Chi-square of OTB's MAD variates (each scaled by its robust spread), Otsu threshold."""
    from pipeline.change.thresholds import otsu

    with rasterio.open(mad_path) as ds:
        step = max(1, int(math.sqrt(ds.width * ds.height / 1e6)))
        sample = ds.read(out_shape=(ds.count, ds.height // step, ds.width // step))
        spread = np.array([1.4826 * np.median(np.abs(b - np.median(b))) + 1e-12 for b in sample])
        z = np.sum((sample / spread[:, None, None]) ** 2, axis=0)
        thr = otsu(z.ravel())

        def pred(win: Window) -> np.ndarray:
            x = ds.read(window=win)
            return np.sum((x / spread[:, None, None]) ** 2, axis=0) > thr

        return _f1_blocks(pred, truth_path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1,25", help="scene sizes in megapixels, comma-separated")
    ap.add_argument("--methods", default="cva", help="'all' or comma-separated method names")
    ap.add_argument("--workdir", default=None, help="cache folder for generated pairs")
    ap.add_argument("--block-size", type=int, default=1024)
    ap.add_argument("--no-otb", action="store_true", help="skip OTB even when installed")
    ap.add_argument("--keep", action="store_true", help="keep generated pairs")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds per size (each runs every method, then OTB); medians printed when > 1",
    )
    args = ap.parse_args(argv)

    from pipeline.change.methods import CHANGE_METHODS

    methods = list(CHANGE_METHODS) if args.methods == "all" else args.methods.split(",")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="change_bench_"))
    otb = shutil.which("otbcli_MultivariateAlterationDetector") and not args.no_otb
    if not otb and not args.no_otb:
        print("otbcli_MultivariateAlterationDetector not found (apt-get install otb-bin): no OTB")
    # the machine's load matters: wall times on a shared machine are only
    # comparable within one run, so CPU seconds and the load are printed too
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start")
    print(
        f"{'MP':>6} {'method':>12} {'s':>8} {'MP/s':>7} {'CPU s':>7} {'peakRSS MB':>11} "
        f"{'F1':>6} {'load':>5}  note"
    )
    try:
        for mp in (float(s) for s in args.sizes.split(",")):
            side = int(round(math.sqrt(mp * 1e6)))
            fb, fa, ft = generate(work, side)
            px = side * side / 1e6
            _read_through(fb, fa)
            ours: dict[str, list[tuple[float, float, float]]] = {m: [] for m in methods}
            theirs: list[float] = []
            # rounds interleave our methods and OTB, so that each round's
            # figures share the machine's state (page cache, memory, load)
            for _ in range(args.repeat):
                for m in methods:
                    out = work / f"out_{side}_{m}"
                    r = _run_child(_CHILD, str(fb), str(fa), str(out), m, str(args.block_size))
                    with rasterio.open(out / "mask.tif") as dm:
                        f1 = _f1_blocks(lambda w, dm=dm: dm.read(1, window=w) == 1, ft)
                    ours[m].append((r["seconds"], r["cpu_s"], r["process_s"]))
                    print(
                        f"{px:6.1f} {m:>12} {r['seconds']:8.2f} {px / r['seconds']:7.2f} "
                        f"{r['cpu_s']:7.1f} {r['peak_rss_mb']:11.0f} {f1:6.3f} "
                        f"{os.getloadavg()[0]:5.1f}  regions={r['regions']}, "
                        f"whole process {r['process_s']:.2f} s",
                        flush=True,
                    )
                    shutil.rmtree(out, ignore_errors=True)
                if otb:
                    mad = work / f"otb_mad_{side}.tif"
                    r = _run_child(_OTB_CHILD, str(fb), str(fa), str(mad))
                    f1 = _otb_f1(mad, ft)
                    theirs.append(r["seconds"])
                    ratios = ", ".join(
                        f"{m} {r['seconds'] / runs[-1][0]:.1f}x faster "
                        f"(CPU {r['cpu_s'] / runs[-1][1]:.1f}x, "
                        f"whole process {r['process_s'] / runs[-1][2]:.1f}x)"
                        for m, runs in ours.items()
                    )
                    print(
                        f"{px:6.1f} {'OTB MAD':>12} {r['seconds']:8.2f} {px / r['seconds']:7.2f} "
                        f"{r['cpu_s']:7.1f} {r['peak_rss_mb']:11.0f} {f1:6.3f} "
                        f"{os.getloadavg()[0]:5.1f}  {ratios}",
                        flush=True,
                    )
                    mad.unlink(missing_ok=True)
            if args.repeat > 1:
                for m, runs in ours.items():
                    secs = [x[0] for x in runs]
                    med = statistics.median(secs)
                    line = f"{px:6.1f} {m:>12} median of {len(secs)}: {med:.2f} s"
                    if theirs:
                        per_round = [t / x for t, x in zip(theirs, secs, strict=True)]
                        line += (
                            f", OTB MAD {statistics.median(theirs):.2f} s: "
                            f"{statistics.median(theirs) / med:.1f}x faster "
                            f"(rounds {min(per_round):.1f}-{max(per_round):.1f}x)"
                        )
                    print(line, flush=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
