"""The committed sample tiles: byte-identical regeneration, size budget, report-consistent truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.synth.scenario import DEFAULT_SEED, sample_scenario
from pipeline.synth.write import NOT_GENERATED, compare_folders, generate

MAX_BYTES = 40_000_000


def _truth(sample_tiles: Path, stem: str) -> Counter[str]:
    fc = json.loads((sample_tiles / f"{stem}.truth.geojson").read_text())
    return Counter(f["properties"]["class"] for f in fc["features"])


def test_sample_tiles_fit_the_size_budget(sample_tiles):
    files = [p for p in sample_tiles.rglob("*") if p.is_file() and p.name not in NOT_GENERATED]
    assert len(files) > 20
    assert sum(p.stat().st_size for p in files) <= MAX_BYTES


def test_committed_truth_supports_the_report(sample_tiles):
    assert _truth(sample_tiles, "khmeimim_20241205T084000Z")["An-124"] == 0
    assert _truth(sample_tiles, "khmeimim_20241213T083500Z")["An-124"] == 3
    assert _truth(sample_tiles, "khmeimim_20241215T083000Z")["An-124"] == 2
    fc = json.loads((sample_tiles / "khmeimim_20241213T083500Z.truth.geojson").read_text())
    noses = sorted(f["properties"]["attributes"].get("nose_cone", "")
                   for f in fc["features"] if f["properties"]["class"] == "An-124")  # fmt: skip
    assert noses == ["closed", "open", "open"]
    tartus = [
        _truth(sample_tiles, s) for s in ("tartus_20241205T082000Z", "tartus_20241212T082500Z")
    ]
    assert [sum(c[k] for k in ("landing ship", "cargo ship")) for c in tartus] == [1, 2]
    assert _truth(sample_tiles, "al-khadim_20241217T091000Z")["Il-76"] >= 2
    assert _truth(sample_tiles, "al-khadim_20241210T090500Z")["Il-76"] == 0
    assert _truth(sample_tiles, "al-jufra_20241216T092000Z")["An-26"] == 1


@pytest.mark.slow
def test_sample_tiles_regenerate_byte_identically(sample_tiles, tmp_path):
    generate(sample_scenario(seed=DEFAULT_SEED), tmp_path, seed=DEFAULT_SEED)
    assert compare_folders(tmp_path, sample_tiles) == []
