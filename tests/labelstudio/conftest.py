"""A real Label Studio server for the session (started from .venv-ls), plus small tile builders."""

from __future__ import annotations

import os
import secrets
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
import rasterio.shutil  # noqa: F401  (pipeline.io.rasters.write_cog uses it without importing)
from affine import Affine

from pipeline.grid import Grid
from pipeline.io.atomic import sha256_file
from pipeline.io.rasters import write_cog
from pipeline.model import Detection, Tile

REPO = Path(__file__).resolve().parents[2]
LS_BIN = REPO / ".venv-ls" / "bin" / "label-studio"
START_TIMEOUT_S = 120.0


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


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LSServer]:
    """Start ``.venv-ls/bin/label-studio`` on a free loopback port; stop it at session end."""
    binary = Path(os.environ.get("SITEWATCH_LABEL_STUDIO_BIN", str(LS_BIN)))
    if not binary.is_file():
        msg = f"Label Studio server not installed at {binary}; run scripts/setup_labelstudio.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    base = tmp_path_factory.mktemp("labelstudio")
    data_dir, root = base / "data", base / "root"
    data_dir.mkdir()
    root.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = secrets.token_hex(20)
    user, password = "analyst@sitewatch.test", secrets.token_urlsafe(12)
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
    log = base / "server.log"
    cmd = [
        str(binary), "start", "--data-dir", str(data_dir), "--internal-host", "127.0.0.1",
        "--port", str(port), "--no-browser", "--username", user, "--password", password,
        "--user-token", token, "--enable-legacy-api-token",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(
                    f"label-studio exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"label-studio not healthy after {START_TIMEOUT_S} s; log {log}")
            time.sleep(0.5)
        yield LSServer(url, token, user, password, root, log, proc.pid)
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
