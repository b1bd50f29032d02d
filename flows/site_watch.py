"""The sitewatch flows: ingest, change, detect, annotate, link, and ``site_watch`` composing them.

Each flow body is a list of steps; every step is a task in :mod:`flows.tasks`
calling the library. A stage whose inputs are absent (no report, no Label
Studio configured, annotation turned off) is reported as ``skipped`` with the
reason, logged, and the run goes on.

Progress: every stage start/end is logged on the ``sitewatch.progress`` logger
with ``extra={"stage": ..., "event": "start"|"end", "status": ...}``; the CLI
listens there to draw its per-stage progress.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture, wait
from prefect.task_runners import ThreadPoolTaskRunner

import pipeline
from flows import tasks as T
from flows.artifacts import needs_refresh
from pipeline.config import RunConfig
from pipeline.io.atomic import atomic_dir, write_json_atomic
from pipeline.model import Detection, Tile

PROGRESS_LOGGER = "sitewatch.progress"
Status = Literal["completed", "skipped", "failed"]


@dataclass(frozen=True)
class StageReport:
    """Outcome of one stage: status, why (when skipped), task and cache-hit counts, seconds."""

    name: str
    status: Status
    reason: str = ""
    tasks: int = 0
    cached: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "tasks": self.tasks,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class WatchResult:
    """What ``site_watch`` returns: the published run folder and every stage's report."""

    run_dir: Path
    stages: tuple[StageReport, ...]
    report_html: Path | None

    def stage(self, name: str) -> StageReport:
        """The report of stage ``name``."""
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)


# --------------------------------------------------------------------------- helpers
def _progress(stage: str, event: str, status: str = "", detail: str = "") -> None:
    logging.getLogger(PROGRESS_LOGGER).info(
        "%s %s %s %s",
        stage,
        event,
        status,
        detail,
        extra={"stage": stage, "event": event, "status": status, "detail": detail},
    )


def _skip(name: str, reason: str) -> StageReport:
    get_run_logger().warning("stage %s SKIPPED: %s", name, reason)
    return StageReport(name=name, status="skipped", reason=reason)


def _wait_all(futures: Sequence[PrefectFuture[Any]]) -> tuple[list[Any], int]:
    """Results of ``futures`` (raising the first failure) and how many were cache hits."""
    wait(list(futures))
    cached = sum(1 for f in futures if f.state.name == "Cached")
    return [f.result() for f in futures], cached


