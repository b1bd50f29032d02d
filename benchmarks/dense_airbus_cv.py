"""Airport-grouped cross-validation of the dense detector on the Airbus DEVELOPMENT images only.

Some airports appear at several dates in the sample, so a plain 16/4 split of
the first 20 images puts the same apron in training and test and flatters the
detector (candidate recall 0.90 there against ~0.65 on held-out airports).
Here the 20 development images are grouped by airport (judged by eye from
thumbnails: 4+7, 5+16, 6+17, 8+15, 9+14 are the same airports; the others
are taken as distinct) and the groups are dealt into 4 folds. Each fold
trains the full detector (default :class:`~pipeline.detect.dense.DenseParams`
unless overridden) on the other folds and scores its images at several
verifier thresholds. The report split (last 10 images) is never read.

Usage: .venv/bin/python benchmarks/dense_airbus_cv.py [--folds 0 1 2 3] [--set context=false]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pipeline.detect import dense as D
from pipeline.detect.evalrun import airbus_split, airbus_training_images

ROOT = "/work/shared/data/airbus-aircraft-sample"
#: Development-image indices (sorted names) showing the same airport.
SAME_AIRPORT = ((4, 7), (5, 16), (6, 17), (8, 15), (9, 14))
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def grouped_folds(n: int = 20, k: int = 4) -> list[list[int]]:
    """Image indices per fold; images of one airport share a fold."""
    head = {i: i for i in range(n)}
    for grp in SAME_AIRPORT:
        for i in grp:
            head[i] = grp[0]
    keys = sorted(set(head.values()))
    return [[i for i in range(n) if keys.index(head[i]) % k == f] for f in range(k)]


def match(found: list[tuple[D.Box, float]], truth: list[D.Box], thr: float) -> tuple[int, int]:
    """(true positives, detections) of boxes scoring >= ``thr``, greedy by score, IoU >= 0.5."""
    used: set[int] = set()
    tp = nd = 0
    for b, s in found:
        if s < thr:
            continue
        nd += 1
        ious = [0.0 if j in used else D._iou(b, t) for j, t in enumerate(truth)]
        if ious and max(ious) >= 0.5:
            used.add(int(np.argmax(ious)))
            tp += 1
    return tp, nd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=ROOT)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--set", nargs="*", default=[], help="DenseParams overrides, key=JSON value")
    a = ap.parse_args()
    over = {kv.split("=", 1)[0]: json.loads(kv.split("=", 1)[1]) for kv in a.set}
    params = D.DenseParams.from_dict({**D.DenseParams().to_dict(), **over})
    dev, _ = airbus_split(a.root)
    tot: dict[float, list[int]] = {t: [0, 0] for t in THRESHOLDS}
    n_truth = cand = 0
    for f in a.folds:
        test = grouped_folds(len(dev))[f]
        train = [n for i, n in enumerate(dev) if i not in test]
        t0 = time.process_time()
        model = D.train_dense(airbus_training_images(a.root, train), params=params)
        cpu = time.process_time() - t0
        for ti in airbus_training_images(a.root, [dev[i] for i in test]):
            prob, feats = D.centre_map(model, ti.image, gsd_m=ti.gsd_m)
            gray = D._norm_gray(ti.image, max(1, D._factor(ti.gsd_m, params) // 2))
            found = D.boxes_from_map(model, prob, feats, gsd_m=ti.gsd_m, gray=gray, threshold=0.0)
            cands = D._candidates(
                model,
                prob,
                feats,
                gsd_m=ti.gsd_m,
                threshold=params.candidate_threshold,
                scales=params.box_scales,
            )
            truth: list[D.Box] = [(b[0], b[1], b[2], b[3]) for b in ti.boxes]
            cand += sum(max((D._iou(c, t) for c, _, _ in cands), default=0.0) >= 0.5 for t in truth)
            n_truth += len(truth)
            for t in THRESHOLDS:
                tp, nd = match(found, truth, t)
                tot[t][0] += tp
                tot[t][1] += nd
        print(f"fold {f}: test images {test}, training CPU {cpu:.0f} s", flush=True)
    print(f"aircraft {n_truth}, candidate recall (IoU >= 0.5) {cand / max(1, n_truth):.3f}")
    for t in THRESHOLDS:
        tp, nd = tot[t]
        print(
            f"threshold {t:.1f}: R {tp / max(1, n_truth):.3f} P {tp / max(1, nd):.3f}",
            f"({tp} TP, {nd} det)",
        )


if __name__ == "__main__":
    main()
