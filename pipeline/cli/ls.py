"""`sitewatch ls`: the Label Studio round trip (config, push, pull, webhook)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.errors import SitewatchError

ls_app = typer.Typer(
    help=(
        "Label Studio round trip: write labeling configs, push chips with model "
        "pre-annotations, pull analysts' corrections (GeoJSON/COCO/YOLO), serve a webhook. "
        "Server settings come from LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY / "
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT or .sitewatch/labelstudio.env."
    ),
    no_args_is_help=True,
)

EnvFile = Annotated[
    Path, typer.Option("--env-file", help="KEY=VALUE settings file; the environment wins.")
]
Project = Annotated[str, typer.Option("--project", help="Label Studio project title.")]
RunOpt = Annotated[
    Path | None, typer.Option("--run", help="Also write RUN/annotations/human.json.")
]
OutRoot = Annotated[Path, typer.Option("--out", help="Exports go to OUT/<UTC timestamp>/.")]
DEFAULT_ENV_FILE = Path(".sitewatch/labelstudio.env")
DEFAULT_PROJECT = "sitewatch detections"
DEFAULT_OUT = Path("annotations/exports")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


def _client(env_file: Path) -> Any:
    from pipeline.io.labelstudio import LabelStudioClient, load_settings

    return LabelStudioClient(load_settings(os.environ, env_file))


@ls_app.command("config")
def config_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the XML configs.")] = Path(
        "annotations"
    ),
) -> None:
    """Write the labeling configs generated from the object-type table (atomically)."""
    from pipeline.annotate.config import CONFIG_FILES
    from pipeline.io.atomic import write_text_atomic

    for name, make in CONFIG_FILES.items():
        path = write_text_atomic(out / name, make())
        typer.echo(str(path))


@ls_app.command("push")
def push_cmd(
    run: Annotated[
        Path, typer.Option("--run", help="Replay run folder (tiles.json, detections/).")
    ],
    project: Project = DEFAULT_PROJECT,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Tasks per import request.")
    ] = 50,
    env_file: EnvFile = DEFAULT_ENV_FILE,
) -> None:
    """Write chips for the run's detections and push them with pre-annotations (idempotent)."""
    from pipeline.annotate.roundtrip import (
        build_change_chips,
        build_detection_chips,
        push_change_tasks,
        push_tasks,
    )
    from pipeline.io.run_store import load_run

    try:
        data = load_run(run)
        chips_dir = run / "chips"
        tiles = list(data.tiles)
        items = build_detection_chips(tiles, list(data.model_detections), chips_dir)
        changes = build_change_chips(tiles, list(data.change_regions), chips_dir)
        client = _client(env_file)
        try:
            report = push_tasks(client, project, items, chips_dir=chips_dir, batch_size=batch_size)
            change_report = (
                push_change_tasks(
                    client, project, changes, chips_dir=chips_dir, batch_size=batch_size
                )
                if changes
                else None
            )
        finally:
            client.close()
    except SitewatchError as exc:
        _fail(exc)
        return
    summary: Mapping[str, Any] = {
        "project": report.project_title,
        "project_id": report.project_id,
        "created": len(report.created),
        "updated": len(report.updated),
        "unchanged": len(report.unchanged),
        "change_tasks_created": len(change_report.created) if change_report else 0,
        "change_tasks_unchanged": len(change_report.unchanged) if change_report else 0,
        "seconds": round(report.seconds + (change_report.seconds if change_report else 0.0), 2),
    }
    typer.echo(json.dumps(summary))


def _pull(env_file: Path, project: str, out: Path, run: Path | None) -> dict[str, Any]:
    from pipeline.annotate.roundtrip import pull_annotations
    from pipeline.io.atomic import write_json_atomic

    client = _client(env_file)
    try:
        report = pull_annotations(client, project, out)
    finally:
        client.close()
    if run is not None:
        write_json_atomic(
            run / "annotations" / "human.json", [d.to_dict() for d in report.detections]
        )
        write_json_atomic(
            run / "annotations" / "reviewed_chips.json", [c.to_dict() for c in report.reviewed]
        )
    return {
        "project": report.project_title,
        "out_dir": str(report.out_dir),
        "tasks": report.tasks,
        "annotations": report.annotations,
        "human_detections": len(report.detections),
        "change_verdicts": len(report.verdicts),
        "reviewed_chips": len(report.reviewed),
        "seconds": round(report.seconds, 2),
    }


@ls_app.command("pull")
def pull_cmd(
    project: Project = DEFAULT_PROJECT,
    out: OutRoot = DEFAULT_OUT,
    run: RunOpt = None,
    env_file: EnvFile = DEFAULT_ENV_FILE,
) -> None:
    """Export analysts' annotations (GeoJSON EPSG:4326, COCO, YOLO) with provenance."""
    try:
        summary = _pull(env_file, project, out, run)
    except SitewatchError as exc:
        _fail(exc)
        return
    typer.echo(json.dumps(summary))


@ls_app.command("webhook")
def webhook_cmd(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    project: Project = DEFAULT_PROJECT,
    out: OutRoot = DEFAULT_OUT,
    run: RunOpt = None,
    register_hook: Annotated[
        bool, typer.Option("--register/--no-register", help="Register with the project.")
    ] = True,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="URL to register (default http://HOST:PORT/)."),
    ] = None,
    env_file: EnvFile = DEFAULT_ENV_FILE,
) -> None:
    """Serve a webhook that pulls on ANNOTATION_CREATED/UPDATED events (Ctrl-C stops)."""
    from pipeline.annotate.webhook import WEBHOOK_ACTIONS, make_webhook_server

    def on_event(payload: Mapping[str, Any]) -> None:
        summary = _pull(env_file, project, out, run)
        typer.echo(json.dumps({"event": payload.get("action"), **summary}))

    try:
        server = make_webhook_server(host, port, on_event)
        url = public_url or f"http://{host}:{server.server_address[1]}/"
        if register_hook:
            client = _client(env_file)
            try:
                pid = client.find_project(project)
                if pid is None:
                    raise SitewatchError(f"no project titled {project!r}; push first")
                client.ensure_webhook(pid, url, WEBHOOK_ACTIONS)
            finally:
                client.close()
    except (SitewatchError, OSError) as exc:
        _fail(exc)
        return
    typer.echo(f"listening on {url}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add the ``ls`` sub-command group to the CLI."""
    app.add_typer(ls_app, name="ls")
