"""Static checks run as tests so CI enforces them: ruff (lint) on all code, mypy on pipeline/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_ruff_clean() -> None:
    proc = subprocess.run(
        [str(BIN / "ruff"), "check", "pipeline", "flows", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_mypy_clean_on_pipeline() -> None:
    proc = subprocess.run(
        [str(BIN / "mypy"), "--no-incremental", "pipeline"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_importing_does_no_work(tmp_path: Path) -> None:
    """Importing every pipeline/flows module creates no files and reads no env-dependent state."""
    code = (
        "import importlib, pkgutil, pipeline, flows\n"
        "for pkg in (pipeline, flows):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
    )
    before = set(tmp_path.iterdir())
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert set(tmp_path.iterdir()) == before


def test_cli_help_for_every_command() -> None:
    from typer.testing import CliRunner

    from pipeline.cli import build_app

    app = build_app()
    runner = CliRunner()
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0, res.output
    import typer.main

    cmd = typer.main.get_command(app)
    names = list(cmd.commands)  # type: ignore[attr-defined]
    for expected in (
        "replay",
        "synth",
        "ingest",
        "change",
        "detect",
        "claims",
        "link",
        "ls",
        "eval",
    ):
        assert expected in names, f"missing command {expected}: {names}"
    for name in names:
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0, f"{name} --help failed: {sub.output}"
