"""The outbox relay: publishes pending outbox rows with publisher confirms (see
:mod:`bbp_common.platform.outbox` for why the outbox exists and how rows are written).

It claims rows with ``SELECT … FOR UPDATE SKIP LOCKED`` and marks them ``sent`` only after
the broker confirmed them, inside the claiming transaction: two relays never publish the
same row at once, and a relay that dies mid-way leaves its rows ``pending`` (its
transaction rolls back), so they are published again — every consumer is idempotent
(:mod:`bbp_common.platform.inbox`). A row whose publish fails gets ``attempts + 1``, a masked
``last_error`` and a later ``available_at`` (capped exponential backoff), then ``failed``
after ``max_attempts``: logged, counted in ``bbp_outbox_failed_rows``, never dropped.

Kept apart from the writer (``outbox.add``) so that the core, which writes outbox rows in
its transactions, never imports the messaging transport.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Connection, Engine, func, select, update

from bbp_common.platform.db.tables import outbox
from bbp_common.platform.envelope import Envelope, InvalidMessage
from bbp_common.platform.logging import get_logger
from bbp_common.platform.masking import mask_text
from bbp_common.platform.messaging.backoff import Backoff, backoff_delay
from bbp_common.platform.messaging.publisher import BatchPublisher, Outgoing, PublishFailed
from bbp_common.platform.metrics import PerRegistry
from bbp_common.platform.outbox import (
    _CLAIM_COLUMNS,
    FAILED,
    LAST_ERROR_MAX,
    PENDING,
    SENT,
    AfterPublish,
    _later,
    pending_claim,
)
from bbp_common.platform.settings import OutboxSettings

log = get_logger(__name__)


class OutboxMetrics(PerRegistry):
    """The relay's metrics; one instance per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "bbp_outbox_published_total", "Outbox rows published and marked sent", registry=registry
        )
        self.publish_failures = Counter(
            "bbp_outbox_publish_failures_total",
            "Outbox publish attempts that failed (the row is retried or marked failed)",
            registry=registry,
        )
        self.failed_rows = Gauge(
            "bbp_outbox_failed_rows",
            "Outbox rows that exhausted their attempts and wait for a person",
            registry=registry,
        )


