"""Print detection figures on held-out synthetic scenes (pipeline.synth) per GSD.

Usage: .venv/bin/python benchmarks/detect_bench.py [--seeds 3] [--gsd 0.3 0.5 0.8]
"""

from __future__ import annotations

import argparse
import json
import time

from pipeline.detect.evalrun import evaluate_synthetic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=9100)
    ap.add_argument("--gsd", type=float, nargs="+", default=[0.3, 0.5, 0.8])
    ap.add_argument("--size", type=int, default=1024)
    a = ap.parse_args()
    t0 = time.perf_counter()
    res = evaluate_synthetic(
        seeds=range(a.first_seed, a.first_seed + a.seeds), gsds=a.gsd, size_px=a.size
    )
    print(json.dumps(res, indent=1))
    print(f"elapsed {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
