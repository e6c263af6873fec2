"""Marshmallow schemas of the payments API (``/api/v1``)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bbp_common.core.domain.schedules import MAX_DAYS_BEFORE_DUE
from bbp_portal.api.openapi import json_schema_rules
from bbp_portal.api.patterns import NOT_BLANK_PATTERN, NULL_INTEGER, NULL_OBJECT
from bbp_portal.bulk.schemas import RequestSchema
from bbp_portal.payments import operations, queries


class PendingFilterSchema(Schema):
    utility = fields.String(load_default="", validate=validate.Length(max=16))
    group_id = fields.Integer(load_default=None, allow_none=True)
    due_from = fields.Date(load_default=None, allow_none=True)
    due_to = fields.Date(load_default=None, allow_none=True)
    fetch_request_id = fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "Bills found by this fetch"}
    )
    amount_min = fields.Decimal(
        load_default=None, allow_none=True, places=2, validate=validate.Range(min=0)
    )
    amount_max = fields.Decimal(
        load_default=None, allow_none=True, places=2, validate=validate.Range(min=0)
    )
    consumer = fields.String(
        load_default="",
        validate=validate.Length(max=64),
        metadata={"description": "Consumer ids starting with this"},
    )


class PendingQuery(PendingFilterSchema):
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, queries.MAX_PAGE))


class PendingBillSchema(Schema):
    id = fields.Integer()
    utility_code = fields.String()
    consumer_id = fields.String()
    label = fields.String()
    bill_number = fields.String()
    due_date = fields.Date(allow_none=True)
    amount = fields.Decimal(as_string=True)
    service_charge = fields.Decimal(
        as_string=True,
        metadata={
            "description": "The service charge paid with the bill: Mobiquity's figure where "
            "the biller takes it (pays_service_charge), else 0"
        },
    )
    fetched_at = fields.DateTime()
    stale = fields.Boolean(metadata={"description": "Fetched too long ago to be paid"})


#: "Exactly one of bill_ids or filter" (``BillSelectionSchema.exactly_one``).
ONE_SELECTION = [
    {"required": ["bill_ids"], "properties": {"bill_ids": {"minItems": 1}, "filter": NULL_OBJECT}},
    {
        "required": ["filter"],
        "properties": {"bill_ids": {"maxItems": 0}, "filter": {"type": "object"}},
    },
]


@json_schema_rules(oneOf=ONE_SELECTION)
class BillSelectionSchema(Schema):
    """Which bills: exactly one of ``bill_ids`` or ``filter`` (every pending bill matching)."""

    bill_ids = fields.List(fields.Integer(), load_default=list)
    filter = fields.Nested(PendingFilterSchema, load_default=None, allow_none=True)

    @validates_schema
    def exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("bill_ids")) == (data.get("filter") is not None):
            raise ValidationError("Give exactly one of bill_ids or filter.", "bill_ids")


@json_schema_rules(
    oneOf=ONE_SELECTION,
    # "days_before_due needs start_at" (``days_need_a_start``)
    anyOf=[
        {"properties": {"days_before_due": NULL_INTEGER}},
        {"required": ["start_at"], "properties": {"start_at": {"type": "string"}}},
    ],
)
class PaymentCreateSchema(BillSelectionSchema):
    idempotency_key = fields.String(
        required=True,
        validate=validate.Length(1, 200),
        metadata={"description": "Yours: the same key returns the request it created"},
    )
    start_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Schedule it: when it starts (with its offset, e.g. "
            "2026-12-31T10:00:00+06:00); each bill is fetched again just before it is paid"
        },
    )
    days_before_due = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(0, MAX_DAYS_BEFORE_DUE),
        metadata={
            "description": "With start_at: each payment goes this many days before its "
            "bill's due date (at start_at's Dhaka time of day, never before start_at)"
        },
    )
    pay_again_of = fields.Integer(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Pays again what failed in this finished request: only bills it "
            "offers (POST /requests/{id}/pay-again fetches them first)"
        },
    )

    @validates_schema
    def days_need_a_start(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("days_before_due") is not None and data.get("start_at") is None:
            raise ValidationError("days_before_due needs start_at.", "days_before_due")


class SubtotalSchema(Schema):
    utility_code = fields.String()
    name = fields.String()
    bills = fields.Integer()
    amount = fields.Decimal(as_string=True)
    service_charge = fields.Decimal(as_string=True)
    total = fields.Decimal(as_string=True)


class BillProblemSchema(Schema):
    bill_id = fields.Integer()
    utility_code = fields.String()
    consumer_id = fields.String()
    bill_number = fields.String()
    problem = fields.String()


class SummarySchema(Schema):
    bill_ids = fields.List(fields.Integer())
    count = fields.Integer(metadata={"description": "Bills that would be paid"})
    total = fields.Decimal(as_string=True, metadata={"description": "BDT, from our database"})
    billers = fields.List(fields.Nested(SubtotalSchema))
    problems = fields.List(fields.Nested(BillProblemSchema))
    payable = fields.Boolean(metadata={"description": "True when nothing stops the request"})
    needs_approval = fields.Boolean(
        metadata={"description": "Created now through the API, it would wait for approval"}
    )
    approval_reasons = fields.List(
        fields.String(),
        metadata={"description": "Why it would wait: request_limit, daily_limit, step_up"},
    )
    maker_day = fields.Date(metadata={"description": "Today in Asia/Dhaka"})
    maker_day_total = fields.Decimal(
        as_string=True,
        metadata={"description": "What your payment requests of today count so far (BDT)"},
    )
    payer = fields.String(metadata={"description": "The paying wallet's label (masked)"})
    idempotency_key = fields.String(metadata={"description": "A fresh key to create it with"})


class CreatedSchema(Schema):
    existing = fields.Boolean(metadata={"description": "This key had created it already"})
    awaiting_approval = fields.Boolean()
    approval_reasons = fields.List(
        fields.String(),
        metadata={"description": "Why it waits: request_limit, daily_limit, step_up"},
    )
    request = fields.Nested(RequestSchema)


class CommentSchema(Schema):
    """A required comment: not blank (the services collapse whitespace, then require one)."""

    comment = fields.String(
        required=True,
        validate=[
            validate.Length(1, operations.COMMENT_MAX),
            validate.Regexp(NOT_BLANK_PATTERN, error="A comment is required."),
        ],
    )


class OptionalCommentSchema(Schema):
    comment = fields.String(load_default="", validate=validate.Length(max=operations.COMMENT_MAX))


class ResolveSchema(CommentSchema):
    resolution = fields.String(
        required=True,
        validate=validate.OneOf(sorted(operations.RESOLUTIONS)),
        metadata={"description": "paid → succeeded; not_paid → failed (the bill is freed)"},
    )


class PaymentSchema(Schema):
    id = fields.Integer()
    request_id = fields.Integer()
    reference_id = fields.String()
    position = fields.Function(
        lambda p: (p["dispatch_order"] if isinstance(p, dict) else p.dispatch_order) + 1,
        metadata={"description": "Dispatch order within the request (due date, oldest first)"},
    )
    utility_code = fields.String()
    consumer_id = fields.String()
    bill_number = fields.String()
    due_date = fields.Date(allow_none=True)
    amount = fields.Decimal(as_string=True)
    service_charge = fields.Decimal(as_string=True)
    total = fields.Decimal(as_string=True)
    state = fields.String(metadata={"description": ", ".join(queries.STATES)})
    order_id = fields.String(allow_none=True)
    service_request_id = fields.String(allow_none=True)
    order_status = fields.String(allow_none=True)
    error_code = fields.String(allow_none=True)
    error_detail_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True, metadata={"description": "Mobiquity's"})
    reason = fields.String(allow_none=True)
    enquiry_count = fields.Integer()
    sending_at = fields.DateTime(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    resolution_comment = fields.String(allow_none=True)


class PaymentListQuery(Schema):
    state = fields.String(load_default="", validate=validate.OneOf(["", *queries.STATES]))
    q = fields.String(load_default="", validate=validate.Length(max=64))
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, queries.MAX_PAGE))


class SearchQuery(Schema):
    q = fields.String(required=True, validate=validate.Length(1, 64))


class EventSchema(Schema):
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    cause = fields.String()
    actor = fields.String()
    occurred_at = fields.DateTime()


class AnomalySchema(Schema):
    id = fields.Integer()
    payment_id = fields.Integer()
    reference_id = fields.String()
    state_at_receipt = fields.String()
    result_kind = fields.String()
    result = fields.String()
    received_at = fields.DateTime()
    acknowledged_by = fields.String(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledgement = fields.String(allow_none=True)


class AttentionAnomalySchema(AnomalySchema):
    request_id = fields.Integer()
    state_now = fields.String()


class PaymentDetailSchema(PaymentSchema):
    events = fields.List(fields.Nested(EventSchema))
    anomalies = fields.List(fields.Nested(AnomalySchema))


class HistorySchema(Schema):
    occurred_at = fields.DateTime()
    actor = fields.String(allow_none=True)
    action = fields.String()
    outcome = fields.String()
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    details = fields.String(allow_none=True, metadata={"description": "JSON"})


class BreakerSchema(Schema):
    state = fields.String(metadata={"description": "closed, probing or open"})
    opened_at = fields.DateTime(allow_none=True)
    opened_reason = fields.String(allow_none=True)
    opened_by_reference = fields.String(allow_none=True)
    closed_by = fields.String(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


class BriefRequestSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    state = fields.String()
    created_by = fields.String()
    created_at = fields.DateTime()
    total_items = fields.Integer()
    total_amount = fields.Decimal(as_string=True, allow_none=True)
    paused_by = fields.String(allow_none=True)
    paused_reason = fields.String(allow_none=True)


class TroubledSchema(Schema):
    request_id = fields.Integer()
    ambiguous = fields.Integer()
    uncleared = fields.Integer()
    unsent = fields.Integer(
        metadata={"description": "Payments that never left after every try: pay them again"}
    )
    ambiguous_amount = fields.Decimal(as_string=True)
    uncleared_amount = fields.Decimal(as_string=True)
    unsent_amount = fields.Decimal(as_string=True)


class AttentionSchema(Schema):
    breaker = fields.Nested(BreakerSchema)
    troubled = fields.List(
        fields.Nested(TroubledSchema),
        metadata={"description": "Requests with ambiguous, uncleared or unsent payments"},
    )
    anomalies = fields.List(
        fields.Nested(AttentionAnomalySchema),
        metadata={"description": "Results that disagreed with a final state, not acknowledged"},
    )
    auto_paused = fields.List(fields.Nested(BriefRequestSchema))
    paused = fields.List(fields.Nested(BriefRequestSchema))
    awaiting_approval = fields.List(fields.Nested(BriefRequestSchema))


__all__ = [
    "AnomalySchema",
    "AttentionAnomalySchema",
    "AttentionSchema",
    "BillProblemSchema",
    "BillSelectionSchema",
    "BreakerSchema",
    "BriefRequestSchema",
    "CommentSchema",
    "CreatedSchema",
    "EventSchema",
    "HistorySchema",
    "OptionalCommentSchema",
    "PaymentCreateSchema",
    "PaymentDetailSchema",
    "PaymentListQuery",
    "PaymentSchema",
    "PendingBillSchema",
    "PendingFilterSchema",
    "PendingQuery",
    "ResolveSchema",
    "SearchQuery",
    "SubtotalSchema",
    "SummarySchema",
    "TroubledSchema",
]
