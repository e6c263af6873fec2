"""Opaque keyset cursors: where a page starts, not how many rows to skip.

A cursor is URL-safe base64 of compact JSON ``{"s": sort, "o": order, "d": direction,
"k": key}``: ``d`` is ``after`` (next page), ``before`` (previous page) or ``last``; ``k`` is
the sort key of the row the page starts after or before. Decoding checks every part, so a
tampered or stale cursor is a clear ``invalid_cursor`` error, never a SQL error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Literal

from bbp_portal.service_errors import ServiceError

Direction = Literal["after", "before", "last"]
KeyValue = int | str


class InvalidCursor(ServiceError):
    """The cursor was not made by us for this list (or the sort changed since): HTTP 400."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_cursor", message, "cursor")

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Cursor:
    sort: str
    order: Literal["asc", "desc"]
    direction: Direction
    key: tuple[KeyValue, ...] = ()

    def encode(self) -> str:
        payload = {"s": self.sort, "o": self.order, "d": self.direction, "k": list(self.key)}
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, *, key_types: dict[str, tuple[type, ...]]) -> Cursor:
    """Parse a cursor; ``key_types`` maps each sort name to the types of its key parts."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor(
            "The page cursor is not valid; start again from the first page."
        ) from None
    if not isinstance(payload, dict):
        raise InvalidCursor("The page cursor is not valid; start again from the first page.")
    sort, order, direction, key = (payload.get(k) for k in ("s", "o", "d", "k"))
    if (
        sort not in key_types
        or order not in ("asc", "desc")
        or direction not in ("after", "before", "last")
        or not isinstance(key, list)
    ):
        raise InvalidCursor("The page cursor is not valid; start again from the first page.")
    types = key_types[sort]
    if direction == "last":
        if key:
            raise InvalidCursor("The page cursor is not valid; start again from the first page.")
    elif len(key) != len(types) or not all(
        isinstance(v, t) and not isinstance(v, bool) for v, t in zip(key, types, strict=True)
    ):
        raise InvalidCursor("The page cursor is not valid; start again from the first page.")
    return Cursor(sort, order, direction, tuple(key))
