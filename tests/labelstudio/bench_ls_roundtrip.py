"""Benchmark: chips, push (new, then idempotent) and pull of N tasks against a running server.

Usage (server from scripts/labelstudio.sh, settings from .sitewatch/labelstudio.env):

    .venv/bin/python tests/labelstudio/bench_ls_roundtrip.py --n 200

Writes a synthetic tile and chips under runs/bench_ls/ (inside the server's document root),
pushes to the project "sitewatch bench", annotates 10 tasks through the API, pulls, prints
timings. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import make_detection, make_tile, rect_ring  # noqa: E402

from pipeline.annotate.roundtrip import build_detection_chips, pull_annotations, push_tasks  # noqa: E402
from pipeline.io.labelstudio import LabelStudioClient, load_settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--env-file", default=".sitewatch/labelstudio.env")
    ap.add_argument("--run", default="runs/bench_ls")
    args = ap.parse_args()
    client = LabelStudioClient(load_settings(None, args.env_file))
    run = Path(args.run).resolve()
    (run / "tiles").mkdir(parents=True, exist_ok=True)
    side = int((args.n**0.5) + 1) * 120
    tile = make_tile(run / "tiles", "bench_20240101", shape=(side, side))
    dets = []
    for i in range(args.n):
        r, c = divmod(i, side // 120)
        dets.append(
            make_detection(
                tile, rect_ring(20.0 + 120 * r, 20.0 + 120 * c, 60.0, 25.0, 7.0 * i % 90)
            )
        )
    t0 = time.perf_counter()
    items = build_detection_chips([tile], dets, run / "chips", pad_px=8, min_size=96)
    t_chips = time.perf_counter() - t0
    title = f"sitewatch bench {args.n}"
    first = push_tasks(client, title, items, chips_dir=run / "chips")
    again = push_tasks(client, title, items, chips_dir=run / "chips")
    pid = first.project_id
    tasks = client.sdk.tasks.list(project=pid, fields="all", page_size=10).items[:10]
    for t in tasks:
        client.create_annotation(t.id, copy.deepcopy(t.predictions[0].result))
    with tempfile.TemporaryDirectory() as tmp:
        pulled = pull_annotations(client, title, Path(tmp))
    print(f"chips: {len(items)} written in {t_chips:.2f} s")
    print(f"push (new): {len(first.created)} tasks in {first.seconds:.2f} s")
    print(f"push (again): {len(again.unchanged)} unchanged in {again.seconds:.2f} s")
    print(
        f"pull: {pulled.tasks} tasks, {len(pulled.detections)} human detections "
        f"in {pulled.seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
