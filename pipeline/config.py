"""Typed run configuration, read once at the entry point and passed down.

:class:`RunConfig` holds everything one sitewatch run needs: where the tiles and
the report come from, where the run folder goes, which change method and
detector to use, the Label Studio connection (from ``LABEL_STUDIO_URL`` and
``LABEL_STUDIO_API_KEY``), the result store that makes re-runs cheap, and an
optional Dask scheduler address.

The result store is configured here and nowhere else::

    <store>/.prefect-results/   Prefect task results (cache records, pickled values)
    <store>/artifacts/<stage>/<cache key>/   files a cached task wrote once
    <store>/.prefect/           PREFECT_HOME of the temporary (ephemeral) server

Importing this module reads nothing; :meth:`RunConfig.from_env` is called by the
CLI (or a test) with the environment it should read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import ConfigError

#: Environment variables read by :meth:`RunConfig.from_env`.
ENV_LS_URL = "LABEL_STUDIO_URL"
ENV_LS_KEY = "LABEL_STUDIO_API_KEY"
ENV_DASK = "SITEWATCH_DASK_ADDRESS"
ENV_STORE = "SITEWATCH_STORE"

#: Store location used when neither ``--store`` nor ``SITEWATCH_STORE`` is given:
#: a hidden folder beside the run folder, so every run written next to it shares it.
DEFAULT_STORE_NAME = ".sitewatch-store"

ParamValue = float | int | str | bool


class StoreLayout(BaseModel):
    """Folders of the result store under ``root`` (all on local disk)."""

    model_config = ConfigDict(frozen=True)

    root: Path

    @property
    def results(self) -> Path:
        """Prefect result storage (cache records and persisted task values)."""
        return self.root / ".prefect-results"

    @property
    def artifacts(self) -> Path:
        """Files written by cached tasks, one folder per cache key."""
        return self.root / "artifacts"

    @property
    def prefect_home(self) -> Path:
        """PREFECT_HOME of the temporary server (its sqlite database lives here)."""
        return self.root / ".prefect"


class RunConfig(BaseModel):
    """Everything one run needs, validated on creation.

    Parameters
    ----------
    source : Path
        Folder of GeoTIFF/COG tiles or a STAC catalog JSON.
    report : Path or None
        Report text (``.md``, ``.txt``, ``.html``) whose claims are linked; ``None``
        skips the link stage with a logged reason.
    out : Path
        Run folder; written whole on success, the previous one kept until then.
    store : Path or None
        Result store root (see module docstring); default ``<out.parent>/.sitewatch-store``.
    sites : tuple of str
        Site ids to process; empty means every site found in ``source``.
    change_method : str or None
        Name in ``pipeline.change.CHANGE_METHODS``; ``None`` takes the stage default.
    change_params : dict
        Extra keyword parameters of the change method (part of the cache key).
    change_model_path : Path or None
        Model file of the ``learned`` change method (``sitewatch train-change``);
        its SHA-256 is part of the change cache key.
    detector : str
        Detector name passed to ``pipeline.detect.detect_tile``.
    model_path : Path or None
        Model file for learned detectors.
    label_studio_url : str or None
        ``LABEL_STUDIO_URL`` when both it and ``LABEL_STUDIO_API_KEY`` are set; the
        key itself is never kept here (flow parameters are stored by Prefect) and
        is read by the annotate stage from the environment of the run.
    annotate : bool
        Set ``False`` to skip the Label Studio round trip even when configured.
    dask_address : str or None
        ``tcp://host:port`` of a Dask scheduler; ``None`` runs tasks in local threads.
    max_workers : int
        Threads of the local task runner.
    verbose : bool
        Show Prefect's own logs.
    """

    model_config = ConfigDict(frozen=True)

    source: Path
    report: Path | None = None
    out: Path = Path("runs/replay")
    store: Path | None = None
    sites: tuple[str, ...] = ()
    change_method: str | None = None
    change_params: dict[str, ParamValue] = Field(default_factory=dict)
    change_model_path: Path | None = None
    detector: str = "measure"
    model_path: Path | None = None
    label_studio_url: str | None = None
    annotate: bool = True
    dask_address: str | None = None
    max_workers: int = Field(default=2, ge=1, le=64)
    verbose: bool = False

    @field_validator("dask_address")
    @classmethod
    def _tcp(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ValueError(f"Dask address must look like tcp://host:port, got {v!r}")
        return v

    @property
    def store_layout(self) -> StoreLayout:
        """Folders of the result store (absolute)."""
        root = self.store if self.store is not None else self.out.parent / DEFAULT_STORE_NAME
        return StoreLayout(root=root.absolute())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **values: Any) -> RunConfig:
        """Build a config from keyword ``values`` plus environment variables.

        Explicit values win over the environment. Reads ``LABEL_STUDIO_URL``,
        ``LABEL_STUDIO_API_KEY``, ``SITEWATCH_DASK_ADDRESS``
        and ``SITEWATCH_STORE`` from ``env`` (default: ``os.environ``).

        Raises
        ------
        ConfigError
            A value is invalid, or only one of the two Label Studio variables is set.
        """
        env = os.environ if env is None else env
        merged = {k: v for k, v in values.items() if v is not None}
        url, key = env.get(ENV_LS_URL, "").strip(), env.get(ENV_LS_KEY, "").strip()
        if "label_studio_url" not in merged:
            if url and key:
                if not url.startswith(("http://", "https://")):
                    raise ConfigError(f"{ENV_LS_URL}={url!r} must start with http:// or https://")
                merged["label_studio_url"] = url.rstrip("/")
            elif url or key:
                missing = ENV_LS_KEY if url else ENV_LS_URL
                raise ConfigError(
                    f"Label Studio is half configured: set {missing} as well, or unset both "
                    f"{ENV_LS_URL} and {ENV_LS_KEY} to skip annotation"
                )
        if "dask_address" not in merged and env.get(ENV_DASK):
            merged["dask_address"] = env[ENV_DASK]
        if "store" not in merged and env.get(ENV_STORE):
            merged["store"] = Path(env[ENV_STORE])
        try:
            return cls(**merged)
        except ValidationError as exc:
            raise ConfigError(f"invalid run configuration: {exc}") from exc


def prefect_settings(config: RunConfig) -> dict[str, str]:
    """Prefect settings (by environment-variable name) for a run of ``config``.

    Applied by the entry point (``flows.runtime.prefect_runtime``), never on import:

    * ``PREFECT_HOME`` inside the store, so the temporary server's sqlite database
      belongs to this store and is not shared with other Prefect users/processes;
    * results persisted to ``<store>/.prefect-results`` (task caching across runs);
    * server telemetry off: its first heartbeat writes to the database while the
      migrations of a fresh database hold the lock ("database is locked"), and a
      machine without internet would log a failed request on every start;
    * 120 s (not 20 s) for the temporary server to start: migrating a fresh
      database on a busy 2-core machine took longer than 20 s.
    """
    layout = config.store_layout
    return {
        "PREFECT_HOME": str(layout.prefect_home),
        "PREFECT_LOCAL_STORAGE_PATH": str(layout.results),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "INFO" if config.verbose else "WARNING",
    }
