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

from flask import Flask, current_app
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
    cancel: Cancel
    export_header: tuple[str, ...]
    export_rows: Callable[[Callable[[], Any], int], Iterator[tuple[Any, ...]]]
    """``export_rows(conn_factory, request_id)``: the rows of the results file."""
    export_name: str
    """The results file's name without its extension; ``{id}`` is the request id."""


def register_kinds(app: Flask, *kinds: RequestKind) -> None:
    """Make these kinds known to the shared request pages of ``app`` (``create_app``)."""
    app.extensions["bbp.request_kinds"] = {kind.name: kind for kind in kinds}


def kind_of(name: str) -> RequestKind:
    """The registered kind of this app called ``name``."""
    kinds: dict[str, RequestKind] = current_app.extensions["bbp.request_kinds"]
    return kinds[name]


__all__ = ["Cancel", "RequestKind", "kind_of", "register_kinds"]
