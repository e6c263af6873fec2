"""gunicorn settings for the portal, read from the environment (see the README and deploy/).

Every knob is an environment variable, so the same file serves `make run`, Docker Compose and
Kubernetes (whose ConfigMap sets them):

* ``BBP_PORTAL_HOST`` / ``BBP_PORTAL_PORT`` — where the web app listens (``0.0.0.0:8000``).
* ``BBP_PORTAL_WORKERS`` / ``BBP_PORTAL_THREADS`` — processes × threads (gthread workers).
* ``BBP_PORTAL_TIMEOUT`` — a worker silent this long is killed and replaced.
* ``BBP_PORTAL_GRACEFUL_TIMEOUT`` — on SIGTERM, how long requests in flight may take to
  finish before the workers are killed. Kubernetes' ``terminationGracePeriodSeconds`` must
  exceed it plus the preStop pause (checked by ``tests/deploy``).
* ``BBP_PORTAL_FORWARDED_ALLOW_IPS`` — who may set ``X-Forwarded-*`` (the ingress).
* ``BBP_PORTAL_METRICS_HOST`` / ``BBP_PORTAL_METRICS_PORT`` — the master serves ``/metrics``
  for all workers there (``0.0.0.0:9100``; ``0`` port disables it). Not exposed by the
  ingress.
* ``PROMETHEUS_MULTIPROC_DIR`` — Prometheus multiprocess mode: every worker writes its
  metrics to files in this directory (a writable emptyDir/tmpfs; the image sets it) and the
  master's ``/metrics`` adds them up. Emptied at start-up; a dead worker's live gauges are
  dropped (``child_exit``). It must be set in the environment before gunicorn starts, not
  from Python, so that every process sees it.

Access and error logs are JSON, one object a line, like the services' own logs. gunicorn takes
every global of this file whose name is one of its settings as that setting: helpers are
therefore private (leading underscore).
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import logging as _logging
import os as _os
from pathlib import Path as _Path
from typing import Any as _Any

from gunicorn.glogging import Logger as _GunicornLogger


def _int_env(name: str, default: int) -> int:
    raw = _os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None


_HOST = _os.environ.get("BBP_PORTAL_HOST", "0.0.0.0")  # noqa: S104 - a container listens on all
_PORT = _int_env("BBP_PORTAL_PORT", 8000)
_METRICS_HOST = _os.environ.get("BBP_PORTAL_METRICS_HOST", "0.0.0.0")  # noqa: S104
_METRICS_PORT = _int_env("BBP_PORTAL_METRICS_PORT", 9100)
_MULTIPROC_DIR = _os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()

bind = [f"{_HOST}:{_PORT}"]
workers = _int_env("BBP_PORTAL_WORKERS", 2)
threads = _int_env("BBP_PORTAL_THREADS", 4)
worker_class = "gthread"
timeout = _int_env("BBP_PORTAL_TIMEOUT", 60)
graceful_timeout = _int_env("BBP_PORTAL_GRACEFUL_TIMEOUT", 30)
keepalive = _int_env("BBP_PORTAL_KEEPALIVE", 5)
# gunicorn answers a longer request line itself with a raw page: take its maximum, so that
# the portal refuses long addresses first, with its own page (bbp_portal.inputs).
limit_request_line = 8190
forwarded_allow_ips = _os.environ.get("BBP_PORTAL_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Each worker builds its own app (and database pool) after the fork.
preload_app = False
# The heartbeat file on a tmpfs: on a disk-backed (or read-only) /tmp it can block or fail.
worker_tmp_dir = "/dev/shm" if _os.path.isdir("/dev/shm") else None  # noqa: S108
# gunicorn's control socket (gunicornc) lives under $HOME by default: unused here, and the
# root filesystem of the container is read-only.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
loglevel = _os.environ.get("BBP_LOG_LEVEL", "info").lower()


def _iso_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _JsonFormatter(_logging.Formatter):
    """gunicorn's own messages (master and workers) as one JSON object a line."""

    def format(self, record: _logging.LogRecord) -> str:
        payload: dict[str, _Any] = {
            "timestamp": _iso_now(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": "portal",
            "event": _mask_text(record.getMessage()),
        }
        if record.exc_info:
            payload["exception"] = _mask_text(self.formatException(record.exc_info))
        return _json.dumps(payload, default=str)


def _mask_text(text: str) -> str:
    """The platform's one secret masker, for gunicorn's own lines too."""
    from bbp_common.masking import mask_text

    return mask_text(text)


def _response_header(resp: _Any, name: str) -> str | None:
    for key, value in getattr(resp, "headers", None) or []:
        if key.lower() == name:
            return str(value)
    return None


class JsonLogger(_GunicornLogger):
    """JSON access log (one object per request, every value escaped) and JSON error log.

    The query string is left out on purpose: it may carry tokens or personal data.
    """

    def setup(self, cfg: _Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(_JsonFormatter())
        for handler in self.access_log.handlers:
            handler.setFormatter(_logging.Formatter("%(message)s"))

    def access(self, resp: _Any, req: _Any, environ: dict[str, _Any], request_time: _Any) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        headers = {k.lower(): v for k, v in getattr(req, "headers", [])}
        record = {
            "timestamp": _iso_now(),
            "level": "info",
            "logger": "gunicorn.access",
            "service": "portal",
            "event": "http_request",
            "remote": environ.get("REMOTE_ADDR"),
            "forwarded_for": headers.get("x-forwarded-for"),
            # The portal's correlation id (it echoes a caller's plain X-Request-ID or makes one).
            "request_id": _response_header(resp, "x-request-id") or headers.get("x-request-id"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": _os.getpid(),
        }
        try:
            self.access_log.info(_json.dumps(record, default=str))
        except Exception:  # a log line must never fail a request
            self.exception("access_log_failed")


logger_class = JsonLogger


def on_starting(server: _Any) -> None:
    """Master, before the first fork: start multiprocess mode with an empty directory."""
    if not _MULTIPROC_DIR:
        server.log.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: /metrics would only show one process; "
            "the metrics server is disabled"
        )
        return
    directory = _Path(_MULTIPROC_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def when_ready(server: _Any) -> None:
    """Master, once listening: serve every worker's metrics, added up, on the metrics port."""
    if not _MULTIPROC_DIR or _METRICS_PORT == 0:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=_MULTIPROC_DIR)
    start_http_server(_METRICS_PORT, addr=_METRICS_HOST, registry=registry)
    server.log.info("metrics server listening on %s:%s", _METRICS_HOST, _METRICS_PORT)


def child_exit(server: _Any, worker: _Any) -> None:
    """Master, after a worker exited: drop its live gauges (counters and histograms stay)."""
    if not _MULTIPROC_DIR:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, path=_MULTIPROC_DIR)


def post_worker_init(worker: _Any) -> None:
    """Worker, once it loaded the app: start its RabbitMQ publisher connecting (in the
    background), so the first request created in this worker is published at once. Made
    here, after the fork: a connection made in the master would be dead in every worker."""
    relay = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("bbp.relay")
    if relay is not None:
        relay.warm()
