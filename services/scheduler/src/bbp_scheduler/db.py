"""Transactions of the active scheduler: lease-checked at start and before commit.

A transaction that finds the lease gone at either check rolls back (``LostLease``). Lock
waits are short (``lock_wait_timeout`` on the engine), and a deadlock or a lock wait that
timed out runs the whole transaction again, checks included.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from bbp_common.platform.logging import get_logger
from bbp_scheduler.lease import Lease

log = get_logger(__name__)

T = TypeVar("T")

#: MySQL/MariaDB errors after which the whole transaction may simply run again.
RETRYABLE = {1213, 1205}  # deadlock found; lock wait timeout


class LeaderDb:
    def __init__(self, engine: Engine, lease: Lease, attempts: int = 5) -> None:
        self.engine = engine
        self.lease = lease
        self.attempts = attempts

    def write(self, work: Callable[[Connection, int], T]) -> T:
        """Run ``work(conn, fencing_token)`` in a transaction that holds the lease."""
        for attempt in range(1, self.attempts + 1):
            try:
                with self.engine.begin() as conn:
                    token = self.lease.check(conn)
                    result = work(conn, token)
                    self.lease.check(conn)  # still ours at the last moment before COMMIT
                    return result
            except OperationalError as exc:
                code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
                if code not in RETRYABLE or attempt == self.attempts:
                    raise
                log.info("transaction_retried", mysql_error=code, attempt=attempt)
                time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return work(conn)
