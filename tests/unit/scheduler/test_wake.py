"""The dispatcher waits for free in-flight slots by being woken, not by sleeping idle."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from bbp_scheduler.batching import BatchApplier
from bbp_scheduler.dispatcher import Dispatcher
from bbp_scheduler.lease import LostLease


class FakeDb:
    """``LeaderDb.write`` without a database: runs the work with no connection."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail

    def write(self, work: Any) -> Any:
        if self.fail is not None:
            raise self.fail
        return work(None, 1)


def message() -> Any:
    """The applier hands messages on untouched: any object with an id will do."""
    return SimpleNamespace(message_id="m-1")


def test_the_applier_reports_each_committed_batch() -> None:
    applied: list[int] = []
    woken = threading.Event()
    applier = BatchApplier(
        FakeDb(), lambda _conn, batch: applied.append(len(batch)), on_applied=woken.set
    )
    try:
        applier.submit(message())
    finally:
        applier.stop()
    assert applied == [1] and woken.is_set()


def test_a_batch_that_lost_the_lease_frees_nothing_and_wakes_no_one() -> None:
    woken = threading.Event()
    applier = BatchApplier(
        FakeDb(fail=LostLease("gone")), lambda _c, _b: None, on_applied=woken.set
    )
    try:
        with pytest.raises(LostLease):
            applier.submit(message())
    finally:
        applier.stop()
    assert not woken.is_set()


def test_freed_slots_wake_the_dispatcher_only_when_it_waits_for_one() -> None:
    dispatcher = Dispatcher(None, None, SimpleNamespace(mobiquity_rate_limit=200), None)  # type: ignore[arg-type]
    dispatcher.slots_freed()
    assert not dispatcher.wake.is_set()  # not saturated: it is planning or truly idle
    dispatcher.saturated = True
    dispatcher.slots_freed()
    assert dispatcher.wake.is_set()
