"""The communicator's call pool: many commands of one message, each at its moment.

A batch message carries commands planned for the next moments, each with the slot it may
not leave before (``not_before``, on the database's clock). The pool runs them on a fixed set
of threads — one per call that may be in flight — each waiting for its slot on the
database's clock (``DbClock``, no round trip), then calling. ``map`` returns the results in
the commands' order once all are done.

Why a pool sized to the calls in flight: a command must never wait for a thread once its
slot has come (it would leave late and bunch with the next ones); the pool is sized like
the consumer's workers were when each message was one command.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from bbp_common.platform.db.clock import DbClock

T = TypeVar("T")

#: Sleep in slices no longer than this while waiting for a slot (a stop is noticed soon).
SLICE = 0.25


class CallPool:
    def __init__(self, size: int, clock: DbClock, name: str) -> None:
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._stopping = threading.Event()

    def wait_for(self, moment: datetime | None) -> None:
        """Sleep until ``moment`` on the database's clock (at once when it has passed)."""
        if moment is None:
            return
        while not self._stopping.is_set():
            left = (moment - self.clock.now()).total_seconds()
            if left <= 0:
                return
            time.sleep(min(left, SLICE))

    def map(self, items: Sequence[T], call: Callable[[T], Any]) -> list[Any]:
        """``[call(item) for item in items]``, concurrently; results in order."""
        if len(items) == 1:
            return [call(items[0])]
        futures = [self._executor.submit(call, item) for item in items]
        return [future.result() for future in futures]

    def stop(self) -> None:
        self._stopping.set()
        self._executor.shutdown(wait=True, cancel_futures=False)
