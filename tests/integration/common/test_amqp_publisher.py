"""The confirmed publisher against the real broker."""

from __future__ import annotations

from decimal import Decimal

import pytest
from messaging_support import (
    ITEM,
    close_all_connections,
    depth,
    drain,
    new_queue,
    wait_until,
)

from bbp_common.platform.logging import correlation
from bbp_common.platform.messaging import Outgoing, Publisher, PublishFailed, build


def item(spec_name: str, n: int, **body: object) -> Outgoing:
    return Outgoing("bbp", f"{spec_name}.item", build(ITEM, {"n": n, **body}, version=1))


def test_confirmed_messages_survive_the_broker_closing_the_connection_and_publishing_resumes(
    amqp_url: str, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    first = [item(spec.name, n) for n in range(20)]
    publisher.publish_batch(first)  # returns only once every message is confirmed

    close_all_connections(amqp_url)

    assert depth(amqp_url, spec.name) == 20, "a confirmed message was lost with the connection"
    assert wait_until(lambda: publisher.reconnects >= 1, 10), "the publisher never noticed"
    assert publisher.wait_ready(10), "the publisher did not reconnect"
    second = [item(spec.name, n) for n in range(20, 30)]
    publisher.publish_batch(second)

    got = drain(amqp_url, spec.name)
    assert sorted(g.body["body"]["n"] for g in got) == list(range(30))
    assert {g.body["message_id"] for g in got} == {m.envelope.message_id for m in first + second}


def test_a_batch_handed_in_while_disconnected_waits_for_the_reconnect(
    amqp_url: str, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    close_all_connections(amqp_url)
    wait_until(lambda: not publisher.ready, 5)
    publisher.publish_batch([item(spec.name, 1)], timeout=10)
    assert depth(amqp_url, spec.name) == 1


def test_unroutable_messages_fail_by_id_and_the_rest_of_the_batch_is_confirmed(
    amqp_url: str, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    routable = [item(spec.name, 1), item(spec.name, 2)]
    lost = Outgoing("bbp", "nobody.listens.here", build(ITEM, {"n": 3}, version=1))

    with pytest.raises(PublishFailed) as failed:
        publisher.publish_batch([routable[0], lost, routable[1]])

    assert failed.value.message_ids == [lost.envelope.message_id]
    assert "NO_ROUTE" in failed.value.failures[lost.envelope.message_id]
    assert sorted(g.body["body"]["n"] for g in drain(amqp_url, spec.name)) == [1, 2]


def test_a_channel_error_fails_the_batch_and_the_publisher_recovers(
    amqp_url: str, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    bad = Outgoing("no-such-exchange", "x", build(ITEM, {"n": 1}, version=1))
    with pytest.raises(PublishFailed) as failed:
        publisher.publish_batch([bad])
    assert "NOT_FOUND" in failed.value.failures[bad.envelope.message_id]

    publisher.publish_batch([item(spec.name, 2)], timeout=10)
    assert [g.body["body"]["n"] for g in drain(amqp_url, spec.name)] == [2]


def test_messages_are_persistent_json_with_the_envelope_in_their_properties(
    amqp_url: str, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    with correlation("corr-123"):
        message = item(spec.name, 7, amount=Decimal("1250.50"))
    publisher.publish(message)

    [got] = drain(amqp_url, spec.name)
    envelope = message.envelope
    assert got.body == {
        "message_id": envelope.message_id,
        "type": ITEM,
        "version": 1,
        "correlation_id": "corr-123",
        "occurred_at": got.body["occurred_at"],
        "body": {"n": 7, "amount": "1250.50"},
    }
    assert got.body["occurred_at"].endswith("Z")
    props = got.properties
    assert (props.message_id, props.type, props.correlation_id) == (
        envelope.message_id,
        ITEM,
        "corr-123",
    )
    assert props.content_type == "application/json"
    assert props.delivery_mode == 2
    assert props.headers["version"] == 1  # (quorum queues add x-delivery-count)


def test_a_publisher_that_cannot_connect_is_not_ready_and_fails_fast() -> None:
    pub = Publisher("amqp://guest:guest@127.0.0.1:1/", confirm_timeout=0.5, reconnect_cap=0.2)
    with pub:
        assert not pub.wait_ready(0.5)
        message = Outgoing("bbp", "x", build(ITEM, {"n": 1}, version=1))
        with pytest.raises(PublishFailed) as failed:
            pub.publish_batch([message])
        assert "not confirmed within" in failed.value.failures[message.envelope.message_id]
    with pytest.raises(PublishFailed, match="not running"):
        pub.publish_batch([message])
