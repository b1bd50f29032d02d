"""A small stdlib webhook receiver that triggers a pull on annotation events.

Label Studio POSTs JSON ``{"action": "ANNOTATION_CREATED", ...}`` to the
registered URL. :func:`make_webhook_server` answers at once and runs the
callback in a worker thread, one at a time; events arriving during a pull
coalesce into one more pull afterwards.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRIGGER_ACTIONS = frozenset(
    {"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED", "ANNOTATIONS_DELETED"}
)
#: Actions registered with Label Studio (the ``actions`` list of the webhook).
WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")
MAX_BODY = 16 * 1024 * 1024


class _Trigger:
    """Runs ``on_event`` in a worker thread, coalescing events that arrive meanwhile."""

    def __init__(self, on_event: Callable[[Mapping[str, Any]], None]) -> None:
        self._on_event = on_event
        self._lock = threading.Lock()
        self._pending: Mapping[str, Any] | None = None
        self._running = False
        self.errors: list[str] = []

    def fire(self, payload: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending = payload
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._loop, name="sitewatch-webhook-pull", daemon=True).start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                payload, self._pending = self._pending, None
                if payload is None:
                    self._running = False
                    return
            try:
                self._on_event(payload)
            except Exception as exc:  # keep serving; the error is reported by /status
                self.errors.append(f"{type(exc).__name__}: {exc}")


def make_webhook_server(
    host: str, port: int, on_event: Callable[[Mapping[str, Any]], None]
) -> ThreadingHTTPServer:
    """HTTP server on ``host:port`` calling ``on_event(payload)`` for annotation events.

    ``POST /`` (any path) with a JSON body whose ``action`` is in
    :data:`TRIGGER_ACTIONS` triggers the callback; other actions are
    acknowledged and ignored. ``GET /health`` answers ``ok``. Call
    ``serve_forever()`` on the result (and ``shutdown()`` to stop).
    """
    trigger = _Trigger(on_event)

    class Handler(BaseHTTPRequestHandler):
        server_version = "sitewatch-webhook/1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet; no headers logged
            return

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            self._reply(200, {"status": "ok", "errors": trigger.errors[-5:]})

        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self._reply(400, {"error": "expected a JSON body"})
                return
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self._reply(400, {"error": "body is not JSON"})
                return
            action = payload.get("action") if isinstance(payload, dict) else None
            if action in TRIGGER_ACTIONS:
                trigger.fire(payload)
                self._reply(200, {"accepted": action})
            else:
                self._reply(200, {"ignored": action})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
