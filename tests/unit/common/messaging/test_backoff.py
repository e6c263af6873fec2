"""Capped exponential backoff with jitter."""

from __future__ import annotations

import pytest

from bbp_common.platform.messaging.backoff import Backoff, backoff_delay


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    delays = [backoff_delay(n, initial=0.5, cap=4, jitter=0) for n in range(7)]
    assert delays == [0.5, 1, 2, 4, 4, 4, 4]


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999999])
def test_jitter_takes_off_at_most_its_share_and_never_exceeds_the_cap(rand: float) -> None:
    for attempt in range(12):
        full = min(30.0, 0.5 * 2**attempt)
        delay = backoff_delay(attempt, initial=0.5, cap=30, jitter=0.5, rand=lambda: rand)
        assert full * 0.5 <= delay <= full <= 30


def test_huge_attempt_numbers_stay_capped() -> None:
    assert backoff_delay(10_000, initial=1, cap=30, jitter=0) == 30


def test_the_stateful_form_grows_and_resets() -> None:
    backoff = Backoff(1, 8, jitter=0)
    assert [backoff.next() for _ in range(5)] == [1, 2, 4, 8, 8]
    backoff.reset()
    assert backoff.next() == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        backoff_delay(-1, initial=1, cap=2)
    with pytest.raises(ValueError):
        backoff_delay(0, initial=1, cap=2, jitter=1.5)
