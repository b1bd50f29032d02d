"""Fast tests of the flow plumbing that need no Prefect run: config, cache keys, artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.artifacts import (
    ArtifactBundle,
    ArtifactMissingError,
    artifact_folder,
    cache_key,
    is_complete,
    list_files,
    mark_complete,
    needs_refresh,
    publish,
)
from flows.tasks import change_key, detect_key
from pipeline.cli.replay import _check_change_model, _parse_params, _sites
from pipeline.config import RunConfig, prefect_settings
from pipeline.errors import ConfigError, ModelFileError
from pipeline.ingest import ingest


def test_config_reads_label_studio_and_dask_from_env(tmp_path: Path) -> None:
    env = {
        "LABEL_STUDIO_URL": "http://127.0.0.1:8080/",
        "LABEL_STUDIO_API_KEY": "secret",
        "SITEWATCH_DASK_ADDRESS": "tcp://127.0.0.1:8786",
    }
    cfg = RunConfig.from_env(env, source=tmp_path, out=tmp_path / "runs" / "r")
    assert cfg.label_studio_url == "http://127.0.0.1:8080"
    assert cfg.dask_address == "tcp://127.0.0.1:8786"
    assert "secret" not in cfg.model_dump_json()
    # explicit values win over the environment
    cfg2 = RunConfig.from_env(env, source=tmp_path, dask_address="tcp://10.0.0.1:1")
    assert cfg2.dask_address == "tcp://10.0.0.1:1"


def test_config_rejects_half_label_studio_and_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LABEL_STUDIO_API_KEY"):
        RunConfig.from_env({"LABEL_STUDIO_URL": "http://x"}, source=tmp_path)
    with pytest.raises(ConfigError, match="tcp://"):
        RunConfig.from_env({}, source=tmp_path, dask_address="127.0.0.1:8786")
    with pytest.raises(ConfigError, match="max_workers"):
        RunConfig.from_env({}, source=tmp_path, max_workers=0)


def test_store_layout_and_prefect_settings(tmp_path: Path) -> None:
    cfg = RunConfig.from_env({}, source=tmp_path, out=tmp_path / "runs" / "r1")
    layout = cfg.store_layout
    assert layout.root == (tmp_path / "runs" / ".sitewatch-store").absolute()
    s = prefect_settings(cfg)
    assert s["PREFECT_LOCAL_STORAGE_PATH"] == str(layout.results)
    assert s["PREFECT_HOME"] == str(layout.prefect_home)
    assert s["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    env_store = RunConfig.from_env({"SITEWATCH_STORE": str(tmp_path / "st")}, source=tmp_path)
    assert env_store.store_layout.root == (tmp_path / "st").absolute()


def test_cache_key_changes_with_every_input() -> None:
    base = cache_key("change", "v1", "sha-a", "sha-b", {"method": "cva"})
    assert base == cache_key("change", "v1", "sha-a", "sha-b", {"method": "cva"})
    assert base != cache_key("change", "v2", "sha-a", "sha-b", {"method": "cva"})
    assert base != cache_key("change", "v1", "sha-x", "sha-b", {"method": "cva"})
    assert base != cache_key("change", "v1", "sha-a", "sha-b", {"method": "ssim"})
    assert base != cache_key("detect", "v1", "sha-a", "sha-b", {"method": "cva"})


def test_stage_keys_follow_tile_sha_and_params(small_tiles: Path) -> None:
    tiles = ingest(small_tiles).tiles
    a, b, c = tiles
    k = change_key({"before": a, "after": b, "method": "cva", "params": {}})
    assert k == change_key({"before": a, "after": b, "method": "cva", "params": {}})
    assert k != change_key({"before": a, "after": c, "method": "cva", "params": {}})
    assert k != change_key({"before": a, "after": b, "method": "cva", "params": {"open_px": 2}})
    learned = {"before": a, "after": b, "method": "learned", "params": {}}
    m1, m2 = small_tiles / "m1.json", small_tiles / "m2.json"
    m1.write_text('{"model": 1}')
    m2.write_text('{"model": 2}')
    k1 = change_key({**learned, "model_path": m1})
    assert k1 == change_key({**learned, "model_path": m1})
    assert k1 != change_key({**learned, "model_path": m2}) != change_key(learned)
    d = detect_key({"tile": a, "detector": "measure", "model_path": None})
    assert d != detect_key({"tile": b, "detector": "measure", "model_path": None})
    assert d != detect_key({"tile": a, "detector": "other", "model_path": None})


def test_publish_reproduces_files_and_reports_missing(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    folder = artifact_folder(root, "change", "k1")
    (folder / "sub").mkdir(parents=True)
    (folder / "regions.json").write_text("[]")
    (folder / "sub" / "x.txt").write_text("x")
    assert needs_refresh(root, "change", "k1")
    mark_complete(folder, {"a": 1})
    assert is_complete(folder) and not needs_refresh(root, "change", "k1")
    files = list_files(folder)
    assert files == ("regions.json", "sub/x.txt")
    bundle = ArtifactBundle(stage="change", key="k1", folder=folder, files=files)
    dest = tmp_path / "run" / "changes"
    written = publish(bundle, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in written) == list(files)
    assert (dest / "sub" / "x.txt").read_text() == "x"
    publish(bundle, dest)  # re-publishing is safe
    (folder / "regions.json").unlink()
    with pytest.raises(ArtifactMissingError, match="regions.json"):
        publish(bundle, tmp_path / "run2")


def test_replay_checks_the_change_model_before_any_flow(tmp_path: Path) -> None:
    _check_change_model(None, None)
    with pytest.raises(ConfigError, match="needs --change-model"):
        _check_change_model("learned", None)
    with pytest.raises(ConfigError, match="only with --method learned"):
        _check_change_model("cva", tmp_path / "m.json")
    bad = tmp_path / "m.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ModelFileError, match=r"m\.json: not a sitewatch change model"):
        _check_change_model("learned", bad)


def test_cli_parsing_helpers() -> None:
    assert _parse_params(["min_area_m2=20", "coregister=false", "threshold=otsu", "open_px=2"]) == {
        "min_area_m2": 20,
        "coregister": False,
        "threshold": "otsu",
        "open_px": 2,
    }
    assert _sites(" khmeimim, tartus ,") == ("khmeimim", "tartus")
    import typer

    with pytest.raises(typer.BadParameter):
        _parse_params(["novalue"])
