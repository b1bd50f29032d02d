"""Prefect tasks: one per logical step or side effect, each a thin call into ``pipeline``.

* Retries (with backoff) only where I/O can fail transiently: reading tiles,
  talking to Label Studio. :func:`retry_on_io` stops retries for anything that
  is not an ``OSError``/``LabelStudioError`` (a bad parameter will not get
  better by trying again).
* Caching only on the expensive pure steps (change per pair, detection per
  tile), keyed by tile SHA-256 + method parameters + code version; see
  :mod:`flows.artifacts` for how a cache hit still reproduces the files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.artifacts import (
    ArtifactBundle,
    artifact_cache_key,
    artifact_folder,
    cache_key,
    list_files,
    mark_complete,
    publish,
)
from flows.stages import stage_version
from pipeline.errors import LabelStudioError
from pipeline.io.atomic import atomic_dir, write_json_atomic
from pipeline.model import Detection, ObjectChange, Tile

IO_RETRIES = 2
IO_BACKOFF_S = [1.0, 4.0]


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only on I/O errors."""
    try:
        state.result()
    except (OSError, LabelStudioError, TimeoutError, ConnectionError):
        return True
    except Exception:  # noqa: BLE001 - anything else is not transient
        return False
    return False


# --------------------------------------------------------------------------- ingest
@task(
    name="ingest",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_BACKOFF_S,
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def ingest_task(source: Path, sites: tuple[str, ...] = ()) -> Any:
    """Validate every tile under ``source``; keep only ``sites`` when given."""
    from pipeline.ingest import ingest

    report = ingest(source)
    if sites:
        from dataclasses import replace

        wanted = set(sites)
        report = replace(report, tiles=tuple(t for t in report.tiles if t.site_id in wanted))
    return report


@task(name="write-tiles", cache_policy=NO_CACHE, persist_result=False)
def write_tiles_task(report: Any, path: Path) -> Path:
    """Write the ingest report as ``tiles.json`` (atomically, the ingest stage's own writer)."""
    from pipeline.ingest.store import write_report

    return Path(write_report(report, path))


# --------------------------------------------------------------------------- change
def _change_params_dict(method: str | None, params: Mapping[str, Any]) -> dict[str, Any]:
    d = dict(params)
    if method:
        d["method"] = method
    return d


def _file_sha256(path: Path | str | None) -> str | None:
    if not path:
        return None
    from pipeline.io.atomic import sha256_file

    return sha256_file(path)


def change_key(parameters: Mapping[str, Any]) -> str:
    """Content key of one change pair: tiles' and model's SHA-256 + parameters + code version."""
    b, a = parameters["before"], parameters["after"]
    return cache_key(
        "change",
        stage_version("change", "pipeline.change"),
        b.sha256,
        a.sha256,
        _change_params_dict(parameters.get("method"), parameters.get("params") or {}),
        _file_sha256(parameters.get("model_path")),
    )


@task(
    name="change-pair",
    cache_key_fn=artifact_cache_key("change", change_key),
    persist_result=True,
    retries=IO_RETRIES,
    retry_delay_seconds=IO_BACKOFF_S,
    retry_condition_fn=retry_on_io,
    task_run_name="change-{before.id}__{after.id}",
)
def change_pair_task(
    before: Tile,
    after: Tile,
    *,
    method: str | None,
    params: Mapping[str, Any],
    artifacts_root: Path,
    model_path: Path | None = None,
) -> ArtifactBundle:
    """Compare two consecutive tiles of one site; files go to the artifact folder.

    ``model_path`` is the model file of the ``learned`` method.
    """
    from pipeline.change import ChangeParams
    from pipeline.change.evaluate import load_change_model
    from pipeline.change.run import compare_tiles

    cp = ChangeParams.from_dict(_change_params_dict(method, params))
    model = load_change_model(model_path) if model_path else None
    key = change_key(
        {
            "before": before,
            "after": after,
            "method": method,
            "params": params,
            "model_path": model_path,
        }
    )
    folder = artifact_folder(artifacts_root, "change", key)
    with atomic_dir(folder) as tmp:
        regions = compare_tiles(before, after, tmp, params=cp, model=model).regions
        mark_complete(tmp, {"before": before.id, "after": after.id, "params": cp.to_dict()})
    return ArtifactBundle(
        stage="change",
        key=key,
        folder=folder,
        files=list_files(folder),
        value=regions,
        meta={"site_id": before.site_id, "before": before.id, "after": after.id},
    )


@task(name="publish", cache_policy=NO_CACHE, persist_result=False)
def publish_task(bundle: ArtifactBundle, dest: Path) -> list[Path]:
    """Copy a (possibly cached) task's files into the run folder."""
    return publish(bundle, dest)


# --------------------------------------------------------------------------- detect
def detect_key(parameters: Mapping[str, Any]) -> str:
    """Content key of one tile's detections: tile SHA-256 + detector + model + code version."""
    return cache_key(
        "detect",
        stage_version("detect", "pipeline.detect"),
        parameters["tile"].sha256,
        parameters.get("detector"),
        _file_sha256(parameters.get("model_path")),
    )


@task(
    name="detect-tile",
    cache_key_fn=artifact_cache_key("detect", detect_key),
    persist_result=True,
    retries=IO_RETRIES,
    retry_delay_seconds=IO_BACKOFF_S,
    retry_condition_fn=retry_on_io,
    task_run_name="detect-{tile.id}",
)
def detect_tile_task(
    tile: Tile,
    *,
    detector: str,
    model_path: Path | None,
    artifacts_root: Path,
) -> ArtifactBundle:
    """Find and measure objects on one tile; ``<tile_id>.json`` (+ vectors) as artifacts."""
    from pipeline.detect.run import detect_tile

    key = detect_key({"tile": tile, "detector": detector, "model_path": model_path})
    folder = artifact_folder(artifacts_root, "detect", key)
    with atomic_dir(folder) as tmp:
        dets = tuple(detect_tile(tile, tmp, detector=detector, model_path=model_path))
        mark_complete(tmp, {"tile": tile.id, "detector": detector})
    return ArtifactBundle(
        stage="detect",
        key=key,
        folder=folder,
        files=list_files(folder),
        value=dets,
        meta={"tile_id": tile.id, "site_id": tile.site_id},
    )


@task(name="object-changes", cache_policy=NO_CACHE, persist_result=False)
def object_changes_task(
    before: Sequence[Detection],
    after: Sequence[Detection],
    *,
    before_tile: Tile,
    after_tile: Tile,
    out_dir: Path,
) -> list[ObjectChange]:
    """Match detections of two consecutive tiles; write ``<before>__<after>.json`` (+ .geojson)."""
    from pipeline.detect.match import match_detections
    from pipeline.detect.run import write_object_changes

    changes = list(
        match_detections(
            list(before),
            list(after),
            before_tile=before_tile,
            after_tile=after_tile,
            site_id=before_tile.site_id,
        )
    )
    write_object_changes(
        changes, out_dir / before_tile.site_id / f"{before_tile.id}__{after_tile.id}"
    )
    return changes


# --------------------------------------------------------------------------- annotate
@task(
    name="label-studio-push",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_BACKOFF_S,
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def annotate_push_task(
    tiles: Sequence[Tile],
    detections: Sequence[Detection],
    *,
    settings: Any,
    chips_dir: Path,
    run_chips_dir: Path,
    project_title: str,
) -> dict[str, Any]:
    """Write chips for the model detections and push them (with predictions) to Label Studio."""
    from pipeline.annotate.roundtrip import build_detection_chips, push_tasks
    from pipeline.io.labelstudio import LabelStudioClient

    chips = build_detection_chips(list(tiles), list(detections), chips_dir)
    client = LabelStudioClient(settings)
    report = push_tasks(client, project_title, chips, chips_dir=chips_dir)
    if chips_dir != run_chips_dir:
        shutil.copytree(chips_dir, run_chips_dir, dirs_exist_ok=True)
    return dict(report.to_dict())


@task(
    name="label-studio-pull",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_BACKOFF_S,
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def annotate_pull_task(
    *, settings: Any, project_title: str, exports_root: Path, out_path: Path
) -> tuple[list[Detection], list[tuple[str, tuple[int, int, int, int]]]]:
    """Pull analysts' labels; write ``annotations/human.json``.

    Returns the human detections and the ``(tile_sha256, window)`` of every chip
    an analyst reviewed (for ``prefer_human(reviewed=...)``). A project that was
    never pushed has no labels yet: both are empty.
    """
    from pipeline.annotate.roundtrip import pull_annotations
    from pipeline.io.labelstudio import LabelStudioClient

    client = LabelStudioClient(settings)
    try:
        report = pull_annotations(client, project_title, exports_root)
    except LabelStudioError as exc:
        if "does not exist" not in str(exc):
            raise
        write_json_atomic(out_path, [])
        return [], []
    human = list(report.detections)
    write_json_atomic(out_path, [d.to_dict() for d in human])
    return human, list(getattr(report, "reviewed_windows", []))


# --------------------------------------------------------------------------- link
@task(name="extract-claims", cache_policy=NO_CACHE, persist_result=False)
def extract_claims_task(report_path: Path, out_path: Path) -> tuple[str, list[Any]]:
    """Claims from the report text; writes ``claims.json``; returns (document text, claims)."""
    from pipeline.claims.run import claims_from_file
    from pipeline.io.run_store import write_claims

    doc, claims = claims_from_file(report_path)
    write_claims(out_path, claims)
    return str(doc.text), list(claims)


@task(name="link-claims", cache_policy=NO_CACHE, persist_result=False)
def link_claims_task(
    claims: Sequence[Any], run_dir: Path, report_path: Path, *, tolerance_days: int = 1
) -> tuple[list[Any], str]:
    """Link claims to the run's evidence; write ``evidence.json``; return (links, timestamp)."""
    from datetime import UTC, datetime

    from pipeline.claims import link_claims
    from pipeline.claims.ledger import build_ledger
    from pipeline.io.run_store import load_run, write_evidence

    run = load_run(run_dir)
    links = list(link_claims(list(claims), run, tolerance_days=tolerance_days))
    ledger = build_ledger(
        list(claims),
        links,
        generated_at=datetime.now(UTC),
        extra={"document": Path(report_path).name, "tolerance_days": tolerance_days},
    )
    write_evidence(run_dir / "evidence.json", ledger)
    return links, str(ledger["generated_at"])


@task(name="render-report", cache_policy=NO_CACHE, persist_result=False)
def render_report_task(
    claims: Sequence[Any],
    links: Sequence[Any],
    run_dir: Path,
    *,
    document_text: str | None,
    generated_at: str,
    title: str,
) -> Path:
    """Render the self-contained ``report.html`` of the run folder."""
    from pipeline import PIPELINE_VERSION
    from pipeline.io.atomic import write_text_atomic
    from pipeline.io.run_store import load_run
    from pipeline.report.build import render_run_report

    page = render_run_report(
        list(claims),
        list(links),
        load_run(run_dir),
        document_text=document_text,
        generated_at=generated_at,
        pipeline_version=PIPELINE_VERSION,
        title=title,
    )
    return write_text_atomic(run_dir / "report.html", page)


def read_json(path: Path) -> Any:
    """Read a JSON file written earlier in the run."""
    return json.loads(Path(path).read_text("utf-8"))
