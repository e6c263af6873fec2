"""Applying the communicators' results: many consumer threads, one unit of work per batch.

The ``scheduler.results`` consumer hands each message to the batch applier and returns once
its batch committed — only then is the message acknowledged. A batch is one lease-checked
transaction (``LeaderDb.write``): the rows its messages name are locked in one read per
table, each message goes to the handler registered for its type
(``bbp_scheduler.handlers.routes``), the stores flush once, and the requests whose items
finished are settled. A result that arrives twice, late or from a stale dispatch changes
nothing (handlers fence on attempts and enquiry numbers).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import Connection

from bbp_common.platform.messaging import Envelope, Reject, Retry
from bbp_scheduler.batching import BatchApplier
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.handlers import Route, routes
from bbp_scheduler.lease import LostLease
from bbp_scheduler.settings import SchedulerSettings
from bbp_scheduler.work import Rules, Work


@dataclass
class ResultMetrics:
    applied: Counter
    result_lag: Histogram
    stale: Counter

    @classmethod
    def create(cls, registry: Any) -> ResultMetrics:
        return cls(
            applied=Counter(
                "bbp_scheduler_results_total",
                "Results applied, by kind and outcome",
                ["kind", "outcome"],
                registry=registry,
            ),
            result_lag=Histogram(
                "bbp_scheduler_result_lag_seconds",
                "From dispatch to the result being applied (queue lag + Mobiquity + our work)",
                ["kind"],
                registry=registry,
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            ),
            stale=Counter(
                "bbp_scheduler_stale_results_total",
                "Results that changed nothing (stale or duplicate)",
                ["kind"],
                registry=registry,
            ),
        )


class Results:
    """The ``scheduler.results`` consumer entry and its batch applier."""

    def __init__(
        self,
        db: LeaderDb,
        settings: SchedulerSettings,
        registry: Any,
        *,
        on_applied: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.rules = Rules.of(settings)
        self.metrics = ResultMetrics.create(registry)
        self.routes: dict[str, Route] = routes()
        self.on_applied = on_applied
        #: Requests whose items finished in the batch being applied (applier thread only).
        self._to_settle: set[int] = set()
        self.batcher = BatchApplier(db, self.apply_all, on_applied=self._after_commit)

    @property
    def actor(self) -> str:
        return f"scheduler:{self.db.lease.holder}"

    def work(self, conn: Connection, token: int) -> Work:
        return Work(conn, token, self.actor, self.rules, self.settings, self.metrics)

    def settle(self, request_ids: set[int]) -> int:
        """Finish (or mark enquiring) these requests, in a transaction of their own."""
        if not request_ids:
            return 0
        return self.db.write(
            lambda conn, token: self.work(conn, token).settle_requests(request_ids)
        )

    def _after_commit(self) -> None:
        settle, self._to_settle = self._to_settle, set()
        with contextlib.suppress(LostLease):  # the next leader's sweeper settles them
            self.settle(settle)
        if self.on_applied is not None:
            self.on_applied()

    def handle(self, message: Envelope, redelivered: bool) -> None:
        """Apply (in a batch), or hand back if we lost the lease. Returns once committed."""
        if message.type not in self.routes:
            raise Reject(f"unexpected message type {message.type}")
        try:
            self.batcher.submit(message)
        except LostLease as exc:
            raise Retry("not the active scheduler") from exc

    def apply_all(self, conn: Connection, messages: list[Envelope]) -> None:
        work = self.work(conn, 0)
        items = [(m.type, body) for m in messages for body in _items(m)]
        by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for kind, body in items:
            by_type[kind].append(body)
        for kind, bodies in by_type.items():
            preload = self.routes[kind].preload
            if preload is not None:
                preload(work, bodies)
        for kind, body in items:
            self.routes[kind].handle(work, body)
        self._to_settle |= work.finish()


def _items(message: Envelope) -> list[dict[str, Any]]:
    """The results a message carries: one (version 1) or a batch (version 2)."""
    if message.version >= 2:
        return list(message.body["items"])
    return [message.body]
