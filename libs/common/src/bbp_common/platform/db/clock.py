"""The database's clock, read from a process whose own clock may be off.

Deadlines are written on the database's clock (``UTC_TIMESTAMP(6)``); a process that must
compare one with "now" without a round trip per comparison keeps the offset between its
clock and the database's: measured at start, refreshed every ``refresh`` seconds (by the
first caller after that, under a lock; the others use the previous offset meanwhile). The
measurement takes the midpoint of the round trip, so its error is at most half of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from bbp_common.platform.db.engine import utcnow
from bbp_common.platform.logging import get_logger

log = get_logger(__name__)


class DbClock:
    def __init__(
        self,
        engine: Engine,
        *,
        refresh: float = 60.0,
        local: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.refresh = refresh
        self.local = local
        self.offset = timedelta(0)
        self._measured_at: float | None = None
        self._lock = threading.Lock()

    def measure(self) -> timedelta:
        """Read the database's clock once and keep the offset."""
        with self.engine.connect() as conn:
            before = self.local()
            db = conn.exec_driver_sql("SELECT UTC_TIMESTAMP(6)").scalar_one()
            after = self.local()
        self.offset = db - (before + (after - before) / 2)
        self._measured_at = time.monotonic()
        if abs(self.offset) > timedelta(seconds=2):
            log.warning("clock_offset_to_database", seconds=round(self.offset.total_seconds(), 3))
        return self.offset

    def now(self) -> datetime:
        """The database's "now", without a round trip (but once per ``refresh`` seconds)."""
        measured = self._measured_at
        due = measured is None or time.monotonic() - measured >= self.refresh
        if due and self._lock.acquire(blocking=measured is None):
            try:
                if self._measured_at == measured:
                    self.measure()
            except Exception:  # keep the previous offset; try again next time
                log.warning("clock_offset_not_measured", exc_info=True)
                self._measured_at = time.monotonic()
            finally:
                self._lock.release()
        return self.local() + self.offset
