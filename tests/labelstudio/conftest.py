"""A real Label Studio server for the session (started from .venv-ls), plus small tile builders."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from pipeline.grid import Grid
from pipeline.io.atomic import sha256_file
from pipeline.io.rasters import write_cog
from pipeline.model import Detection, Tile

REPO = Path(__file__).resolve().parents[2]
LS_BIN = REPO / ".venv-ls" / "bin" / "label-studio"
# a fresh database migrates in 60-130 s on a quiet 2-core machine; far longer when it is busy
START_TIMEOUT_S = 420.0


@dataclass(frozen=True)
class LSServer:
    url: str
    token: str
    username: str
    password: str
    document_root: Path
    log: Path
    pid: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:  # noqa: S310 (loopback)
            return bool(r.status == 200)
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (start_new_session)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def _server_env(data_dir: Path, root: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(root),
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_SSRF_PROTECTION_ENABLED": "false",
    }
    env.pop("LABEL_STUDIO_URL", None)
    env.pop("LABEL_STUDIO_API_KEY", None)
    return env


def _start(
    binary: Path, data_dir: Path, root: Path, creds: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server on a free port and wait for /health; returns (process, url)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(binary), "start", "--data-dir", str(data_dir), "--internal-host", "127.0.0.1",
        "--port", str(port), "--no-browser", "--username", creds["username"],
        "--password", creds["password"], "--user-token", creds["token"],
        "--enable-legacy-api-token",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=data_dir.parent,
            env=_server_env(data_dir, root),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _healthy(url):
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"label-studio exited with {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"label-studio not healthy after {START_TIMEOUT_S} s; log {log}")
        time.sleep(0.5)
    return proc, url


def _template(binary: Path, scratch: Path) -> Path:
    """A migrated, empty data dir cached per server install (first start ~1-2 min, then ~10 s).

    Kept under ``$XDG_CACHE_HOME/sitewatch`` (default ``~/.cache/sitewatch``) with the
    test-only credentials of its one user in ``creds.json``.
    """
    pin = binary.parent.parent / ".sitewatch-pin"
    key_src = f"{binary.resolve()}|{pin.read_text() if pin.is_file() else binary.stat().st_mtime}"
    key = hashlib.sha256(key_src.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sitewatch"
    template = cache / f"labelstudio-template-{key}"
    if (template / "creds.json").is_file():
        return template
    build = scratch / "template"
    (build / "data").mkdir(parents=True)
    creds = {
        "username": "analyst@sitewatch.test",
        "password": secrets.token_urlsafe(12),
        "token": secrets.token_hex(20),
    }
    proc, _ = _start(binary, build / "data", build, creds, scratch / "template.log")
    _stop(proc)
    (build / "creds.json").write_text(json.dumps(creds))
    cache.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(build, template)  # atomic; a concurrent session may have won the race
    except OSError:
        if not (template / "creds.json").is_file():
            raise
    return template


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LSServer]:
    """Start ``.venv-ls/bin/label-studio`` on a free loopback port; stop it at session end.

    The data dir is a copy of a cached, already-migrated template, so a session
    pays the ~1-2 min first-start migration only once per server install.
    """
    binary = Path(os.environ.get("SITEWATCH_LABEL_STUDIO_BIN", str(LS_BIN)))
    if not binary.is_file():
        msg = f"Label Studio server not installed at {binary}; run scripts/setup_labelstudio.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    base = tmp_path_factory.mktemp("labelstudio")
    template = _template(binary, base)
    creds = json.loads((template / "creds.json").read_text())
    data_dir, root = base / "data", base / "root"
    shutil.copytree(template / "data", data_dir)
    root.mkdir()
    log = base / "server.log"
    proc, url = _start(binary, data_dir, root, creds, log)
    try:
        yield LSServer(
            url, creds["token"], creds["username"], creds["password"], root, log, proc.pid
        )
    finally:
        _stop(proc)


# --------------------------------------------------------------------------- tiles
UTM = "EPSG:32636"


def make_tile(
    folder: Path,
    name: str = "site_20240101",
    *,
    shape: tuple[int, int] = (300, 400),
    gsd: float = 0.5,
    dtype: str = "uint16",
    seed: int = 0,
) -> Tile:
    """A 3-band tile with a textured background (EPSG:32636, north-up, ``gsd`` metres)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(200, 900, size=(3, *shape)).astype(dtype)
    grid = Grid(UTM, Affine(gsd, 0, 500000.0, 0, -gsd, 3900000.0), shape)
    path = write_cog(folder / f"{name}.tif", arr, grid)
    return Tile(
        id=name,
        path=str(path),
        site_id="site",
        acquired=datetime(2024, 1, 1, 9, 30, tzinfo=UTC),
        grid=grid,
        sha256=sha256_file(path),
        band_count=3,
        dtype=dtype,
    )


def rect_ring(
    r0: float, c0: float, length: float, width: float, angle_deg: float = 0.0
) -> tuple[tuple[float, float], ...]:
    """Closed (row, col) ring of a rectangle with top-left (r0, c0), rotated clockwise."""
    th = np.radians(angle_deg)
    ux, uy = np.cos(th), np.sin(th)
    vx, vy = -np.sin(th), np.cos(th)
    pts = [
        (c0, r0),
        (c0 + length * ux, r0 + length * uy),
        (c0 + length * ux + width * vx, r0 + length * uy + width * vy),
        (c0 + width * vx, r0 + width * vy),
    ]
    ring = tuple((float(y), float(x)) for x, y in pts)
    return (*ring, ring[0])


def make_detection(
    tile: Tile,
    ring: tuple[tuple[float, float], ...],
    *,
    cls: str = "An-124",
    score: float = 0.9,
    version: str = "1.0",
    attributes: dict[str, str] | None = None,
) -> Detection:
    return Detection(
        id=f"det-{cls}-{ring[0][0]:.0f}-{ring[0][1]:.0f}",
        cls=cls,
        score=score,
        footprint_px=ring,
        footprint_lonlat=tuple(tile.grid.pixel_ring_to_lonlat(ring)),
        tile_id=tile.id,
        tile_sha256=tile.sha256,
        acquired=tile.acquired,
        detector="testdet",
        detector_version=version,
        attributes=attributes or {},
    )
