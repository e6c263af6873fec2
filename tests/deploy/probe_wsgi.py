"""A tiny WSGI app for the gunicorn configuration test: counts requests, sleeps on /slow."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter

REQUESTS = Counter("probe_requests", "Requests the probe app answered")


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    REQUESTS.inc()
    if environ["PATH_INFO"] == "/slow":
        time.sleep(1.5)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]
