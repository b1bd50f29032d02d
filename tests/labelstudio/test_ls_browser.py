"""The labeling view in a real browser: log in, open a pushed task, see the pre-annotations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.annotate.roundtrip import build_detection_chips, push_tasks
from pipeline.io.labelstudio import LabelStudioClient, LabelStudioSettings

from .conftest import LSServer, make_detection, make_tile, rect_ring

pytestmark = [pytest.mark.browser, pytest.mark.labelstudio]

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def _require_browser() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node")
    if not CHROMIUM.exists():
        missing.append(str(CHROMIUM))
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core")
    if missing:
        msg = f"browser test needs {', '.join(missing)}: run scripts/setup_browser.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    assert node is not None
    return node


def test_labeling_view_shows_pre_annotations(ls_server: LSServer, artifacts_dir: Path) -> None:
    node = _require_browser()
    run = ls_server.document_root / "browser_run"
    (run / "tiles").mkdir(parents=True)
    tile = make_tile(run / "tiles", "browser_20240101", seed=5)
    det = make_detection(tile, rect_ring(90.0, 120.0, 90.0, 40.0, 25.0), cls="An-124",
                         attributes={"nose_cone": "closed"})  # fmt: skip
    items = build_detection_chips([tile], [det], run / "chips")
    client = LabelStudioClient(
        LabelStudioSettings(ls_server.url, ls_server.token, ls_server.document_root)
    )
    report = push_tasks(client, "browser check", items, chips_dir=run / "chips")
    task_id = client.task_index(report.project_id)[items[0].chip.id].task_id
    shot = artifacts_dir / "labelstudio_labeling_view.png"
    proc = subprocess.run(
        [node, str(BROWSER_DIR / "labeling_view.js"), ls_server.url, ls_server.username,
         ls_server.password, str(report.project_id), str(task_id), str(shot)],
        capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "CHROMIUM_PATH": str(CHROMIUM)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["image_loaded"], info
    assert info["regions"] >= 1 and any("An-124" in text for text in info["labels"]), info
    assert shot.is_file() and shot.stat().st_size > 10_000
