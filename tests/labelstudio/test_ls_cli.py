"""`sitewatch ls push/pull` end to end on a replay-style run folder, against the real server."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import build_app
from pipeline.io.labelstudio import LabelStudioClient, LabelStudioSettings

from .conftest import LSServer, make_detection, make_tile, rect_ring

pytestmark = pytest.mark.labelstudio


def test_cli_push_pull_on_run_folder(
    ls_server: LSServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = ls_server.document_root / "cli_run"
    (run / "tiles").mkdir(parents=True)
    (run / "detections").mkdir()
    tile = make_tile(run / "tiles", "cli_20240301", seed=11)
    dets = [make_detection(tile, rect_ring(40.0, 50.0, 60.0, 25.0, 10.0), cls="C-5")]
    (run / "tiles.json").write_text(json.dumps({"tiles": [tile.to_dict()], "rejected": []}))
    (run / f"detections/{tile.id}.json").write_text(json.dumps([d.to_dict() for d in dets]))
    env_file = tmp_path / "ls.env"
    env_file.write_text(
        f"LABEL_STUDIO_URL={ls_server.url}\nLABEL_STUDIO_API_KEY={ls_server.token}\n"
        f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={ls_server.document_root}\n"
    )
    for var in (
        "LABEL_STUDIO_URL",
        "LABEL_STUDIO_API_KEY",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT",
    ):
        monkeypatch.delenv(var, raising=False)
    app, runner = build_app(), CliRunner()
    args = [
        "ls",
        "push",
        "--run",
        str(run),
        "--project",
        "cli project",
        "--env-file",
        str(env_file),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["created"] == 1
    again = runner.invoke(app, args)
    assert json.loads(again.stdout)["unchanged"] == 1
    assert ls_server.token not in first.output + again.output
    assert list((run / "chips").glob("*.png")) and list((run / "chips").glob("*.json"))

    client = LabelStudioClient(
        LabelStudioSettings(ls_server.url, ls_server.token, ls_server.document_root)
    )
    pid = client.find_project("cli project")
    assert pid is not None
    task = client.sdk.tasks.list(project=pid, fields="all").items[0]
    result = copy.deepcopy(task.predictions[0].result)
    client.create_annotation(task.id, result)

    out = tmp_path / "exports"
    pulled = runner.invoke(
        app,
        ["ls", "pull", "--project", "cli project", "--out", str(out), "--run", str(run),
         "--env-file", str(env_file)],
    )  # fmt: skip
    assert pulled.exit_code == 0, pulled.output
    summary = json.loads(pulled.stdout)
    assert summary["human_detections"] == 1
    human = json.loads((run / "annotations" / "human.json").read_text())
    assert human[0]["source"] == "human" and human[0]["class"] == "C-5"
    assert (Path(summary["out_dir"]) / "human.geojson").is_file()


def test_cli_bad_token_exits_with_clear_message(ls_server: LSServer, tmp_path: Path) -> None:
    env_file = tmp_path / "ls.env"
    env_file.write_text(f"LABEL_STUDIO_URL={ls_server.url}\nLABEL_STUDIO_API_KEY=wrong-token\n")
    result = CliRunner().invoke(
        build_app(), ["ls", "pull", "--env-file", str(env_file), "--out", str(tmp_path)],
        env={"LABEL_STUDIO_URL": "", "LABEL_STUDIO_API_KEY": ""},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "refused the API key" in result.output and "wrong-token" not in result.output
