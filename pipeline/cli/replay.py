"""`sitewatch replay` and `sitewatch watch`: run the ``site_watch`` flow once, or on a schedule.

Both run the very same Prefect flow (:mod:`flows.site_watch`). Prefect is
imported only when a command runs, after its settings were applied.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.errors import ConfigError, SitewatchError

DEFAULT_SOURCE = Path("sample_tiles")
DEFAULT_OUT = Path("runs/replay")


def _method_names() -> list[str]:
    try:
        from pipeline.change import CHANGE_METHODS
    except ImportError:
        return []
    return sorted(CHANGE_METHODS)


def _check_method(method: str | None) -> str | None:
    names = _method_names()
    if method is not None and names and method not in names:
        raise typer.BadParameter(f"unknown change method {method!r}; choose one of {names}")
    return method


def _check_change_model(method: str | None, model: Path | None) -> None:
    """Fail before any flow starts when the learned method and its model file disagree."""
    from pipeline.change.methods import TRAINED_METHODS

    if method in TRAINED_METHODS and model is None:
        raise ConfigError(
            f"--method {method} needs --change-model FILE (train one with `sitewatch train-change`)"
        )
    if model is not None:
        if method not in TRAINED_METHODS:
            raise ConfigError(f"--change-model is used only with --method {TRAINED_METHODS[0]}")
        from pipeline.change.evaluate import load_change_model

        load_change_model(model)


def _parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--param must be KEY=VALUE, got {item!r}")
        value: Any = raw
        low = raw.lower()
        if low in ("true", "false"):
            value = low == "true"
        else:
            for conv in (int, float):
                try:
                    value = conv(raw)
                    break
                except ValueError:
                    continue
        out[key.strip()] = value
    return out


def _sites(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else ()


class _StageProgress(logging.Handler):
    """Draws one rich progress line per stage from ``sitewatch.progress`` records."""

    def __init__(self, progress: Any) -> None:
        super().__init__(level=logging.INFO)
        self.progress = progress
        self.rows: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        stage = getattr(record, "stage", None)
        event = getattr(record, "event", None)
        if stage is None:
            return
        if event == "start":
            self.rows[stage] = self.progress.add_task(f"{stage}", total=1)
        elif event == "end" and stage in self.rows:
            status = getattr(record, "status", "")
            detail = getattr(record, "detail", "")
            label = f"{stage}: {status}" + (
                f" ({detail})" if detail and status != "completed" else ""
            )
            self.progress.update(self.rows[stage], completed=1, description=label)


def replay(
    source: Annotated[
        Path, typer.Argument(help="Folder of GeoTIFF/COG tiles or a STAC catalog JSON.")
    ] = DEFAULT_SOURCE,
    report: Annotated[
        Path | None,
        typer.Option(help="Report text to link (default: <SOURCE>/report.md when present)."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Run folder (replaced whole on success).")
    ] = DEFAULT_OUT,
    method: Annotated[
        str | None, typer.Option(help="Change method (default: the change stage's default).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="Change parameter KEY=VALUE (repeatable), e.g. min_area_m2=20."),
    ] = None,
    change_model: Annotated[
        Path | None,
        typer.Option(help="Model file of --method learned (from `sitewatch train-change`)."),
    ] = None,
    sites: Annotated[str | None, typer.Option(help="Comma-separated site ids.")] = None,
    detector: Annotated[str, typer.Option(help="Detector name.")] = "measure",
    model_path: Annotated[
        Path | None, typer.Option("--model", help="Model file for the detector.")
    ] = None,
    dask_address: Annotated[
        str | None, typer.Option(help="Run tasks on this Dask scheduler (tcp://host:port).")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="Result store (cache) folder; default <out>/../.sitewatch-store."),
    ] = None,
    no_annotate: Annotated[bool, typer.Option("--no-annotate", help="Skip Label Studio.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Run the pipeline once (ingest, change, detect, annotate, link); print report.html."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    if report is None and (source / "report.md").is_file():
        report = source / "report.md"
    try:
        from pipeline.config import RunConfig

        config = RunConfig.from_env(
            source=source,
            report=report,
            out=out,
            store=store,
            sites=_sites(sites),
            change_method=_check_method(method),
            change_params=_parse_params(param or []),
            change_model_path=change_model.absolute() if change_model else None,
            detector=detector,
            model_path=model_path,
            dask_address=dask_address,
            annotate=not no_annotate,
            verbose=verbose,
        )
        if not source.exists():
            raise ConfigError(f"{source}: source folder or catalog not found")
        _check_change_model(method, change_model)
        if report is not None and not report.is_file():
            raise ConfigError(f"{report}: report file not found")
        from flows.runtime import report_path, run_site_watch

        progress_log = logging.getLogger("sitewatch.progress")
        progress_log.setLevel(logging.INFO)
        progress_log.propagate = False
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=not err.is_terminal and not verbose,
        ) as progress:
            handler = _StageProgress(progress)
            progress_log.addHandler(handler)
            try:
                result = run_site_watch(config)
            finally:
                progress_log.removeHandler(handler)
    except (SitewatchError, OSError) as exc:
        err.print(f"[red]sitewatch replay failed:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - the flow re-raises a task's exception
        err.print(
            f"[red]sitewatch replay failed:[/red] {type(exc).__name__}: {exc}", highlight=False
        )
        raise typer.Exit(1) from None
    for s in result.stages:
        line = f"{s.name:9s} {s.status:9s} tasks={s.tasks} cached={s.cached} {s.seconds:6.2f}s"
        err.print(line + (f"  ({s.reason})" if s.reason else ""), highlight=False)
    sys.stdout.write(f"{report_path(result)}\n")


def watch(
    sites: Annotated[str, typer.Option(help="Comma-separated site ids to watch.")],
    source: Annotated[Path, typer.Option(help="Folder or STAC catalog to watch.")],
    cron: Annotated[str, typer.Option(help="Cron schedule (UTC).")] = "0 6 * * *",
    report: Annotated[Path | None, typer.Option(help="Report text to link.")] = None,
    out: Annotated[Path, typer.Option(help="Run folder of each run.")] = Path("runs/watch"),
    store: Annotated[Path | None, typer.Option(help="Result store (cache) folder.")] = None,
    name: Annotated[str | None, typer.Option(help="Deployment name.")] = None,
) -> None:
    """Serve a cron-scheduled deployment of the pipeline for these sites (needs PREFECT_API_URL).

    Start a server first (``prefect server start``), export ``PREFECT_API_URL``
    (e.g. ``http://127.0.0.1:4200/api``), then run this command; it blocks and
    runs the flow at every cron tick or when triggered from the UI/API.
    """
    from pipeline.config import RunConfig, prefect_settings

    err_console = sys.stderr
    try:
        config = RunConfig.from_env(
            source=source.absolute(),
            report=report.absolute() if report else None,
            out=out.absolute(),
            store=store.absolute() if store else None,
            sites=_sites(sites),
        )
    except SitewatchError as exc:
        print(f"sitewatch watch: {exc}", file=err_console)
        raise typer.Exit(1) from None
    if not os.environ.get("PREFECT_API_URL"):
        print(
            "sitewatch watch: PREFECT_API_URL is not set. Start a server with "
            "`prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api",
            file=err_console,
        )
        raise typer.Exit(1)
    # Entry point: result storage of the served runs (child processes inherit it).
    for k, v in prefect_settings(config).items():
        if k != "PREFECT_HOME":
            os.environ[k] = v
    from flows.serve import serve_watch

    serve_watch(config, cron=cron, name=name)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add ``replay`` and ``watch`` to the CLI."""
    app.command("replay")(replay)
    app.command("watch")(watch)
