"""Task/result JSON, exports, merge, settings and the webhook receiver (no server needed)."""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.annotate import exports
from pipeline.annotate.chips import read_chip_sidecar
from pipeline.annotate.lsjson import ChipTask, detection_task, regions_from_annotation
from pipeline.annotate.merge import prefer_human
from pipeline.annotate.roundtrip import build_detection_chips, local_file_url, model_version_of
from pipeline.annotate.webhook import make_webhook_server
from pipeline.errors import ConfigError
from pipeline.io.labelstudio import LabelStudioSettings, load_settings, parse_env_file

from .conftest import free_port, make_detection, make_tile, rect_ring


@pytest.fixture()
def scene(tmp_path: Path) -> dict:
    tile = make_tile(tmp_path, shape=(256, 320))
    dets = [
        make_detection(tile, rect_ring(50.0, 60.0, 60.0, 25.0, 30.0), cls="An-124",
                       attributes={"nose_cone": "closed"}),
        make_detection(tile, rect_ring(70.0, 140.0, 20.0, 10.0, 0.0), cls="Mystery-9", score=0.4),
        make_detection(tile, rect_ring(220.0, 280.0, 20.0, 10.0, 0.0), cls="Il-76", score=0.5),
    ]  # fmt: skip
    items = build_detection_chips([tile], dets, tmp_path / "chips", pad_px=8, min_size=64)
    return {"tile": tile, "dets": dets, "items": items, "chips": tmp_path / "chips"}


def test_chips_written_with_sidecars(scene: dict) -> None:
    items = scene["items"]
    covered = [d.id for it in items for d in it.detections]
    assert sorted(covered) == sorted(d.id for d in scene["dets"])  # each detection on a chip
    for it in items:
        png = scene["chips"] / it.chip.png_name
        side = read_chip_sidecar(scene["chips"] / it.chip.sidecar_name)
        assert side == it.chip
        with Image.open(png) as im:
            assert im.size == (it.chip.width, it.chip.height) and im.mode == "RGBA"
        # sidecar affine = tile affine shifted by the window
        r0, c0 = it.chip.window[:2]
        x, y = scene["tile"].grid.xy(r0, c0, offset="ul")
        assert it.chip.grid.xy(0, 0, offset="ul") == pytest.approx((x, y))
    again = build_detection_chips(
        [scene["tile"]], scene["dets"], scene["chips"], pad_px=8, min_size=64
    )
    assert [i.chip.id for i in again] == [i.chip.id for i in items]  # stable ids


def test_task_json_round_trips_through_an_annotation(scene: dict) -> None:
    item: ChipTask = scene["items"][0]
    task = detection_task(item, image_url="/data/local-files/?d=c.png", model_version="m@1")
    assert task["data"]["chip_id"] == item.chip.id
    result = task["predictions"][0]["result"]
    labels = [r["value"]["rectanglelabels"][0] for r in result if r["type"] == "rectanglelabels"]
    assert "An-124" in labels
    if any(d.cls == "Mystery-9" for d in item.detections):
        assert "aircraft" in labels  # unknown classes fall back to their category
    export_task = {
        "id": 7,
        "data": task["data"],
        "annotations": [
            {"id": 11, "completed_by": 3, "created_at": "2024-02-01T10:00:00Z",
             "result": result, "was_cancelled": False}
        ],
    }  # fmt: skip
    regions = regions_from_annotation(export_task, export_task["annotations"][0], {"3": "a@b.c"})
    by_cls = {r.detection.cls: r for r in regions}
    an = by_cls["An-124"]
    assert an.provenance.annotator == "a@b.c" and an.detection.annotation_id == "11"
    assert an.detection.attributes == {"nose_cone": "closed"}
    # 60 x 25 px at 0.5 m: sides measured in metres
    sides = sorted([an.detection.length_m or 0.0, an.detection.wingspan_m or 0.0])
    assert sides == pytest.approx([12.5, 30.0], abs=1e-6)
    original = next(d for d in scene["dets"] if d.cls == "An-124")
    got = sorted((round(r, 6), round(c, 6)) for r, c in an.detection.footprint_px[:4])
    exp = sorted((round(r, 6), round(c, 6)) for r, c in original.footprint_px[:4])
    assert np.allclose(got, exp, atol=1e-6)
    lon = np.array(an.detection.footprint_lonlat)
    assert np.allclose(
        sorted(map(tuple, lon[:4])), sorted(original.footprint_lonlat[:4]), atol=1e-7
    )

    gj = exports.geojson(regions)
    assert gj["features"][0]["geometry"]["type"] == "Polygon"
    coco = exports.coco(regions)
    assert {c["name"] for c in coco["categories"]}.isdisjoint({"open", "closed"})
    yolo = exports.yolo(regions)
    line = next(v for k, v in yolo.items() if k.startswith("labels/")).splitlines()[0]
    vals = [float(v) for v in line.split()[1:]]
    assert all(0.0 <= v <= 1.0 for v in vals)


