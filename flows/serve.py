"""Scheduled watching: one deployment of ``site_watch`` per watched site set, served by cron.

``sitewatch watch --sites khmeimim,tartus --source DIR --cron "0 6 * * *"`` calls
:func:`serve_watch`, which registers the deployment with the Prefect server at
``PREFECT_API_URL`` and serves it in this process (``prefect.serve``): each
scheduled (or manually triggered) run ingests ``DIR`` afresh, so a tile dropped
there is picked up by the next run, and cached work from earlier runs is reused.
"""

from __future__ import annotations

from typing import Any

from pipeline.config import RunConfig


def deployment_name(sites: tuple[str, ...]) -> str:
    """``watch-<site>-<site>...`` (``watch-all`` for every site)."""
    return "watch-" + ("-".join(sorted(sites)) if sites else "all")


def build_deployment(config: RunConfig, *, cron: str | None, name: str | None = None) -> Any:
    """The ``site_watch`` deployment for ``config`` with a cron schedule (UTC)."""
    from flows.site_watch import site_watch

    params = {"config": config.model_dump(mode="json")}
    return site_watch.to_deployment(
        name=name or deployment_name(config.sites),
        cron=cron,
        parameters=params,
        description=f"sitewatch: watch {', '.join(config.sites) or 'all sites'} in {config.source}",
        tags=["sitewatch", *config.sites],
    )


def serve_watch(config: RunConfig, *, cron: str | None, name: str | None = None) -> None:
    """Register and serve the deployment until interrupted (blocks)."""
    from prefect import serve

    serve(build_deployment(config, cron=cron, name=name), print_starting_message=True)
