"""The scheduler's settings (see the README's settings table)."""

from __future__ import annotations

import os
import socket

from pydantic import Field, model_validator

from bbp_common.core.notifications import NotifyProducerSettings
from bbp_common.platform.settings import (
    AmqpSettings,
    DatabaseSettings,
    HealthSettings,
    LoggingSettings,
    OutboxSettings,
    Schedule,
    Seconds,
)


def _default_id() -> str:
    return f"scheduler@{socket.gethostname()}:{os.getpid()}"


class SchedulerSettings(
    DatabaseSettings,
    AmqpSettings,
    LoggingSettings,
    HealthSettings,
    OutboxSettings,
    NotifyProducerSettings,
):
    scheduler_id: str = Field(
        default_factory=_default_id,
        description="This replica's name in the lease (default host:pid)",
    )
    lease_ttl: Seconds = Field(10, description="Leadership lease lifetime (judged by the DB clock)")
    lease_renew_interval: Seconds = Field(
        2, description="How often the leader renews and a standby tries to take over"
    )
    mobiquity_rate_limit: float = Field(
        50,
        ge=0,
        description="Most calls per second toward Mobiquity, all kinds and replicas (0 = no cap)",
    )
    mobiquity_max_in_flight: int = Field(
        100, ge=1, description="Most commands dispatched and not yet answered, all kinds"
    )
    dispatch_tick: Seconds = Field(
        0.05, description="How far ahead the dispatcher plans slots (and how often it looks)"
    )
    dispatch_lead: Seconds = Field(
        0.1,
        description="Commands leave this long before their slots, several in one message; the "
        "communicator waits for each one's slot (0: one message per command, at its slot)",
    )
    dispatch_idle_interval: Seconds = Field(
        0.5,
        description="With nothing to dispatch, how often to look again (new requests wake it)",
    )
    fetch_max_attempts: int = Field(
        3, ge=1, description="Calls per account before a fetch failure is final"
    )
    fetch_retry_backoff: Seconds = Field(
        5, description="Wait before re-fetching after a retryable failure (doubles each attempt)"
    )
    fetch_command_ttl: Seconds = Field(
        60, description="A fetch command older than this is not sent (re-dispatched instead)"
    )
    fetch_result_timeout: Seconds = Field(
        120, description="A fetch dispatched this long without a result is dispatched again"
    )
    pay_command_ttl: Seconds = Field(
        30, description="Deadline of a pay command: not claimed by then, it is never sent"
    )
    pay_requeue_grace: Seconds = Field(
        30, description="After the deadline, a payment still dispatched (command lost) is re-queued"
    )
    pay_max_bill_age: Seconds = Field(
        86400,
        gt=0,
        description="A queued payment whose bill was fetched longer ago than this is cancelled "
        "instead of sent (keep it equal to the portal's; default 24h)",
    )
    pay_answer_grace: Seconds = Field(
        30,
        description="A payment still sending this long after the moment its answer was due "
        "(the claim writes it from the communicator's send window and timeouts) lost its "
        "sender and becomes ambiguous",
    )
    pay_max_returns: int = Field(
        3,
        ge=0,
        description="How often a payment that provably never left goes back to the queue "
        "(same reference id) before it ends unsent for a person",
    )
    enquiry_schedule: Schedule = Field(
        "1m,5m,15m,1h,6h",
        description="Enquiry delays after a payment became ambiguous (its length: how many)",
    )
    enquiry_command_ttl: Seconds = Field(
        60, description="An enquiry command older than this is not sent"
    )
    enquiry_result_timeout: Seconds = Field(
        90, description="An enquiry without a result after this long counts as no answer"
    )
    enquiry_believe_not_found: bool = Field(
        False,
        description="Treat an enquiry's 'not found' as never received (failed); off by default",
    )
    enquiry_not_found_grace: Seconds = Field(
        120,
        description="'Not found' is believed only this long after the billpay's answer was due "
        "at the latest (Mobiquity's own processing lag)",
    )
    auto_pause_after: int = Field(
        5,
        ge=0,
        description="Pause a request after this many payments in a row fail alike (0 = never)",
    )
    sweep_interval: Seconds = Field(
        2, description="How often lost, stuck and overdue work is looked for"
    )
    scheduler_result_workers: int = Field(
        64, ge=1, description="Results taken from the broker at once (applied in batches)"
    )

    @model_validator(mode="after")
    def _timeouts_fit(self) -> SchedulerSettings:
        if self.lease_renew_interval * 2 >= self.lease_ttl:
            raise ValueError("lease_renew_interval must be less than half of lease_ttl")
        return self
