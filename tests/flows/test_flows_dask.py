"""Scale-out: the same flows on Dask (LocalCluster, and real scheduler + worker processes)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import RunConfig

pytestmark = [pytest.mark.dask, pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture()
def runtime(prefect_api: str) -> str:
    return prefect_api


@pytest.fixture()
def store(flow_store: Path) -> Path:
    return flow_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_local_cluster_runs_tasks_on_its_workers(
    runtime: str, small_tiles: Path, store: Path, tmp_path: Path
) -> None:
    from distributed import LocalCluster

    from flows.probe import probe_flow
    from flows.site_watch import site_watch

    with LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        workers = set(cluster.scheduler_info["workers"])
        where = probe_flow(6, dask_address=cluster.scheduler_address, busy_s=0.2)
        addresses = {a for a, _ in where}
        pids = {p for _, p in where}
        assert addresses <= workers and len(addresses) == 2, where
        assert os.getpid() not in pids
        cfg = RunConfig.from_env(
            {},
            source=small_tiles,
            store=store,
            out=tmp_path / "run",
            dask_address=cluster.scheduler_address,
        )
        res = site_watch(cfg)
    assert res.stage("ingest").counts["tiles"] == 3
    if res.stage("detect").status == "completed":
        assert len(list((tmp_path / "run" / "detections").glob("*.json"))) == 3
    if res.stage("change").status == "completed":
        assert len(list((tmp_path / "run" / "changes" / "tartus").iterdir())) == 2


def test_dask_scheduler_and_worker_processes(runtime: str, tmp_path: Path) -> None:
    from flows.probe import probe_flow

    dask = shutil.which("dask", path=str(Path(sys.executable).parent))
    assert dask, "the dask CLI is installed with dask[distributed]"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    log = (tmp_path / "scheduler.log").open("w")
    sched = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    workers = [
        subprocess.Popen(
            [
                dask,
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        with Client(address, timeout=60) as client:
            while len(client.scheduler_info()["workers"]) < 2:
                assert time.monotonic() < deadline, "dask workers did not register"
                time.sleep(0.2)
            worker_pids = set(client.run(os.getpid).values())
        where = probe_flow(6, dask_address=address, busy_s=0.2)
        pids = {p for _, p in where}
        assert pids <= worker_pids and len(pids) == 2, (where, worker_pids)
        assert pids <= {w.pid for w in workers}
    finally:
        for proc in [*workers, sched]:
            proc.terminate()
        for proc in [*workers, sched]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
