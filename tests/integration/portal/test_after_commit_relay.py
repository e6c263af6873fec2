"""The portal's after-commit relay: one publisher per process, made after the fork, and never
a failure for the request that called it."""

from __future__ import annotations

import multiprocessing
import os
import time

from sqlalchemy import create_engine

from bbp_portal.bulk.publishing import AfterCommitRelay
from sandbox.testing import free_port
from tests.support.portal import base_settings


def _in_child(relay: AfterCommitRelay, answer) -> None:  # type: ignore[no-untyped-def]
    inherited = relay._pid
    sent = relay(["m-1"])
    publisher = relay._publisher
    answer.send(
        (
            inherited,
            relay._pid,
            os.getpid(),
            sent,
            publisher is not None and publisher._thread.is_alive(),
        )
    )


def test_a_forked_worker_makes_its_own_publisher_and_a_dead_broker_costs_one_short_wait():
    settings = base_settings(
        amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",
        portal_publisher_connect_wait=0.5,
    )
    engine = create_engine("sqlite://")  # never reached: nothing is published
    relay = AfterCommitRelay(settings, engine)
    assert relay._publisher is None  # nothing connects before the first use

    started = time.monotonic()
    assert relay(["m-0"]) == 0  # broker down: left for the scheduler's relay, no exception
    first = time.monotonic() - started
    started = time.monotonic()
    assert relay(["m-0"]) == 0
    second = time.monotonic() - started
    assert 0.4 <= first < 3 and second < 0.2
    parent_publisher = relay._publisher
    assert relay._pid == os.getpid() and not relay.connected

    reader, writer = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_in_child, args=(relay, writer))
    child.start()
    inherited, now, child_pid, sent, alive = reader.recv()
    child.join(10)
    assert inherited == os.getpid()  # the fork copied the parent's attributes…
    assert now == child_pid != os.getpid()  # …and the child started its own publisher
    assert sent == 0 and alive
    assert relay._publisher is parent_publisher  # the parent's is untouched
    relay.close()
