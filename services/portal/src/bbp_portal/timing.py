"""Equal timing for every failed sign-in, so the answer's speed does not reveal login ids.

A login id that is not registered (or disabled) is refused *before* Mobiquity is called,
which alone would answer in a millisecond while a wrong password takes a Mobiquity round
trip. Every failure therefore answers no sooner than ``max(floor, typical Mobiquity
refusal)``: the floor is a setting, the typical refusal time is an exponentially weighted
average of the refusals this process has seen.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable


class FailureTiming:
    """Pads failed sign-in answers to a common duration."""

    def __init__(
        self,
        floor: float,
        *,
        weight: float = 0.2,
        jitter: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.floor = floor
        self._weight = weight
        self._jitter = jitter
        self._clock = clock
        self._sleep = sleep
        self._typical: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def observe(self, seconds: float) -> None:
        """Record how long a Mobiquity refusal took."""
        with self._lock:
            if self._typical is None:
                self._typical = seconds
            else:
                self._typical += self._weight * (seconds - self._typical)

    def target(self) -> float:
        """How long a failed sign-in should take, at least."""
        return max(self.floor, self._typical or 0.0)

    def pad(self, started: float) -> None:
        """Sleep until ``started + target()`` (plus a little noise); at once if already late."""
        noise = random.uniform(0, self._jitter) if self._jitter else 0.0
        remaining = started + self.target() + noise - self._clock()
        if remaining > 0:
            self._sleep(remaining)
