"""Pacing toward Mobiquity: GCRA slots and round-robin fairness, free of I/O.

The pacer plans *slots*: exact instants, at least ``1/rate`` apart, at which commands may
leave. The scheduler records each dispatch at its slot and releases it no earlier, so its
dispatch records never hold more than ``rate`` commands in any one-second window (GCRA
with no burst tolerance: the k-th command of any window [t, t+1) has a theoretical
arrival time ≥ t + (k−1)/rate, which must be < t + 1).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar


class Pacer:
    """Generic cell rate algorithm with zero burst, planning slots ahead of time."""

    def __init__(self, rate: float | None, last_slot: datetime | None = None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for no cap)")
        self.rate = rate
        # Rounded *up* to the microsecond DATETIME(6) keeps: rounding down would fit one
        # command too many into some second (1/7 s → 142 857 µs, seven of them < 1 s).
        self._interval = (
            timedelta(microseconds=math.ceil(1_000_000 / rate)) if rate else timedelta(0)
        )
        # Theoretical arrival time of the next command.
        self._tat = last_slot + self._interval if last_slot else None

    @property
    def interval(self) -> timedelta:
        return self._interval

    def plan(self, now: datetime, horizon: float, limit: int) -> list[datetime]:
        """Up to ``limit`` slots in ``[now, now + horizon)``, each at least one interval apart."""
        if limit <= 0:
            return []
        if not self.rate:
            return [now] * limit
        end = now + timedelta(seconds=horizon)
        slot = max(self._tat or now, now)
        slots: list[datetime] = []
        while slot < end and len(slots) < limit:
            slots.append(slot)
            slot = slot + self._interval
        return slots

    def commit(self, slots: Sequence[datetime]) -> None:
        """Consume the slots actually used (the first ``len(slots)`` planned)."""
        if slots and self.rate:
            self._tat = slots[-1] + self._interval

    def next_free(self, now: datetime) -> datetime:
        return max(self._tat or now, now)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def round_robin(
    queues: dict[K, list[V]], limit: int, start_after: K | None = None
) -> list[tuple[K, V]]:
    """Take up to ``limit`` items, one per queue in turn, starting after ``start_after``.

    A 50 000-item request and a 10-item request each get one slot per turn, so the small
    one finishes long before the large one.
    """
    keys = list(queues)
    if not keys or limit <= 0:
        return []
    if start_after in queues:
        i = keys.index(start_after) + 1
        keys = keys[i:] + keys[:i]
    cursors = dict.fromkeys(keys, 0)
    taken: list[tuple[K, V]] = []
    while len(taken) < limit:
        progressed = False
        for key in keys:
            if len(taken) >= limit:
                break
            position = cursors[key]
            if position < len(queues[key]):
                taken.append((key, queues[key][position]))
                cursors[key] = position + 1
                progressed = True
        if not progressed:
            break
    return taken


def max_in_any_window(times: Iterable[datetime], window: float = 1.0) -> int:
    """The largest number of ``times`` inside any half-open window [t, t + window)."""
    ordered = sorted(times)
    best = start = 0
    span = timedelta(seconds=window)
    for end, t in enumerate(ordered):
        while t - ordered[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best
