"""A small HTTP server for the worker services: ``/healthz``, ``/readyz`` and ``/metrics``.

``/healthz`` says the process is alive (its main loop ticked recently); ``/readyz`` says it
can work (each named check — database, broker — passes). Kubernetes probes the first for
restarts and the second for traffic; Prometheus scrapes ``/metrics``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bbp_common.platform.logging import get_logger

log = get_logger(__name__)

Check = Callable[[], None]
"""Raises if the dependency is not usable."""


class Liveness:
    """Heartbeat of a process's main loop; stale beats mean the loop is stuck."""

    def __init__(self, max_silence: float = 60.0) -> None:
        self.max_silence = max_silence
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._last < self.max_silence


class HealthServer:
    """Serves the probes and metrics in a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        checks: Mapping[str, Check],
        liveness: Liveness | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.checks = dict(checks)
        self.liveness = liveness or Liveness()
        self.registry = registry
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health_server_started", port=self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def readiness(self) -> tuple[bool, dict[str, str]]:
        results: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # a failing check is an answer, not a crash
                results[name] = f"failing: {type(exc).__name__}"
        return all(v == "ok" for v in results.values()), results

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    ok = server.liveness.alive()
                    self._send(200 if ok else 503, {"status": "ok" if ok else "stuck"})
                elif self.path == "/readyz":
                    ok, results = server.readiness()
                    self._send(200 if ok else 503, {"status": "ok" if ok else "unready", **results})
                elif self.path == "/metrics":
                    body = (
                        generate_latest(server.registry) if server.registry else generate_latest()
                    )
                    self._raw(200, body, CONTENT_TYPE_LATEST)
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                self._raw(status, json.dumps(payload).encode(), "application/json")

            def _raw(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would drown the log

        return Handler
