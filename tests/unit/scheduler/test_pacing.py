import random
from datetime import datetime, timedelta

import pytest

from bbp_scheduler.pacing import Pacer, max_in_any_window, round_robin

T0 = datetime(2026, 11, 25, 12, 0, 0)


def simulate(rate, ticks, tick=0.05, demand=lambda i: 1000, jitter=0.0):
    """Run the pacer as the scheduler does: plan a tick ahead, use some slots, repeat."""
    pacer = Pacer(rate)
    now = T0
    used = []
    rng = random.Random(7)
    for i in range(ticks):
        slots = pacer.plan(now, tick, demand(i))
        pacer.commit(slots)
        used.extend(slots)
        now += timedelta(seconds=tick + rng.uniform(0, jitter))
    return used


@pytest.mark.parametrize("rate", [1, 7, 50, 200, 333])
def test_never_more_than_the_rate_in_any_one_second_window(rate):
    used = simulate(rate, ticks=400, jitter=0.03)
    assert max_in_any_window(used) <= rate
    assert len(used) >= rate * 400 * 0.05 * 0.95  # and the cap is actually reached


def test_bursty_demand_after_idle_does_not_exceed_the_rate():
    used = simulate(100, ticks=300, demand=lambda i: 0 if (i // 20) % 2 else 1000, jitter=0.02)
    assert max_in_any_window(used) <= 100


def test_a_new_leader_continues_from_the_last_recorded_slot():
    first = Pacer(10)
    slots = first.plan(T0, 1.0, 100)
    first.commit(slots)
    successor = Pacer(10, last_slot=slots[-1])
    later = successor.plan(T0 + timedelta(seconds=0.5), 1.0, 100)
    assert max_in_any_window(slots + later) <= 10


def test_no_cap_gives_every_slot_now():
    assert Pacer(None).plan(T0, 0.1, 5) == [T0] * 5


def test_round_robin_is_fair_between_a_large_and_a_small_request():
    queues = {"big": list(range(50_000)), "small": list(range(10))}
    taken = round_robin(queues, 20)
    assert [k for k, _ in taken].count("small") == 10
    assert [v for k, v in taken if k == "big"] == list(range(10))


def test_round_robin_rotates_its_starting_point():
    queues = {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
    assert [k for k, _ in round_robin(queues, 2, start_after="a")] == ["b", "c"]
    assert [k for k, _ in round_robin(queues, 2, start_after="c")] == ["a", "b"]


def test_max_in_any_window():
    times = [T0 + timedelta(seconds=s) for s in (0, 0.5, 0.99, 1.0, 1.5)]
    assert max_in_any_window(times) == 3
