"""Transactions of the active scheduler: lease-checked at start and before commit.

A transaction that finds the lease gone at either check rolls back (``LostLease``). Lock
waits are short (``lock_wait_timeout`` on the engine), and a deadlock or a lock wait that
timed out runs the whole transaction again, checks included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine

from bbp_common.platform.db.retry import retrying
from bbp_common.platform.logging import get_logger
from bbp_scheduler.lease import Lease

log = get_logger(__name__)

T = TypeVar("T")


class LeaderDb:
    def __init__(self, engine: Engine, lease: Lease, attempts: int = 5) -> None:
        self.engine = engine
        self.lease = lease
        self.attempts = attempts

    def write(self, work: Callable[[Connection, int], T]) -> T:
        """Run ``work(conn, fencing_token)`` in a transaction that holds the lease; a deadlock
        or a lock wait that timed out runs the whole transaction again (checks included)."""

        def once() -> T:
            with self.engine.begin() as conn:
                token = self.lease.check(conn)
                result = work(conn, token)
                self.lease.check(conn)  # still ours at the last moment before COMMIT
                return result

        return retrying(self.attempts)(once)

    def read(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return work(conn)
