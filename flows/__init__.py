"""Prefect flows over the sitewatch library: thin wrappers, one task per step or side effect.

Public entry points (importing this package imports Prefect but reads no settings):

* :func:`flows.site_watch.site_watch` and the stage flows ``ingest_flow``,
  ``change_flow``, ``detect_flow``, ``annotate_flow``, ``link_flow``;
* :func:`flows.runtime.run_site_watch` (settings + temporary server lifecycle);
* :func:`flows.serve.serve_watch` (cron deployment, ``sitewatch watch``).
"""