class OutboxRelay:
    """Publishes committed outbox rows; any number may run at once (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        publisher: BatchPublisher,
        batch_size: int = 200,
        max_attempts: int = 20,
        *,
        poll_interval: float = 1.0,
        retry_initial: float = 1.0,
        retry_cap: float = 300.0,
        after_publish: AfterPublish | None = None,
        metrics_registry: CollectorRegistry | None = None,
        name: str = "outbox-relay",
    ) -> None:
        """
        :param batch_size: rows claimed (and published as one confirm window) at once.
        :param max_attempts: failed publishes before a row is marked ``failed``.
        :param retry_initial, retry_cap: backoff of a failing row's ``available_at``.
        :param after_publish: test hook, see :data:`AfterPublish`.
        """
        if batch_size < 1 or max_attempts < 1:
            raise ValueError("batch_size and max_attempts must be >= 1")
        self.engine = engine
        self.publisher = publisher
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.retry_initial = retry_initial
        self.retry_cap = retry_cap
        self.after_publish = after_publish
        self.metrics = OutboxMetrics.for_registry(metrics_registry)
        self.name = name

    @classmethod
    def from_settings(
        cls, engine: Engine, publisher: BatchPublisher, settings: OutboxSettings, **kwargs: Any
    ) -> OutboxRelay:
        return cls(
            engine,
            publisher,
            settings.outbox_batch_size,
            settings.outbox_max_attempts,
            poll_interval=settings.outbox_poll_interval,
            **kwargs,
        )

    # ------------------------------------------------------------------ claiming

    def _claim_pending(self, conn: Connection) -> list[Any]:
        return list(conn.execute(pending_claim(self.batch_size)).all())

    def _claim_ids(self, conn: Connection, message_ids: Sequence[str]) -> list[Any]:
        query = (
            select(*_CLAIM_COLUMNS)
            .where(
                outbox.c.message_id.in_(message_ids),
                outbox.c.status == PENDING,
                outbox.c.available_at <= func.utc_timestamp(6),
            )
            .order_by(outbox.c.id)
            .with_for_update(skip_locked=True)
        )
        return list(conn.execute(query).all())

    # ------------------------------------------------------------------ relaying

    def relay_once(self) -> int:
        """Claim up to ``batch_size`` due rows, publish them, mark them; rows marked sent."""
        if not self.publisher.ready:
            return 0
        with self.engine.begin() as conn:
            outcome = self._relay(conn, self._claim_pending(conn))
        return self._count(outcome)

    def relay_ids(self, message_ids: Iterable[str]) -> int:
        """Publish these just-committed rows now (the portal calls it right after commit).

        Claimed exactly like :meth:`relay_once`: rows another relay holds are skipped, and
        whatever is not published here the periodic relay picks up. Returns rows sent.
        """
        ids = list(dict.fromkeys(message_ids))
        if not ids or not self.publisher.ready:
            return 0
        sent = 0
        for start in range(0, len(ids), self.batch_size):
            with self.engine.begin() as conn:
                outcome = self._relay(
                    conn, self._claim_ids(conn, ids[start : start + self.batch_size])
                )
            sent += self._count(outcome)
        return sent

    def _count(self, outcome: tuple[int, int, int]) -> int:
        """Metrics of a committed round: (sent, failed attempts, rows now failed) → sent."""
        sent, failures, newly_failed = outcome
        self.metrics.published.inc(sent)
        self.metrics.publish_failures.inc(failures)
        self.metrics.failed_rows.inc(newly_failed)
        return sent

    def _relay(self, conn: Connection, rows: list[Any]) -> tuple[int, int, int]:
        if not rows:
            return 0, 0, 0
        messages: list[Outgoing] = []
        failures: dict[str, str] = {}
        for row in rows:
            try:
                envelope = Envelope.from_json(row.body)
            except InvalidMessage as exc:  # a row no consumer could read: never publish it
                failures[row.message_id] = f"unreadable outbox row: {exc}"
                continue
            messages.append(Outgoing(row.exchange, row.routing_key, envelope))
        try:
            self.publisher.publish_batch(messages)
        except PublishFailed as exc:
            failures.update(exc.failures)
        except Exception as exc:  # the publisher itself failed: nothing is confirmed
            reason = f"{type(exc).__name__}: {exc}"
            failures.update({m.envelope.message_id: reason for m in messages})
        confirmed = [row.message_id for row in rows if row.message_id not in failures]
        if confirmed and self.after_publish is not None:
            self.after_publish(confirmed)
        if confirmed:
            conn.execute(
                update(outbox)
                .where(outbox.c.message_id.in_(confirmed))
                .values(status=SENT, sent_at=func.utc_timestamp(6))
            )
        newly_failed = sum(
            self._record_failure(conn, row, failures[row.message_id])
            for row in rows
            if row.message_id in failures
        )
        return len(confirmed), len(rows) - len(confirmed), newly_failed

    def _record_failure(self, conn: Connection, row: Any, reason: str) -> bool:
        """Count the attempt and push the row back; True if it is now ``failed``."""
        attempts = row.attempts + 1
        error = mask_text(reason)[:LAST_ERROR_MAX]
        if attempts >= self.max_attempts:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id)
                .values(status=FAILED, attempts=attempts, last_error=error)
            )
            log.error(
                "outbox_row_failed",
                outbox_id=row.id,
                message_id=row.message_id,
                exchange=row.exchange,
                routing_key=row.routing_key,
                attempts=attempts,
                last_error=error,
            )
            return True
        delay = backoff_delay(
            attempts - 1, initial=self.retry_initial, cap=self.retry_cap, jitter=0.2
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(
                attempts=attempts,
                last_error=error,
                available_at=_later(delay),
            )
        )
        log.warning(
            "outbox_publish_failed",
            outbox_id=row.id,
            message_id=row.message_id,
            attempts=attempts,
            retry_in=round(delay, 2),
            error=error,
        )
        return False

    # ------------------------------------------------------------------ the loop

    def failed_count(self) -> int:
        """Rows marked ``failed`` (also refreshes the gauge)."""
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == FAILED)
            ).scalar_one()
        self.metrics.failed_rows.set(count)
        return int(count)

    def run(
        self,
        stop_event: threading.Event,
        *,
        on_tick: Callable[[], None] | None = None,
        stats_interval: float = 30.0,
    ) -> None:
        """Relay until ``stop_event`` is set: full batches back to back, else every
        ``poll_interval``. ``on_tick`` is called each round (e.g. ``Liveness.beat``)."""
        errors = Backoff(self.poll_interval or 0.5, 30.0)
        next_stats = 0.0
        log.info("outbox_relay_started", name=self.name, batch_size=self.batch_size)
        while not stop_event.is_set():
            try:
                if time.monotonic() >= next_stats:
                    failed = self.failed_count()
                    if failed:
                        log.error("outbox_failed_rows_present", failed_rows=failed)
                    next_stats = time.monotonic() + stats_interval
                sent = self.relay_once()
                errors.reset()
            except Exception as exc:  # database down, deadlock, …: wait and try again
                delay = errors.next()
                log.warning(
                    "outbox_relay_error",
                    error=mask_text(f"{type(exc).__name__}: {exc}")[:300],
                    retry_in=round(delay, 2),
                )
                stop_event.wait(delay)
                continue
            if on_tick is not None:
                on_tick()
            if sent < self.batch_size:
                stop_event.wait(self.poll_interval)
        log.info("outbox_relay_stopped", name=self.name)


__all__ = ["OutboxMetrics", "OutboxRelay"]
