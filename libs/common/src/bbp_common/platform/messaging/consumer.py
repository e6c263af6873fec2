"""The consumer runner: manual acks after the work is durable, work off the I/O thread.

Shaped after pika 1.4.4's ``basic_consumer_threaded.py``: one ``BlockingConnection`` per
consumer (pika connections are not thread-safe), ``basic_qos(prefetch_count=…)``, the
handler runs in a bounded pool of worker threads, and the worker hands its ack or nack back
to the connection's thread with ``connection.add_callback_threadsafe``. The I/O thread
keeps calling ``process_data_events``, so heartbeats flow however long a handler works.

Handler contract — ``handler(message: Envelope, redelivered: bool) -> None``:

* returns normally → ack. Return only once the effect is durable (committed): an ack is a
  promise the message will never be needed again.
* raises :class:`Retry` or any other exception → nack with requeue. On a quorum queue each
  return counts toward ``x-delivery-limit``; past it the broker dead-letters the message.
* raises :class:`Reject` or :class:`InvalidMessage` → nack without requeue: dead-lettered
  at once (a message that can never succeed must not loop).

Messages that cannot be decoded (bad JSON, unknown type/version, body against its schema)
are dead-lettered by the runner before any handler sees them. Delivery is at-least-once:
a handler must be idempotent (see :mod:`bbp_common.platform.inbox`).

Connection loss: the consumer is rebuilt with capped exponential backoff and jitter; what
was in hand is redelivered by the broker (``redelivered=True``). ``stop()`` (wire it to
SIGTERM) cancels the subscription, lets in-hand work finish for ``grace_period`` seconds,
nacks (requeues) whatever is still running, and closes.

Why one module of more than 400 lines: the consumer runner and its worker pool share the
connection thread's rules (pika 1.4.4's threaded consumer); the ack/nack threading stays in
one place.
"""

from __future__ import annotations

import contextvars
import functools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.spec
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import SecretStr

from bbp_common.platform.envelope import Envelope, InvalidMessage, MessageRegistry, decode
from bbp_common.platform.logging import correlation, get_logger
from bbp_common.platform.masking import mask_text
from bbp_common.platform.messaging.backoff import Backoff
from bbp_common.platform.messaging.connection import amqp_parameters, describe_url
from bbp_common.platform.metrics import PerRegistry
from bbp_common.platform.settings import AmqpSettings

log = get_logger(__name__)

#: Body fields bound to the log context while a message is handled.
LOGGED_IDS = ("request_id", "item_id", "payment_id", "reference_id", "notification_id")

Handler = Callable[[Envelope, bool], None]
"""``handler(message, redelivered)``: return = ack; :class:`Retry`/other = requeue;
:class:`Reject`/:class:`InvalidMessage` = dead-letter now."""


_DELIVERY_COUNT: contextvars.ContextVar[int] = contextvars.ContextVar(
    "bbp_delivery_count", default=0
)


def delivery_count() -> int:
    """How often the message in hand went back to its queue before (quorum queues'
    ``x-delivery-count``; 0 on the first delivery), while a handler runs.

    For handlers that give up on their own before the queue's delivery limit (and record
    why) rather than let the broker dead-letter the message silently; the broker's count is
    the only one that survives a consumer's crash.
    """
    return _DELIVERY_COUNT.get()


def _header_count(properties: pika.BasicProperties) -> int:
    value = (properties.headers or {}).get("x-delivery-count", 0)
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


class Retry(Exception):
    """Put the message back for another try (counts toward the queue's delivery limit)."""


class Reject(Exception):
    """The message can never succeed: dead-letter it now, without retries."""


# Outcomes, the values of the ``outcome`` label.
ACKED = "acked"
REQUEUED = "requeued"
DEAD_LETTERED = "dead_lettered"
INVALID = "invalid"
ABANDONED = "abandoned"  # nacked (requeued) by a stop before or while the handler ran


class ConsumerMetrics(PerRegistry):
    """Prometheus metrics of the consumers of one process, in the registry the service gives."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.handled = Counter(
            "bbp_messages_handled_total",
            "Messages settled by consumers, by queue and outcome",
            ["queue", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "bbp_message_handling_seconds",
            "Time a handler spent on one message",
            ["queue"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )


class _WorkerPool:
    """A fixed set of daemon threads: a handler stuck past shutdown cannot hold the process."""

    def __init__(self, size: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-worker-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except BaseException:  # a job must never kill its worker
                log.exception("consumer_worker_error")

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


@dataclass
class _Session:
    """One connection's lifetime; workers of a dead session must not touch the new one."""

    connection: BlockingConnection
    channel: BlockingChannel | None = None
    in_flight: dict[int, str] = field(default_factory=dict)  # I/O thread only
    stopping: bool = False
    closed: bool = False
    cancelled_by_broker: bool = False


