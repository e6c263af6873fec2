"""The kinds of request (fetch, payment) and what differs between them on the pages every
request shares.

``/requests/<id>``, its cancel button and its export (pages and ``/api/v1``) belong to
``requests/`` whatever the kind. Each kind brings its own page, cancel and result rows as a
:class:`RequestKind`, which ``create_app`` registers (:func:`register_kinds`); the shared
pages ask :func:`kind_of` for the request's kind. So ``requests/`` never imports
``payments/``: payment requests plug in the way fetch requests do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app, request, url_for
from sqlalchemy import Engine

from bbp_portal.bulk.queries import RequestRow
from bbp_portal.bulk.service import InTransaction, Relay


class Cancel(Protocol):
    """Cancels a request of the kind: undispatched items stop, dispatched ones finish."""

    def __call__(
        self,
        engine: Engine,
        request_id: int,
        by: str,
        *,
        relay: Relay | None = None,
        in_transaction: InTransaction | None = None,
    ) -> int: ...


@dataclass(frozen=True)
class RequestKind:
    name: str
    page: Callable[[RequestRow], Any]
    """Renders the request's page (``GET /requests/<id>``; the request is read already)."""
    live: Callable[[RequestRow], Any]
    """Renders the live fragment the page polls (``GET /requests/<id>/live``, same query
    string): its rows, and out of band its state and progress."""
    cancel: Cancel
    export_header: tuple[str, ...]
    export_rows: Callable[[Callable[[], Any], int], Iterator[tuple[Any, ...]]]
    """``export_rows(conn_factory, request_id)``: the rows of the results file."""
    export_name: str
    """The results file's name without its extension; ``{id}`` is the request id."""


#: Set on every live fragment: the page's script swaps in nothing else (a sign-in page, after
#: the session ended, makes it reload instead).
LIVE_HEADER = "X-BBP-Live"


def live_url(request_id: int, keep: dict[str, str]) -> str:
    """The address a request's page polls: its live fragment (``requests.live``), with the
    page's filters ``keep`` and its keyset page."""
    values: dict[str, Any] = {**keep, "request_id": request_id}
    cursor = request.args.get("cursor")
    if cursor:
        values["cursor"] = cursor
    return url_for("requests.live", **values)


def register_kinds(app: Flask, *kinds: RequestKind) -> None:
    """Make these kinds known to the shared request pages of ``app`` (``create_app``)."""
    app.extensions["bbp.request_kinds"] = {kind.name: kind for kind in kinds}


def kind_of(name: str) -> RequestKind:
    """The registered kind of this app called ``name``."""
    kinds: dict[str, RequestKind] = current_app.extensions["bbp.request_kinds"]
    return kinds[name]


__all__ = ["LIVE_HEADER", "Cancel", "RequestKind", "kind_of", "live_url", "register_kinds"]
