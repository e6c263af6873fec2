"""How a thin ``/api/v1`` view calls a service: on a connection that only reads, or in one
transaction as the signed-in actor; and the keyset page envelope it answers with.

Why: every feature's list/get/create views were the same three lines (open a connection or a
transaction, pass ``actor()``, return what the service answers) written again per endpoint;
one place keeps "a read never writes, a change is one transaction with its actor" the rule.
Likewise each operation's decorator repeated its family's tags and access rule (``endpoints``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from bbp_portal.api.core import endpoint
from bbp_portal.view_context import actor, engine

T = TypeVar("T")


def reading(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(conn, *args, **kwargs)`` on a connection of its own (no transaction to commit)."""
    with engine().connect() as conn:
        return call(conn, *args, **kwargs)


def changing(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(conn, actor(), *args, **kwargs)`` in one transaction, committed if it returns."""
    with engine().begin() as conn:
        return call(conn, actor(), *args, **kwargs)


def keyset_page(page: Any, **info: Any) -> dict[str, Any]:
    """The page envelope (``page_of``) of a keyset page: its items, and ``page`` with its
    limit and cursors (``last`` null where it has none; ``info`` adds the sort, the order…)."""
    cursors = {"next": page.next, "prev": page.prev, "last": getattr(page, "last", None)}
    return {"items": page.items, "page": {"limit": getattr(page, "limit", None), **cursors, **info}}


def endpoints(**preset: Any) -> Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]]:
    """:func:`~bbp_portal.api.core.endpoint` with what a family of operations shares (its tags,
    who may call it, whether a token may) said once: ``changes = endpoints(tags=TAGS,
    roles=OPERATORS, tokens=True)``, then ``@changes("Add a thing", body=..., response=...)``.
    The operation and its document are exactly those of ``endpoint`` with all the arguments."""
    return partial(endpoint, **preset)
