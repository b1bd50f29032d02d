"""Per-class recall of the ``measure`` detector by GSD -> pipeline/data/detect_recall.json.

The claim linker reads that table to tell "the detector would have seen them"
from "the detector cannot see them" (pipeline.detect.capability). Scenes are
held-out synthetic airbases (random layout, sun, object mix) with seeds that no
detector setting was chosen on (9200 onwards; development used others).

Usage: .venv/bin/python benchmarks/detect_recall.py [--seeds 4] [--gsd 0.3 0.5 0.8] [--write]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipeline.detect import get_detector
from pipeline.detect.capability import RECALL_FILE, table_from_counts, truth_calls
from pipeline.detect.evaluate import ring_iou
from pipeline.io.atomic import write_json_atomic
from pipeline.model import Tile
from pipeline.synth import render_scene
from pipeline.synth.scenario import random_scenario

OUT = Path(__file__).resolve().parents[1] / "pipeline" / "data" / RECALL_FILE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--first-seed", type=int, default=9200)
    ap.add_argument("--gsd", type=float, nargs="+", default=[0.3, 0.5, 0.8])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--write", action="store_true", help=f"write pipeline/data/{RECALL_FILE}")
    a = ap.parse_args()
    t0 = time.perf_counter()
    det = get_detector("measure")
    counts: dict[tuple[str, float], tuple[int, int]] = {}
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    for gsd in a.gsd:
        for seed in seeds:
            for spec in random_scenario(seed, gsd_m=gsd, n_tiles=1, size_px=a.size):
                st = render_scene(spec, seed=seed)
                tile = Tile(
                    id=st.stem,
                    path="<memory>",
                    site_id=spec.site.id,
                    acquired=spec.acquired,
                    grid=st.grid,
                    sha256=f"synthetic-{seed}-{gsd}",
                    band_count=st.array.shape[0],
                    dtype=str(st.array.dtype),
                    gsd_m=gsd,
                    sun_azimuth_deg=spec.sun_azimuth_deg,
                    sun_elevation_deg=spec.sun_elevation_deg,
                )
                dets = det.detect(st.array, grid=st.grid, tile=tile, valid=st.valid)
                truths = [o for o in st.objects if o.inside and o.cloud_fraction <= 0.5]
                got: list[str | None] = []
                for o in truths:
                    best = max(
                        dets, key=lambda d: ring_iou(d.footprint_px, o.footprint_px), default=None
                    )
                    hit = best is not None and ring_iou(best.footprint_px, o.footprint_px) >= 0.5
                    got.append(best.cls if hit and best is not None else None)
                for cls, (found, n) in truth_calls(got, [o.type_name for o in truths]).items():
                    f0, n0 = counts.get((cls, gsd), (0, 0))
                    counts[(cls, gsd)] = (f0 + found, n0 + n)
    measured_on = (
        f"benchmarks/detect_recall.py: random_scenario seeds {seeds.start}-{seeds.stop - 1}, "
        f"{a.size} px tiles, GSD {', '.join(f'{g:g}' for g in a.gsd)} m; recall = found at IoU 0.5 "
        "and typed as the class"
    )
    table = table_from_counts(det.name, det.version, measured_on, counts)
    print(json.dumps(table.to_dict(), indent=1))
    print(f"elapsed {time.perf_counter() - t0:.1f} s")
    if a.write:
        write_json_atomic(OUT, table.to_dict())
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
