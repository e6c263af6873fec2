"""The maker's day: what the daily approval limit is judged on, one maker at a time.

Creating a payment request first locks its maker's row for the Asia/Dhaka day
(``maker_days``, made if missing) in the creating transaction, then sums the maker's
payment requests of that day. Two requests of the same maker made at once are therefore
judged one after the other: the second waits for the first to commit (or roll back) and
then counts it — they cannot both slip under the limit. The connections run READ COMMITTED,
so the sum read after the lock sees what the first committed.

The lock is taken with ``INSERT … ON DUPLICATE KEY UPDATE``, which takes the row's exclusive
lock whether it inserts or not (a plain ``INSERT IGNORE`` would take a shared lock on an
existing row, and two such holders asking ``FOR UPDATE`` next would deadlock), and read
back ``FOR UPDATE``.

This module is the only writer of ``maker_days`` (``tests/unit/common/test_one_door.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection

from bbp_common.core.domain.approvals import UNCOUNTED_STATES, day_bounds, maker_day
from bbp_common.core.stores.payments import BUCKET
from bbp_common.core.stores.sql import marks

#: Tally buckets that do not count toward the day (cancelled, unsent).
UNCOUNTED_BUCKETS = tuple(sorted({BUCKET[state] for state in UNCOUNTED_STATES}))

_LOCK = (
    "INSERT INTO maker_days (maker, day, requests) VALUES (%s, %s, 0)"
    " ON DUPLICATE KEY UPDATE requests = requests"
)
_READ = "SELECT requests FROM maker_days WHERE maker = %s AND day = %s FOR UPDATE"
_COUNT = "UPDATE maker_days SET requests = requests + 1 WHERE maker = %s AND day = %s"
_SUM = (
    "SELECT COALESCE(SUM(t.amount), 0) FROM bulk_requests r"
    " JOIN request_tallies t ON t.request_id = r.id"
    " WHERE r.created_by = %s AND r.kind = 'payment'"
    " AND r.created_at >= %s AND r.created_at < %s"
    f" AND t.bucket NOT IN ({marks(len(UNCOUNTED_BUCKETS))})"
)


@dataclass(frozen=True)
class MakerDay:
    """A maker's day as it stood when it was read (locked, when from :meth:`lock`)."""

    maker: str
    day: date
    #: The database's clock when it was read (naive UTC): the new request's ``created_at``.
    now: datetime
    #: What the maker's payment requests of the day count so far (BDT).
    counted: Decimal
    #: Payment requests the maker created that day so far.
    requests: int = 0


def _key(maker: str) -> str:
    return maker.strip().lower()[:64]


class MakerDays:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _now(self) -> datetime:
        now: datetime = self.conn.exec_driver_sql("SELECT UTC_TIMESTAMP(6)").scalar_one()
        return now

    def counted(self, maker: str, day: date) -> Decimal:
        """What the maker's payment requests of ``day`` count (no lock: a preview)."""
        start, end = day_bounds(day)
        value = self.conn.exec_driver_sql(
            _SUM, (maker, start, end, *UNCOUNTED_BUCKETS)
        ).scalar_one()
        return Decimal(value)

    def today(self, maker: str) -> MakerDay:
        """The maker's day now, read without a lock (what a confirmation page shows)."""
        now = self._now()
        day = maker_day(now)
        return MakerDay(_key(maker), day, now, self.counted(maker, day))

    def lock(self, maker: str) -> MakerDay:
        """Lock the maker's row of today (held until the caller's transaction ends), then
        sum their day. Call it first in the creating transaction."""
        now = self._now()
        day = maker_day(now)
        key = _key(maker)
        self.conn.exec_driver_sql(_LOCK, (key, day))
        requests = int(self.conn.exec_driver_sql(_READ, (key, day)).scalar_one())
        return MakerDay(key, day, now, self.counted(maker, day), requests)

    def created(self, day: MakerDay) -> None:
        """One more payment request of the maker that day (in the locking transaction)."""
        self.conn.exec_driver_sql(_COUNT, (day.maker, day.day))


__all__ = ["UNCOUNTED_BUCKETS", "MakerDay", "MakerDays"]
