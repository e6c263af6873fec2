"""Reading requests: the list of every request (fetch and payment), newest first.

Keyset pages by id, each row with its progress from the tallies (``bulk.queries``; one
tally read per page); never a count of a request's items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, select

from bbp_common.platform.db.tables import bulk_requests
from bbp_portal.bulk.queries import (
    KINDS,
    REQUEST_COLUMNS,
    STATES,
    progress_of,
    request_row,
    tallies,
)
from bbp_portal.cursor import Cursor, decode_cursor
from bbp_portal.service_errors import ValidationFailed

R = bulk_requests.c
MAX_PAGE = 200
_CURSOR_TYPES: dict[str, tuple[type, ...]] = {"id": (int,)}


@dataclass(frozen=True)
class RequestFilter:
    """Which requests: a kind, a state, who started them, created on or between two days."""

    kind: str = ""
    state: str = ""
    created_by: str = ""
    created_from: date | None = None
    created_to: date | None = None

    def __post_init__(self) -> None:
        if self.kind and self.kind not in KINDS:
            raise ValidationFailed("invalid", f"The kind is one of {', '.join(KINDS)}.", "kind")
        if self.state and self.state not in STATES:
            raise ValidationFailed("invalid", f"The state is one of {', '.join(STATES)}.", "state")
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise ValidationFailed(
                "invalid", "The first day comes after the last day.", "created_from"
            )

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.kind:
            where.append(R.kind == self.kind)
        if self.state:
            where.append(R.state == self.state)
        if self.created_by.strip():
            where.append(R.created_by == self.created_by.strip())
        if self.created_from:
            where.append(R.created_at >= datetime.combine(self.created_from, datetime.min.time()))
        if self.created_to:
            end = datetime.combine(self.created_to + timedelta(days=1), datetime.min.time())
            where.append(R.created_at < end)
        return where

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state,
            "created_by": self.created_by,
            "created_from": self.created_from.isoformat() if self.created_from else "",
            "created_to": self.created_to.isoformat() if self.created_to else "",
        }


@dataclass(frozen=True)
class Page:
    """A keyset page: its rows and the cursors of the pages around it (``None``: no such)."""

    items: list[Any]
    next: str | None = None
    prev: str | None = None
    last: str | None = None
    limit: int = 50
    extra: dict[str, Any] = field(default_factory=dict)


def _cursor(direction: str, key: int | None = None) -> str:
    return Cursor("id", "desc", direction, () if key is None else (key,)).encode()  # type: ignore[arg-type]


def parse_cursor(token: str | None) -> Cursor | None:
    return decode_cursor(token, key_types=_CURSOR_TYPES) if token else None


def list_requests(
    conn: Connection, request_filter: RequestFilter, *, cursor: str | None = None, limit: int = 50
) -> Page:
    """Newest first, keyset by id; each row with its progress (one tally read per page)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    position = parse_cursor(cursor)
    where = request_filter.conditions()
    direction = position.direction if position else "first"
    if direction in ("first", "after"):
        if position is not None:
            where.append(R.id < position.key[0])
        rows = list(
            conn.execute(
                select(*REQUEST_COLUMNS).where(*where).order_by(R.id.desc()).limit(limit + 1)
            )
        )
        has_next, rows = len(rows) > limit, rows[:limit]
        has_prev = position is not None and bool(rows) and _exists(conn, request_filter, rows[0])
    else:
        if direction == "before":
            where.append(R.id > position.key[0])  # type: ignore[union-attr]
        rows = list(
            conn.execute(
                select(*REQUEST_COLUMNS).where(*where).order_by(R.id.asc()).limit(limit + 1)
            )
        )
        has_prev, rows = len(rows) > limit, rows[:limit]
        rows.reverse()
        has_next = (
            direction == "before"
            and bool(rows)
            and bool(
                conn.execute(
                    select(R.id)
                    .where(*request_filter.conditions(), R.id < rows[-1].id)
                    .order_by(R.id.desc())
                    .limit(1)
                ).first()
            )
        )
    counts = tallies(conn, [r.id for r in rows])
    items = [request_row(r, progress_of(r, *counts[r.id])) for r in rows]
    return Page(
        items,
        next=_cursor("after", rows[-1].id) if rows and has_next else None,
        prev=_cursor("before", rows[0].id) if rows and has_prev else None,
        last=_cursor("last"),
        limit=limit,
    )


def _exists(conn: Connection, request_filter: RequestFilter, first: Any) -> bool:
    query = (
        select(R.id)
        .where(*request_filter.conditions(), R.id > first.id)
        .order_by(R.id.asc())
        .limit(1)
    )
    return conn.execute(query).first() is not None


def creators(conn: Connection) -> list[str]:
    """Who has started requests (for the list's filter), served by ``(created_by, id)``."""
    return list(conn.execute(select(R.created_by).distinct().order_by(R.created_by)).scalars())


__all__ = ["MAX_PAGE", "Page", "RequestFilter", "creators", "list_requests", "parse_cursor"]
