"""Per-request counters of items and amounts by state ("buckets"), sharded.

Every state change of an item moves one unit between two buckets in the same transaction
as the change, so a request's progress is a handful of rows, never a COUNT over a million
items. Each bucket is split into ``SHARDS`` rows and a transaction adds to one shard chosen
at random: the dispatcher and many result workers changing items of the same request would
otherwise all queue for the same row lock, held until each COMMIT's fsync. Readers sum the
shards (``read``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from decimal import Decimal

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import mysql

from bbp_common.db.tables import request_tallies

SHARDS = 8

Tally = tuple[int, Decimal]

# Built once: rebuilding the statement on every call cost more CPU than running it.
_upsert = mysql.insert(request_tallies)
_BUMP = _upsert.on_duplicate_key_update(
    item_count=request_tallies.c.item_count + _upsert.inserted.item_count,
    amount=request_tallies.c.amount + _upsert.inserted.amount,
)


def bump(
    conn: Connection,
    request_id: int,
    changes: Mapping[str, tuple[int, Decimal | int]],
    *,
    shard: int | None = None,
) -> None:
    """Add ``(count, amount)`` to each bucket of a request (negative to take away).

    All buckets of one call go to the same shard, in sorted order, so two transactions on
    the same shard lock its rows in the same order (no deadlock between them).
    """
    shard = random.randrange(SHARDS) if shard is None else shard
    rows = [
        {
            "request_id": request_id,
            "bucket": bucket,
            "shard": shard,
            "item_count": changes[bucket][0],
            "amount": changes[bucket][1],
        }
        for bucket in sorted(changes)
        if changes[bucket][0] or changes[bucket][1]
    ]
    if rows:
        conn.execute(_BUMP, rows)


def read_many(conn: Connection, request_ids: Iterable[int]) -> dict[int, dict[str, Tally]]:
    """``{request_id: {bucket: (items, amount)}}``, shards summed, empty buckets left out."""
    ids = sorted(set(request_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(
            request_tallies.c.request_id,
            request_tallies.c.bucket,
            func.sum(request_tallies.c.item_count).label("items"),
            func.sum(request_tallies.c.amount).label("amount"),
        )
        .where(request_tallies.c.request_id.in_(ids))
        .group_by(request_tallies.c.request_id, request_tallies.c.bucket)
    ).all()
    found: dict[int, dict[str, Tally]] = {request_id: {} for request_id in ids}
    for row in rows:
        if int(row.items):
            found[row.request_id][row.bucket] = (int(row.items), Decimal(row.amount))
    return found


def read(conn: Connection, request_id: int) -> dict[str, Tally]:
    """``{bucket: (items, amount)}`` of one request."""
    return read_many(conn, [request_id])[request_id]


def open_items(conn: Connection, request_id: int, buckets: Iterable[str]) -> int:
    """How many items of the request are in any of ``buckets``."""
    return int(
        conn.execute(
            select(func.coalesce(func.sum(request_tallies.c.item_count), 0)).where(
                request_tallies.c.request_id == request_id,
                request_tallies.c.bucket.in_(list(buckets)),
            )
        ).scalar_one()
    )
