"""Entry-point plumbing: Prefect settings, the temporary server's lifecycle, running a replay.

Why the temporary server is managed here
----------------------------------------
With no ``PREFECT_API_URL``, Prefect starts a temporary API server in a
subprocess on first use and stops it from an ``atexit`` hook. Two things made
that server print tracebacks on stderr although the flow succeeded:

1. On a fresh database the server's telemetry heartbeat writes a row while the
   migrations still hold sqlite's write lock -> ``database is locked``. We turn
   server analytics off (:func:`pipeline.config.prefect_settings`).
2. At interpreter exit the client flushes its last task-run events to the
   server and the ``atexit`` hook then terminates the server at once, while its
   task-run recorder is still writing those events to sqlite -> ``CancelledError``
   and "Error flushing N events". :func:`prefect_runtime` therefore starts the
   server itself, and before stopping it drains the client's event and log
   workers and waits until the server has recorded every task run of this
   session in a final state (:func:`_wait_until_recorded`). Then the server has
   nothing in flight when it is terminated.

Starting the server ourselves also lets us pass its URL to Dask workers (as
``PREFECT_API_URL``), so tasks running there report to the same server instead
of each worker process starting its own temporary server on the same database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig, prefect_settings

QUIET_LOGGERS = ("prefect", "distributed", "docket", "httpx", "uvicorn")


def _console_handlers() -> list[logging.Handler]:
    """Prefect's console handlers (on the root and ``prefect*`` loggers)."""
    from prefect.logging.handlers import PrefectConsoleHandler  # importing prefect set them up

    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("prefect", "uvicorn"))]
    loggers += [
        logging.getLogger(n)
        for n in list(logging.root.manager.loggerDict)
        if n.startswith("prefect")
    ]
    out: list[logging.Handler] = []
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, PrefectConsoleHandler) and h not in out:
                out.append(h)
    return out


def _settings_updates(values: dict[str, str]) -> dict[Any, Any]:
    import prefect.settings as ps

    return {getattr(ps, name): value for name, value in values.items()}


def _wait_until_recorded(since: datetime, *, timeout_s: float = 15.0) -> bool:
    """Poll the API until every task run created since ``since`` is in a final state.

    Returns False on timeout (the caller still stops the server).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + timeout_s
    last = -1
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            recent = client.read_task_runs(sort=TaskRunSort.EXPECTED_START_TIME_DESC, limit=200)
            runs = [r for r in recent if r.created is None or r.created >= since]
            pending = [r for r in runs if r.state is None or not r.state.is_final()]
            if not pending and len(runs) == last:
                return True
            last = len(runs)
            time.sleep(0.25)
    return False


def drain_and_stop(server: Any, since: datetime) -> None:
    """Flush client events/logs, wait for the server to record them, stop the server."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)
        if not _wait_until_recorded(since):
            logging.getLogger(__name__).warning(
                "the temporary Prefect server was still recording task runs after 15 s"
            )
    finally:
        server.stop()


@contextmanager
def prefect_runtime(config: RunConfig) -> Iterator[str]:
    """Apply the run's Prefect settings and own the temporary API server's lifecycle.

    Yields the API URL. When ``PREFECT_API_URL`` is already set (a real server),
    that server is used and nothing is started or stopped. Log levels are set
    quiet unless ``config.verbose``.
    """
    import prefect.settings as ps
    from prefect.settings import temporary_settings

    level = logging.INFO if config.verbose else logging.WARNING
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API call otherwise
    consoles = _console_handlers()
    previous = [h.level for h in consoles]
    if not config.verbose:
        # quiet: stage outcomes reach the user through the CLI's own summary; a
        # failure is reported once, as a message, by the entry point
        for h in consoles:
            h.setLevel(logging.CRITICAL)
    values = prefect_settings(config)
    config.store_layout.root.mkdir(parents=True, exist_ok=True)
    with temporary_settings(updates=_settings_updates(values)):
        existing = ps.PREFECT_API_URL.value()
        if existing:
            yield str(existing)
            return
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        since = datetime.now(UTC)
        try:
            with temporary_settings(updates={ps.PREFECT_API_URL: server.api_url}):
                yield server.api_url
        finally:
            drain_and_stop(server, since)
            for h, lvl in zip(consoles, previous, strict=True):
                h.setLevel(lvl)


def run_site_watch(config: RunConfig) -> Any:
    """Run the ``site_watch`` flow under :func:`prefect_runtime`; returns its ``WatchResult``.

    Raises the flow's exception when it fails (the previous run folder is kept).
    """
    from flows.site_watch import site_watch

    with prefect_runtime(config):
        return site_watch(config)


def report_path(result: Any) -> Path:
    """``report.html`` of a finished run, or the run folder when the link stage was skipped."""
    return Path(result.report_html) if result.report_html else Path(result.run_dir)
