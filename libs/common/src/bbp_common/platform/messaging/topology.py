"""Exchanges, queues and bindings: one list, declared idempotently by every service at start-up.

Two durable topic exchanges: ``bbp`` for commands and events, ``bbp.dlx`` for dead letters.
Every work queue is a quorum queue (replicated, confirms only after a quorum stored the
message) with an explicit ``x-delivery-limit``: a message returned more often than that is
dead-lettered through ``bbp.dlx`` with the queue's own name as routing key into
``<queue>.dead``, where it waits for a person. Dead-lettering is ``at-least-once`` (the
broker keeps the message until the dead-letter queue confirmed it), which needs
``x-overflow=reject-publish``; no length limit is set, so publishing is never refused for it.

Later issues add queues to :data:`QUEUES` — the one place the topology lives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import ChannelClosedByBroker
from pydantic import SecretStr

from bbp_common.platform.envelope import DEAD_LETTER_EXCHANGE, EXCHANGE
from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging.connection import amqp_parameters, describe_url

log = get_logger(__name__)

DEAD_LETTER_SUFFIX = ".dead"


class TopologyMismatch(Exception):
    """The broker holds a queue or exchange declared with other arguments (e.g. another
    delivery limit). Queue arguments cannot change in place: delete and recreate the queue
    (after draining it) or change the value through a RabbitMQ policy."""


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A work queue, the routing keys that feed it from ``exchange``, and its dead-letter queue."""

    name: str
    routing_keys: tuple[str, ...]
    exchange: str = EXCHANGE

    @property
    def dead_letter_queue(self) -> str:
        return self.name + DEAD_LETTER_SUFFIX

    def arguments(self, delivery_limit: int) -> dict[str, Any]:
        """Queue arguments of the work queue (the delivery limit is always explicit:
        RabbitMQ 4 would otherwise apply its own default of 20, 3.x none at all)."""
        if delivery_limit < 0:
            raise ValueError("delivery_limit must be >= 0")
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    @staticmethod
    def dead_letter_arguments() -> dict[str, Any]:
        return {"x-queue-type": "quorum"}


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("scheduler.requests", ("request.#",)),
    QueueSpec("scheduler.results", ("result.#",)),
    QueueSpec("communicator.fetch", ("command.fetch",)),
    QueueSpec("communicator.pay", ("command.pay",)),
    QueueSpec("communicator.enquiry", ("command.enquiry",)),
    QueueSpec("communicator.notify", ("command.notify",)),
)
"""Every work queue of the platform. Add new ones here (and to ``docs/messages.md``)."""


def queue_spec(name: str, queues: Iterable[QueueSpec] = QUEUES) -> QueueSpec:
    """The spec of queue ``name`` (KeyError if there is none)."""
    for spec in queues:
        if spec.name == name:
            return spec
    raise KeyError(name)


def declare_exchanges(channel: BlockingChannel) -> None:
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="topic", durable=True)


def declare_queue(channel: BlockingChannel, spec: QueueSpec, *, delivery_limit: int) -> None:
    """The dead-letter queue first (so nothing dead-lettered is ever unroutable), then the queue."""
    channel.queue_declare(
        spec.dead_letter_queue, durable=True, arguments=spec.dead_letter_arguments()
    )
    channel.queue_bind(spec.dead_letter_queue, DEAD_LETTER_EXCHANGE, routing_key=spec.name)
    channel.queue_declare(spec.name, durable=True, arguments=spec.arguments(delivery_limit))
    for key in spec.routing_keys:
        channel.queue_bind(spec.name, spec.exchange, routing_key=key)


def declare_topology(
    channel: BlockingChannel, *, delivery_limit: int, queues: Iterable[QueueSpec] = QUEUES
) -> None:
    """Declare both exchanges and ``queues`` on an open channel; safe to repeat.

    Raises :class:`TopologyMismatch` when the broker has them with other arguments.
    """
    try:
        declare_exchanges(channel)
        for spec in queues:
            declare_queue(channel, spec, delivery_limit=delivery_limit)
    except ChannelClosedByBroker as exc:
        if exc.reply_code == 406:
            raise TopologyMismatch(exc.reply_text) from exc
        raise


def setup_topology(
    amqp_url: str | SecretStr,
    *,
    delivery_limit: int,
    queues: Iterable[QueueSpec] = QUEUES,
    heartbeat: float | None = None,
) -> None:
    """Open a short connection, declare the topology, close. Call from ``bootstrap()``."""
    connection = pika.BlockingConnection(
        amqp_parameters(amqp_url, heartbeat=heartbeat, connection_name="bbp-topology")
    )
    try:
        declare_topology(connection.channel(), delivery_limit=delivery_limit, queues=queues)
        log.info("amqp_topology_declared", broker=describe_url(amqp_url))
    finally:
        if connection.is_open:
            connection.close()
