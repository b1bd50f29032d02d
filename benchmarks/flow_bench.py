"""Flow benchmark: Prefect overhead per tile, and 1 vs 2 Dask workers on the same 16-pair workload.

Usage::

    .venv/bin/python benchmarks/flow_bench.py [--tiles 8] [--pairs 16] [--size 512]

1. Overhead: ``detect_tile`` called directly on N tiles vs the same N tiles
   through ``detect_flow`` (tasks, result persistence, publishing; cache
   bypassed), reported as seconds per tile.
2. Scale-out: ``change_flow`` on 16 consecutive date pairs (17 tiles of one
   site) on a ``LocalCluster`` with 1 worker, then with 2 workers (processes,
   one thread each); wall times and their ratio.

Tiles are synthetic (seeded), written to a temporary folder; nothing is kept.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _make_tiles(folder: Path, n: int, size: int, seed: int) -> None:
    sys.path.insert(0, str(REPO / "tests" / "flows"))
    from conftest import make_tiles  # the tests' seeded tile maker

    make_tiles(folder, n=n, size=size, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=8, help="tiles for the overhead measurement")
    ap.add_argument("--pairs", type=int, default=16, help="date pairs for the Dask measurement")
    ap.add_argument("--size", type=int, default=512, help="tile size in pixels")
    args = ap.parse_args()

    from distributed import LocalCluster

    from flows.runtime import prefect_runtime
    from pipeline.config import RunConfig
    from pipeline.detect.run import detect_tile
    from pipeline.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="flow-bench-") as tmp_s:
        tmp = Path(tmp_s)
        _make_tiles(tmp / "a", args.tiles, args.size, seed=11)
        _make_tiles(tmp / "b", args.pairs + 1, args.size, seed=12)
        tiles_a = list(ingest(tmp / "a").tiles)
        tiles_b = list(ingest(tmp / "b").tiles)
        cfg = RunConfig.from_env({}, source=tmp / "a", store=tmp / "store")

        # --- 1. library call alone (after one warm-up call: imports, caches)
        detect_tile(tiles_a[0], tmp / "direct-warm", detector="measure", model_path=None)
        t0 = time.perf_counter()
        for t in tiles_a:
            detect_tile(t, tmp / "direct" / t.id, detector="measure", model_path=None)
        direct = time.perf_counter() - t0

        t_start = time.perf_counter()
        with prefect_runtime(cfg):
            started = time.perf_counter() - t_start
            from prefect.task_runners import ThreadPoolTaskRunner

            from flows.probe import probe_flow
            from flows.site_watch import change_flow, detect_flow, task_runner_for

            # one task at a time, like the loop above
            serial_detect = detect_flow.with_options(
                task_runner=ThreadPoolTaskRunner(max_workers=1)
            )
            # warm-up: first flow run registers flows/tasks with the server
            serial_detect(tiles_a[:1], tmp / "warm", tmp / "art-warm")
            t0 = time.perf_counter()
            _, rep = serial_detect(tiles_a, tmp / "run", tmp / "art-detect")
            through = time.perf_counter() - t0
            assert rep.cached == 0, rep
            t0 = time.perf_counter()
            _, rep2 = serial_detect(tiles_a, tmp / "run-cached", tmp / "art-detect")
            cached = time.perf_counter() - t0

            walls: dict[int, float] = {}
            busy: dict[int, float] = {}
            for n_workers in (1, 2):
                with LocalCluster(
                    n_workers=n_workers,
                    processes=True,
                    threads_per_worker=1,
                    host="127.0.0.1",
                    dashboard_address=None,
                    env={"PREFECT_LOGGING_LEVEL": "WARNING"},
                ) as cluster:
                    runner_flow = change_flow.with_options(
                        task_runner=task_runner_for(cluster.scheduler_address, 1)
                    )
                    # warm the workers' imports (not timed)
                    probe_flow(n_workers * 2, dask_address=cluster.scheduler_address)
                    t0 = time.perf_counter()
                    probe_flow(16, dask_address=cluster.scheduler_address, busy_s=0.5)
                    busy[n_workers] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    _, crep = runner_flow(
                        tiles_b, tmp / f"run-dask{n_workers}", tmp / f"art-c{n_workers}"
                    )
                    walls[n_workers] = time.perf_counter() - t0
                    assert crep.tasks == args.pairs and crep.cached == 0, crep

    n = len(tiles_a)
    print(f"temporary Prefect server start: {started:.2f} s")
    print(f"detect, {n} tiles of {args.size}x{args.size} px:")
    print(f"  library call alone      {direct:7.2f} s  ({direct / n:.3f} s/tile)")
    print(f"  through detect_flow     {through:7.2f} s  ({through / n:.3f} s/tile)")
    print(f"  Prefect overhead        {(through - direct) / n:7.3f} s/tile")
    print(f"  re-run, all cache hits  {cached:7.2f} s  ({rep2.cached}/{rep2.tasks} cached)")
    print(f"change_flow, {args.pairs} pairs of {args.size}x{args.size} px on Dask LocalCluster:")
    print(f"  1 worker   {walls[1]:7.2f} s")
    print(f"  2 workers  {walls[2]:7.2f} s")
    print(f"  speed-up (1 worker / 2 workers) = {walls[1] / walls[2]:.2f}x")
    print("16 pure-CPU probe tasks of 0.5 s (the cluster's own capacity, no I/O):")
    print(f"  1 worker {busy[1]:.2f} s, 2 workers {busy[2]:.2f} s, ratio {busy[1] / busy[2]:.2f}x")
    import os

    print(f"(machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
