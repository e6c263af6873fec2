"""A publisher with publisher confirms handled asynchronously, safe to share between threads.

Why not ``BlockingChannel.basic_publish`` with confirms: it waits for each message's confirm
before sending the next, so the rate is capped at one broker round trip (plus, for quorum
queues, one replicated disk write) per message. Here a pika ``SelectConnection`` runs its
I/O loop in a background thread; :meth:`Publisher.publish_batch` hands a batch to that
thread, which writes every message at once and matches the broker's ``Basic.Ack``/``Nack``
(often ``multiple=True``) and ``Basic.Return`` frames back to it. The calling thread waits
for the whole batch — one round trip per batch, not per message.

A message counts as published only when the broker acked it and did not return it:
messages are ``mandatory`` (an unroutable message is returned, then acked — the return
arrives first), persistent, and confirmed. Anything else — nacked, returned, connection
lost before the confirm, or no answer within ``confirm_timeout`` — raises
:class:`PublishFailed` naming those message ids; the caller (the outbox relay) retries them.
A message whose confirm was lost may have been delivered after all: consumers are
idempotent, so publishing it again is safe.

The connection reconnects by itself with capped exponential backoff; batches handed in
while it is down wait for it (within their timeout).

Why one module of more than 400 lines: one class that owns a pika connection's I/O loop
(shaped after pika's select-connection publisher): its callbacks share state that a split
would only expose.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pika
import pika.frame
import pika.spec
from pika.adapters.select_connection import IOLoop
from pika.channel import Channel
from pydantic import SecretStr

from bbp_common.platform.envelope import CONTENT_TYPE, PERSISTENT, Envelope
from bbp_common.platform.logging import get_logger
from bbp_common.platform.masking import mask_text
from bbp_common.platform.messaging.backoff import Backoff
from bbp_common.platform.messaging.connection import amqp_parameters, describe_url
from bbp_common.platform.settings import AmqpSettings


def properties_of(envelope: Envelope) -> pika.BasicProperties:
    """AMQP properties mirroring the envelope; persistent (survives a broker restart)."""
    return pika.BasicProperties(
        message_id=envelope.message_id,
        type=envelope.type,
        correlation_id=envelope.correlation_id,
        content_type=CONTENT_TYPE,
        delivery_mode=PERSISTENT,
        headers={"version": envelope.version},
    )


log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish: where to, and the envelope."""

    exchange: str
    routing_key: str
    envelope: Envelope


class PublishFailed(Exception):
    """Some messages of a batch were not confirmed; ``failures`` maps message id → reason."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        shown = ", ".join(f"{mid} ({why})" for mid, why in list(self.failures.items())[:5])
        more = f" and {len(self.failures) - 5} more" if len(self.failures) > 5 else ""
        super().__init__(f"{len(self.failures)} message(s) not published: {shown}{more}")

    @property
    def message_ids(self) -> list[str]:
        return list(self.failures)


class BatchPublisher(Protocol):
    """What the outbox relay needs from a publisher (tests may pass their own)."""

    @property
    def ready(self) -> bool: ...

    def publish_batch(self, messages: Sequence[Outgoing]) -> None: ...


class _Batch:
    """A caller's batch: resolved message by message on the I/O thread, awaited by the caller."""

    def __init__(self, items: list[tuple[str, str, bytes, pika.BasicProperties, str]]) -> None:
        self.items = items
        self.outstanding = set(range(len(items)))
        self.failures: dict[str, str] = {}
        self.done = threading.Event()
        self.abandoned = False
        self._lock = threading.Lock()
        if not items:
            self.done.set()

    def resolve(self, index: int, failure: str | None = None) -> None:
        with self._lock:
            if self.abandoned or index not in self.outstanding:
                return
            self.outstanding.discard(index)
            if failure is not None:
                self.failures.setdefault(self.items[index][4], failure)
            if not self.outstanding:
                self.done.set()

    def fail_all(self, reason: str) -> None:
        for index in list(self.outstanding):
            self.resolve(index, reason)

    def abandon(self, reason: str) -> None:
        """Stop waiting: whatever is still unconfirmed fails with ``reason``."""
        with self._lock:
            for index in self.outstanding:
                self.failures.setdefault(self.items[index][4], reason)
            self.outstanding.clear()
            self.abandoned = True
            self.done.set()


