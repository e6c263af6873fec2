"""Per-request counters of items and amounts by state ("buckets"), sharded.

Every state change of an item moves one unit between two buckets in the same transaction
as the change, so a request's progress is a handful of rows, never a COUNT over a million
items. Each bucket is split into ``SHARDS`` rows and a transaction adds to one shard chosen
at random: the dispatcher and many result workers changing items of the same request would
otherwise all queue for the same row lock, held until each COMMIT's fsync. Readers sum the
shards (``read``). Only the stores (``bbp_common.core.stores``) write tallies, through
:class:`TallyMoves`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from decimal import Decimal

from sqlalchemy import Connection, func, select

from bbp_common.platform.db.tables import request_tallies

SHARDS = 8

Tally = tuple[int, Decimal]

# VALUES(col) rather than MySQL 8's row alias: MariaDB knows only the former.
_BUMP = (
    "INSERT INTO request_tallies (request_id, bucket, shard, item_count, amount)"
    " VALUES (%s, %s, %s, %s, %s)"
    " ON DUPLICATE KEY UPDATE item_count = item_count + VALUES(item_count),"
    " amount = amount + VALUES(amount)"
)


class TallyMoves:
    """Bucket changes of one transaction, written together by :meth:`flush`.

    All changes of one request go to one shard, in sorted order, so two transactions on
    the same shard lock its rows in the same order (no deadlock between them).
    """

    def __init__(self) -> None:
        self.changes: dict[int, dict[str, list[Decimal | int]]] = {}

    def add(self, request_id: int, bucket: str, count: int, amount: Decimal | int) -> None:
        entry = self.changes.setdefault(request_id, {}).setdefault(bucket, [0, Decimal("0")])
        entry[0] += count
        entry[1] += amount

    def move(
        self, request_id: int, old: str | None, new: str | None, amount: Decimal | int
    ) -> None:
        """One item leaves ``old`` (None: it is new) for ``new`` (None: it is gone)."""
        if old == new:
            return
        if old is not None:
            self.add(request_id, old, -1, -amount)
        if new is not None:
            self.add(request_id, new, 1, amount)

    def flush(self, conn: Connection) -> None:
        rows = []
        for request_id in sorted(self.changes):
            shard = random.randrange(SHARDS)
            buckets = self.changes[request_id]
            for bucket in sorted(buckets):
                count, amount = buckets[bucket]
                if count or amount:
                    rows.append((request_id, bucket, shard, count, amount))
        self.changes = {}
        if rows:
            conn.exec_driver_sql(_BUMP, rows)


def bump(
    conn: Connection,
    request_id: int,
    changes: Mapping[str, tuple[int, Decimal | int]],
) -> None:
    """Add ``(count, amount)`` to each bucket of a request (negative to take away)."""
    moves = TallyMoves()
    for bucket, (count, amount) in changes.items():
        moves.add(request_id, bucket, count, amount)
    moves.flush(conn)


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


_OPEN_ITEMS = (
    "SELECT COALESCE(SUM(item_count), 0) FROM request_tallies"
    " WHERE request_id = %s AND bucket IN ({})"
)


def open_items(conn: Connection, request_id: int, buckets: Iterable[str]) -> int:
    """How many items of the request are in any of ``buckets``."""
    names = list(buckets)
    sql = _OPEN_ITEMS.format(", ".join(["%s"] * len(names)))
    return int(conn.exec_driver_sql(sql, (request_id, *names)).scalar_one())