def test_model_version_and_urls(tmp_path: Path, scene: dict) -> None:
    assert model_version_of(scene["dets"]) == "testdet@1.0"
    assert model_version_of([]) == "none"
    url = local_file_url(tmp_path / "chips" / "a b.png", tmp_path)
    assert url == "/data/local-files/?d=chips/a%20b.png"
    with pytest.raises(ConfigError, match="document root"):
        local_file_url(Path("/elsewhere/x.png"), tmp_path)


def test_prefer_human_drops_overlapped_model_detections(scene: dict) -> None:
    tile = scene["tile"]
    model = [
        make_detection(tile, rect_ring(10.0, 10.0, 20.0, 10.0)),
        make_detection(tile, rect_ring(100.0, 100.0, 20.0, 10.0)),
    ]
    drawn = make_detection(tile, rect_ring(12.0, 12.0, 20.0, 10.0), cls="C-5")
    human = [dataclasses.replace(drawn, source="human", detector="label-studio")]
    merged = prefer_human(model, human)
    assert merged[0].source == "human"
    assert [d.id for d in merged[1:]] == [model[1].id]
    # other tiles are not affected
    other = make_tile(Path(tile.path).parent, "other_20240102", seed=3)
    far = [make_detection(other, rect_ring(10.0, 10.0, 20.0, 10.0))]
    assert prefer_human(far, human)[1:] == far
    with pytest.raises(ValueError):
        prefer_human(model, human, min_overlap=0.0)
    # an analyst who reviewed the chip around model[1] and drew nothing there rejected it
    reviewed = [(tile.sha256, (90, 90, 64, 64))]
    assert prefer_human(model, [], reviewed=reviewed) == [model[0]]
    assert prefer_human(model, [], reviewed=[("other-sha", (90, 90, 64, 64))]) == model


def test_settings_from_env_and_file_mask_the_key(tmp_path: Path) -> None:
    env_file = tmp_path / "ls.env"
    env_file.write_text("# comment\nexport LABEL_STUDIO_URL='http://127.0.0.1:9'\n"
                        "LABEL_STUDIO_API_KEY=file-secret\n")  # fmt: skip
    s = load_settings({}, env_file)
    assert s.url == "http://127.0.0.1:9" and s.api_key == "file-secret"
    assert "file-secret" not in repr(s) and "file-secret" not in str(s)
    s2 = load_settings({"LABEL_STUDIO_API_KEY": "env-secret"}, env_file)
    assert s2.api_key == "env-secret"  # the environment wins
    with pytest.raises(ConfigError, match="LABEL_STUDIO_API_KEY"):
        load_settings({"LABEL_STUDIO_URL": "http://x"}, tmp_path / "missing.env")
    with pytest.raises(ConfigError, match="http"):
        load_settings({"LABEL_STUDIO_URL": "ftp://x", "LABEL_STUDIO_API_KEY": "k"})
    assert parse_env_file('A="1"\nB\n') == {"A": "1"}
    assert "secret" not in repr(LabelStudioSettings("http://x", "secret"))


def test_webhook_receiver_coalesces_and_ignores_other_actions() -> None:
    calls: list[str] = []
    done = threading.Event()

    def on_event(payload: dict) -> None:
        calls.append(payload["action"])
        done.set()

    server = make_webhook_server("127.0.0.1", free_port(), on_event)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    def post(body: bytes) -> dict:
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 (loopback)
            return json.loads(r.read())

    try:
        assert post(b'{"action": "PROJECT_UPDATED"}') == {"ignored": "PROJECT_UPDATED"}
        assert post(b'{"action": "ANNOTATION_UPDATED"}') == {"accepted": "ANNOTATION_UPDATED"}
        assert done.wait(5) and calls == ["ANNOTATION_UPDATED"]
        with pytest.raises(urllib.error.HTTPError):
            post(b"not json")
    finally:
        server.shutdown()
        server.server_close()
