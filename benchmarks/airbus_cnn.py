"""Train the small CNN (pipeline.detect.cnn) on Airbus images on CPU and score it at IoU 0.5.

Two modes, never mixed:

* ``--fold F`` (development): train on the development images (first 20 by
  name) outside airport-grouped fold ``F`` (``grouped_folds`` of
  dense_airbus_cv.py) and score fold ``F`` at several thresholds. Settings are
  chosen here.
* ``--report --threshold T``: train on all 20 development images and score the
  report split (last 10) once, at the threshold chosen on the folds. The two
  halves can run apart: ``--report --train-only --work W`` trains and saves,
  ``--report --model W/model.onnx --threshold T`` scores.

Scoring is evalrun's: ``score_tile`` with axis-aligned envelope IoU >= 0.5,
greedy by score, truncated aircraft count as truth. The model (trained on
CC BY-NC-SA data) is written only to ``--work`` (default a temp dir), never to
the repository. Needs torch (``pip install -e .[cnn]``).

Every run scores the same detections twice: against the boxes as given, and
after merging boxes that label one aircraft twice (``merge_duplicate_truths``,
envelope IoU >= 0.3; two images of the sample do this, 26 boxes on the dev
split and 17 on the report split; distinct aircraft never overlap above 0.08).

Measured (2 CPU cores, torch 2.13 CPU, default CnnParams = 1500 steps, seed 0;
training is deterministic: fold 0 reproduced to the box). Figures are
"as given / merged" recall, then precision:

* dev fold 0 (6 images, trained on the other 14, 289-600 s): plain 0.25
  R 0.910 P 0.863; flip-TTA 0.25 R 0.946 P 0.918, 0.30 R 0.934 P 0.951,
  0.35 R 0.910 P 0.981 (no duplicates in this fold).
* dev fold 1 (5 images): plain 0.30 R 0.861 / 0.994 P 0.965; flip-TTA 0.30
  R 0.861 / 0.994 P 0.971.
* chosen on folds 0 + 1 (pooled F1, merged truth): flip-TTA at 0.30, F1 0.963
  against 0.940 plain; flips + transposes (8 passes) 0.968 at 0.25, not
  worth twice the time. Both are now the defaults written into the model.
* report split (last 10, trained on all 20 dev images, 289 s): flip-TTA 0.30
  R 0.867 / **0.921**, P **0.921** (255 TP, 22 FP, 39 / 22 FN); the earlier
  setting (plain 0.25) R 0.878 / 0.931, P 0.875. Retrained with ``--set seed=1``
  / ``seed=2`` (same setting): R 0.867 / 0.921 P 0.895, R 0.878 / 0.931 P 0.935.
  Inference 0.8-1.2 s per 2560 x 2560 image with flips, 0.5 s without.

Usage: nice -n 19 .venv/bin/python benchmarks/airbus_cnn.py --fold 0 [--set steps=1500]
       nice -n 19 .venv/bin/python benchmarks/airbus_cnn.py --report --threshold 0.30
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dense_airbus_cv import grouped_folds  # noqa: E402

from pipeline.detect.cnn import CnnParams, CnnTrainingImage, train_cnn  # noqa: E402
from pipeline.detect.evalrun import (  # noqa: E402
    AIRBUS_MERGE_IOU,
    _plain_tile,
    airbus_boxes,
    airbus_split,
    airbus_training_images,
    read_plain_image,
)
from pipeline.detect.evaluate import Score, score_tile  # noqa: E402
from pipeline.detect.geometry import box_iou  # noqa: E402
from pipeline.detect.onnx_adapter import OnnxDetector  # noqa: E402
from pipeline.io.atomic import write_bytes_atomic  # noqa: E402

ROOT = "/work/shared/data/airbus-aircraft-sample"
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)


def prf(s: Score) -> str:
    p = s.tp / max(1, s.tp + s.fp)
    r = s.tp / max(1, s.tp + s.fn)
    f = 2 * p * r / max(1e-9, p + r)
    return f"P {p:.3f} R {r:.3f} F1 {f:.3f} ({s.tp} TP, {s.fp} FP, {s.fn} FN)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=ROOT)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--fold", type=int, help="development fold to score (0-3)")
    g.add_argument("--report", action="store_true", help="train on all 20, score the last 10")
    ap.add_argument("--threshold", type=float, help="report mode: the threshold chosen on dev")
    ap.add_argument("--set", nargs="*", default=[], help="CnnParams overrides, key=JSON value")
    ap.add_argument("--work", default=None, help="folder for model.onnx (default: a temp dir)")
    ap.add_argument("--train-only", action="store_true", help="train and save; score nothing")
    ap.add_argument("--model", default=None, help="score this model.onnx instead of training")
    ap.add_argument(
        "--flip-tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average the maps over 4 flips (default: as the model file says)",
    )
    a = ap.parse_args()
    if a.report and a.threshold is None and not a.train_only:
        ap.error("--report needs --threshold (chosen on the development folds)")
    over = {kv.split("=", 1)[0]: json.loads(kv.split("=", 1)[1]) for kv in a.set}
    params = CnnParams.from_dict({**CnnParams().to_dict(), **over})
    dev, rep = airbus_split(a.root)
    if a.report:
        train, test = dev, rep
    else:
        held = grouped_folds(len(dev))[a.fold]
        train = [n for i, n in enumerate(dev) if i not in held]
        test = [dev[i] for i in held]
    print(f"params {json.dumps(params.to_dict())}", flush=True)
    print(f"train {len(train)} images, test {len(test)} images: {test}", flush=True)
    if a.model:
        path = Path(a.model)
        print(f"scoring {path} (no training)", flush=True)
    else:
        imgs = [
            CnnTrainingImage(ti.image, ti.gsd_m, ti.boxes)
            for ti in airbus_training_images(a.root, train)
        ]
        t_cpu = time.process_time()
        res = train_cnn(imgs, params=params, log_every=250)
        del imgs
        print(
            f"training wall {res.train_s:.0f} s (CPU {time.process_time() - t_cpu:.0f} s),"
            f" model {res.version}",
            flush=True,
        )
        work = Path(a.work or tempfile.mkdtemp(prefix="airbus_cnn_"))
        work.mkdir(parents=True, exist_ok=True)
        path = work / "model.onnx"
        write_bytes_atomic(path, res.onnx)
        print(f"model written to {path}", flush=True)
        if a.train_only:
            return
    thresholds = (a.threshold,) if a.report else THRESHOLDS
    det = OnnxDetector(os.fspath(path), threshold=min(thresholds), flip_tta=a.flip_tta)
    boxes = airbus_boxes(a.root)
    merged = airbus_boxes(a.root, merge_iou=AIRBUS_MERGE_IOU)
    totals = {t: Score() for t in thresholds}
    totals_m = {t: Score() for t in thresholds}
    t0 = time.monotonic()
    for name in test:
        img = read_plain_image(Path(a.root) / "images" / name)
        tile = _plain_tile(name, img.shape[1:], 0.5)
        dets = det.detect(img, grid=tile.grid, tile=tile, valid=None)
        for t in thresholds:
            keep = [d for d in dets if d.score >= t]
            totals[t].add(score_tile(keep, boxes[name], iou_fn=box_iou, categories=("aircraft",)))
            totals_m[t].add(
                score_tile(keep, merged[name], iou_fn=box_iou, categories=("aircraft",))
            )
    infer = (time.monotonic() - t0) / max(1, len(test))
    print(f"inference {infer:.1f} s per image (onnxruntime, incl. JPEG read), model {path}")
    split = "report split (last 10)" if a.report else f"dev fold {a.fold}"
    if det.uses_flip_tta():
        split += " flip-TTA"
    n_dup = sum(len(boxes[n]) - len(merged[n]) for n in test)
    for t in thresholds:
        print(f"{split} threshold {t:.2f}: {prf(totals[t])}", flush=True)
    n_dup_s = f"{n_dup} boxes removed"
    print(f"with duplicate labels merged (envelope IoU >= {AIRBUS_MERGE_IOU}, {n_dup_s}):")
    for t in thresholds:
        print(f"{split} threshold {t:.2f} merged: {prf(totals_m[t])}", flush=True)


if __name__ == "__main__":
    main()
