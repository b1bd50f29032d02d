"""Scheduled watching: a real local Prefect server, ``sitewatch watch`` serving the deployment.

The test starts ``prefect server start`` (sqlite, its own PREFECT_HOME in tmp)
and ``sitewatch watch`` as subprocesses, triggers the deployment through the
API, checks the run's outputs, drops a new tile into the watched folder and
checks the next run picks it up (and reuses the cached work). Everything it
started is stopped by pid.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prefect server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy after {timeout_s} s")


@pytest.fixture()
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "server-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log = tmp_path / "server.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_healthy(api, proc, log)
        client_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        client_env.update(PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "client-home"))
        yield api, client_env
    finally:
        _stop(proc)


def _trigger(api: str, name: str, timeout_s: float = 300) -> Any:
    import prefect.settings as ps
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import temporary_settings

    with temporary_settings(updates={ps.PREFECT_API_URL: api}):
        deadline = time.monotonic() + 120
        with get_client(sync_client=True) as client:
            while True:
                try:
                    client.read_deployment_by_name(name)
                    break
                except Exception:  # noqa: BLE001 - ObjectNotFound until `serve` registered it
                    assert time.monotonic() < deadline, f"deployment {name} never appeared"
                    time.sleep(0.5)
        return run_deployment(name, timeout=timeout_s)


def test_watch_deployment_runs_and_picks_up_new_tiles(
    prefect_server: tuple[str, dict[str, str]],
    tmp_path: Path,
    tile_factory: Any,
    repo_root: Path,
) -> None:
    api, env = prefect_server
    src, out, store = tmp_path / "watched", tmp_path / "out", tmp_path / "store"
    tile_factory(src, n=2, seed=7)
    log = tmp_path / "watch.log"
    with log.open("w") as fh:
        watch = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from pipeline.cli import main; main()",
                "watch",
                "--sites",
                "tartus",
                "--source",
                str(src),
                "--out",
                str(out),
                "--store",
                str(store),
                "--cron",
                "0 6 * * *",
                "--name",
                "test-watch",
            ],
            cwd=repo_root,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        run1 = _trigger(api, "site-watch/test-watch")
        assert run1.state is not None and run1.state.is_completed(), log.read_text()[-3000:]
        tiles = json.loads((out / "tiles.json").read_text())["tiles"]
        assert len(tiles) == 2
        # a new acquisition lands in the watched folder: the next run picks it up
        tile_factory(tmp_path / "new", n=3, seed=7, start=datetime(2024, 12, 10, 8, 30, tzinfo=UTC))
        newest = sorted((tmp_path / "new").glob("*.tif"))[-1]
        newest.rename(src / newest.name)
        run2 = _trigger(api, "site-watch/test-watch")
        assert run2.state is not None and run2.state.is_completed(), log.read_text()[-3000:]
        tiles = json.loads((out / "tiles.json").read_text())["tiles"]
        assert len(tiles) == 3
        stages = {s["name"]: s for s in json.loads((out / "run.json").read_text())["stages"]}
        if stages["detect"]["status"] == "completed":
            assert stages["detect"]["tasks"] == 3 and stages["detect"]["cached"] == 2
        assert "Traceback" not in log.read_text()
    finally:
        _stop(watch)
