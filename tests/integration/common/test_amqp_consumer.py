"""The consumer runner against the real broker (and the real database where work is durable)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from messaging_support import (
    ITEM,
    apply_effect,
    close_all_connections,
    depth,
    drain,
    effect_count,
    new_effect,
    new_queue,
    publish_raw,
    wait_until,
)
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from bbp_common.platform.inbox import first_time
from bbp_common.platform.logging import correlation, get_correlation_id
from bbp_common.platform.messaging import (
    Consumer,
    Envelope,
    Handler,
    Outgoing,
    Publisher,
    QueueSpec,
    Reject,
    Retry,
    build,
)

HERE = Path(__file__).resolve().parent


@pytest.fixture()
def consumers() -> Iterator[list[Consumer]]:
    """Consumers a test starts; stopped (and joined) whatever happens."""
    started: list[Consumer] = []
    yield started
    for consumer in started:
        consumer.stop()
    for consumer in started:
        consumer.join(10)


def start(
    consumers: list[Consumer], amqp_url: str, spec: QueueSpec, handler: Handler, **kwargs: object
) -> tuple[Consumer, CollectorRegistry]:
    registry = CollectorRegistry()
    options: dict[str, object] = {
        "prefetch": 4,
        "reconnect_initial": 0.05,
        "reconnect_cap": 0.5,
        "metrics_registry": registry,
        "grace_period": 5.0,
    }
    options.update(kwargs)
    consumer = Consumer(amqp_url, spec.name, handler, **options)  # type: ignore[arg-type]
    consumers.append(consumer.start())
    assert consumer.wait_consuming(10), "the consumer did not subscribe"
    return consumer, registry


def handled(registry: CollectorRegistry, spec: QueueSpec, outcome: str) -> float:
    value = registry.get_sample_value(
        "bbp_messages_handled_total", {"queue": spec.name, "outcome": outcome}
    )
    return value or 0.0


def send(publisher: Publisher, spec: QueueSpec, n: int = 1) -> Outgoing:
    message = Outgoing("bbp", f"{spec.name}.item", build(ITEM, {"n": n}, version=1))
    publisher.publish(message)
    return message


def test_a_handled_message_is_acked_with_its_body_validated_and_correlation_bound(
    amqp_url: str, publisher: Publisher, consumers: list[Consumer]
) -> None:
    spec = new_queue(amqp_url)
    seen: list[tuple[Envelope, bool, str | None]] = []
    _, registry = start(
        consumers, amqp_url, spec, lambda m, r: seen.append((m, r, get_correlation_id()))
    )
    with correlation("req-42"):
        message = send(publisher, spec, 5)

    assert wait_until(lambda: handled(registry, spec, "acked") == 1)
    [(envelope, redelivered, bound)] = seen
    assert envelope.message_id == message.envelope.message_id
    assert envelope.body == {"n": 5, "amount": None}  # loaded through the schema
    assert (redelivered, bound) == (False, "req-42")
    assert depth(amqp_url, spec.name) == 0
    assert (
        registry.get_sample_value("bbp_message_handling_seconds_count", {"queue": spec.name}) == 1
    )


def test_an_unacked_message_is_redelivered_with_redelivered_true_after_the_connection_drops(
    amqp_url: str, publisher: Publisher, consumers: list[Consumer]
) -> None:
    spec = new_queue(amqp_url)
    seen: list[bool] = []
    release = threading.Event()

    def handler(message: Envelope, redelivered: bool) -> None:
        seen.append(redelivered)
        if not redelivered:
            release.wait(10)  # hold the first delivery, unacked, while the connection dies

    consumer, registry = start(consumers, amqp_url, spec, handler, prefetch=1, workers=2)
    send(publisher, spec)
    assert wait_until(lambda: seen == [False])

    close_all_connections(amqp_url)

    assert wait_until(lambda: len(seen) == 2, 10), "not redelivered after the reconnect"
    release.set()
    assert seen == [False, True]
    assert consumer.connections >= 2
    assert wait_until(lambda: handled(registry, spec, "acked") == 1)
    assert depth(amqp_url, spec.name) == 0


def test_a_poison_message_ends_in_the_dead_letter_queue_after_the_delivery_limit(
    amqp_url: str, publisher: Publisher, consumers: list[Consumer]
) -> None:
    limit = 2
    spec = new_queue(amqp_url, delivery_limit=limit)
    calls: list[bool] = []

    def handler(message: Envelope, redelivered: bool) -> None:
        calls.append(redelivered)
        raise RuntimeError("this message always breaks the handler")

    _, registry = start(consumers, amqp_url, spec, handler)
    message = send(publisher, spec)

    dead = drain(amqp_url, spec.dead_letter_queue, wait=10, expect=1)
    assert [d.body["message_id"] for d in dead] == [message.envelope.message_id]
    # RabbitMQ dead-letters a message returned more than `limit` times: limit + 1 deliveries.
    assert calls == [False] + [True] * limit
    assert handled(registry, spec, "requeued") == limit + 1
    assert dead[0].headers["x-death"][0]["queue"] == spec.name
    assert depth(amqp_url, spec.name) == 0


def test_invalid_messages_go_to_the_dead_letter_queue_at_once_without_reaching_the_handler(
    amqp_url: str, consumers: list[Consumer]
) -> None:
    spec = new_queue(amqp_url, delivery_limit=5)
    calls: list[Envelope] = []
    _, registry = start(consumers, amqp_url, spec, lambda m, r: calls.append(m))
    good = build(ITEM, {"n": 1}, version=1).to_dict()
    unknown_type = {**good, "message_id": "unknown-type", "type": "test.nobody.knows"}
    unknown_version = {**good, "message_id": "unknown-version", "version": 9}
    bad_body = {**good, "message_id": "bad-body", "body": {"n": "not a number"}}
    for raw in (
        b"not json at all",
        *(json.dumps(m).encode() for m in (unknown_type, unknown_version, bad_body)),
    ):
        publish_raw(amqp_url, f"{spec.name}.item", raw)

    dead = drain(amqp_url, spec.dead_letter_queue, wait=10, expect=4)
    assert len(dead) == 4
    assert all(
        "x-delivery-count" not in d.headers or d.headers["x-delivery-count"] == 0 for d in dead
    )  # dead-lettered on the first delivery
    assert calls == []
    assert handled(registry, spec, "invalid") == 4


def test_reject_dead_letters_at_once_and_retry_requeues(
    amqp_url: str, publisher: Publisher, consumers: list[Consumer]
) -> None:
    spec = new_queue(amqp_url, delivery_limit=5)
    calls: list[tuple[int, bool]] = []

    def handler(message: Envelope, redelivered: bool) -> None:
        calls.append((message.body["n"], redelivered))
        if message.body["n"] == 1:
            raise Reject("this can never succeed")
        if message.body["n"] == 2 and not redelivered:
            raise Retry("try again later")

    _, registry = start(consumers, amqp_url, spec, handler, prefetch=1)
    rejected = send(publisher, spec, 1)
    send(publisher, spec, 2)

    assert wait_until(lambda: handled(registry, spec, "acked") == 1)
    assert calls == [(1, False), (2, False), (2, True)]
    assert handled(registry, spec, "dead_lettered") == 1
    assert handled(registry, spec, "requeued") == 1
    dead = drain(amqp_url, spec.dead_letter_queue, wait=5, expect=1)
    assert [d.body["message_id"] for d in dead] == [rejected.envelope.message_id]


def test_graceful_stop_lets_in_hand_work_finish_and_leaves_the_rest_queued(
    amqp_url: str, publisher: Publisher, consumers: list[Consumer]
) -> None:
    spec = new_queue(amqp_url, delivery_limit=5)
    started = threading.Event()
    finished: list[int] = []

    def handler(message: Envelope, redelivered: bool) -> None:
        started.set()
        time.sleep(1.0)
        finished.append(message.body["n"])

    consumer, registry = start(consumers, amqp_url, spec, handler, prefetch=2, workers=1)
    send(publisher, spec, 1)
    send(publisher, spec, 2)
    assert started.wait(5)

    consumer.stop()  # mid-work
    assert consumer.join(5), "stop() did not return"

    assert finished == [1], "the in-hand message was not finished (or the next one started)"
    assert handled(registry, spec, "acked") == 1
    left = drain(amqp_url, spec.name)  # the message not yet started went back to the queue
    assert [g.body["body"]["n"] for g in left] == [2]


def test_graceful_stop_past_the_grace_period_requeues_and_the_inbox_applies_it_once(
    amqp_url: str, publisher: Publisher, consumers: list[Consumer], engine: Engine
) -> None:
    spec = new_queue(amqp_url, delivery_limit=5)
    with engine.begin() as conn:
        effect = new_effect(conn)
    deliveries: list[bool] = []
    started = threading.Event()

    def handler(message: Envelope, redelivered: bool) -> None:
        deliveries.append(redelivered)
        started.set()
        with engine.begin() as conn:
            if first_time(conn, "test-grace", message.message_id):
                apply_effect(conn, effect)
                time.sleep(1.5)  # slower than the grace period, inside the transaction

    slow, slow_registry = start(consumers, amqp_url, spec, handler, grace_period=0.3)
    send(publisher, spec)
    assert started.wait(5)
    slow.stop()
    assert slow.join(5)
    assert handled(slow_registry, spec, "abandoned") == 1

    # The next consumer gets it again; its inbox insert waits for the first transaction,
    # which commits, so it skips the work and acks.
    _, registry = start(consumers, amqp_url, spec, handler)
    assert wait_until(lambda: handled(registry, spec, "acked") == 1, 10)
    assert deliveries == [False, True]
    with engine.connect() as conn:
        assert effect_count(conn, effect) == 1
    assert depth(amqp_url, spec.name) == 0


def test_heartbeats_keep_flowing_while_a_handler_works_longer_than_the_heartbeat_timeout(
    amqp_url: str, publisher: Publisher, consumers: list[Consumer]
) -> None:
    spec = new_queue(amqp_url)
    calls: list[bool] = []

    def handler(message: Envelope, redelivered: bool) -> None:
        calls.append(redelivered)
        time.sleep(3.5)  # > 2 heartbeat intervals of 1 s: a silent connection would be dead

    consumer, registry = start(consumers, amqp_url, spec, handler, heartbeat=1)
    send(publisher, spec)

    assert wait_until(lambda: handled(registry, spec, "acked") == 1, 10)
    assert calls == [False]
    assert consumer.connections == 1, "the connection was lost during the long work"
    assert depth(amqp_url, spec.name) == 0


def test_a_consumer_killed_mid_message_loses_nothing(
    amqp_url: str,
    publisher: Publisher,
    consumers: list[Consumer],
    engine: Engine,
    tmp_path: Path,
) -> None:
    spec = new_queue(amqp_url)
    marker = tmp_path / "working"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "child_consumer.py"), amqp_url, spec.name, str(marker)],
        cwd=HERE,
    )
    try:
        message = send(publisher, spec)
        assert wait_until(marker.exists, 20), "the child never started the message"
        assert marker.read_text() == message.envelope.message_id
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)

    with engine.begin() as conn:
        effect = new_effect(conn)
    deliveries: list[bool] = []

    def handler(received: Envelope, redelivered: bool) -> None:
        with engine.begin() as conn:
            if first_time(conn, "test-killed", received.message_id):
                apply_effect(conn, effect)
        deliveries.append(redelivered)

    _, registry = start(consumers, amqp_url, spec, handler)
    assert wait_until(lambda: handled(registry, spec, "acked") == 1, 10)
    assert deliveries == [True]
    with engine.connect() as conn:
        assert effect_count(conn, effect) == 1
    assert depth(amqp_url, spec.name) == 0
