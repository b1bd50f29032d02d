"""A diagnostic flow that reports where its tasks ran (Dask worker address, process id).

Used by the scale-out tests and the flow benchmark to show that tasks really
run on the cluster's workers: ``sitewatch`` itself never needs it.
"""

from __future__ import annotations

import os
import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.site_watch import task_runner_for


@task(name="where", cache_policy=NO_CACHE, persist_result=False)
def where_task(i: int, busy_s: float = 0.0) -> tuple[str, int]:
    """``(dask worker address or "local", pid)``; optionally busy-waits ``busy_s`` seconds."""
    end = time.perf_counter() + busy_s
    while time.perf_counter() < end:
        pass
    try:
        from distributed import get_worker

        address = str(get_worker().address)
    except ValueError:
        address = "local"
    return address, os.getpid()


@flow(name="where", persist_result=False)
def _where_flow(n: int, busy_s: float) -> list[tuple[str, int]]:
    futures = [where_task.submit(i, busy_s) for i in range(n)]
    return [f.result() for f in futures]


def probe_flow(n: int, *, dask_address: str | None, busy_s: float = 0.0) -> list[tuple[str, int]]:
    """Run ``n`` probe tasks on the runner ``site_watch`` would use; their locations."""
    runner = task_runner_for(dask_address, max_workers=2)
    return list(_where_flow.with_options(task_runner=runner)(n, busy_s))
