"""The Mobiquity stand-in's Flask application (`create_app`)."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.mobiquity import auth, billing, control
from sandbox.mobiquity.envelopes import server_error
from sandbox.mobiquity.http import ConnectionDropped, EarlyAnswer, json_response, state
from sandbox.mobiquity.settings import Settings
from sandbox.mobiquity.state import State

log = logging.getLogger("sandbox.mobiquity")


def create_app(settings: Settings | None = None, sandbox_state: State | None = None) -> Flask:
    """The app with fresh state; settings default to the SANDBOX_* environment."""
    settings = settings or Settings.from_env()
    app = Flask("sandbox.mobiquity")
    app.extensions["sandbox_state"] = sandbox_state or State(settings)
    auth.register(app)
    billing.register(app)
    app.register_blueprint(control.bp)
    app.before_request(_record_call)
    app.after_request(_finish_call)
    app.register_error_handler(EarlyAnswer, lambda e: e.response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _crash)
    return app


def _record_call() -> None:
    """Every Mobiquity call (not the control API) is listed in /__sandbox__/calls."""
    if request.blueprint == "control":
        return
    g.call = state().record_call(request.endpoint or "unknown", request.method, request.path)
    g.started = time.perf_counter()


def _finish_call(response: Response) -> Response:
    call = g.get("call")
    if call is not None:
        dropped = call.answered == "dropped"
        call.status = None if dropped else response.status_code
        if not dropped:
            call.answered = g.get("answered", "answered")
        call.duration_ms = round((time.perf_counter() - g.started) * 1000, 3)
    return response


def _http_error(err: HTTPException) -> Response:
    """Unknown path or method: a Spring-style JSON body, like Mobiquity's gateway."""
    status = err.code or 500
    body = server_error(request.path, status)
    body["error"] = err.name
    return json_response(body, status)


def _crash(err: Exception) -> Response:
    if isinstance(err, ConnectionDropped):
        raise err
    log.exception("unhandled error on %s %s", request.method, request.path)
    return json_response(server_error(request.path), 500)
