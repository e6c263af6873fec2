"""The inbox: how a consumer applies each message once although it may arrive twice.

Delivery is at-least-once — a relay that dies after publishing and before marking the row
sent publishes it again, and a consumer that dies before its ack gets the message again.
So a consumer records the message id in ``processed_messages`` *in the same transaction as
the effect*: :func:`first_time` returns False when the id is already there, and the
handler skips the work (and acks). Two copies handled at the same time serialise on the
primary key: the second waits for the first transaction and then sees the duplicate.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert

from bbp_common.platform.db.tables import processed_messages

CONSUMER_MAX = 64
MESSAGE_ID_MAX = 36


def first_time(conn: Connection, consumer: str, message_id: str) -> bool:
    """Record ``message_id`` for ``consumer`` in ``conn``'s transaction.

    True: first time — apply the effect in this same transaction. False: already applied
    (by a committed transaction) — skip it. ``INSERT IGNORE`` works alike on MySQL 8 and
    MariaDB; since it also turns some other errors into warnings, the lengths are checked
    here first.
    """
    if not consumer or len(consumer) > CONSUMER_MAX:
        raise ValueError(f"consumer must be 1–{CONSUMER_MAX} characters")
    if not message_id or len(message_id) > MESSAGE_ID_MAX:
        raise ValueError(f"message_id must be 1–{MESSAGE_ID_MAX} characters")
    result = conn.execute(
        insert(processed_messages)
        .prefix_with("IGNORE")
        .values(consumer=consumer, message_id=message_id)
    )
    return result.rowcount == 1
