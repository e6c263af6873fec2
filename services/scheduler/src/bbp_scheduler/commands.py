"""The commands the dispatcher sends: marking the chosen items dispatched through the
stores, and the command each one becomes.

One command per item (fetch, pay, enquiry), with its slot on the database's clock and the
moment it may not leave before (set when it is released in a batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bbp_common.core.messages import (
    ENQUIRY_COMMAND,
    ENQUIRY_COMMANDS,
    FETCH_COMMAND,
    FETCH_COMMANDS,
    PAY_COMMAND,
    PAY_COMMANDS,
    MessageKind,
)
from bbp_scheduler.picking import ENQUIRIES, Key
from bbp_scheduler.settings import SchedulerSettings
from bbp_scheduler.work import Work

#: The batch message of each kind of command (version 2).
BATCHES = {"fetch": FETCH_COMMANDS, "pay": PAY_COMMANDS, "enquiry": ENQUIRY_COMMANDS}


@dataclass
class Command:
    kind: MessageKind
    item_kind: str
    item_id: int
    request_id: int | None
    body: dict[str, Any]
    correlation_id: str | None = None
    revert: dict[str, Any] = field(default_factory=dict)
    #: Its slot (database clock), and the moment it may not leave before: the slot, or
    #: later when it must be spaced from the command before it.
    slot: datetime | None = None
    not_before: datetime | None = None


def mark_dispatched(
    work: Work, chosen: Sequence[tuple[Key, Any, datetime]], settings: SchedulerSettings
) -> list[tuple[Command, datetime]]:
    """Mark the chosen items dispatched at their slots, through the stores (a few
    statements per batch). Items that moved meanwhile (cancelled) are left out."""
    marked: list[tuple[Command, datetime]] = []
    fetches = {row.id: slot for key, row, slot in chosen if key[0] == "fetch"}
    pays = {row.id: slot for key, row, slot in chosen if key[0] == "payment"}
    enquiries = {row.id: (row.enquiry_count, slot) for key, row, slot in chosen if key == ENQUIRIES}
    if fetches:
        ttl = timedelta(seconds=settings.fetch_command_ttl)
        for item in work.fetches.dispatch(fetches, settings.fetch_command_ttl):
            slot = fetches[item.id]
            body = {
                "item_id": item.id,
                "request_id": item.request_id,
                "attempt": item.attempts,
                "utility": item.utility_code,
                "consumer_id": item.consumer_id,
                "mobile": item.mobile,
                "expires_at": slot + ttl,
            }
            marked.append(
                (
                    Command(FETCH_COMMAND, "fetch", item.id, item.request_id, body, slot=slot),
                    slot,
                )
            )
    if pays:
        for row in work.payments.dispatch(pays, settings.pay_command_ttl):
            body = {
                "payment_id": row.id,
                "request_id": row.request_id,
                "attempt": row.attempt,
                "reference_id": row.reference_id,
            }
            slot = pays[row.id]
            command = Command(PAY_COMMAND, "pay", row.id, row.request_id, body, slot=slot)
            marked.append((command, slot))
    if enquiries:
        ttl = timedelta(seconds=settings.enquiry_command_ttl)
        for row in work.payments.enquiries_sent(enquiries):
            slot = enquiries[row.id][1]
            body = {
                "payment_id": row.id,
                "reference_id": row.reference_id,
                "enquiry_number": row.enquiry_number,  # 0: a person's check
                "expires_at": slot + ttl,
            }
            command = Command(ENQUIRY_COMMAND, "enquiry", row.id, row.request_id, body, slot=slot)
            marked.append((command, slot))
    marked.sort(key=lambda pair: pair[1])
    return marked
