"""The messages the services exchange: routing keys, types, versions and body schemas.

This module is the contract ``docs/messages.md`` describes. Commands carry identifiers,
not money: the communicator reads what to pay from MySQL after claiming the payment, so a
message can never change an amount. Amounts travel as decimal strings, never floats.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from marshmallow import Schema, ValidationError, fields, validate

from bbp_common.core.domain.payments import REFERENCE_LENGTH, EnquiryOutcome, PayOutcome
from bbp_common.platform.envelope import MessageRegistry, default_registry


@dataclass(frozen=True)
class MessageKind:
    """Where a message goes and what it is."""

    type: str
    version: int
    routing_key: str
    schema: builtins.type[Schema] | builtins.type[msgspec.Struct]


class _Strict(Schema):
    class Meta:
        # Unknown fields are an error: a message of another shape is another version.
        unknown = "raise"


class RequestSubmittedBody(_Strict):
    request_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["fetch", "payment"]))


class RequestChangedBody(_Strict):
    """A person paused, resumed, cancelled or approved a request: the scheduler re-reads it."""

    request_id = fields.Integer(required=True)
    change = fields.String(required=True)


class FetchCommandBody(_Strict):
    item_id = fields.Integer(required=True)
    request_id = fields.Integer(required=True)
    attempt = fields.Integer(required=True)
    utility = fields.String(required=True)
    consumer_id = fields.String(required=True)
    mobile = fields.String(required=True)
    expires_at = fields.NaiveDateTime(required=True)


def _cents(value: Decimal) -> None:
    """Money has at most two decimal places: anything finer is refused, never rounded."""
    if not value.is_finite() or int(value.as_tuple().exponent) < -2:
        raise ValidationError("an amount has at most two decimal places")


class BillBody(_Strict):
    bill_number = fields.String(required=True)
    due_date = fields.Date(allow_none=True, load_default=None)
    # No ``places``: marshmallow would round a third decimal away instead of refusing it.
    amount = fields.Decimal(required=True, as_string=True, validate=_cents)
    service_charge = fields.Decimal(required=True, as_string=True, validate=_cents)
    detail = fields.Dict(allow_none=True, load_default=None)


class FetchResultBody(_Strict):
    item_id = fields.Integer(required=True)
    request_id = fields.Integer(required=True)
    attempt = fields.Integer(required=True)
    outcome = fields.String(
        required=True, validate=validate.OneOf(["bills", "no_bills", "failed", "expired"])
    )
    retryable = fields.Boolean(load_default=False)
    bills = fields.List(fields.Nested(BillBody), load_default=list)
    error_code = fields.String(allow_none=True, load_default=None)
    error_message = fields.String(allow_none=True, load_default=None)
    service_request_id = fields.String(allow_none=True, load_default=None)


class PayCommandBody(_Strict):
    payment_id = fields.Integer(required=True)
    request_id = fields.Integer(required=True)
    attempt = fields.Integer(required=True)
    reference_id = fields.String(required=True, validate=validate.Length(equal=REFERENCE_LENGTH))


class PayResultBody(_Strict):
    payment_id = fields.Integer(required=True)
    request_id = fields.Integer(required=True)
    attempt = fields.Integer(required=True)
    reference_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in PayOutcome]))
    order_id = fields.String(allow_none=True, load_default=None)
    order_status = fields.String(allow_none=True, load_default=None)
    service_request_id = fields.String(allow_none=True, load_default=None)
    trace_id = fields.String(allow_none=True, load_default=None)
    error_code = fields.String(allow_none=True, load_default=None)
    error_detail_code = fields.String(allow_none=True, load_default=None)
    error_message = fields.String(allow_none=True, load_default=None)
    http_status = fields.Integer(allow_none=True, load_default=None)
    reason = fields.String(allow_none=True, load_default=None)
    #: A "not sent" that is not the payment's fault (the wallet was refused meanwhile) does
    #: not count toward the payment's returns.
    counted = fields.Boolean(load_default=True)


class EnquiryCommandBody(_Strict):
    payment_id = fields.Integer(required=True)
    reference_id = fields.String(required=True)
    enquiry_number = fields.Integer(required=True)
    expires_at = fields.NaiveDateTime(required=True)


#: ``reason`` of an enquiry result whose command expired in the communicator's queue: Mobiquity
#: was not asked, so it is not one of the enquiries a payment gets before it is uncleared.
ENQUIRY_NOT_SENT = "expired before it was sent"


class EnquiryResultBody(_Strict):
    payment_id = fields.Integer(required=True)
    reference_id = fields.String(required=True)
    enquiry_number = fields.Integer(required=True)
    outcome = fields.String(
        required=True, validate=validate.OneOf([o.value for o in EnquiryOutcome])
    )
    order_id = fields.String(allow_none=True, load_default=None)
    order_status = fields.String(allow_none=True, load_default=None)
    error_code = fields.String(allow_none=True, load_default=None)
    error_message = fields.String(allow_none=True, load_default=None)
    reason = fields.String(allow_none=True, load_default=None)


class NotifyCommandBody(_Strict):
    """Send one notification. The row (``notifications``) is the authority on recipient,
    language, template and params: the communicator reads it, so a resend is the same id."""

    notification_id = fields.String(required=True, validate=validate.Length(equal=36))
    channel = fields.String(required=True, validate=validate.OneOf(["email", "sms"]))
    kind = fields.String(required=True, validate=validate.Length(min=1, max=32))


class NotifyResultBody(_Strict):
    """What became of one delivery of a notification command (the scheduler records it).

    ``tries`` are this delivery's send tries (added to the row's ``attempts``); ``report_id``
    is unique per report, so a report that arrives twice is applied once (the inbox).
    ``retry_later``: a transient failure the communicator did not retry itself — the scheduler
    schedules the next attempt (``BBP_NOTIFY_RETRY_SCHEDULE``) or gives up (``dead``).
    ``command_id`` is the message id of the command this report answers (optional: older
    communicators do not send it), so only the current command's report schedules a retry.
    """

    notification_id = fields.String(required=True, validate=validate.Length(equal=36))
    report_id = fields.String(required=True, validate=validate.Length(equal=36))
    outcome = fields.String(
        required=True,
        validate=validate.OneOf(["sent", "retrying", "retry_later", "failed", "dead"]),
    )
    tries = fields.Integer(required=True, validate=validate.Range(min=0))
    error = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))
    command_id = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(min=1, max=64)
    )


# --------------------------------------------------------------------------- batches (v2)
#
# Version 2 of the commands and results carries many items in one message: the dispatcher
# sends the commands planned for the next moments together, each with the slot it may not
# leave before (``not_before``, on the database's clock: the communicator waits for it), and
# the communicator reports a batch's results together. One message, one envelope, one
# confirm and one acknowledgement for many items is what keeps the hot path cheap; each
# item is still fenced on its own (attempt, enquiry number) where it is applied.

BATCH_MAX = 200

# The batch bodies are msgspec Structs, not marshmallow schemas: validating and converting a
# batch of 20 fetch results took marshmallow 6.3 ms and msgspec 0.09 ms (measured here) — on
# the hot path that was a third of each service's CPU. Same rules as version 1: unknown
# fields refused, amounts exact decimal strings with at most two places, outcomes from the
# domain's enums; the handlers get plain dicts (``MessageRegistry.load_body``).


class _Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    pass


class FetchCommandItem(_Body):
    item_id: int
    request_id: int
    attempt: int
    utility: str
    consumer_id: str
    mobile: str
    expires_at: datetime
    not_before: datetime


class Bill(_Body):
    bill_number: str
    amount: Decimal
    service_charge: Decimal
    due_date: date | None = None
    detail: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for value in (self.amount, self.service_charge):
            if not value.is_finite() or int(value.as_tuple().exponent) < -2:
                raise ValueError("an amount has at most two decimal places")


class FetchResultItem(_Body):
    item_id: int
    request_id: int
    attempt: int
    outcome: Literal["bills", "no_bills", "failed", "expired"]
    retryable: bool = False
    bills: list[Bill] = msgspec.field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    service_request_id: str | None = None


_Reference = Annotated[str, msgspec.Meta(min_length=REFERENCE_LENGTH, max_length=REFERENCE_LENGTH)]


class PayCommandItem(_Body):
    payment_id: int
    request_id: int
    attempt: int
    reference_id: _Reference
    not_before: datetime


class PayResultItem(_Body):
    payment_id: int
    request_id: int
    attempt: int
    reference_id: str
    outcome: PayOutcome
    order_id: str | None = None
    order_status: str | None = None
    service_request_id: str | None = None
    trace_id: str | None = None
    error_code: str | None = None
    error_detail_code: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    reason: str | None = None
    counted: bool = True


class EnquiryCommandItem(_Body):
    payment_id: int
    reference_id: str
    enquiry_number: int
    expires_at: datetime
    not_before: datetime


class EnquiryResultItem(_Body):
    payment_id: int
    reference_id: str
    enquiry_number: int
    outcome: EnquiryOutcome
    order_id: str | None = None
    order_status: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    reason: str | None = None


class FetchCommandBatch(_Body):
    items: Annotated[list[FetchCommandItem], msgspec.Meta(min_length=1, max_length=BATCH_MAX)]


class FetchResultBatch(_Body):
    items: Annotated[list[FetchResultItem], msgspec.Meta(min_length=1, max_length=BATCH_MAX)]


class PayCommandBatch(_Body):
    items: Annotated[list[PayCommandItem], msgspec.Meta(min_length=1, max_length=BATCH_MAX)]


class PayResultBatch(_Body):
    items: Annotated[list[PayResultItem], msgspec.Meta(min_length=1, max_length=BATCH_MAX)]


class EnquiryCommandBatch(_Body):
    items: Annotated[list[EnquiryCommandItem], msgspec.Meta(min_length=1, max_length=BATCH_MAX)]


class EnquiryResultBatch(_Body):
    items: Annotated[list[EnquiryResultItem], msgspec.Meta(min_length=1, max_length=BATCH_MAX)]


REQUEST_SUBMITTED = MessageKind("request.submitted", 1, "request.submitted", RequestSubmittedBody)
REQUEST_CHANGED = MessageKind("request.changed", 1, "request.changed", RequestChangedBody)
FETCH_COMMAND = MessageKind("fetch.command", 1, "command.fetch", FetchCommandBody)
FETCH_RESULT = MessageKind("fetch.result", 1, "result.fetch", FetchResultBody)
PAY_COMMAND = MessageKind("pay.command", 1, "command.pay", PayCommandBody)
PAY_RESULT = MessageKind("pay.result", 1, "result.pay", PayResultBody)
ENQUIRY_COMMAND = MessageKind("enquiry.command", 1, "command.enquiry", EnquiryCommandBody)
ENQUIRY_RESULT = MessageKind("enquiry.result", 1, "result.enquiry", EnquiryResultBody)
NOTIFY_COMMAND = MessageKind("notify.command", 1, "command.notify", NotifyCommandBody)
NOTIFY_RESULT = MessageKind("notify.result", 1, "result.notify", NotifyResultBody)
FETCH_COMMANDS = MessageKind("fetch.command", 2, "command.fetch", FetchCommandBatch)
FETCH_RESULTS = MessageKind("fetch.result", 2, "result.fetch", FetchResultBatch)
PAY_COMMANDS = MessageKind("pay.command", 2, "command.pay", PayCommandBatch)
PAY_RESULTS = MessageKind("pay.result", 2, "result.pay", PayResultBatch)
ENQUIRY_COMMANDS = MessageKind("enquiry.command", 2, "command.enquiry", EnquiryCommandBatch)
ENQUIRY_RESULTS = MessageKind("enquiry.result", 2, "result.enquiry", EnquiryResultBatch)

ALL_KINDS = (
    REQUEST_SUBMITTED,
    REQUEST_CHANGED,
    FETCH_COMMAND,
    FETCH_RESULT,
    PAY_COMMAND,
    PAY_RESULT,
    ENQUIRY_COMMAND,
    ENQUIRY_RESULT,
    NOTIFY_COMMAND,
    NOTIFY_RESULT,
    FETCH_COMMANDS,
    FETCH_RESULTS,
    PAY_COMMANDS,
    PAY_RESULTS,
    ENQUIRY_COMMANDS,
    ENQUIRY_RESULTS,
)


def register(registry: MessageRegistry | None = None) -> MessageRegistry:
    """Register every body schema (idempotent); services call it in ``bootstrap()``."""
    target = registry or default_registry
    known = set(target.known())
    for kind in ALL_KINDS:
        if (kind.type, kind.version) not in known:
            target.register(kind.type, kind.version, kind.schema)
    return target


# Importing this module is enough to publish or consume any of these messages.
register()
