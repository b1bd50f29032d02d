"""End to end: the real ``sitewatch replay`` command on ``sample_tiles/``, twice.

Asserts what a user sees: exit 0, no traceback on stderr, the last stdout line
is the path of an existing report.html, and the second replay is served mostly
from the cache while still writing a complete run folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _replay(repo: Path, source: Path, out: Path, store: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LABEL_STUDIO"))}
    cmd = [
        sys.executable,
        "-c",
        "from pipeline.cli import main; main()",
        "replay",
        str(source),
        "--out",
        str(out),
        "--store",
        str(store),
    ]
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)


def test_replay_sample_tiles_twice(repo_root: Path, sample_tiles: Path, tmp_path: Path) -> None:
    if not list(sample_tiles.rglob("*.tif")):
        pytest.skip("sample_tiles/ has no tiles yet")
    # a snapshot, so both replays see the same bytes even if the samples are regenerated meanwhile
    source = tmp_path / "sample_tiles"
    shutil.copytree(sample_tiles, source)
    store = tmp_path / "store"
    first = _replay(repo_root, source, tmp_path / "runs" / "replay", store)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr, first.stderr
    last = first.stdout.strip().splitlines()[-1]
    report = Path(last)
    assert report.name == "report.html" and report.is_file(), first.stdout
    run = report.parent
    for name in ("tiles.json", "claims.json", "evidence.json", "run.json"):
        assert (run / name).is_file(), name
    meta1 = {s["name"]: s for s in json.loads((run / "run.json").read_text())["stages"]}
    assert meta1["ingest"]["counts"]["tiles"] > 0
    files1 = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}

    second = _replay(repo_root, source, tmp_path / "runs" / "again", store)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr, second.stderr
    run2 = Path(second.stdout.strip().splitlines()[-1]).parent
    meta2 = {s["name"]: s for s in json.loads((run2 / "run.json").read_text())["stages"]}
    cached = sum(meta2[n]["cached"] for n in ("change", "detect"))
    tasks = sum(meta2[n]["tasks"] for n in ("change", "detect"))
    assert tasks > 0 and cached == tasks, meta2
    files2 = {p.relative_to(run2).as_posix() for p in run2.rglob("*") if p.is_file()}
    assert files1 == files2


def test_replay_bad_source_fails_cleanly(repo_root: Path, tmp_path: Path) -> None:
    res = _replay(repo_root, tmp_path / "missing", tmp_path / "out", tmp_path / "store")
    assert res.returncode == 1
    assert "not found" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_replay_failing_stage_keeps_previous_run(
    repo_root: Path, tmp_path: Path, small_tiles: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "marker.txt").write_text("previous")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LABEL_STUDIO"))}
    cmd = [
        sys.executable,
        "-c",
        "from pipeline.cli import main; main()",
        "replay",
        str(small_tiles),
        "--out",
        str(out),
        "--store",
        str(tmp_path / "store"),
        "--param",
        "threshold=no-such-threshold",
    ]
    res = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 1, res.stdout
    assert "sitewatch replay failed" in res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert (out / "marker.txt").read_text() == "previous"
