"""Finding work that was lost or got stuck, on taking over and every few seconds.

* a payment left ``sending`` longer than the client's timeouts plus a margin: its sender
  died, so it may have been processed → ``ambiguous`` (enquiries begin);
* a payment still ``dispatched`` well after its deadline: its command was lost, and no claim
  can succeed any more (claims check the deadline with the database clock) → ``queued``;
* a fetch dispatched long ago without a result: dispatched again (it counts as an attempt);
* an enquiry without an answer in time: counted as no answer;
* a request with nothing queued, in flight or ambiguous: finished.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import Connection, select, text, update

from bbp_common import tallies
from bbp_common.db.tables import bulk_requests, fetch_items, payments
from bbp_common.domain.payments import EnquiryOutcome, PaymentState
from bbp_common.logging import get_logger
from bbp_common.payment_store import PaymentRow, bump_tallies, transition
from bbp_scheduler import notifications
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.results import _PAYMENT_COLUMNS, Batch, Results, finish_if_done
from bbp_scheduler.settings import SchedulerSettings

log = get_logger(__name__)
S = PaymentState
BATCH = 200


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

    @property
    def actor(self) -> str:
        return f"scheduler:{self.db.lease.holder}"

    def sweep(self) -> dict[str, int]:
        counts = {
            "sending_to_ambiguous": self.db.write(self._senders_gone),
            "payments_requeued": self.db.write(self._lost_pay_commands),
            "fetches_redispatched": self.db.write(self._lost_fetches),
            "enquiries_unanswered": self.db.write(self._unanswered_enquiries),
            "requests_finished": self.db.write(self._finish_requests),
            "uncleared_reported": self.db.write(notifications.uncleared_notices),
        }
        if any(counts.values()):
            log.info("sweep", **counts)
        return counts

    def _senders_gone(self, conn: Connection, _token: int) -> int:
        now = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        cutoff = now - timedelta(seconds=self.settings.pay_sending_timeout)
        rows = conn.execute(
            select(*_PAYMENT_COLUMNS)
            .where(payments.c.state == S.SENDING.value, payments.c.sending_at < cutoff)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        moved = 0
        for row in rows:
            cause = f"no answer within {self.settings.pay_sending_timeout:g}s (sender gone)"
            values: dict[str, Any] = {
                "answered_at": now,
                "reason": cause,
                "enquiry_count": 0,
                "enquiry_sent_at": None,
                "enquiry_due_at": self.results.policy.due_at(now, 0),
            }
            if transition(
                conn,
                PaymentRow.of(row),
                S.AMBIGUOUS,
                cause=cause,
                actor=self.actor,
                values=values,
                extra_where=payments.c.sending_at < cutoff,
            ):
                moved += 1
        return moved

    def _lost_pay_commands(self, conn: Connection, _token: int) -> int:
        now = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        cutoff = now - timedelta(seconds=self.settings.pay_requeue_grace)
        rows = conn.execute(
            select(*_PAYMENT_COLUMNS)
            .where(payments.c.state == S.DISPATCHED.value, payments.c.deadline_at < cutoff)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        moved = 0
        for row in rows:
            # Safe: past its deadline no claim can succeed (the claim compares the deadline
            # with this same database clock), so this dispatch can never be sent.
            if transition(
                conn,
                PaymentRow.of(row),
                S.QUEUED,
                cause="command lost; re-queued",
                actor=self.actor,
                values={"dispatched_at": None, "deadline_at": None},
                extra_where=(payments.c.attempt == row.attempt) & (payments.c.deadline_at < cutoff),
            ):
                moved += 1
        return moved

    def _lost_fetches(self, conn: Connection, _token: int) -> int:
        now = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        cutoff = now - timedelta(seconds=self.settings.fetch_result_timeout)
        rows = conn.execute(
            select(fetch_items.c.id, fetch_items.c.request_id, fetch_items.c.attempts)
            .where(fetch_items.c.state == "dispatched", fetch_items.c.dispatched_at < cutoff)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            final = row.attempts >= self.settings.fetch_max_attempts
            values: dict[str, Any] = (
                {
                    "state": "done",
                    "outcome": "failed",
                    "completed_at": now,
                    "error_code": "NO_RESULT",
                    "error_message": f"no result after {row.attempts} attempts",
                }
                if final
                else {"state": "queued", "next_attempt_at": now}
            )
            changed = conn.execute(
                update(fetch_items)
                .where(
                    fetch_items.c.id == row.id,
                    fetch_items.c.state == "dispatched",
                    fetch_items.c.attempts == row.attempts,
                )
                .values(**values)
            ).rowcount
            if changed:
                bump_tallies(
                    conn,
                    row.request_id,
                    {
                        "in_flight": (-1, Decimal("0")),
                        ("failed" if final else "queued"): (1, Decimal("0")),
                    },
                )
        return len(rows)

    def _unanswered_enquiries(self, conn: Connection, _token: int) -> int:
        now = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        cutoff = now - timedelta(seconds=self.settings.enquiry_result_timeout)
        rows = conn.execute(
            select(*_PAYMENT_COLUMNS)
            .where(payments.c.state == S.AMBIGUOUS.value, payments.c.enquiry_sent_at < cutoff)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        batch = Batch(now=now)
        for row in rows:
            self.results.count_enquiry(
                conn, row, EnquiryOutcome.UNKNOWN, {"reason": "no answer in time"}, batch
            )
        batch.done(conn)
        return len(rows)

    def _items_per_state(self, conn: Connection) -> None:
        """The items of unfinished requests per kind and state, from their tallies (cheap)."""
        if self.items is None:
            return
        open_requests = conn.execute(
            select(bulk_requests.c.id, bulk_requests.c.kind).where(
                bulk_requests.c.state.in_(["awaiting_approval", "queued", "running", "paused"])
            )
        ).all()
        kinds = {row.id: row.kind for row in open_requests}
        totals: dict[tuple[str, str], int] = {}
        for request_id, buckets in tallies.read_many(conn, kinds).items():
            for bucket, (count, _amount) in buckets.items():
                key = (kinds[request_id], bucket)
                totals[key] = totals.get(key, 0) + count
        self.items.clear()
        for (kind, bucket), count in totals.items():
            self.items.labels(kind, bucket).set(count)

    def _finish_requests(self, conn: Connection, _token: int) -> int:
        ids = (
            conn.execute(
                select(bulk_requests.c.id).where(
                    bulk_requests.c.state.in_(["queued", "running", "paused"]),
                    bulk_requests.c.total_items >= 0,
                )
            )
            .scalars()
            .all()
        )
        return sum(1 for request_id in ids if finish_if_done(conn, request_id))
