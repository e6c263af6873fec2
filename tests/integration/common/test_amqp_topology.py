"""The platform's topology declared on the real broker."""

from __future__ import annotations

import pika
import pytest
from messaging_support import ITEM, depth, drain, rabbitmqctl, vhost_of

from bbp_common.platform.messaging import (
    QUEUES,
    Outgoing,
    Publisher,
    QueueSpec,
    TopologyMismatch,
    build,
    setup_topology,
)
from bbp_common.platform.messaging.topology import declare_topology


def test_the_topology_is_declared_idempotently_with_quorum_queues_and_routes_as_documented(
    amqp_url: str, publisher: Publisher
) -> None:
    setup_topology(amqp_url, delivery_limit=3)
    setup_topology(amqp_url, delivery_limit=3)  # a second service starting: no error

    listed = rabbitmqctl(
        "list_queues", "-p", vhost_of(amqp_url), "--no-table-headers", "--quiet", "name", "type"
    )
    types = dict(line.split("\t") for line in listed.strip().splitlines())
    for spec in QUEUES:
        assert types[spec.name] == "quorum"
        assert types[spec.dead_letter_queue] == "quorum"

    routes = {
        "request.fetch.created": "scheduler.requests",
        "result.pay": "scheduler.results",
        "command.fetch": "communicator.fetch",
        "command.pay": "communicator.pay",
        "command.enquiry": "communicator.enquiry",
        "command.notify": "communicator.notify",
    }
    for spec in QUEUES:  # the vhost is shared by the run: start from empty queues
        drain(amqp_url, spec.name)
    publisher.publish_batch(
        [Outgoing("bbp", key, build(ITEM, {"n": i}, version=1)) for i, key in enumerate(routes)]
    )
    for i, (key, queue) in enumerate(routes.items()):
        [got] = drain(amqp_url, queue)
        assert got.body["body"]["n"] == i, key


def test_a_queue_with_another_delivery_limit_is_a_clear_error(amqp_url: str) -> None:
    spec = QueueSpec("t.mismatch", ("t.mismatch.#",))
    setup_topology(amqp_url, delivery_limit=2, queues=[spec])
    with pytest.raises(TopologyMismatch, match="x-delivery-limit"):
        setup_topology(amqp_url, delivery_limit=3, queues=[spec])


def test_dead_letters_of_a_queue_reach_its_dead_letter_queue(amqp_url: str) -> None:
    spec = QueueSpec("t.dlx", ("t.dlx.#",))
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        declare_topology(channel, delivery_limit=1, queues=[spec])
        channel.confirm_delivery()  # basic_publish returns once the queue has it
        channel.basic_publish("bbp", "t.dlx.x", b"{}", pika.BasicProperties(delivery_mode=2))
        method, _props, _body = channel.basic_get(spec.name)
        assert method is not None
        channel.basic_nack(method.delivery_tag, requeue=False)
    finally:
        connection.close()
    [dead] = drain(amqp_url, spec.dead_letter_queue, wait=5, expect=1)
    assert dead.headers["x-death"][0]["reason"] == "rejected"
    assert depth(amqp_url, spec.name) == 0