class Publisher:
    """Confirmed, mandatory, persistent publishing from any thread; see the module docstring.

    ``start()`` it once per process (it connects in the background), share it, ``close()``
    it at shutdown.
    """

    def __init__(
        self,
        amqp_url: str | SecretStr,
        *,
        confirm_timeout: float = 15.0,
        heartbeat: float | None = 30.0,
        reconnect_initial: float = 0.5,
        reconnect_cap: float = 30.0,
        name: str = "bbp-publisher",
    ) -> None:
        self._url = amqp_url
        self._broker = describe_url(amqp_url)
        self.confirm_timeout = confirm_timeout
        self.name = name
        self._params = amqp_parameters(amqp_url, heartbeat=heartbeat, connection_name=name)
        self._backoff = Backoff(reconnect_initial, reconnect_cap)
        self._ioloop = IOLoop()
        self._thread = threading.Thread(target=self._run_loop, name=name, daemon=True)
        self._started = False
        self._closing = False
        self._ready = threading.Event()
        self._blocked = False
        # Everything below is touched on the I/O thread only.
        self._connection: pika.SelectConnection | None = None
        self._channel: Channel | None = None
        self._next_tag = 0
        self._pending: dict[int, tuple[_Batch, int]] = {}
        self._returned: dict[str, str] = {}
        self._waiting: deque[_Batch] = deque()
        self._reconnect_timer: Any = None
        self.reconnects = 0

    @classmethod
    def from_settings(cls, settings: AmqpSettings, **kwargs: Any) -> Publisher:
        return cls(
            settings.amqp_url,
            confirm_timeout=settings.amqp_confirm_timeout,
            heartbeat=settings.amqp_heartbeat,
            **kwargs,
        )

    # ------------------------------------------------------------------ caller's side

    def start(self) -> Publisher:
        """Start the I/O thread and connect (in the background); returns at once."""
        if self._started:
            return self
        self._started = True
        self._ioloop.add_callback_threadsafe(self._connect)
        self._thread.start()
        return self

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the channel is open in confirm mode (True) or ``timeout`` passed."""
        return self._ready.wait(timeout)

    @property
    def ready(self) -> bool:
        """Connected, confirm mode on, and not blocked by a broker resource alarm."""
        return self._ready.is_set() and not self._blocked and self._thread.is_alive()

    def publish(self, message: Outgoing, *, timeout: float | None = None) -> None:
        self.publish_batch([message], timeout=timeout)

    def publish_batch(self, messages: Sequence[Outgoing], *, timeout: float | None = None) -> None:
        """Publish ``messages`` and return once the broker confirmed every one of them.

        Raises :class:`PublishFailed` naming each message nacked, returned (unroutable),
        lost with the connection, or not confirmed within ``timeout`` (default
        ``confirm_timeout``). Thread-safe; concurrent batches pipeline on one channel.
        """
        items = [
            (
                m.exchange,
                m.routing_key,
                m.envelope.to_json(),
                properties_of(m.envelope),
                m.envelope.message_id,
            )
            for m in messages
        ]
        batch = _Batch(items)
        if not items:
            return
        if not self._started or self._closing or not self._thread.is_alive():
            batch.fail_all("publisher is not running")
            raise PublishFailed(batch.failures)
        self._ioloop.add_callback_threadsafe(functools.partial(self._publish, batch))
        wait = self.confirm_timeout if timeout is None else timeout
        if not batch.done.wait(wait):
            batch.abandon(f"not confirmed within {wait:g}s")
        if batch.failures:
            raise PublishFailed(batch.failures)

    def close(self, timeout: float = 10.0) -> None:
        """Close the channel and connection and stop the I/O thread; waiting batches fail."""
        if not self._started or self._closing:
            return
        self._closing = True
        self._ioloop.add_callback_threadsafe(self._shutdown)
        self._thread.join(timeout)

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ I/O thread

    def _run_loop(self) -> None:
        try:
            self._ioloop.start()
        except BaseException:
            log.exception("amqp_publisher_io_thread_died", name=self.name)
            raise
        finally:
            self._ready.clear()
            self._ioloop.close()

    def _connect(self) -> None:
        self._reconnect_timer = None
        if self._closing:
            return
        self._connection = pika.SelectConnection(
            self._params,
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_connection_open_error,
            on_close_callback=self._on_connection_closed,
            custom_ioloop=self._ioloop,
        )

    def _schedule_reconnect(self, reason: str) -> None:
        if self._closing:
            self._ioloop.stop()
            return
        delay = self._backoff.next()
        self.reconnects += 1
        log.warning(
            "amqp_publisher_reconnecting",
            broker=self._broker,
            reason=mask_text(reason),
            retry_in=round(delay, 2),
        )
        self._reconnect_timer = self._ioloop.call_later(delay, self._connect)

    def _on_connection_open(self, connection: pika.SelectConnection) -> None:
        connection.add_on_connection_blocked_callback(self._on_blocked)
        connection.add_on_connection_unblocked_callback(self._on_unblocked)
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_connection_open_error(self, _connection: Any, error: BaseException) -> None:
        self._connection = None
        self._schedule_reconnect(f"cannot connect: {type(error).__name__}: {error}")

    def _on_connection_closed(self, _connection: Any, reason: BaseException) -> None:
        self._connection = None
        self._channel_lost(f"connection closed: {reason}")
        self._schedule_reconnect(f"connection closed: {type(reason).__name__}: {reason}")

    def _on_blocked(self, *_args: Any) -> None:
        log.warning("amqp_publisher_blocked", broker=self._broker)
        self._blocked = True

    def _on_unblocked(self, *_args: Any) -> None:
        log.info("amqp_publisher_unblocked", broker=self._broker)
        self._blocked = False

    def _on_channel_open(self, channel: Channel) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirm_mode)

    def _on_confirm_mode(self, _frame: pika.frame.Method) -> None:
        self._next_tag = 0
        self._pending.clear()
        self._returned.clear()
        self._backoff.reset()
        self._ready.set()
        log.info("amqp_publisher_ready", broker=self._broker, name=self.name)
        while self._waiting and self._channel is not None:
            self._publish(self._waiting.popleft())

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        # A channel error (e.g. publishing to an exchange that does not exist) closes the
        # channel only: fail what it held and open a new one on the same connection.
        if self._channel is not channel:
            return
        self._channel_lost(f"channel closed: {reason}")
        connection = self._connection
        if self._closing:
            if connection is not None and connection.is_open:
                connection.close()
            return
        if connection is not None and connection.is_open:
            log.warning("amqp_publisher_channel_closed", reason=mask_text(str(reason)))
            self._ioloop.call_later(
                self._backoff.next(), functools.partial(self._reopen_channel, connection)
            )

    def _reopen_channel(self, connection: pika.SelectConnection) -> None:
        current = self._connection
        if current is None or current is not connection or self._closing:
            return  # reconnected meanwhile (the new connection opens its own channel)
        if current.is_open:
            current.channel(on_open_callback=self._on_channel_open)

    def _channel_lost(self, reason: str) -> None:
        self._ready.clear()
        self._channel = None
        pending, self._pending = self._pending, {}
        for batch, index in pending.values():
            batch.resolve(index, mask_text(reason)[:200])
        self._returned.clear()

    def _publish(self, batch: _Batch) -> None:
        if batch.done.is_set():
            return
        channel = self._channel
        if channel is None or not self._ready.is_set() or not channel.is_open:
            if self._closing:
                batch.fail_all("publisher closed")
            else:
                self._waiting.append(batch)
            return
        for index, (exchange, routing_key, body, properties, _mid) in enumerate(batch.items):
            try:
                channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
            except Exception as exc:  # the channel died under us: the rest are not sent
                for rest in range(index, len(batch.items)):
                    batch.resolve(rest, f"not sent: {type(exc).__name__}")
                return
            self._next_tag += 1
            self._pending[self._next_tag] = (batch, index)

    def _on_return(
        self,
        _channel: Channel,
        method: pika.spec.Basic.Return,
        properties: pika.BasicProperties,
        _body: bytes,
    ) -> None:
        # The broker sends Basic.Return before the Basic.Ack of the same message.
        if properties.message_id:
            self._returned[properties.message_id] = (
                f"returned {method.reply_code} {method.reply_text} "
                f"(exchange {method.exchange!r}, routing key {method.routing_key!r})"
            )

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tag = method.delivery_tag
        if method.multiple:
            tags = []
            for pending_tag in self._pending:  # insertion order = ascending tags
                if pending_tag > tag:
                    break
                tags.append(pending_tag)
        else:
            tags = [tag] if tag in self._pending else []
        for pending_tag in tags:
            batch, index = self._pending.pop(pending_tag)
            message_id = batch.items[index][4]
            returned = self._returned.pop(message_id, None)
            if not acked:
                batch.resolve(index, "nacked by the broker")
            elif returned is not None:
                batch.resolve(index, returned)
            else:
                batch.resolve(index)

    def _shutdown(self) -> None:
        if self._reconnect_timer is not None:
            self._ioloop.remove_timeout(self._reconnect_timer)
            self._reconnect_timer = None
        while self._waiting:
            self._waiting.popleft().fail_all("publisher closed")
        self._ready.clear()
        connection = self._connection
        if connection is None or connection.is_closed:
            self._ioloop.stop()
        elif not connection.is_closing:
            try:
                connection.close()  # _on_connection_closed stops the loop
            except Exception:  # still opening, or already going: just stop
                self._ioloop.stop()
