"""Rotodome test on synthetic aprons of Il-76, A-50 and Tu-95 (same length and span).

Prints, per GSD, how each truth type was called and what the ``rotodome``
attribute said, and the type accuracy among found aircraft; with ``--no-dome``
the same detector without the test, for comparison.

Usage: .venv/bin/python benchmarks/rotodome_bench.py [--first-seed 9300] [--seeds 6]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import replace

from pipeline.detect.detectors import MeasureDetector
from pipeline.detect.evalrun import dome_scene, synth_tile
from pipeline.detect.geometry import ring_iou
from pipeline.synth import render_scene


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=9300)
    ap.add_argument("--gsd", type=float, nargs="+", default=[0.3, 0.5, 0.8])
    ap.add_argument("--no-dome", action="store_true", help="the detector without the test")
    a = ap.parse_args()
    det = MeasureDetector()
    if a.no_dome:
        det = replace(det, domes=None)
    t0 = time.perf_counter()
    out: dict[str, object] = {}
    for gsd in a.gsd:
        called: Counter[str] = Counter()
        right = found = total = 0
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            spec = dome_scene(seed, gsd)
            st = render_scene(spec, seed=seed)
            tile = synth_tile(st, spec, seed)
            dets = det.detect(st.array, grid=st.grid, tile=tile, valid=st.valid)
            for o in st.objects:
                if not o.inside:
                    continue
                total += 1
                ious = [(ring_iou(d.footprint_px, o.footprint_px), i) for i, d in enumerate(dets)]
                iou, i = max(ious, default=(0.0, -1))
                best = dets[i]
                if iou < 0.5:
                    called[f"{o.type_name} -> missed"] += 1
                    continue
                found += 1
                right += best.cls == o.type_name
                dome = best.attributes.get("rotodome", "-")
                called[f"{o.type_name} -> {best.cls} (rotodome {dome})"] += 1
        out[f"gsd_{gsd:g}"] = {
            "objects": total,
            "found": found,
            "type_accuracy": round(right / found, 3) if found else None,
            "called": dict(sorted(called.items())),
        }
    print(json.dumps(out, indent=1))
    print(f"elapsed {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
