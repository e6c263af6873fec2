"""``/healthz`` (alive) and ``/readyz`` (ready for traffic), public, on the portal's own port."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify

from bbp_common.platform.db import ping
from bbp_portal.auth import public


@public
def healthz() -> Any:
    return jsonify(status="ok")


@public
def readyz() -> Any:
    app = current_app
    checks: dict[str, str] = {}
    try:
        ping(app.extensions["bbp.engine"])
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"failing: {type(exc).__name__}"
    store = app.config.get("SESSION_REDIS")
    if store is not None:
        try:
            store.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"failing: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    # RabbitMQ is reported, not required: while it is down the portal still takes requests
    # (they wait in the outbox, and the scheduler relays them), so taking the portal out
    # of service would only make a broker outage worse.
    relay = app.extensions.get("bbp.relay")
    if relay is not None:
        checks["rabbitmq"] = "ok" if relay.connected else "not connected (outbox holds work)"
    return jsonify(status="ok" if ok else "unready", **checks), (200 if ok else 503)


def init_health(app: Flask) -> None:
    app.add_url_rule("/healthz", view_func=healthz)
    app.add_url_rule("/readyz", view_func=readyz)


__all__ = ["healthz", "init_health", "readyz"]
