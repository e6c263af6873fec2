"""Serve a WSGI app with gunicorn: one worker process, many threads, HTTP keep-alive.

One process because the sandbox's state lives in memory and must be shared by every
request; gthread so that hundreds of concurrent connections (and 30-second "slow" faults)
do not starve each other; keep-alive so that benchmarks measure the system, not TCP setup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication


class _GunicornApp(BaseApplication):  # type: ignore[misc]
    def __init__(self, app_factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._app_factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Called in the worker, after the fork: the state (and the ledger file it holds) is
        # the worker's own, and a worker gunicorn replaces reads the ledger back afresh.
        return self._app_factory()


def serve(
    app_factory: Callable[[], Any],
    *,
    host: str,
    port: int,
    threads: int = 128,
    keepalive_seconds: int = 75,
    access_log: bool = False,
    log_level: str = "info",
    name: str = "bbp-sandbox",
) -> None:
    """Run the app `app_factory()` makes (in the worker process) until SIGTERM/SIGINT.

    Keep-alive is long (75 s) on purpose: a client's pooled connection that the server
    closed while idle makes the next payment an "unknown outcome" on the client side.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = {
        "bind": [f"{host}:{port}"],
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "worker_connections": max(1000, threads * 8),
        "keepalive": keepalive_seconds,
        "timeout": 120,
        "graceful_timeout": 3,
        "accesslog": "-" if access_log else None,
        "loglevel": log_level,
        "proc_name": name,
        # Gunicorn's control socket has one default path per user: parallel sandboxes
        # (tests, `make run`) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }
    _GunicornApp(app_factory, options).run()
