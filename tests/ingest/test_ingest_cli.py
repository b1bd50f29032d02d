"""`sitewatch ingest`: tables, --json, --out, --max-pixels and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipeline.cli import build_app
from pipeline.ingest import IngestReport


@pytest.fixture(scope="module")
def app():
    return build_app()


def test_cli_accepts_and_writes_report(tmp_path, make_tile, app):
    make_tile(tmp_path / "in" / "khmeimim_20241213T083000Z.tif", tags={"SUN_AZIMUTH": 140})
    (tmp_path / "in" / "broken_20241213.tif").write_text("nope")
    out = tmp_path / "run" / "tiles.json"
    res = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["ingest", str(tmp_path / "in"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "khmeimim" in res.output and "broken_20241213.tif" in res.output
    report = IngestReport.from_dict(json.loads(out.read_text()))
    assert [t.id for t in report.tiles] == ["khmeimim_20241213T083000Z"]
    assert len(report.rejected) == 1
    args = ["ingest", str(tmp_path / "in"), "--json", "--quick", "--stac-out", str(tmp_path / "s")]
    res = CliRunner(env={"COLUMNS": "240"}).invoke(app, args)
    assert res.exit_code == 0
    assert json.loads(res.stdout)["tiles"][0]["sun_azimuth_deg"] == 140.0
    res = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["ingest", str(tmp_path / "s" / "catalog.json"), "--json"]
    )
    assert res.exit_code == 0
    assert [t["id"] for t in json.loads(res.stdout)["tiles"]] == ["khmeimim_20241213T083000Z"]


def test_cli_exit_1_when_nothing_accepted(tmp_path, make_tile, app):
    make_tile(tmp_path / "khmeimim_20241213.tif", rows=64, cols=64, bands=1)
    res = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["ingest", str(tmp_path), "--max-pixels", "1000"]
    )
    assert res.exit_code == 1
    assert "no tile accepted" in res.output
    assert "exceeds the cap of 1,000" in res.output.replace("\n", "")


def test_cli_usage_errors_exit_2(tmp_path, app):
    res = CliRunner(env={"COLUMNS": "240"}).invoke(app, ["ingest", str(tmp_path / "missing")])
    assert res.exit_code == 2
    bad = tmp_path / "catalog.json"
    bad.write_text("[]")
    res = CliRunner(env={"COLUMNS": "240"}).invoke(app, ["ingest", str(bad)])
    assert res.exit_code == 2
    assert "not a STAC object" in res.output
