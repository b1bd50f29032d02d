"""Run functions of the Label Studio round trip: build chips from a run, push, pull.

These talk to the server through :class:`pipeline.io.labelstudio.LabelStudioClient`
and write files atomically; the conversions they use are the pure modules of
this package.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipeline.annotate import exports
from pipeline.annotate.chips import Chip, chip_window, make_chip, quicklook, write_chip
from pipeline.annotate.config import change_config, detection_config
from pipeline.annotate.lsjson import (
    ChangeTask,
    ChangeVerdict,
    ChipTask,
    HumanRegion,
    change_task,
    change_verdicts,
    detection_task,
    prediction,
    regions_from_annotation,
)
from pipeline.errors import ConfigError, LabelStudioError
from pipeline.io.atomic import atomic_dir, write_json_atomic
from pipeline.io.labelstudio import LabelStudioClient
from pipeline.io.rasters import read_array
from pipeline.model import ChangeRegion, Detection, Tile

DEFAULT_PROJECT = "sitewatch detections"


@dataclass(frozen=True)
class PushReport:
    """What one push did: tasks created, predictions replaced, tasks left as they were."""

    project_id: int
    project_title: str
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Chips handled (created + updated + unchanged)."""
        return len(self.created) + len(self.updated) + len(self.unchanged)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "project_id": self.project_id,
            "project_title": self.project_title,
            "created": list(self.created),
            "updated": list(self.updated),
            "unchanged": list(self.unchanged),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class PullReport:
    """What one pull found and where it wrote the exports."""

    project_title: str
    out_dir: Path | None
    tasks: int
    annotations: int
    detections: tuple[Detection, ...] = ()
    regions: tuple[HumanRegion, ...] = field(default=(), repr=False)
    verdicts: tuple[ChangeVerdict, ...] = ()
    reviewed: tuple[Chip, ...] = ()
    seconds: float = 0.0

    @property
    def reviewed_windows(self) -> list[tuple[str, tuple[int, int, int, int]]]:
        """``(tile_sha256, window)`` of reviewed chips, for ``prefer_human(reviewed=...)``."""
        return [(c.tile_sha256, c.window) for c in self.reviewed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (detections as ``Detection.to_dict``)."""
        return {
            "project_title": self.project_title,
            "out_dir": str(self.out_dir) if self.out_dir else None,
            "tasks": self.tasks,
            "annotations": self.annotations,
            "detections": [d.to_dict() for d in self.detections],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "reviewed_chips": [c.to_dict() for c in self.reviewed],
            "seconds": round(self.seconds, 3),
        }


def model_version_of(detections: Sequence[Detection]) -> str:
    """``detector@version`` of the detections (sorted, ``+``-joined when mixed)."""
    names = sorted({f"{d.detector}@{d.detector_version}" for d in detections})
    return "+".join(names) if names else "none"


def local_file_url(path: Path, document_root: Path) -> str:
    """Label Studio URL ``/data/local-files/?d=REL`` of a file under ``document_root``."""
    p, root = Path(path).resolve(), Path(document_root).resolve()
    try:
        rel = p.relative_to(root)
    except ValueError:
        raise ConfigError(
            f"{p} is not under the Label Studio document root {root}; set "
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT to a folder that contains the chips"
        ) from None
    return "/data/local-files/?d=" + quote(rel.as_posix(), safe="/")


# --------------------------------------------------------------------------- chips
def build_detection_chips(
    tiles: Sequence[Tile],
    detections: Sequence[Detection],
    chips_dir: Path,
    *,
    pad_px: int = 32,
    min_size: int = 128,
) -> list[ChipTask]:
    """Write one chip per detection (grouping detections inside it) and return the tasks.

    Each detection gets a window around its footprint; every detection of the
    same tile that lies fully inside that window is pre-annotated on it too.
    Chips whose window was already written for an earlier detection are
    reused, so re-running writes the same files.
    """
    by_id = {t.id: t for t in tiles}
    out: dict[str, ChipTask] = {}
    covered: set[str] = set()
    for det in detections:
        if det.id in covered:
            continue
        tile = by_id.get(det.tile_id)
        if tile is None:
            raise ConfigError(f"detection {det.id} refers to tile {det.tile_id} not in tiles.json")
        window = chip_window(det.footprint_px, tile.grid.shape, pad_px=pad_px, min_size=min_size)
        chip = make_chip(tile, window)
        r0, c0, h, w = window
        inside = tuple(
            d
            for d in detections
            if d.tile_id == tile.id
            and all(r0 <= r <= r0 + h and c0 <= c <= c0 + w for r, c in d.footprint_px)
        )
        covered.update(d.id for d in inside)
        if chip.id not in out:
            arr, valid = read_array(tile.path, window=window)
            write_chip(chips_dir, chip, quicklook(arr, valid))
            out[chip.id] = ChipTask(chip, inside)
    return list(out.values())


def _lonlat_ring_to_px(
    tile: Tile, ring: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    xs, ys = tile.grid.from_lonlat([p[0] for p in ring], [p[1] for p in ring])
    rows, cols = tile.grid.rowcol(xs, ys)
    return [(float(r), float(c)) for r, c in zip(rows, cols, strict=True)]


def build_change_chips(
    tiles: Sequence[Tile],
    regions: Sequence[ChangeRegion],
    chips_dir: Path,
    *,
    pad_px: int = 32,
    min_size: int = 128,
) -> list[ChangeTask]:
    """Write before/after chips around each change region and return the review tasks.

    The region's exterior ring (EPSG:4326) is located on each tile's own grid,
    so the two chips cover the same ground even when the tiles' grids differ.
    """
    by_id = {t.id: t for t in tiles}
    out: list[ChangeTask] = []
    for region in regions:
        before, after = by_id.get(region.before_tile_id), by_id.get(region.after_tile_id)
        if before is None or after is None:
            raise ConfigError(
                f"change region {region.id} refers to tiles {region.before_tile_id}, "
                f"{region.after_tile_id}; not all are in tiles.json"
            )
        chips = []
        after_ring: list[tuple[float, float]] = []
        for tile in (before, after):
            ring = _lonlat_ring_to_px(tile, region.polygon_lonlat[0])
            window = chip_window(ring, tile.grid.shape, pad_px=pad_px, min_size=min_size)
            chip = make_chip(tile, window, kind="change")
            arr, valid = read_array(tile.path, window=window)
            write_chip(chips_dir, chip, quicklook(arr, valid))
            chips.append(chip)
            after_ring = [(r - window[0], c - window[1]) for r, c in ring]
        out.append(ChangeTask(region, chips[0], chips[1], tuple(after_ring)))
    return out


# --------------------------------------------------------------------------- push
def push_tasks(
    client: LabelStudioClient,
    project_title: str,
    chips_with_predictions: Sequence[ChipTask],
    *,
    chips_dir: Path,
    batch_size: int = 50,
    label_config: str | None = None,
) -> PushReport:
    """Push detection chips with model pre-annotations; idempotent by chip id.

    Creates the project (detection-review config) when missing, ensures a
    local-files storage covering ``chips_dir``, imports new chips in batches of
    ``batch_size`` and, for chips already present whose prediction model
    version differs, replaces the predictions. Chips already present with the
    same model version are left alone.

    Raises
    ------
    LabelStudioError
        When a batch fails after retries; the message says how many chips were
        pushed and how many were not. Re-running pushes only the rest.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    t0 = time.perf_counter()
    root = client.settings.document_root
    if root is None:
        raise ConfigError(
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT is not set; push needs it to build chip URLs"
        )
    project_id = client.ensure_project(
        project_title,
        label_config or detection_config(),
        description="sitewatch: review model detections (boxes, classes, nose visor)",
    )
    client.ensure_local_storage(project_id, chips_dir)
    index = client.task_index(project_id)
    new: list[tuple[str, dict[str, Any]]] = []
    updated: list[str] = []
    unchanged: list[str] = []
    for item in chips_with_predictions:
        mv = model_version_of(item.detections)
        info = index.get(item.chip.id)
        if info is None:
            url = local_file_url(Path(chips_dir) / item.chip.png_name, root)
            new.append((item.chip.id, detection_task(item, image_url=url, model_version=mv)))
        elif item.detections and set(info.model_versions) != {mv}:
            client.replace_predictions(
                info.task_id,
                info.prediction_ids,
                prediction(item.chip, item.detections, model_version=mv),
            )
            updated.append(item.chip.id)
        else:
            unchanged.append(item.chip.id)
    created = _import_batches(client, project_id, project_title, new, batch_size)
    return PushReport(
        project_id=project_id,
        project_title=project_title,
        created=tuple(created),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        seconds=time.perf_counter() - t0,
    )


def push_change_tasks(
    client: LabelStudioClient,
    project_title: str,
    change_tasks: Sequence[ChangeTask],
    *,
    chips_dir: Path,
    batch_size: int = 50,
) -> PushReport:
    """Push change-review tasks to ``change_project_title(project_title)``; idempotent.

    Tasks are keyed by :attr:`ChangeTask.id` (both chip ids and the region id);
    ones already present are left alone.
    """
    t0 = time.perf_counter()
    root = client.settings.document_root
    if root is None:
        raise ConfigError(
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT is not set; push needs it to build chip URLs"
        )
    title = change_project_title(project_title)
    project_id = client.ensure_project(
        title, change_config(), description="sitewatch: is each change region a real change?"
    )
    client.ensure_local_storage(project_id, chips_dir)
    index = client.task_index(project_id)
    new: list[tuple[str, dict[str, Any]]] = []
    unchanged: list[str] = []
    for item in change_tasks:
        if item.id in index:
            unchanged.append(item.id)
            continue
        task = change_task(
            item,
            before_url=local_file_url(Path(chips_dir) / item.before.png_name, root),
            after_url=local_file_url(Path(chips_dir) / item.after.png_name, root),
            model_version=item.region.method,
        )
        new.append((item.id, task))
    created = _import_batches(client, project_id, title, new, batch_size)
    return PushReport(
        project_id=project_id,
        project_title=title,
        created=tuple(created),
        unchanged=tuple(unchanged),
        seconds=time.perf_counter() - t0,
    )


def _import_batches(
    client: LabelStudioClient,
    project_id: int,
    title: str,
    new: list[tuple[str, dict[str, Any]]],
    batch_size: int,
) -> list[str]:
    """Import ``(key, task)`` pairs in batches; a failed batch is re-checked before a retry."""
    done: list[str] = []
    for start in range(0, len(new), batch_size):
        batch = new[start : start + batch_size]
        for attempt in range(client.retries + 1):
            try:
                client.import_tasks(project_id, [t for _, t in batch])
                done.extend(k for k, _ in batch)
                break
            except LabelStudioError as exc:
                # The server may have committed the batch before failing: look first.
                try:
                    present = client.task_index(project_id)
                except LabelStudioError:
                    present = {}
                done.extend(k for k, _ in batch if k in present)
                batch = [(k, t) for k, t in batch if k not in present]
                if not batch:
                    break
                if attempt == client.retries or "HTTP 4" in str(exc):
                    rest = len(new) - len(done)
                    raise LabelStudioError(
                        f"push to project {title!r} stopped: {len(done)} of {len(new)} new "
                        f"chip(s) pushed, {rest} not pushed (first not pushed: {batch[0][0]}). "
                        f"Re-run the push to send the rest; pushed chips are skipped. "
                        f"Cause: {exc}"
                    ) from exc
                time.sleep(client.backoff_s * (2**attempt))
    return done


# --------------------------------------------------------------------------- pull
def collect_annotations(
    tasks: Sequence[dict[str, Any]], users: Mapping[str, str] | None = None
) -> tuple[list[HumanRegion], list[ChangeVerdict], int]:
    """Analyst regions and change verdicts from a full JSON export (cancelled ones skipped)."""
    regions: list[HumanRegion] = []
    verdicts: list[ChangeVerdict] = []
    n_ann = 0
    for task in tasks:
        kind = (task.get("data") or {}).get("kind", "detection")
        for ann in task.get("annotations") or []:
            if ann.get("was_cancelled"):
                continue
            n_ann += 1
            if kind == "change":
                verdicts.extend(change_verdicts(task, ann, users))
            elif "chip" in (task.get("data") or {}):
                regions.extend(regions_from_annotation(task, ann, users))
    return regions, verdicts, n_ann


def reviewed_chips(tasks: Sequence[dict[str, Any]]) -> list[Chip]:
    """Chips of detection tasks with at least one submitted (not cancelled) annotation."""
    out: dict[str, Chip] = {}
    for task in tasks:
        data = task.get("data") or {}
        if data.get("kind", "detection") != "detection" or "chip" not in data:
            continue
        if any(not a.get("was_cancelled") for a in task.get("annotations") or []):
            chip = Chip.from_dict(data["chip"])
            out[chip.id] = chip
    return list(out.values())


def utc_stamp(now: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` of ``now`` (default: the current UTC time)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def pull_annotations(
    client: LabelStudioClient,
    project_title: str,
    out_root: Path,
    *,
    now: datetime | None = None,
) -> PullReport:
    """Export analysts' annotations to ``out_root/<UTC timestamp>/`` and return them typed.

    Writes (atomically, via a temporary folder renamed into place)
    ``human.geojson`` (EPSG:4326), ``coco.json``, ``yolo/``, ``human.json``
    (``Detection.to_dict`` list, ``source="human"``), ``change_reviews.json``,
    ``reviewed_chips.json`` (chip sidecars with a submitted annotation) and
    ``export.json`` (the raw Label Studio export). Raises
    :class:`LabelStudioError` when the project does not exist.
    """
    t0 = time.perf_counter()
    project_id = client.find_project(project_title)
    if project_id is None:
        raise LabelStudioError(
            f"Label Studio project {project_title!r} does not exist at {client.settings.url}; "
            "push first (sitewatch ls push)"
        )
    tasks = client.export_json(project_id)
    change_id = client.find_project(change_project_title(project_title))
    if change_id is not None:
        tasks = tasks + client.export_json(change_id)
    regions, verdicts, n_ann = collect_annotations(tasks, client.user_names())
    reviewed = reviewed_chips(tasks)
    out_dir = Path(out_root) / utc_stamp(now)
    with atomic_dir(out_dir) as tmp:
        write_json_atomic(tmp / "human.geojson", exports.geojson(regions))
        write_json_atomic(tmp / "coco.json", exports.coco(regions))
        for rel, text in exports.yolo(regions).items():
            (tmp / "yolo" / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / "yolo" / rel).write_text(text, "utf-8")
        write_json_atomic(tmp / "human.json", [r.detection.to_dict() for r in regions])
        write_json_atomic(tmp / "change_reviews.json", [v.to_dict() for v in verdicts])
        write_json_atomic(tmp / "reviewed_chips.json", [c.to_dict() for c in reviewed])
        write_json_atomic(tmp / "export.json", tasks)
    return PullReport(
        project_title=project_title,
        out_dir=out_dir,
        tasks=len(tasks),
        annotations=n_ann,
        detections=tuple(r.detection for r in regions),
        regions=tuple(regions),
        verdicts=tuple(verdicts),
        reviewed=tuple(reviewed),
        seconds=time.perf_counter() - t0,
    )


def change_project_title(project_title: str) -> str:
    """Title of the change-review project paired with a detection project."""
    return f"{project_title} - changes"


def change_label_config() -> str:
    """Labeling config of the change-review project."""
    return change_config()
