"""5xx mid-batch: a fault-injecting loopback proxy in front of the real server."""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipeline.annotate.roundtrip import build_detection_chips, push_tasks
from pipeline.errors import LabelStudioError
from pipeline.io.labelstudio import LabelStudioClient, LabelStudioSettings

from .conftest import LSServer, free_port, make_detection, make_tile, rect_ring

pytestmark = pytest.mark.labelstudio

IMPORT = re.compile(r"^/api/projects/\d+/import")
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Faults:
    """Fail import requests number ``fail_imports`` (1-based) with HTTP 503 while ``on``."""

    fail_imports: set[int] = field(default_factory=set)
    on: bool = True
    imports_seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _proxy(target: str, faults: Faults) -> ThreadingHTTPServer:
    host, port = urlsplit(target).hostname, urlsplit(target).port

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.command == "POST" and IMPORT.match(self.path):
                with faults.lock:
                    faults.imports_seen += 1
                    fail = faults.on and faults.imports_seen in faults.fail_imports
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "27")
                    self.end_headers()
                    self.wfile.write(b'{"detail": "injected fault"}'[:27])
                    return
            conn = http.client.HTTPConnection(host, port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"host"}}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    return server


@pytest.fixture()
def proxied(ls_server: LSServer) -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    server = _proxy(ls_server.url, faults)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", faults
    finally:
        server.shutdown()
        server.server_close()


def test_5xx_mid_batch_reports_progress_and_rerun_completes(
    ls_server: LSServer, proxied: tuple[str, Faults], tmp_path: Path
) -> None:
    url, faults = proxied
    run = ls_server.document_root / "fault_run"
    (run / "tiles").mkdir(parents=True)
    tile = make_tile(run / "tiles", "faults_20240101", shape=(600, 600), seed=9)
    dets = [make_detection(tile, rect_ring(50.0 + 200 * i, 60.0, 30.0, 12.0)) for i in range(3)]
    items = build_detection_chips([tile], dets, run / "chips", pad_px=8, min_size=64)
    assert len(items) == 3
    settings = LabelStudioSettings(url, ls_server.token, ls_server.document_root)
    client = LabelStudioClient(settings, retries=2, backoff_s=0.01)
    faults.fail_imports = {2, 3, 4}  # second batch fails on every attempt
    with pytest.raises(LabelStudioError) as info:
        push_tasks(client, "fault injection", items, chips_dir=run / "chips", batch_size=1)
    msg = str(info.value)
    assert "1 of 3 new chip(s) pushed, 2 not pushed" in msg and "Re-run" in msg
    assert "503" in msg and ls_server.token not in msg

    faults.on = False
    again = push_tasks(client, "fault injection", items, chips_dir=run / "chips", batch_size=1)
    assert len(again.created) == 2 and len(again.unchanged) == 1
    assert len(client.task_index(again.project_id)) == 3
    # a transient 503 (one failure) is absorbed by the retry, without duplicates
    faults.on, faults.imports_seen, faults.fail_imports = True, 0, {1}
    more = [make_detection(tile, rect_ring(500.0, 500.0, 30.0, 12.0))]
    extra = build_detection_chips([tile], more, run / "chips", pad_px=8, min_size=64)
    last = push_tasks(client, "fault injection", extra, chips_dir=run / "chips")
    assert len(last.created) == 1 and len(client.task_index(again.project_id)) == 4
