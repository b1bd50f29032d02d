"""annotate_flow against a real Label Studio server (the labelstudio tests' session server).

Push chips with model predictions, let an "analyst" correct one through the
API, pull: the flow writes ``annotations/human.json`` and the human label
replaces the model's in the object changes. Skipped when ``.venv-ls`` is absent.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.labelstudio, pytest.mark.prefect, pytest.mark.slow]

_spec = importlib.util.spec_from_file_location(
    "sitewatch_flows_ls_fixtures", Path(__file__).parents[1] / "labelstudio" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_ls = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _ls  # dataclasses look their module up while the file executes
_spec.loader.exec_module(_ls)
ls_server = _ls.ls_server  # the real server fixture (session scope)


@pytest.fixture()
def ls_env(ls_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # the run's environment, as `sitewatch replay` would see it
    monkeypatch.setenv("LABEL_STUDIO_URL", ls_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_server.token)
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", str(ls_server.document_root))
    monkeypatch.setenv("SITEWATCH_LS_PROJECT", "flows annotate test")
    return ls_server


def test_annotate_flow_push_pull_and_human_first(
    prefect_api: str, ls_env: Any, tmp_path: Path
) -> None:
    from flows.site_watch import annotate_flow

    tile = _ls.make_tile(tmp_path / "tiles", "site_20240101")
    det = _ls.make_detection(tile, _ls.rect_ring(100, 100, 60, 20), cls="An-124")
    run = tmp_path / "run"
    run.mkdir()
    (human, reviewed), rep = annotate_flow([tile], {tile.id: [det]}, run, tmp_path / "store")
    assert rep.status == "completed", rep
    assert rep.counts["pushed"] == 1 and human == [] and reviewed == []
    assert json.loads((run / "annotations" / "human.json").read_text()) == []
    assert list((run / "chips").glob("*.png"))

    # an analyst relabels the aircraft in Label Studio
    from pipeline.io.labelstudio import LabelStudioClient, load_settings

    client = LabelStudioClient(load_settings())
    project = next(p for p in client.sdk.projects.list() if p.title == "flows annotate test")
    task = next(iter(client.sdk.tasks.list(project=project.id, fields="all")))
    result = json.loads(json.dumps(task.predictions[0].result))
    for r in result:
        if r.get("type") == "rectanglelabels":
            r["value"]["rectanglelabels"] = ["C-5"]
    client.create_annotation(task.id, result)

    run2 = tmp_path / "run2"
    run2.mkdir()
    (human, reviewed), rep2 = annotate_flow([tile], {tile.id: [det]}, run2, tmp_path / "store")
    assert rep2.counts["pushed"] == 0  # idempotent: the chip is already there
    assert [d.cls for d in human] == ["C-5"] and human[0].source == "human"
    assert len(reviewed) == 1 and reviewed[0][0] == tile.sha256
    saved = json.loads((run2 / "annotations" / "human.json").read_text())
    assert [d["class"] for d in saved] == ["C-5"]
