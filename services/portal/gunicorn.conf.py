"""gunicorn settings for the portal, read from the environment (see the README)."""

import os

bind = f"{os.environ.get('BBP_PORTAL_HOST', '0.0.0.0')}:{os.environ.get('BBP_PORTAL_PORT', '8000')}"  # noqa: S104
workers = int(os.environ.get("BBP_PORTAL_WORKERS", "2"))
threads = int(os.environ.get("BBP_PORTAL_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("BBP_PORTAL_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("BBP_PORTAL_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
forwarded_allow_ips = os.environ.get("BBP_PORTAL_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
access_log_format = (
    '{"event": "http_request", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": "%(B)s", "duration_us": %(D)s, "user_agent": "%(a)s"}'
)
