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
from pipeline.detect.capability import RECALL_FILE, recall_counts, table_from_counts
from pipeline.detect.evalrun import synth_tile, truth_calls
from pipeline.detect.evaluate import TruthBox
from pipeline.io.atomic import write_json_atomic
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
                tile = synth_tile(st, spec, seed)
                dets = det.detect(st.array, grid=st.grid, tile=tile, valid=st.valid)
                truths = [
                    TruthBox(o.type_name, o.footprint_px, o.category)
                    for o in st.objects
                    if o.inside and o.cloud_fraction <= 0.5
                ]
                calls = truth_calls(dets, truths, categories=None)
                for cls, (found, n) in recall_counts(calls).items():
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
