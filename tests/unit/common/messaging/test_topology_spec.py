"""The topology as data, and the declarations it makes (on a recording fake channel)."""

from __future__ import annotations

from typing import Any

import pytest

from bbp_common.platform.messaging.topology import (
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    QUEUES,
    QueueSpec,
    declare_topology,
    queue_spec,
)


class RecordingChannel:
    """Stands in for pika's BlockingChannel: records the calls, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return record


def test_the_platform_queues_and_their_routing_keys() -> None:
    assert {spec.name: spec.routing_keys for spec in QUEUES} == {
        "scheduler.requests": ("request.#",),
        "scheduler.results": ("result.#",),
        "communicator.fetch": ("command.fetch",),
        "communicator.pay": ("command.pay",),
        "communicator.enquiry": ("command.enquiry",),
        "communicator.notify": ("command.notify",),
    }
    assert all(spec.exchange == EXCHANGE for spec in QUEUES)
    assert queue_spec("communicator.pay").dead_letter_queue == "communicator.pay.dead"
    with pytest.raises(KeyError):
        queue_spec("nope")


def test_work_queues_are_quorum_queues_with_an_explicit_limit_and_their_own_dead_letter_route() -> (
    None
):
    spec = QueueSpec("communicator.pay", ("command.pay",))
    assert spec.arguments(5) == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 5,
        "x-dead-letter-exchange": "bbp.dlx",
        "x-dead-letter-routing-key": "communicator.pay",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert spec.dead_letter_arguments() == {"x-queue-type": "quorum"}
    with pytest.raises(ValueError):
        spec.arguments(-1)


def test_declare_makes_durable_topic_exchanges_and_the_dead_letter_queue_before_the_queue() -> None:
    channel = RecordingChannel()
    spec = QueueSpec("scheduler.requests", ("request.#", "request.other"))
    declare_topology(channel, delivery_limit=3, queues=[spec])  # type: ignore[arg-type]

    assert channel.calls == [
        ("exchange_declare", (EXCHANGE,), {"exchange_type": "topic", "durable": True}),
        ("exchange_declare", (DEAD_LETTER_EXCHANGE,), {"exchange_type": "topic", "durable": True}),
        (
            "queue_declare",
            ("scheduler.requests.dead",),
            {"durable": True, "arguments": {"x-queue-type": "quorum"}},
        ),
        (
            "queue_bind",
            ("scheduler.requests.dead", DEAD_LETTER_EXCHANGE),
            {"routing_key": "scheduler.requests"},
        ),
        (
            "queue_declare",
            ("scheduler.requests",),
            {"durable": True, "arguments": spec.arguments(3)},
        ),
        ("queue_bind", ("scheduler.requests", EXCHANGE), {"routing_key": "request.#"}),
        ("queue_bind", ("scheduler.requests", EXCHANGE), {"routing_key": "request.other"}),
    ]


def test_queue_names_are_unique() -> None:
    names = [spec.name for spec in QUEUES] + [spec.dead_letter_queue for spec in QUEUES]
    assert len(names) == len(set(names))
