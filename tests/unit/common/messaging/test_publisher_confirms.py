"""How the publisher matches confirms and returns to batches (no broker: frames by hand)."""

from __future__ import annotations

import pika
import pika.frame
import pika.spec
import pytest

from bbp_common.platform.envelope import Envelope
from bbp_common.platform.messaging.publisher import Outgoing, Publisher, PublishFailed, _Batch


def batch_of(*ids: str) -> _Batch:
    return _Batch([("bbp", "k", b"{}", pika.BasicProperties(message_id=mid), mid) for mid in ids])


def confirm(publisher: Publisher, method: object) -> None:
    publisher._on_confirm(pika.frame.Method(1, method))  # type: ignore[arg-type]


@pytest.fixture()
def publisher() -> Publisher:
    return Publisher("amqp://guest:guest@127.0.0.1:1/")  # never started


def track(publisher: Publisher, batch: _Batch) -> None:
    for index in range(len(batch.items)):
        publisher._next_tag += 1
        publisher._pending[publisher._next_tag] = (batch, index)


def test_a_multiple_ack_confirms_every_tag_up_to_it(publisher: Publisher) -> None:
    batch = batch_of("a", "b", "c", "d")
    track(publisher, batch)
    confirm(publisher, pika.spec.Basic.Ack(delivery_tag=3, multiple=True))
    assert not batch.done.is_set()
    assert list(publisher._pending) == [4]
    confirm(publisher, pika.spec.Basic.Ack(delivery_tag=4))
    assert batch.done.is_set() and batch.failures == {}


def test_nacked_and_returned_messages_fail_by_id(publisher: Publisher) -> None:
    batch = batch_of("a", "b", "c")
    track(publisher, batch)
    publisher._on_return(
        None,  # type: ignore[arg-type]
        pika.spec.Basic.Return(
            reply_code=312, reply_text="NO_ROUTE", exchange="bbp", routing_key="k"
        ),
        pika.BasicProperties(message_id="b"),
        b"{}",
    )
    confirm(publisher, pika.spec.Basic.Ack(delivery_tag=2, multiple=True))
    confirm(publisher, pika.spec.Basic.Nack(delivery_tag=3))
    assert batch.done.is_set()
    assert set(batch.failures) == {"b", "c"}
    assert "NO_ROUTE" in batch.failures["b"]
    assert "nacked" in batch.failures["c"]


def test_a_lost_channel_fails_what_was_unconfirmed(publisher: Publisher) -> None:
    batch = batch_of("a", "b")
    track(publisher, batch)
    confirm(publisher, pika.spec.Basic.Ack(delivery_tag=1))
    publisher._channel_lost("connection closed: amqp://u:secret@h/ reset")
    assert batch.failures == {"b": "connection closed: amqp://u:***@h/ reset"}


def test_abandoning_a_batch_fails_only_the_unconfirmed() -> None:
    batch = batch_of("a", "b")
    batch.resolve(0)
    batch.abandon("not confirmed within 1s")
    batch.resolve(1)  # a late confirm changes nothing
    assert batch.failures == {"b": "not confirmed within 1s"}


def test_publishing_on_a_publisher_not_started_fails_every_message(publisher: Publisher) -> None:
    message = Outgoing("bbp", "k", Envelope.new("t", {}, version=1))
    with pytest.raises(PublishFailed) as failed:
        publisher.publish_batch([message])
    assert failed.value.message_ids == [message.envelope.message_id]
    publisher.publish_batch([])  # nothing to do is not an error


def test_publish_failed_names_the_ids() -> None:
    failed = PublishFailed({f"id{i}": "returned 312 NO_ROUTE" for i in range(7)})
    assert "7 message(s)" in str(failed)
    assert "id0 (returned 312 NO_ROUTE)" in str(failed)
    assert "and 2 more" in str(failed)
