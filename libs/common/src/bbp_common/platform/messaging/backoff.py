"""Capped exponential backoff with jitter, for reconnects and outbox retries.

Jitter spreads the reconnects of many processes after a broker restart, so they do not all
knock at the same instant; the cap keeps a long outage from turning into hour-long waits.

Why not tenacity here (it retries the calls elsewhere: the Mobiquity client's idempotent
calls, whole transactions, result publishing): this is a delay calculator, not a retry
loop — the consumer's and publisher's reconnect loops live as long as the process and stop
on ``stop()``, and an outbox row's next try is written on the row (``available_at``).
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempt: int,
    *,
    initial: float,
    cap: float,
    multiplier: float = 2.0,
    jitter: float = 0.5,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    ``min(cap, initial * multiplier**attempt)``, then reduced by up to ``jitter`` of itself
    (``jitter=0.5`` → somewhere in [50 %, 100 %] of the capped value). Never above ``cap``,
    never negative.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError("jitter must be within [0, 1]")
    try:
        raw = initial * multiplier**attempt
    except OverflowError:
        raw = cap
    base = max(0.0, min(cap, raw))
    return base * (1.0 - jitter * rand())


class Backoff:
    """Stateful :func:`backoff_delay`: each ``next()`` waits longer; ``reset()`` after a success."""

    def __init__(
        self,
        initial: float = 0.5,
        cap: float = 30.0,
        *,
        multiplier: float = 2.0,
        jitter: float = 0.5,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.multiplier = multiplier
        self.jitter = jitter
        self._rand = rand
        self.attempts = 0

    def next(self) -> float:
        delay = backoff_delay(
            self.attempts,
            initial=self.initial,
            cap=self.cap,
            multiplier=self.multiplier,
            jitter=self.jitter,
            rand=self._rand,
        )
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
