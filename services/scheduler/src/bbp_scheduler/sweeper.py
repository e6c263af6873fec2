"""Finding work that was lost or got stuck, on taking over and every few seconds.

* a payment still ``sending`` past the moment its answer was due at the latest (the claim
  wrote ``answer_by_at`` from the communicator's own send window and timeouts) plus a grace:
  its sender died, so it may have been processed → ``ambiguous`` (enquiries begin);
* a payment still ``dispatched`` a grace after its claim deadline: its command was lost,
  and no claim can succeed any more (claims judge the deadline on this same database clock)
  → it provably never left: back to the queue, cancelled or unsent (``never_left``);
* a fetch dispatched long ago without a result: dispatched again (it counts as an attempt);
* an enquiry without an answer in time: counted as no answer (a person's check: recorded,
  not counted);
* a request with nothing queued or in flight: enquiring (ambiguous ones left) or finished;
* scheduled requests whose time came, and scheduled payments to fetch again or to compare
  with that fetch (``bbp_scheduler.starting``).

Every change goes through the stores, in lease-checked transactions of at most ``BATCH``
rows, skipping rows another transaction holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import Connection

from bbp_common.core import tallies
from bbp_common.core.domain.payments import EnquiryOutcome, PaymentState
from bbp_common.core.domain.requests import OPEN, FetchItemState, FetchOutcome
from bbp_common.platform.logging import get_logger
from bbp_scheduler import notifications
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.results import Results
from bbp_scheduler.settings import SchedulerSettings
from bbp_scheduler.starting import Starter
from bbp_scheduler.work import Work

log = get_logger(__name__)
S = PaymentState
F = FetchItemState
BATCH = 200


def _overdue(store: Any, state: Enum, column: str, grace: float, now: datetime) -> list[Any]:
    """A batch of ``store``'s rows in ``state`` whose ``column`` is more than ``grace`` seconds
    before ``now`` (the database's clock), locked; rows another transaction holds are skipped."""
    rows: list[Any] = store.lock_where(
        f"state = %s AND {column} < %s",
        (state.value, now - timedelta(seconds=grace)),
        limit=BATCH,
        skip_locked=True,
    )
    return rows


class Sweeper:
    def __init__(
        self,
        db: LeaderDb,
        settings: SchedulerSettings,
        results: Results,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.items = (
            Gauge(
                "bbp_scheduler_items",
                "Items of unfinished requests, by kind (fetch/payment) and state",
                ["kind", "state"],
                registry=registry,
            )
            if registry is not None
            else None
        )
        self.db = db
        self.settings = settings
        self.results = results
        self.starter = Starter()

    def _write(self, step: object) -> int:
        settle: set[int] = set()

        def work(conn: Connection, token: int) -> int:
            unit = self.results.work(conn, token)
            done = step(unit)  # type: ignore[operator]
            settle.clear()
            settle.update(unit.finish())
            return int(done)

        done = self.db.write(work)
        self.results.settle(settle)
        return done

    def sweep(self) -> dict[str, int]:
        counts = {
            "sending_to_ambiguous": self._write(self._senders_gone),
            "payments_returned": self._write(self._lost_pay_commands),
            "fetches_redispatched": self._write(self._lost_fetches),
            "enquiries_unanswered": self._write(self._unanswered_enquiries),
            "scheduled_started": self._write(self.starter.start_requests),
            "scheduled_fetched_again": self._write(self.starter.refetch_due),
            "scheduled_compared": self._write(self.starter.compare_refetched),
            "requests_settled": self._write(self._settle_requests),
            "attention_reported": self.db.write(notifications.uncleared_notices),
        }
        if any(counts.values()):
            log.info("sweep", **counts)
        return counts

    def _senders_gone(self, work: Work) -> int:
        rows = _overdue(
            work.payments, S.SENDING, "answer_by_at", self.settings.pay_answer_grace, work.now
        )
        for row in rows:
            work.payments.to_ambiguous(
                row,
                f"no answer by {row.answer_by_at:%H:%M:%S} UTC"
                f" + {self.settings.pay_answer_grace:g}s (its sender is gone)",
                {"reason": "no answer in time: its sender is gone"},
            )
            work.settle.add(row.request_id)
        return len(rows)

    def _lost_pay_commands(self, work: Work) -> int:
        rows = _overdue(
            work.payments, S.DISPATCHED, "deadline_at", self.settings.pay_requeue_grace, work.now
        )
        # Safe: past its deadline no claim can succeed (claims compare the deadline with this
        # same database clock), so this dispatch can never be sent.
        moved = work.payments.never_left(rows, "command lost: not claimed by its deadline")
        work.settle.update(row.request_id for row in moved)
        return len(moved)

    def _lost_fetches(self, work: Work) -> int:
        timeout = self.settings.fetch_result_timeout
        rows = _overdue(work.fetches, F.DISPATCHED, "dispatched_at", timeout, work.now)
        for row in rows:
            if row.attempts >= self.settings.fetch_max_attempts:
                work.fetches.move(
                    row,
                    F.DONE,
                    {
                        "completed_at": work.now,
                        "error_code": "NO_RESULT",
                        "error_message": f"no result after {row.attempts} attempts",
                    },
                    outcome=FetchOutcome.FAILED,
                )
            else:
                work.fetches.back_to_queue(row, {"next_attempt_at": work.now})
            work.settle.add(row.request_id)
        return len(rows)

    def _unanswered_enquiries(self, work: Work) -> int:
        cutoff = work.now - timedelta(seconds=self.settings.enquiry_result_timeout)
        rows = work.payments.lock_where(
            "state IN (%s, %s) AND enquiry_sent_at < %s",
            (S.AMBIGUOUS.value, S.UNCLEARED.value, cutoff),
            limit=BATCH,
            skip_locked=True,
        )
        for row in rows:
            decision = work.payments.enquiry_answered(row, EnquiryOutcome.UNKNOWN, {})
            if decision.target is not None:
                work.settle.add(row.request_id)
        return len(rows)

    def _settle_requests(self, work: Work) -> int:
        names = [s.value for s in OPEN]
        ids = [
            row_id
            for (row_id,) in work.conn.exec_driver_sql(
                f"SELECT id FROM bulk_requests WHERE state IN ({', '.join(['%s'] * len(names))})",
                tuple(names),
            )
        ]
        self._items_per_state(work.conn, ids)
        work.settle.update(ids)  # settled after this transaction (``_write``)
        return len(ids)

    def _items_per_state(self, conn: Connection, ids: list[int]) -> None:
        """The items of unfinished requests per kind and state, from their tallies (cheap)."""
        if self.items is None or not ids:
            return
        kinds = dict(
            conn.exec_driver_sql(
                f"SELECT id, kind FROM bulk_requests WHERE id IN ({', '.join(['%s'] * len(ids))})",
                tuple(ids),
            ).all()
        )
        totals: dict[tuple[str, str], int] = {}
        for request_id, buckets in tallies.read_many(conn, kinds).items():
            for bucket, (count, _amount) in buckets.items():
                key = (kinds[request_id], bucket)
                totals[key] = totals.get(key, 0) + count
        self.items.clear()
        for (kind, bucket), count in totals.items():
            self.items.labels(kind, bucket).set(count)
