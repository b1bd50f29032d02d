"""Round trip against a real Label Studio server (started once per session by conftest)."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pipeline.annotate.config import detection_config
from pipeline.annotate.lsjson import ChipTask
from pipeline.annotate.merge import prefer_human
from pipeline.annotate.roundtrip import (
    build_change_chips,
    build_detection_chips,
    pull_annotations,
    push_change_tasks,
    push_tasks,
)
from pipeline.annotate.webhook import WEBHOOK_ACTIONS, make_webhook_server
from pipeline.errors import LabelStudioError
from pipeline.io.labelstudio import LabelStudioClient, LabelStudioSettings
from pipeline.model import ChangeRegion
from pipeline.objects import object_types

from .conftest import LSServer, free_port, make_detection, make_tile, rect_ring

pytestmark = pytest.mark.labelstudio


def _client(server: LSServer, **kw: float) -> LabelStudioClient:
    settings = LabelStudioSettings(server.url, server.token, server.document_root)
    return LabelStudioClient(settings, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def scene(ls_server: LSServer) -> dict[str, object]:
    run = ls_server.document_root / "run1"
    tiles_dir = run / "tiles"
    tiles_dir.mkdir(parents=True)
    tile = make_tile(tiles_dir)
    dets = [
        make_detection(tile, rect_ring(60.0, 80.0, 70.0, 30.0, 20.0), cls="An-124",
                       attributes={"nose_cone": "closed"}),
        make_detection(tile, rect_ring(200.0, 250.0, 40.0, 20.0, 0.0), cls="Il-76", score=0.7),
    ]  # fmt: skip
    items = build_detection_chips([tile], dets, run / "chips")
    return {"run": run, "tile": tile, "dets": dets, "items": items}


def test_local_files_are_served(ls_server: LSServer, scene: dict) -> None:
    client = _client(ls_server)
    report = push_tasks(client, "served files", scene["items"], chips_dir=scene["run"] / "chips")
    assert len(report.created) == len(scene["items"])
    task = client.sdk.tasks.list(project=report.project_id).items[0]
    req = urllib.request.Request(
        ls_server.url + task.data["image"], headers={"Authorization": f"Token {ls_server.token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 (loopback)
        assert r.status == 200
        assert r.read(8) == b"\x89PNG\r\n\x1a\n"


def test_push_three_times_is_idempotent(ls_server: LSServer, scene: dict) -> None:
    client = _client(ls_server)
    title = "idempotent push"
    chips = scene["run"] / "chips"
    first = push_tasks(client, title, scene["items"], chips_dir=chips, batch_size=1)
    second = push_tasks(client, title, scene["items"], chips_dir=chips)
    assert len(first.created) == len(scene["items"]) and not second.created
    assert len(second.unchanged) == len(scene["items"])
    # a new detector version replaces predictions instead of adding tasks
    bumped = [
        ChipTask(
            it.chip, tuple(dataclasses.replace(d, detector_version="2.0") for d in it.detections)
        )
        for it in scene["items"]
    ]
    third = push_tasks(client, title, bumped, chips_dir=chips)
    assert not third.created and len(third.updated) == len(scene["items"])
    index = client.task_index(first.project_id)
    assert len(index) == len(scene["items"])
    tasks = list(client.sdk.tasks.list(project=first.project_id, fields="all"))
    assert len(tasks) == len(scene["items"])
    for t in tasks:
        assert [p.model_version for p in t.predictions] == ["testdet@2.0"]


def _analyst_result(task: object, shift_pct: float) -> list[dict]:
    """Copy the prediction, relabel the An-124 as C-5, move it right, set nose_cone=open."""
    result = copy.deepcopy(task.predictions[0].result)  # type: ignore[attr-defined]
    moved = None
    for item in result:
        item.pop("score", None)
        if item["type"] == "rectanglelabels" and item["value"]["rectanglelabels"] == ["An-124"]:
            item["value"]["rectanglelabels"] = ["C-5"]
            item["value"]["x"] += shift_pct
            moved = item
    assert moved is not None
    for item in result:
        if item["type"] == "choices" and item["id"] == moved["id"]:
            item["value"]["choices"] = ["open"]
            item["value"]["x"] = moved["value"]["x"]
    return result


def test_correction_round_trips_to_map_within_one_pixel(
    ls_server: LSServer, scene: dict, tmp_path: Path
) -> None:
    client = _client(ls_server)
    title = "analyst round trip"
    push = push_tasks(client, title, scene["items"], chips_dir=scene["run"] / "chips")
    tasks = list(client.sdk.tasks.list(project=push.project_id, fields="all"))
    target = next(t for t in tasks if any("An-124" in json.dumps(p.result) for p in t.predictions))
    chip = next(it.chip for it in scene["items"] if it.chip.id == target.data["chip_id"])
    shift_pct = 10.0
    ann_id = client.create_annotation(target.id, _analyst_result(target, shift_pct))

    report = pull_annotations(client, title, tmp_path / "exports")
    human = [d for d in report.detections if d.cls == "C-5"]
    assert len(human) == 1
    det = human[0]
    assert det.source == "human" and det.annotation_id == str(ann_id)
    assert det.detector == "label-studio"
    assert det.attributes == {"nose_cone": "open"}
    # expected: the model ring moved right by shift_pct of the chip width
    original = next(d for d in scene["dets"] if d.cls == "An-124")
    dc = shift_pct / 100.0 * chip.width
    expected_px = [(r, c + dc) for r, c in original.footprint_px]
    grid = scene["tile"].grid
    ex, ey = grid.xy([p[0] for p in expected_px], [p[1] for p in expected_px], offset="ul")
    got_xy = grid.from_lonlat(
        [p[0] for p in det.footprint_lonlat], [p[1] for p in det.footprint_lonlat]
    )
    # same rectangle, possibly another starting corner: compare corner sets
    for x1, y1 in zip(ex[:4], ey[:4], strict=True):
        dist = np.hypot(got_xy[0][:4] - x1, got_xy[1][:4] - y1).min()
        assert dist <= grid.gsd, f"corner ({x1:.2f}, {y1:.2f}) is {dist:.3f} m off"
    # merge: the corrected box supersedes the model's; unreviewed chips keep theirs
    assert [c.id for c in report.reviewed] == [chip.id]
    merged = prefer_human(scene["dets"], list(report.detections), reviewed=report.reviewed_windows)
    assert [d.cls for d in merged] == ["C-5", "Il-76"]
    # exports on disk
    out = report.out_dir
    assert out is not None and out.is_dir()
    gj = json.loads((out / "human.geojson").read_text())
    props = gj["features"][0]["properties"]
    for key in ("class", "attributes", "tile_id", "tile_sha256", "annotation_id", "annotator",
                "created_at", "footprint_px"):  # fmt: skip
        assert key in props
    assert props["annotator"] == ls_server.username
    coco = json.loads((out / "coco.json").read_text())
    names = {c["name"] for c in coco["categories"]}
    assert "C-5" in names and "open" not in names  # attributes are not categories
    assert any(a["attributes"] == {"nose_cone": "open"} for a in coco["annotations"])
    assert (out / "yolo" / "classes.txt").is_file()
    assert list((out / "yolo" / "labels").glob("*.txt"))


def test_bad_token_is_refused(ls_server: LSServer) -> None:
    settings = LabelStudioSettings(ls_server.url, "not-a-valid-token", ls_server.document_root)
    client = LabelStudioClient(settings, retries=3, backoff_s=0.01)
    t0 = time.monotonic()
    with pytest.raises(LabelStudioError, match="refused the API key") as info:
        client.find_project("anything")
    assert "401" in str(info.value)
    assert "not-a-valid-token" not in str(info.value)
    assert time.monotonic() - t0 < 5  # no retries on 401


def test_unreachable_server_fails_clearly(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = LabelStudioClient(LabelStudioSettings(url, "k", tmp_path), retries=2, backoff_s=0.01)
    with pytest.raises(LabelStudioError, match="failed after 3 attempt"):
        client.find_project("x")


def test_webhook_triggers_pull(ls_server: LSServer, scene: dict, tmp_path: Path) -> None:
    client = _client(ls_server)
    title = "webhook project"
    push = push_tasks(client, title, scene["items"], chips_dir=scene["run"] / "chips")
    pulled = threading.Event()
    seen: list[str] = []

    def on_event(payload: dict) -> None:
        seen.append(payload["action"])
        report = pull_annotations(client, title, tmp_path / "hook")
        if report.detections:
            pulled.set()

    port = free_port()
    server = make_webhook_server("127.0.0.1", port, on_event)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client.ensure_webhook(push.project_id, f"http://127.0.0.1:{port}/", WEBHOOK_ACTIONS)
        hooks_before = len(client.sdk.webhooks.list(project=str(push.project_id)))
        client.ensure_webhook(push.project_id, f"http://127.0.0.1:{port}/", WEBHOOK_ACTIONS)
        assert len(client.sdk.webhooks.list(project=str(push.project_id))) == hooks_before
        task = client.sdk.tasks.list(project=push.project_id, fields="all").items[0]
        result = copy.deepcopy(task.predictions[0].result)
        client.create_annotation(task.id, result)
        assert pulled.wait(30), f"no pull after the webhook; events seen: {seen}"
        assert "ANNOTATION_CREATED" in seen
    finally:
        server.shutdown()
        server.server_close()


def test_change_review_push_and_verdict(ls_server: LSServer, tmp_path: Path) -> None:
    run = ls_server.document_root / "change_run"
    (run / "tiles").mkdir(parents=True)
    before = make_tile(run / "tiles", "site_20240101", seed=1)
    after = make_tile(run / "tiles", "site_20240201", seed=2)
    ring_px = rect_ring(100.0, 120.0, 40.0, 30.0)
    region = ChangeRegion(
        id="chg-1",
        method="cva",
        before_tile_id=before.id,
        after_tile_id=after.id,
        before_sha256=before.sha256,
        after_sha256=after.sha256,
        polygon_lonlat=(tuple(after.grid.pixel_ring_to_lonlat(ring_px)),),
        area_m2=300.0,
        mean_score=0.8,
        max_score=1.0,
    )
    tasks = build_change_chips([before, after], [region], run / "chips")
    (item,) = tasks
    # the region lands where it was painted, in after-chip pixels
    r0, c0 = item.after.window[:2]
    assert item.region_ring_after_px[0] == pytest.approx((100.0 - r0, 120.0 - c0), abs=1e-6)
    client = _client(ls_server)
    first = push_change_tasks(client, "change review", tasks, chips_dir=run / "chips")
    second = push_change_tasks(client, "change review", tasks, chips_dir=run / "chips")
    assert len(first.created) == 1 and second.unchanged == first.created
    # a detection project of the same base title exists for pull
    push_tasks(client, "change review", [], chips_dir=run / "chips")
    task = client.sdk.tasks.list(project=first.project_id, fields="all").items[0]
    assert task.predictions[0].result[0]["value"]["rectanglelabels"] == ["change"]
    verdict = {
        "id": "v1",
        "from_name": "change",
        "to_name": "after",
        "type": "choices",
        "value": {"choices": ["real change"]},
    }
    client.create_annotation(task.id, [verdict])
    report = pull_annotations(client, "change review", tmp_path / "exports")
    assert [(v.region_id, v.verdict) for v in report.verdicts] == [("chg-1", "real change")]
    assert report.verdicts[0].provenance.annotator == ls_server.username


def test_pull_of_missing_project_says_so(ls_server: LSServer, tmp_path: Path) -> None:
    with pytest.raises(LabelStudioError, match="does not exist"):
        pull_annotations(_client(ls_server), "never pushed", tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_labeling_config_follows_the_table(ls_server: LSServer, scene: dict) -> None:
    client = _client(ls_server)
    chips = scene["run"] / "chips"
    table = object_types()
    old = {k: table[k] for k in ("An-124", "Il-76", "C-5")}
    first = push_tasks(client, "config drift", scene["items"], chips_dir=chips,
                       label_config=detection_config(old))  # fmt: skip
    push_tasks(client, "config drift", scene["items"], chips_dir=chips)
    stored = client.sdk.projects.get(first.project_id).label_config
    assert stored.strip() == detection_config().strip()
    assert "Tu-160" in stored  # a type the old config lacked
