"""Compare change methods on seeded synthetic pairs (how the default method was chosen).

Pairs come from :func:`pipeline.change.synthetic.make_pair` with mixed conditions
(illumination gain/offset, haze-like offset, sub-pixel misregistration, cloud,
nodata, uint8/uint16). Prints micro-averaged precision/recall/F1 and seconds per
method that needs no training, and the naive-cva reference (raw change-vector
magnitude + Otsu). Never uses the LEVIR-CD pairs or the sample tiles.

    .venv/bin/python benchmarks/change_methods_synth.py [--pairs 12] [--size 320]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from pipeline.change.engine import detect_change
from pipeline.change.evaluate import NAIVE, naive_cva_mask
from pipeline.change.methods import UNSUPERVISED_METHODS
from pipeline.change.metrics import Confusion, confusion
from pipeline.change.synthetic import make_pair


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--size", type=int, default=320)
    args = ap.parse_args(argv)
    conditions: list[dict[str, Any]] = [
        {"gain": 1.25, "offset": 0.04},
        {"gain": 0.8, "offset": 0.1, "dtype": "uint8"},
        {"shift": (0.7, -1.2)},
        {"cloud": True},
        {"nodata_corner": True, "gain": 1.1},
        {"noise": 0.04},
    ]
    pairs = [
        make_pair((args.size, args.size), seed=100 + i, **conditions[i % len(conditions)])
        for i in range(args.pairs)
    ]
    print(f"{'method':>12} {'P':>6} {'R':>6} {'F1':>6} {'s/pair':>7}")
    for m in (NAIVE, *UNSUPERVISED_METHODS):
        total = Confusion()
        t = time.perf_counter()
        for p in pairs:
            if m == NAIVE:
                mask = naive_cva_mask(p.before, p.after, p.valid)
            else:
                mask = detect_change(p.before, p.after, valid=p.valid, method=m, gsd_m=0.5).mask
            total = total + confusion(mask, p.truth)
        dt = (time.perf_counter() - t) / len(pairs)
        print(f"{m:>12} {total.precision:6.3f} {total.recall:6.3f} {total.f1:6.3f} {dt:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
