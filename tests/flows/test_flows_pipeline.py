"""Real Prefect runs of ``site_watch`` on small tiles built here (one temporary server per module).

Known answers: three tiles of one site give two change pairs and three
detection tasks; a second run with the same inputs is served from the cache
(and still writes every output file into the new run folder); a changed change
parameter recomputes the change pairs but not the detections.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.config import RunConfig

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture(scope="module")
def store(flow_store: Path) -> Path:
    return flow_store


@pytest.fixture(scope="module")
def runtime(prefect_api: str) -> str:
    return prefect_api


@pytest.fixture(scope="module")
def pipeline_tiles(tmp_path_factory: pytest.TempPathFactory, tile_factory: Any) -> Path:
    """Tiles of this module only (seed 1), so its cache counts do not depend on test order."""
    folder = tmp_path_factory.mktemp("pipeline-tiles")
    tile_factory(folder, n=3, seed=1)
    return folder


def _cfg(pipeline_tiles: Path, store: Path, out: Path, **kw: object) -> RunConfig:
    return RunConfig.from_env({}, source=pipeline_tiles, store=store, out=out, **kw)


def _outputs(run: Path) -> set[str]:
    return {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def first_and_second(
    runtime: str, pipeline_tiles: Path, store: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple:
    from flows.site_watch import site_watch

    runs = tmp_path_factory.mktemp("runs")
    report = Path(__file__).resolve().parents[2] / "sample_tiles" / "report.md"
    extra = {"report": report} if report.is_file() else {}
    r1 = site_watch(_cfg(pipeline_tiles, store, runs / "one", **extra))
    r2 = site_watch(_cfg(pipeline_tiles, store, runs / "two", **extra))
    return r1, r2


def test_first_run_writes_the_run_folder(first_and_second: tuple) -> None:
    r1, _ = first_and_second
    run = Path(r1.run_dir)
    assert r1.stage("ingest").counts["tiles"] == 3
    tiles = json.loads((run / "tiles.json").read_text())
    assert len(tiles["tiles"]) == 3 and tiles["rejected"] == []
    meta = json.loads((run / "run.json").read_text())
    assert [s["name"] for s in meta["stages"]] == ["ingest", "change", "detect", "annotate", "link"]
    for s in meta["stages"]:
        assert s["status"] in ("completed", "skipped")
        if s["status"] == "skipped":
            assert s["reason"], s
    # no leftovers of the temporary run folder
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".one.")]
    change = r1.stage("change")
    if change.status == "completed":
        assert change.tasks == 2 and change.cached == 0
        pairs = sorted((run / "changes" / "tartus").iterdir())
        assert len(pairs) == 2
        for p in pairs:
            assert (p / "regions.json").is_file() and (p / "score.tif").is_file()
    detect = r1.stage("detect")
    if detect.status == "completed":
        assert detect.tasks == 3 and detect.cached == 0
        assert len(list((run / "detections").glob("*.json"))) == 3


def test_run_artifacts_summary_and_verdicts(first_and_second: tuple) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    r1, _ = first_and_second
    with get_client(sync_client=True) as client:
        summary = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["sitewatch-summary"]))
        )
        verdicts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["sitewatch-verdicts"]))
        )
    assert summary and "| change |" in str(summary[0].data)
    if r1.stage("link").status == "completed":
        assert r1.report_html is not None and Path(r1.report_html).is_file()
        rows = verdicts[0].data
        rows = json.loads(rows) if isinstance(rows, str) else rows
        assert rows and {"claim", "verdict", "report", "html"} <= set(rows[0])
        assert rows[0]["report"].endswith("report.md")
        assert {r["verdict"] for r in rows} <= {"supports", "contradicts", "insufficient"}


def test_second_run_is_served_from_cache_with_same_files(first_and_second: tuple) -> None:
    r1, r2 = first_and_second
    for name in ("change", "detect"):
        s1, s2 = r1.stage(name), r2.stage(name)
        assert s2.status == s1.status
        if s2.status == "completed":
            assert s2.cached == s2.tasks > 0, s2
    one, two = Path(r1.run_dir), Path(r2.run_dir)
    assert _outputs(one) == _outputs(two)
    for rel in _outputs(one):
        if rel.endswith("regions.json") or rel.startswith("detections/"):
            assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_changed_parameter_recomputes_change_only(
    first_and_second: tuple, pipeline_tiles: Path, store: Path, tmp_path: Path
) -> None:
    from flows.site_watch import site_watch

    r1, _ = first_and_second
    if r1.stage("change").status != "completed":
        pytest.skip(f"change stage skipped: {r1.stage('change').reason}")
    r3 = site_watch(_cfg(pipeline_tiles, store, tmp_path / "three", change_params={"open_px": 2}))
    assert r3.stage("change").cached == 0 and r3.stage("change").tasks == 2
    if r3.stage("detect").status == "completed":
        assert r3.stage("detect").cached == 3


def test_learned_change_method_runs_with_its_model_file(
    first_and_second: tuple, pipeline_tiles: Path, store: Path, tmp_path: Path
) -> None:
    from flows.site_watch import site_watch
    from pipeline.change.evaluate import save_change_model
    from pipeline.change.learned import TrainingPair, TrainParams, train_change_model
    from pipeline.change.synthetic import make_pair

    r1, _ = first_and_second
    if r1.stage("change").status != "completed":
        pytest.skip(f"change stage skipped: {r1.stage('change').reason}")
    pairs = []
    for seed in (3, 4):
        p = make_pair((96, 96), seed=seed, n_changes=6, change_px=(8, 16), dtype="uint8")
        pairs.append(TrainingPair(f"syn{seed}", p.before, p.after, p.painted.astype(np.uint8)))
    fast = TrainParams(pixels_per_pair=2000, max_iter=10, min_samples_leaf=40)
    model = train_change_model(pairs, fast)
    path = save_change_model(model, tmp_path / "change-model.json")
    out = tmp_path / "learned"
    r5 = site_watch(
        _cfg(pipeline_tiles, store, out, change_method="learned", change_model_path=path)
    )
    change = r5.stage("change")
    assert change.status == "completed" and change.tasks == 2 and change.cached == 0
    for pair in sorted((out / "changes" / "tartus").iterdir()):
        summary = json.loads((pair / "summary.json").read_text())
        assert model.tag in json.dumps(summary), summary
    # the model file is part of the cache key: a retrained model recomputes the pairs
    other = train_change_model(pairs, TrainParams(pixels_per_pair=2000, max_iter=11))
    path2 = save_change_model(other, tmp_path / "change-model-2.json")
    r6 = site_watch(
        _cfg(
            pipeline_tiles,
            store,
            tmp_path / "again",
            change_method="learned",
            change_model_path=path2,
        )
    )
    assert r6.stage("change").cached == 0 and r6.stage("change").tasks == 2


def test_deleted_artifacts_are_recomputed(
    first_and_second: tuple, pipeline_tiles: Path, store: Path, tmp_path: Path
) -> None:
    import shutil

    from flows.site_watch import site_watch

    r1, _ = first_and_second
    if r1.stage("detect").status != "completed":
        pytest.skip("detect stage skipped")
    shutil.rmtree(store / "artifacts" / "detect")
    r4 = site_watch(_cfg(pipeline_tiles, store, tmp_path / "four"))
    assert r4.stage("detect").cached == 0
    assert len(list((tmp_path / "four" / "detections").glob("*.json"))) == 3


def test_failed_run_keeps_previous_run_folder(
    runtime: str, pipeline_tiles: Path, store: Path, tmp_path: Path
) -> None:
    from flows.site_watch import site_watch

    out = tmp_path / "kept"
    out.mkdir()
    (out / "marker.txt").write_text("previous run")
    with pytest.raises(Exception, match="unknown change method|method"):
        site_watch(_cfg(pipeline_tiles, store, out, change_method="no-such-method"))
    assert (out / "marker.txt").read_text() == "previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
