"""One correlation id per HTTP request: in every log line of it, in every message it writes
to the outbox, on every bulk request it creates (the scheduler stamps it on that request's
commands, so the communicator's lines about the Mobiquity calls carry it too).

A caller's ``X-Request-ID`` (an ingress or a client that already has one) is kept when it is
a plain token; otherwise a new id is made. The id is echoed in the response header.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import Any

from flask import Flask, Response, g, request

from bbp_common.platform.logging import correlation, new_correlation_id

HEADER = "X-Request-ID"
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def init_correlation(app: Flask) -> None:
    """Install first, so that everything later in the request logs with the id."""

    @app.before_request
    def _bind() -> None:
        incoming = request.headers.get(HEADER, "")
        scope: AbstractContextManager[str] = correlation(
            incoming if _TOKEN.match(incoming) else new_correlation_id()
        )
        g.bbp_correlation_id = scope.__enter__()
        g.bbp_correlation_scope = scope

    @app.after_request
    def _echo(response: Response) -> Response:
        cid = g.get("bbp_correlation_id")
        if cid:
            response.headers[HEADER] = cid
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> Any:
        scope = g.pop("bbp_correlation_scope", None)
        if scope is not None:
            scope.__exit__(None, None, None)
