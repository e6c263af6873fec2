"""A tiny WSGI app for the gunicorn configuration test: counts requests, sleeps on /slow,
fails on /boom with an error whose message holds a secret."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter

REQUESTS = Counter("probe_requests", "Requests the probe app answered")
#: Letters too: a digits-only secret turns up by chance in timestamps and process ids.
BOOM_SECRET = "Qx4321kW"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    REQUESTS.inc()
    if environ["PATH_INFO"] == "/slow":
        time.sleep(1.5)
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError(f"could not pay: mpin={BOOM_SECRET}")
    # Like the portal, it echoes a correlation id, which the access log must carry.
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Request-ID", "probe-rid-42")])
    return [b"done"]
