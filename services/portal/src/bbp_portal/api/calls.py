"""How a thin ``/api/v1`` view calls a service (``reading``/``changing``, from
:mod:`bbp_portal.view_context`: on a connection that only reads, or in one transaction as the
signed-in actor), and the keyset page envelope it answers with.

Why: every feature's list/get/create views were the same three lines (open a connection or a
transaction, pass ``actor()``, return what the service answers) written again per endpoint;
one place keeps "a read never writes, a change is one transaction with its actor" the rule.
Likewise each operation's decorator repeated its family's tags and access rule (``endpoints``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from bbp_portal.api.core import endpoint
from bbp_portal.view_context import changing, reading


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


__all__ = ["changing", "endpoints", "keyset_page", "reading"]