def task_runner_for(dask_address: str | None, max_workers: int) -> Any:
    """A Dask runner against ``dask_address`` when given, else a local thread pool."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ThreadPoolTaskRunner(max_workers=max_workers)


def _with_runner(f: Any, config: RunConfig) -> Any:
    return f.with_options(task_runner=task_runner_for(config.dask_address, config.max_workers))


def _pairs(tiles: Iterable[Tile]) -> list[tuple[Tile, Tile]]:
    by_site: dict[str, list[Tile]] = defaultdict(list)
    for t in sorted(tiles, key=lambda t: (t.site_id, t.acquired, t.id)):
        by_site[t.site_id].append(t)
    return [
        (a, b)
        for site in sorted(by_site)
        for a, b in zip(by_site[site], by_site[site][1:], strict=False)
        if a.acquired < b.acquired
    ]


# --------------------------------------------------------------------------- stage flows
@flow(name="ingest", persist_result=False, log_prints=False)
def ingest_flow(
    source: Path, run_dir: Path, sites: tuple[str, ...] = ()
) -> tuple[Any, StageReport]:
    """Validate the tiles under ``source``; write ``tiles.json``."""
    t0 = time.perf_counter()
    report: Any = T.ingest_task(source, sites)
    T.write_tiles_task(report, run_dir / "tiles.json")
    for r in report.rejected:
        get_run_logger().warning("rejected %s: %s", r.path, r.reason)
    return report, StageReport(
        name="ingest",
        status="completed",
        tasks=2,
        seconds=time.perf_counter() - t0,
        counts={"tiles": len(report.tiles), "rejected": len(report.rejected)},
    )


@flow(name="change", persist_result=False)
def change_flow(
    tiles: list[Tile],
    run_dir: Path,
    artifacts_root: Path,
    method: str | None = None,
    params: dict[str, Any] | None = None,
    model_path: Path | None = None,
) -> tuple[dict[tuple[str, str], Any], StageReport]:
    """Change between each consecutive date pair of each site; ``changes/<site>/<b>__<a>/``.

    ``model_path`` is the model file of the ``learned`` method.
    """
    t0 = time.perf_counter()
    pairs = _pairs(tiles)
    futures = []
    for b, a in pairs:
        args = {
            "before": b,
            "after": a,
            "method": method,
            "params": params or {},
            "model_path": model_path,
        }
        fresh = needs_refresh(artifacts_root, "change", T.change_key(args))
        futures.append(
            T.change_pair_task.with_options(refresh_cache=fresh).submit(
                b,
                a,
                method=method,
                params=params or {},
                artifacts_root=artifacts_root,
                model_path=model_path,
            )
        )
    bundles, cached = _wait_all(futures)
    published = [
        T.publish_task.submit(bd, run_dir / "changes" / b.site_id / f"{b.id}__{a.id}")
        for bd, (b, a) in zip(bundles, pairs, strict=True)
    ]
    wait(published)
    for p in published:
        p.result()
    regions = {(b.id, a.id): bd.value for bd, (b, a) in zip(bundles, pairs, strict=True)}
    return regions, StageReport(
        name="change",
        status="completed",
        tasks=len(futures),
        cached=cached,
        seconds=time.perf_counter() - t0,
        counts={"pairs": len(pairs), "regions": sum(len(v) for v in regions.values())},
    )


@flow(name="detect", persist_result=False)
def detect_flow(
    tiles: list[Tile],
    run_dir: Path,
    artifacts_root: Path,
    detector: str = "measure",
    model_path: Path | None = None,
) -> tuple[dict[str, list[Detection]], StageReport]:
    """Detections per tile (``detections/``), then object changes per consecutive pair."""
    t0 = time.perf_counter()
    futures = []
    for t in tiles:
        args = {"tile": t, "detector": detector, "model_path": model_path}
        fresh = needs_refresh(artifacts_root, "detect", T.detect_key(args))
        futures.append(
            T.detect_tile_task.with_options(refresh_cache=fresh).submit(
                t, detector=detector, model_path=model_path, artifacts_root=artifacts_root
            )
        )
    bundles, cached = _wait_all(futures)
    published = [T.publish_task.submit(bd, run_dir / "detections") for bd in bundles]
    wait(published)
    for p in published:
        p.result()
    dets = {t.id: list(bd.value) for t, bd in zip(tiles, bundles, strict=True)}
    n_changes = object_changes(tiles, dets, run_dir)
    return dets, StageReport(
        name="detect",
        status="completed",
        tasks=len(futures),
        cached=cached,
        seconds=time.perf_counter() - t0,
        counts={
            "tiles": len(tiles),
            "detections": sum(len(v) for v in dets.values()),
            "object_changes": n_changes,
        },
    )


def object_changes(tiles: list[Tile], dets: dict[str, list[Detection]], run_dir: Path) -> int:
    """Submit the object-change task for each consecutive pair (inside a flow); total changes."""
    futures = [
        T.object_changes_task.submit(
            dets.get(b.id, []),
            dets.get(a.id, []),
            before_tile=b,
            after_tile=a,
            out_dir=run_dir / "object_changes",
        )
        for b, a in _pairs(tiles)
    ]
    results, _ = _wait_all(futures)
    return sum(len(r) for r in results)


@flow(name="annotate", persist_result=False)
def annotate_flow(
    tiles: list[Tile],
    detections: dict[str, list[Detection]],
    run_dir: Path,
    store_root: Path,
    enabled: bool = True,
) -> tuple[tuple[list[Detection], list[Any]], StageReport]:
    """Push chips + predictions to Label Studio and pull analysts' labels back.

    Configured by ``LABEL_STUDIO_URL`` + ``LABEL_STUDIO_API_KEY`` in the run's
    environment (the key is never a flow parameter); skipped otherwise.
    """
    t0 = time.perf_counter()
    if not enabled:
        return ([], []), _skip("annotate", "annotation disabled for this run")
    if not (os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY")):
        return ([], []), _skip(
            "annotate",
            "Label Studio not configured (set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY)",
        )
    from pipeline.annotate.roundtrip import DEFAULT_PROJECT
    from pipeline.io.labelstudio import load_settings

    settings = load_settings()
    title = os.environ.get("SITEWATCH_LS_PROJECT", DEFAULT_PROJECT)
    chips_dir = (
        settings.document_root / "sitewatch-chips"
        if settings.document_root
        else store_root / "chips"
    )
    all_dets = [d for v in detections.values() for d in v]
    push = T.annotate_push_task(
        tiles,
        all_dets,
        settings=settings,
        chips_dir=chips_dir,
        run_chips_dir=run_dir / "chips",
        project_title=title,
    )
    human, reviewed = T.annotate_pull_task(
        settings=settings,
        project_title=title,
        exports_root=store_root / "label-studio-exports",
        out_path=run_dir / "annotations" / "human.json",
    )
    return (human, reviewed), StageReport(
        name="annotate",
        status="completed",
        tasks=2,
        seconds=time.perf_counter() - t0,
        counts={
            "pushed": int(len(push.get("created", ())) + len(push.get("updated", ()))),
            "human": len(human),
        },
    )


@flow(name="link", persist_result=False)
def link_flow(run_dir: Path, report_path: Path | None) -> tuple[list[Any], StageReport]:
    """Claims from the report -> evidence ledger -> ``report.html``."""
    t0 = time.perf_counter()
    if report_path is None:
        return [], _skip("link", "no report given (--report)")
    text, claims = T.extract_claims_task(report_path, run_dir / "claims.json")
    links, generated_at = T.link_claims_task(claims, run_dir, report_path)
    T.render_report_task(
        claims,
        links,
        run_dir,
        document_text=text,
        generated_at=generated_at,
        title=f"sitewatch: {report_path.name}",
    )
    verdicts: dict[str, int] = defaultdict(int)
    for ln in links:
        verdicts[str(ln.verdict)] += 1
    return list(links), StageReport(
        name="link",
        status="completed",
        tasks=3,
        seconds=time.perf_counter() - t0,
        counts={"claims": len(claims), **verdicts},
    )


# --------------------------------------------------------------------------- top level
def _verdict_rows(links: Sequence[Any], report: Path | None, html: Path | None) -> list[dict]:
    rows = []
    for ln in links:
        d = ln.to_dict() if hasattr(ln, "to_dict") else dict(ln)
        rows.append(
            {
                "claim": str(d.get("claim_id", d.get("claim", ""))),
                "verdict": str(d.get("verdict", "")),
                "evidence": len(d.get("evidence", d.get("items", [])) or []),
                "rationale": str(d.get("rationale", ""))[:200],
                "report": str(report) if report else "",
                "html": str(html) if html else "",
            }
        )
    return rows


def _summary_markdown(config: RunConfig, stages: Sequence[StageReport], run_dir: Path) -> str:
    lines = [
        f"# sitewatch run `{run_dir.name}`",
        "",
        f"- source: `{config.source}`",
        f"- report: `{config.report}`",
        f"- run folder: `{run_dir}`",
        f"- pipeline: {pipeline.PIPELINE_VERSION}",
        "",
        "| stage | status | tasks | cache hits | seconds | counts / reason |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for s in stages:
        extra = s.reason or ", ".join(f"{k}={v}" for k, v in s.counts.items())
        lines.append(
            f"| {s.name} | {s.status} | {s.tasks} | {s.cached} | {s.seconds:.2f} | {extra} |"
        )
    return "\n".join(lines) + "\n"


def _stage(name: str, fn: Callable[[], tuple[Any, StageReport]]) -> tuple[Any, StageReport]:
    _progress(name, "start")
    try:
        value, rep = fn()
    except Exception as exc:
        _progress(name, "end", "failed", str(exc))
        raise
    _progress(name, "end", rep.status, rep.reason)
    return value, rep


@flow(name="site-watch", persist_result=False)
def site_watch(config: RunConfig) -> WatchResult:
    """Run every stage for the configured sites and publish the run folder atomically.

    Outputs are written into a temporary folder beside ``config.out`` and
    renamed onto it only when every stage finished, so a failed run leaves the
    previous run folder untouched and no half-written outputs.
    """
    started = datetime.now(UTC)
    layout = config.store_layout
    out = config.out.absolute()
    stages: list[StageReport] = []
    with atomic_dir(out) as run_dir:
        report, rep = _stage(
            "ingest",
            lambda: _with_runner(ingest_flow, config)(config.source, run_dir, config.sites),
        )
        stages.append(rep)
        tiles = list(report.tiles) if report is not None else []
        _, rep = _stage(
            "change",
            lambda: _with_runner(change_flow, config)(
                tiles,
                run_dir,
                layout.artifacts,
                config.change_method,
                dict(config.change_params),
                config.change_model_path,
            ),
        )
        stages.append(rep)
        dets, rep = _stage(
            "detect",
            lambda: _with_runner(detect_flow, config)(
                tiles, run_dir, layout.artifacts, config.detector, config.model_path
            ),
        )
        stages.append(rep)
        (human, reviewed), rep = _stage(
            "annotate",
            lambda: _with_runner(annotate_flow, config)(
                tiles, dets, run_dir, layout.root, config.annotate
            ),
        )
        stages.append(rep)
        if human or reviewed:
            _merge_human(tiles, dets, human, reviewed, run_dir)
        links, rep = _stage("link", lambda: _with_runner(link_flow, config)(run_dir, config.report))
        stages.append(rep)
        html = out / "report.html" if (run_dir / "report.html").exists() else None
        write_json_atomic(
            run_dir / "run.json",
            {
                "pipeline_version": pipeline.__version__,
                "started": started.isoformat().replace("+00:00", "Z"),
                "finished": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "parameters": config.model_dump(mode="json"),
                "stages": [s.to_dict() for s in stages],
            },
        )
        summary = _summary_markdown(config, stages, out)
    create_markdown_artifact(markdown=summary, key="sitewatch-summary", description="run summary")
    rows = _verdict_rows(links, config.report, html)
    if rows:
        create_table_artifact(table=rows, key="sitewatch-verdicts", description="claim verdicts")
    return WatchResult(run_dir=out, stages=tuple(stages), report_html=html)


def _merge_human(
    tiles: list[Tile],
    dets: dict[str, list[Detection]],
    human: list[Detection],
    reviewed: list[Any],
    run_dir: Path,
) -> None:
    """Analysts' labels outrank the model's: recompute object changes from the merged set."""
    from pipeline.annotate.merge import prefer_human

    merged: dict[str, list[Detection]] = {}
    for t in tiles:
        h = [d for d in human if d.tile_sha256 == t.sha256]
        r = [w for w in reviewed if w[0] == t.sha256]
        model = dets.get(t.id, [])
        merged[t.id] = list(prefer_human(model, h, reviewed=r)) if (h or r) else model
    object_changes(tiles, merged, run_dir)
