"""Group commit for results: many consumer threads, one transaction per batch.

Each result on its own would cost a transaction of about ten round trips and a COMMIT
(an fsync); at a few hundred results a second that, not the work, is the limit. Consumer
threads hand their message to the applier and wait; the applier takes whatever has
arrived (up to ``max_batch``), applies it in one lease-checked transaction, commits, and
only then lets the threads return — so a message is still acknowledged only once its
effect is durable. If a batch fails for any reason but a lost lease, its messages are
applied one by one, so that one bad message cannot hold the others hostage.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import Connection

from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging import Envelope
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.lease import LostLease

log = get_logger(__name__)

ApplyMany = Callable[[Connection, list[Envelope]], None]


class BatchApplier:
    def __init__(
        self,
        db: LeaderDb,
        apply_many: ApplyMany,
        *,
        max_batch: int = 64,
        on_applied: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.apply_many = apply_many
        self.max_batch = max_batch
        #: Called after each committed batch (results free in-flight slots: the dispatcher
        #: may be waiting for one).
        self.on_applied = on_applied
        self._inbox: queue.Queue[tuple[Envelope, Future[None]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, message: Envelope, timeout: float = 120.0) -> None:
        """Apply ``message`` (with others); returns when committed, raises what it raised."""
        self._ensure_running()
        done: Future[None] = Future()
        self._inbox.put((message, done))
        done.result(timeout)

    def stop(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._inbox.put(None)
                self._thread.join(30)
                self._thread = None

    def _ensure_running(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="results-applier", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._inbox.put(None)  # stop after this batch
                    break
                batch.append(more)
            self._apply(batch)

    def _apply(self, batch: list[tuple[Envelope, Future[None]]]) -> None:
        messages = [message for message, _ in batch]
        try:
            self.db.write(lambda conn, _token: self.apply_many(conn, messages))
        except LostLease as exc:
            for _, done in batch:
                done.set_exception(exc)
            return
        except Exception:
            if len(batch) == 1:
                log.exception("result_not_applied", message_id=messages[0].message_id)
                batch[0][1].set_exception(RuntimeError("result could not be applied"))
                return
            log.warning("result_batch_failed_applying_one_by_one", size=len(batch), exc_info=True)
            for item in batch:
                self._apply([item])
            return
        for _, done in batch:
            done.set_result(None)
        if self.on_applied is not None:
            self.on_applied()
