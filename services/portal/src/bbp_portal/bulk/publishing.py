"""Publishing from the portal: the after-commit relay, one Publisher per worker process.

The portal writes a request and its outbox row in one transaction; right after the commit it
publishes that row so the scheduler hears of the request at once. Three things shape this:

* **One connection per process, made after the fork.** A pika connection and its I/O thread
  do not survive ``fork()``: a publisher made at import, or in gunicorn's master, would be a
  dead socket in every worker. :class:`AfterCommitRelay` is built by ``create_app`` without
  connecting, and makes its :class:`~bbp_common.platform.messaging.Publisher` and
  :class:`~bbp_common.platform.relay.OutboxRelay` on first use in each process (it notices a fork by
  the process id and starts afresh).
* **Best effort.** If RabbitMQ is down or slow, the request is still created: the row stays
  ``pending`` and the scheduler's periodic relay publishes it. gunicorn's
  ``post_worker_init`` hook starts each worker's connection as it boots
  (:meth:`AfterCommitRelay.warm`, no waiting); a publish
  waits for a connection still being made only until ``portal_publisher_connect_wait`` after
  it started, so while the broker is away a call returns at once. A confirm never holds a page
  longer than ``portal_publish_confirm_timeout``.
* **Counted.** ``bbp_portal_after_commit_relay_total{outcome}`` says how often rows left at
  once and how often they were left for the scheduler.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import Engine

from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging import Publisher
from bbp_common.platform.relay import OutboxRelay
from bbp_portal.bulk.metrics import AFTER_COMMIT_RELAY
from bbp_portal.settings import PortalSettings

log = get_logger(__name__)


class AfterCommitRelay:
    """``relay=`` for the request service: publishes just-committed outbox rows, lazily
    connected once per process. Calling it never raises."""

    def __init__(self, settings: PortalSettings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._publisher: Publisher | None = None
        self._relay: OutboxRelay | None = None
        self._started_at = 0.0

    def _for_this_process(self) -> tuple[Publisher, OutboxRelay]:
        pid = os.getpid()
        with self._lock:
            if self._relay is None or self._publisher is None or self._pid != pid:
                # A fork copies our attributes but not the publisher's I/O thread: start over.
                publisher = Publisher(
                    self.settings.amqp_url,
                    confirm_timeout=self.settings.portal_publish_confirm_timeout,
                    heartbeat=self.settings.amqp_heartbeat,
                    name=f"bbp-portal-{pid}",
                ).start()
                self._publisher = publisher
                self._relay = OutboxRelay.from_settings(self.engine, publisher, self.settings)
                self._pid = pid
                self._started_at = time.monotonic()
                atexit.register(publisher.close, 2.0)
                log.info("portal_publisher_started", pid=pid)
            return self._publisher, self._relay

    def warm(self) -> None:
        """Start connecting now, without waiting (gunicorn's ``post_worker_init`` calls it),
        so that the first request created in a worker finds the connection open."""
        if self._pid != os.getpid():
            try:
                self._for_this_process()
            except Exception:  # a bad URL, say: the first publish will say so in the log
                log.warning("portal_publisher_start_failed", exc_info=True)

    def __call__(self, message_ids: Sequence[str]) -> int:
        """Publish these rows now; returns how many left (the rest wait for the scheduler)."""
        ids = list(message_ids)
        if not ids:
            return 0
        sent = 0
        try:
            publisher, relay = self._for_this_process()
            if not publisher.ready:
                # Only a connection still being made is waited for, and only so long after
                # it started: while the broker is down, calls do not wait at all.
                left = self.settings.portal_publisher_connect_wait - (
                    time.monotonic() - self._started_at
                )
                if left > 0:
                    publisher.wait_ready(left)
            sent = relay.relay_ids(ids)
        except Exception:  # a relay failure must never fail the request that was committed
            log.warning("after_commit_relay_failed", exc_info=True)
        if sent:
            AFTER_COMMIT_RELAY.labels("published").inc(sent)
        if sent < len(ids):
            AFTER_COMMIT_RELAY.labels("deferred").inc(len(ids) - sent)
            log.info("after_commit_relay_deferred", messages=len(ids) - sent)
        return sent

    @property
    def connected(self) -> bool:
        """Whether this process's publisher is up (``False`` before the first use)."""
        return bool(self._publisher and self._pid == os.getpid() and self._publisher.ready)

    def close(self) -> None:
        if self._publisher is not None and self._pid == os.getpid():
            self._publisher.close(2.0)
        self._publisher = self._relay = None
        self._pid = None


def relay() -> AfterCommitRelay:
    """This app's after-commit relay (made by ``create_app``; connects on first use)."""
    return current_app.extensions["bbp.relay"]  # type: ignore[no-any-return]


__all__ = ["AfterCommitRelay", "relay"]