class _Rebuild(Exception):
    """The broker cancelled the subscription (queue deleted?): rebuild the consumer."""


class Consumer:
    """Consumes one queue until :meth:`stop`; see the module docstring for the contract."""

    def __init__(
        self,
        amqp_url: str | SecretStr,
        queue: str,
        handler: Handler,
        *,
        prefetch: int = 32,
        workers: int | None = None,
        heartbeat: float | None = 30.0,
        registry: MessageRegistry | None = None,
        metrics_registry: CollectorRegistry | None = None,
        grace_period: float = 30.0,
        reconnect_initial: float = 0.5,
        reconnect_cap: float = 30.0,
        declare: Callable[[BlockingChannel], None] | None = None,
        name: str | None = None,
    ) -> None:
        """
        :param prefetch: unacked messages the broker may hand this consumer at once.
        :param workers: handler threads (default ``prefetch``: every message in hand is being
            worked on). Each needs a DB connection if the handler uses one: size the pool.
        :param registry: body schemas (default: the process-wide one).
        :param metrics_registry: where the metrics go (default: prometheus' global registry).
        :param grace_period: seconds ``stop()`` lets in-hand work finish before nacking it.
        :param declare: called with the channel on every (re)connect, e.g. to declare the
            topology — declarations are idempotent.
        """
        if prefetch < 1:
            raise ValueError("prefetch must be >= 1")
        self._url = amqp_url
        self._broker = describe_url(amqp_url)
        self.queue = queue
        self.handler = handler
        self.prefetch = prefetch
        self.workers = workers or prefetch
        self.registry = registry
        self.metrics = ConsumerMetrics.for_registry(metrics_registry)
        self.grace_period = grace_period
        self.name = name or f"bbp-consumer-{queue}"
        self._params = amqp_parameters(amqp_url, heartbeat=heartbeat, connection_name=self.name)
        self._declare = declare
        self._backoff = Backoff(reconnect_initial, reconnect_cap)
        self._stop = threading.Event()
        self._consuming = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections = 0  # how many times a connection was opened (1 + reconnects)

    @classmethod
    def from_settings(
        cls, settings: AmqpSettings, queue: str, handler: Handler, **kwargs: Any
    ) -> Consumer:
        kwargs.setdefault("prefetch", settings.amqp_prefetch)
        kwargs.setdefault("heartbeat", settings.amqp_heartbeat)
        return cls(settings.amqp_url, queue, handler, **kwargs)

    # ------------------------------------------------------------------ control

    def start(self) -> Consumer:
        """Run :meth:`run` in a thread of its own; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Ask for a graceful stop. Only sets a flag, so it is safe in a signal handler;
        :meth:`run` returns (and :meth:`join` succeeds) once in-hand work is settled."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for :meth:`run` to return; True if it did."""
        return self._finished.wait(timeout)

    @property
    def consuming(self) -> bool:
        """Subscribed right now (for readiness checks)."""
        return self._consuming.is_set()

    def wait_consuming(self, timeout: float | None = None) -> bool:
        return self._consuming.wait(timeout)

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Consume until :meth:`stop`, rebuilding the connection after every failure."""
        pool = _WorkerPool(self.workers, self.name)
        try:
            while not self._stop.is_set():
                try:
                    self._consume(pool)
                except Exception as exc:
                    self._consuming.clear()
                    if self._stop.is_set():
                        break
                    delay = self._backoff.next()
                    log.warning(
                        "amqp_consumer_reconnecting",
                        queue=self.queue,
                        broker=self._broker,
                        error=mask_text(f"{type(exc).__name__}: {exc}")[:300],
                        retry_in=round(delay, 2),
                    )
                    self._stop.wait(delay)
        finally:
            pool.shutdown()
            self._consuming.clear()
            self._finished.set()
            log.info("amqp_consumer_stopped", queue=self.queue)

    def _consume(self, pool: _WorkerPool) -> None:
        connection = pika.BlockingConnection(self._params)
        self.connections += 1
        session = _Session(connection)
        try:
            channel = connection.channel()
            session.channel = channel
            if self._declare is not None:
                self._declare(channel)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.add_on_cancel_callback(
                lambda _frame: setattr(session, "cancelled_by_broker", True)
            )
            tag = channel.basic_consume(
                self.queue,
                functools.partial(self._on_message, session, pool),
                auto_ack=False,
            )
            self._consuming.set()
            self._backoff.reset()
            log.info("amqp_consumer_started", queue=self.queue, broker=self._broker)
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.2)
                if session.cancelled_by_broker:
                    raise _Rebuild(f"the broker cancelled the consumer of {self.queue}")
            self._consuming.clear()
            self._drain(session, channel, tag)
        finally:
            session.closed = True
            self._consuming.clear()
            if connection.is_open:
                try:
                    connection.close()
                except Exception as exc:  # closing a broken connection: nothing to save
                    log.debug("amqp_consumer_close_failed", error=type(exc).__name__)

    def _drain(self, session: _Session, channel: BlockingChannel, tag: str) -> None:
        """Graceful stop: no new deliveries, wait for in-hand work, requeue the rest."""
        channel.basic_cancel(tag)  # pika nacks (requeues) deliveries not yet dispatched
        session.stopping = True
        deadline = time.monotonic() + self.grace_period
        while session.in_flight and time.monotonic() < deadline:
            session.connection.process_data_events(time_limit=0.1)
        if session.in_flight:
            log.warning(
                "amqp_consumer_grace_expired",
                queue=self.queue,
                requeued=len(session.in_flight),
                message_ids=list(session.in_flight.values())[:20],
            )
            for delivery_tag in list(session.in_flight):
                channel.basic_nack(delivery_tag, requeue=True)
                self.metrics.handled.labels(self.queue, ABANDONED).inc()
            session.in_flight.clear()
        channel.close()

    # ------------------------------------------------------------------ per message

    def _on_message(
        self,
        session: _Session,
        pool: _WorkerPool,
        channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        delivery_tag = method.delivery_tag
        try:
            envelope = decode(body, self.registry)
        except InvalidMessage as exc:
            log.error(
                "message_invalid_dead_lettered",
                queue=self.queue,
                message_id=properties.message_id,
                message_type=properties.type,
                error=mask_text(str(exc))[:500],
            )
            channel.basic_nack(delivery_tag, requeue=False)
            self.metrics.handled.labels(self.queue, INVALID).inc()
            return
        session.in_flight[delivery_tag] = envelope.message_id
        pool.submit(
            functools.partial(
                self._work,
                session,
                channel,
                delivery_tag,
                envelope,
                bool(method.redelivered),
                _header_count(properties),
            )
        )

    def _work(
        self,
        session: _Session,
        channel: BlockingChannel,
        delivery_tag: int,
        envelope: Envelope,
        redelivered: bool,
        returns: int = 0,
    ) -> None:
        """Runs on a worker thread."""
        if session.closed:
            return  # the broker already took the message back
        if session.stopping:
            self._settle(session, channel, delivery_tag, ABANDONED)
            return
        started = time.monotonic()
        with correlation(
            envelope.correlation_id,
            message_id=envelope.message_id,
            message_type=envelope.type,
            queue=self.queue,
            # Every line the handler writes (the Mobiquity client's call line, with its
            # serviceRequestId, included) names the request and item it is about.
            **{k: envelope.body[k] for k in LOGGED_IDS if k in envelope.body},
        ):
            token = _DELIVERY_COUNT.set(returns)
            try:
                self.handler(envelope, redelivered)
                outcome = ACKED
            except (Reject, InvalidMessage) as exc:
                log.error(
                    "message_rejected_dead_lettered",
                    error=mask_text(f"{type(exc).__name__}: {exc}")[:500],
                    redelivered=redelivered,
                )
                outcome = DEAD_LETTERED
            except Retry as exc:
                log.warning("message_retry", reason=mask_text(str(exc))[:500])
                outcome = REQUEUED
            except BaseException:
                log.exception("message_handler_failed", redelivered=redelivered)
                outcome = REQUEUED
            finally:
                _DELIVERY_COUNT.reset(token)
                self.metrics.seconds.labels(self.queue).observe(time.monotonic() - started)
        self._settle(session, channel, delivery_tag, outcome)

    def _settle(
        self, session: _Session, channel: BlockingChannel, delivery_tag: int, outcome: str
    ) -> None:
        """Hand the ack/nack to the connection's thread (the only thread that may send it)."""

        def send() -> None:
            if session.in_flight.pop(delivery_tag, None) is None:
                return  # already nacked when the grace period expired
            if not channel.is_open:
                return
            if outcome == ACKED:
                channel.basic_ack(delivery_tag)
            else:
                channel.basic_nack(delivery_tag, requeue=outcome in (REQUEUED, ABANDONED))
            self.metrics.handled.labels(self.queue, outcome).inc()

        try:
            session.connection.add_callback_threadsafe(send)
        except Exception:
            # The connection died while we worked: the broker requeued the message and
            # delivers it again (redelivered=True); the idempotent handler copes.
            log.warning("message_settle_lost", outcome=outcome, reason="connection closed")
