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

Access and error lines go through the platform's one logging setup
(``bbp_common.platform.logging``): the same renderer as the portal's own lines — JSON, or
console lines under ``make run`` (``BBP_LOG_FORMAT``, ``BBP_LOG_LEVEL``) — the one secret
masker, and the correlation id.
gunicorn takes every global of this file whose name is one of its settings as that setting:
helpers are therefore private (leading underscore).
"""

from __future__ import annotations

import os as _os
from pathlib import Path as _Path
from typing import Any as _Any

from gunicorn.glogging import Logger as _GunicornLogger

from bbp_common.platform.logging import configure_logging as _configure_logging
from bbp_common.platform.logging import get_logger as _get_logger
from bbp_common.platform.settings import LoggingSettings as _LoggingSettings
from bbp_common.platform.settings import SettingsError as _SettingsError
from bbp_common.platform.settings import load_settings as _load_settings


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
# Both logs are on; where their lines go and how they look is PlatformLogger's (below):
# stdout, like every service of the platform.
accesslog = "-"
errorlog = "-"


def _logging_settings() -> _LoggingSettings:
    try:
        return _load_settings(_LoggingSettings)
    except _SettingsError as exc:
        raise SystemExit(str(exc)) from None


_LOGGING = _logging_settings()
loglevel = _LOGGING.log_level.lower()


def _response_header(resp: _Any, name: str) -> str | None:
    for key, value in getattr(resp, "headers", None) or []:
        if key.lower() == name:
            return str(value)
    return None


class PlatformLogger(_GunicornLogger):
    """gunicorn's error and access lines, rendered by the platform's logging setup.

    Its two loggers keep no handler of their own: they hand every record to the root
    logger, which ``configure_logging`` gives the platform's renderer and masker (in the
    master here, and again in each worker when the app is built). An access line is one
    structured event per request; the query string is left out on purpose (it may carry
    tokens or personal data).
    """

    def setup(self, cfg: _Any) -> None:
        super().setup(cfg)
        _configure_logging("portal", _LOGGING.log_level, _LOGGING.log_format)
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True

    def access(self, resp: _Any, req: _Any, environ: dict[str, _Any], request_time: _Any) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        headers = {k.lower(): v for k, v in getattr(req, "headers", [])}
        try:
            _get_logger("gunicorn.access").info(
                "http_request",
                # The portal's correlation id: it echoes a caller's plain X-Request-ID or
                # makes one, and the same id is in every line and message of the request.
                correlation_id=_response_header(resp, "x-request-id")
                or headers.get("x-request-id"),
                # A request the app failed on comes with an empty environ: read the request.
                remote=environ.get("REMOTE_ADDR") or (getattr(req, "peer_addr", None) or [None])[0],
                forwarded_for=headers.get("x-forwarded-for"),
                method=environ.get("REQUEST_METHOD") or getattr(req, "method", None),
                path=environ.get("PATH_INFO") or getattr(req, "path", None),
                status=int(status) if str(status).isdigit() else status,
                bytes=getattr(resp, "sent", None),
                duration_ms=round(request_time.total_seconds() * 1000, 3),
                user_agent=environ.get("HTTP_USER_AGENT") or headers.get("user-agent"),
            )
        except Exception:  # a log line must never fail a request
            self.exception("access_log_failed")


logger_class = PlatformLogger


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
