"""The request pipeline every Mobiquity endpoint goes through.

`gate()` runs before processing: it matches the call against faults and magic ids, adds
latency, checks the bearer token and answers 500-before; `finish()` runs after processing
and applies the after-effects (drop the connection, 500, malformed JSON, slow).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, g, request

from sandbox.mobiquity import faults
from sandbox.mobiquity.envelopes import MobiquityError, error_envelope, server_error, unauthorized
from sandbox.mobiquity.state import SYSTEM, USER, State, Token

log = logging.getLogger("sandbox.mobiquity")


class EarlyAnswer(Exception):
    """Raised by `gate()` to answer before processing (401, 500-before)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class ConnectionDropped(Exception):
    """Raised instead of dropping when there is no socket to drop (Flask test client)."""


@dataclass
class Context:
    """What `gate()` found out about a call."""

    endpoint: str
    plan: faults.Plan
    token: Token | None


def state() -> State:
    """The sandbox state of the running app."""
    return current_app.extensions["sandbox_state"]  # type: ignore[no-any-return]


def json_response(payload: Any, status: int = 200) -> Response:
    """A compact JSON response, keys in the documented order."""
    return Response(json.dumps(payload, separators=(",", ":")), status, mimetype="application/json")


def json_body() -> Any:
    """The request body as JSON, or None when it is not JSON."""
    return request.get_json(force=True, silent=True)


def bearer() -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def gate(
    endpoint: str, *, auth: str | None, consumer_id: str | None = None, reference: str | None = None
) -> Context:
    """Everything before processing; raises EarlyAnswer for 401 and 500-before."""
    st = state()
    token = st.lookup_token(bearer())
    plan = st.plan(endpoint, consumer_id, reference, token)
    call = g.get("call")
    if call is not None:
        call.consumer_id, call.reference, call.fault_ids = consumer_id, reference, plan.fault_ids
    delay_ms = st.config.base_latency_ms + plan.latency_ms
    if delay_ms:
        time.sleep(delay_ms / 1000)
    if auth is not None:
        if token is None or token.kind != auth:
            raise EarlyAnswer(json_response(unauthorized(expired=False), 401))
        if plan.token_expired or token.expired(time.monotonic()):
            raise EarlyAnswer(json_response(unauthorized(expired=True), 401))
    if plan.before_500:
        raise EarlyAnswer(json_response(server_error(request.path), 500))
    return Context(endpoint, plan, token)


def system_auth(required: bool) -> str | None:
    """The `auth` argument of `gate()` for endpoints called with the system token."""
    return SYSTEM if required else None


def user_auth(required: bool) -> str | None:
    """The `auth` argument of `gate()` for endpoints called with a user's token."""
    return USER if required else None


def error_answer(err: MobiquityError, language: str = "en") -> tuple[dict[str, Any], int]:
    """A MobiquityError as (envelope, HTTP status)."""
    return error_envelope(err, language), err.http_status


def finish(ctx: Context, payload: Any, status: int) -> Response:
    """Answer a processed call, applying the plan's after-effect."""
    after = ctx.plan.after
    g.answered = after
    if after == faults.SLOW:
        time.sleep(ctx.plan.slow_seconds)
        return json_response(payload, status)
    if after == faults.DROP:
        return drop_connection()
    if after == faults.AFTER_500:
        return json_response(server_error(request.path), 500)
    if after == faults.MALFORMED:
        text = json.dumps(payload, separators=(",", ":"))
        return Response(text[: max(1, len(text) // 2)], 200, mimetype="application/json")
    return json_response(payload, status)


def drop_connection() -> Response:
    """Close the client's connection without writing a response.

    Under gunicorn the WSGI environ carries the client socket (`gunicorn.socket`); shutting
    it down sends FIN, so the client reads no status line ("Remote end closed connection
    without response"). Gunicorn's own write of the response we return then fails with
    EPIPE, which its gthread worker ignores before closing the connection.
    """
    sock = request.environ.get("gunicorn.socket")
    call = g.get("call")
    if call is not None:
        call.answered = faults.DROP
    if sock is None:
        raise ConnectionDropped(request.path)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        log.debug("socket already closed while dropping")
    return Response(b"", 200)
