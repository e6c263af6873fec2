"""Pacing toward Mobiquity: exact slots under the cap, and round-robin fairness; no I/O.

The pacer plans *slots*: instants at which commands may leave. The scheduler records each
dispatch at its slot and releases it no earlier, so its records are the truth about the
pace. Slots are GCRA-spaced — one every ``1/rate`` seconds, never bunched — and each is
also checked against the slots of the second before it, so **no window [t, t + 1 s) ever
holds more than ``rate`` slots**, across a change of leader too (a new leader starts from
the last second of records).

Slots that go by unused (no demand, or the planner stalled) are not made up later: under
a per-second cap a catch-up burst only moves the gap a second further on. The dispatcher
plans a little ahead instead, so that short stalls lose nothing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

SECOND = timedelta(seconds=1)


class Pacer:
    """Evenly spaced slots, at most ``rate`` in any one-second window."""

    def __init__(self, rate: float | None, recent: Iterable[datetime] = ()) -> None:
        """``recent``: slots already used (a new leader passes the last second's records)."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for no cap)")
        self.rate = rate
        self.per_window = math.floor(rate) if rate else 0
        # Rounded *up* to the microsecond DATETIME(6) keeps: rounding down would fit one
        # command too many into some second (1/7 s → 142 857 µs, seven of them < 1 s).
        self._interval = (
            timedelta(microseconds=math.ceil(1_000_000 / rate)) if rate else timedelta(0)
        )
        self._window: deque[datetime] = deque()
        self.commit(sorted(recent))

    @property
    def interval(self) -> timedelta:
        return self._interval

    def plan(self, now: datetime, horizon: float, limit: int) -> list[datetime]:
        """Up to ``limit`` slots in ``[now, now + horizon)``; then ``commit`` the ones used."""
        if limit <= 0:
            return []
        if not self.rate:
            return [now] * limit
        end = now + timedelta(seconds=horizon)
        window = deque(self._window)
        slot = max(now, window[-1] + self._interval) if window else now
        slots: list[datetime] = []
        while slot < end and len(slots) < limit:
            while window and window[0] <= slot - SECOND:
                window.popleft()
            if len(window) >= self.per_window:
                slot = window[0] + SECOND  # the earliest instant a place frees up
                continue
            slots.append(slot)
            window.append(slot)
            slot = slot + self._interval
        return slots

    def commit(self, slots: Sequence[datetime]) -> None:
        """Record the slots actually used, in time order."""
        if not self.rate:
            return
        self._window.extend(slots)
        if self._window:
            newest = self._window[-1]
            while self._window and self._window[0] <= newest - SECOND:
                self._window.popleft()


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
