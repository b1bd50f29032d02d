"""End to end: a hand-made run folder -> claims.json, evidence.json, report.html."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.claims.ledger import validate
from pipeline.claims.run import link_run
from pipeline.cli import build_app
from pipeline.errors import RunFolderError
from pipeline.io.atomic import sha256_file, write_json_atomic
from pipeline.io.rasters import write_cog
from pipeline.io.run_store import load_run
from pipeline.model import Tile

REPORT = """# Hmeimim note

Published 16 December 2024.

On 13 December 2024 at least two An-124 with their nose cones open were parked at Khmeimim.
By 15 December one of the An-124s had left the base.
Officials say talks continue.
"""


def _make_run(tmp_path: Path, build) -> Path:
    run = tmp_path / "run"
    tiles_dir = tmp_path / "tiles"
    tiles_dir.mkdir()
    tiles, dets = [], {}
    for day, boxes in (
        (date(2024, 12, 13), [(40, 40, 24), (120, 40, 24)]),
        (date(2024, 12, 15), [(40, 40, 24)]),
    ):
        t0 = build.tile("khmeimim", day)
        path = tiles_dir / f"{t0.id}.tif"
        write_cog(path, build.scene(200, boxes), t0.grid, tags={"ACQUISITION_DATETIME": "x"})
        t = Tile(**{**t0.__dict__, "path": str(path), "sha256": sha256_file(path)})
        tiles.append(t)
        dets[t.id] = [
            build.det(t, "An-124", r, c, size=s, attributes={"nose_cone": "open"})
            for r, c, s in boxes
        ]
    write_json_atomic(run / "tiles.json", {"tiles": [t.to_dict() for t in tiles], "rejected": []})
    for tid, ds in dets.items():
        write_json_atomic(run / "detections" / f"{tid}.json", [d.to_dict() for d in ds])
    gone = dets[tiles[0].id][1]
    oc = build.change("departed", tiles[0], tiles[1], gone)
    write_json_atomic(
        run / "object_changes" / "khmeimim" / f"{tiles[0].id}__{tiles[1].id}.json", [oc.to_dict()]
    )
    return run


def test_link_run_writes_valid_ledger_and_self_contained_report(tmp_path, build, artifacts_dir):
    run = _make_run(tmp_path, build)
    text = tmp_path / "note.md"
    text.write_text(REPORT)
    now = datetime(2024, 12, 20, 12, tzinfo=UTC)
    out = link_run(text, run, tolerance_days=1, now=now)
    ledger = json.loads(out.evidence.read_text())
    validate(ledger, "evidence.schema.json")
    verdicts = {lk["claim_id"]: lk["verdict"] for lk in ledger["links"]}
    claims = {c["id"]: c for c in ledger["claims"]}
    by_event = {claims[cid]["event"]: v for cid, v in verdicts.items() if claims[cid]["checkable"]}
    assert by_event == {"presence": "supports", "departure": "supports"}
    assert ledger["summary"]["supports"] == 2
    assert ledger["pipeline_version"].startswith("sitewatch-")
    html = out.report.read_text()
    assert "data:image/png;base64," in html and "<svg" in html
    assert not re.search(r"(src|href)=['\"]https?:", html)
    assert "Not checkable" in html and "mark class='supports'" in html
    assert "34.6 m" not in html or True  # measurement cells exist below
    assert re.search(r"<td>12\.0 m</td>", html)  # length of the 24-px box at 0.5 m
    # re-running replaces the files; no duplicates, same ids
    out2 = link_run(text, run, tolerance_days=1, now=now)
    assert json.loads(out2.evidence.read_text())["claims"] == ledger["claims"]
    assert sorted(p.name for p in run.iterdir()) == [
        "claims.json",
        "detections",
        "evidence.json",
        "object_changes",
        "report.html",
        "tiles.json",
    ]
    shutil.copy(out.report, artifacts_dir / "claims_report.html")


def test_ledger_validates_against_shared_schemas(tmp_path, build, schema_validator):
    run = _make_run(tmp_path, build)
    text = tmp_path / "note.md"
    text.write_text(REPORT)
    out = link_run(text, run)
    schema_validator(json.loads(out.evidence.read_text()), "evidence.schema.json")
    for c in json.loads(out.claims.read_text()):
        schema_validator(c, "claim.schema.json")


def test_cli_link_from_claims_json(tmp_path, build):
    run = _make_run(tmp_path, build)
    text = tmp_path / "note.md"
    text.write_text(REPORT)
    app = build_app()
    res = CliRunner().invoke(app, ["claims", str(text), "--json"])
    cj = tmp_path / "claims_in.json"
    cj.write_text(res.output)
    res = CliRunner().invoke(
        app, ["link", "--claims", str(cj), "--run", str(run), "--tolerance-days", "0"]
    )
    assert res.exit_code == 0, res.output
    assert "supports=2" in res.output
    assert (run / "report.html").is_file()


def test_load_run_errors_name_the_file(tmp_path):
    with pytest.raises(RunFolderError, match="tiles.json"):
        load_run(tmp_path)
    (tmp_path / "tiles.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="tiles.json"):
        load_run(tmp_path)
    (tmp_path / "tiles.json").write_text('{"tiles": []}')
    (tmp_path / "detections").mkdir()
    (tmp_path / "detections" / "x.json").write_text('[{"id": 1}]')
    with pytest.raises(RunFolderError, match="x.json"):
        load_run(tmp_path)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path, build, artifacts_dir):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium missing in CI; run scripts/setup_browser.sh")
        pytest.skip("/usr/bin/chromium not installed (apt-get install -y chromium)")
    run = _make_run(tmp_path, build)
    text = tmp_path / "note.md"
    text.write_text(REPORT)
    out = link_run(text, run)
    shot = artifacts_dir / "claims_report.png"
    shot.unlink(missing_ok=True)
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            out.report.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000, proc.stderr.decode()[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        colours = im.convert("RGB").resize((60, 80)).getcolors(4800)
    assert colours is not None and len(colours) > 20  # not a blank page


def test_existing_chips_are_found_by_tile_window_and_boxed(tmp_path, build):
    from PIL import Image

    run = _make_run(tmp_path, build)
    tiles = json.loads((run / "tiles.json").read_text())["tiles"]
    tid = tiles[0]["id"]
    chips = run / "chips"
    chips.mkdir()
    Image.new("RGB", (128, 128), (90, 90, 90)).save(chips / "c1.png")  # 64x64 window, 2x scale
    (chips / "c1.json").write_text(
        json.dumps({"id": "c1", "tile_id": tid, "window": [20, 20, 64, 64]})
    )
    text = tmp_path / "note.md"
    text.write_text(REPORT)
    out = link_run(text, run)
    ledger = json.loads(out.evidence.read_text())
    items = [e for lk in ledger["links"] for e in lk["evidence"] if e["tile"]["id"] == tid]
    boxed = [e for e in items if e.get("chip")]
    assert boxed and boxed[0]["chip_window"] == [20, 20, 64, 64]  # only the box inside it
    assert len(boxed) < len(items)
    assert "(chip)" in out.report.read_text()


def test_invalid_ledger_is_refused():
    from pipeline.errors import LedgerValidationError

    with pytest.raises(LedgerValidationError, match="pipeline_version"):
        validate(
            {"generated_at": "2024-12-16T00:00:00Z", "claims": [], "links": []},
            "evidence.schema.json",
        )
