"""``/api/v1/resolutions``: bulk resolutions of uncleared payments (issue 18).

Reading them — the waiting ones above all, which a second superadmin must approve — is open
to anyone signed in and to API tokens. Making, approving and rejecting one say
``tokens=False``: only a person settles where money went. Making one and approving one need
a fresh step-up of this session (``BBP_STEP_UP``, on by default) for its idempotency key or
its id, else 403 ``step_up_required`` — in practice, they are done in the portal. The rules
are :mod:`~bbp_portal.payments.resolutions`'.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields, validate

from bbp_portal.api import endpoints, reading
from bbp_portal.payments import resolution_records as records
from bbp_portal.payments import resolutions, uncleared
from bbp_portal.payments.deciding import approve_as_me, confirm_as_me
from bbp_portal.payments.schemas import CommentSchema, OptionalCommentSchema
from bbp_portal.view_context import actor, engine

api = Blueprint("resolutions", __name__)
"""Bulk resolutions under ``/api/v1`` (mounted by ``create_app``)."""

TAGS = ["payments"]
reads = endpoints(tags=TAGS)
superadmin_decides = endpoints(roles=("superadmin",), tags=TAGS, tokens=False)


class ResolutionQuery(Schema):
    state = fields.String(
        load_default=None,
        validate=validate.OneOf(uncleared.STATES),
        metadata={"description": "only those in this state, e.g. awaiting_approval"},
    )


class ResolutionSchema(Schema):
    id = fields.Integer()
    outcome = fields.String(metadata={"description": "paid or not_paid"})
    comment = fields.String()
    reconciliation_id = fields.Integer(allow_none=True)
    payment_count = fields.Integer()
    total = fields.Decimal(as_string=True)
    state = fields.String(metadata={"description": "awaiting_approval, applied or rejected"})
    created_by = fields.String()
    created_at = fields.DateTime()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_comment = fields.String(allow_none=True)
    resolved_count = fields.Integer(allow_none=True)


class ResolutionItemSchema(Schema):
    payment_id = fields.Integer()
    reference_id = fields.String()
    total = fields.Decimal(as_string=True)
    result = fields.String(
        allow_none=True,
        metadata={"description": "resolved, a refusal code, or null while it waits"},
    )
    state = fields.String(metadata={"description": "the payment's state now"})


class ResolutionDetailSchema(ResolutionSchema):
    payments = fields.List(fields.Nested(ResolutionItemSchema))


class ResolutionCreateSchema(Schema):
    payment_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(1, uncleared.MAX_PAYMENTS),
    )
    outcome = fields.String(required=True, validate=validate.OneOf(uncleared.OUTCOMES))
    comment = fields.String(required=True, validate=validate.Length(1, uncleared.COMMENT_MAX))
    reconciliation_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    idempotency_key = fields.String(
        required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{16,64}$")
    )


class DoneSchema(Schema):
    resolution_id = fields.Integer()
    state = fields.String()
    resolved = fields.List(fields.String(), metadata={"description": "reference ids"})
    refused = fields.Function(
        lambda done: [{"reference_id": ref, "why": why} for ref, why in done.refused],
        metadata={"description": "the chosen payments not resolved, each with why"},
    )
    existing = fields.Boolean()


def _detail(resolution_id: int) -> dict[str, Any]:
    row, items = reading(records.get_resolution, resolution_id)
    return {**row.__dict__, "payments": items}


@api.get("/resolutions")
@reads(
    "Bulk resolutions of uncleared payments, newest first (the waiting ones: "
    "state=awaiting_approval)",
    query=ResolutionQuery,
    response=ResolutionSchema,
    many=True,
    description="A bulk resolution whose total is above BBP_BULK_RESOLVE_SECOND_APPROVAL_ABOVE "
    "waits (awaiting_approval) for a second superadmin; its payments stay uncleared until "
    "then. At most 100.",
)
def list_resolutions(query: dict[str, Any]) -> Any:
    return reading(records.list_resolutions, query.get("state"))


@api.get("/resolutions/<int:resolution_id>")
@reads(
    "One bulk resolution with its payments and what became of each", response=ResolutionDetailSchema
)
def get_resolution(resolution_id: int) -> Any:
    return _detail(resolution_id)


@api.post("/resolutions")
@superadmin_decides(
    "Resolve many uncleared payments with one comment (paid or not_paid)",
    body=ResolutionCreateSchema,
    response=DoneSchema,
    status=201,
    description="Each chosen payment that is uncleared (and, for not_paid, has no "
    "unacknowledged 'succeeded' answer, and waits in no other bulk resolution) is resolved "
    "through the payment store and audited with the comment; the others come back in "
    "refused with why. Above BBP_BULK_RESOLVE_SECOND_APPROVAL_ABOVE nothing changes yet: "
    "state awaiting_approval. 409 nothing_to_resolve when none can be; 403 step_up_required "
    "without this session's fresh step-up for idempotency_key; the same key returns what it "
    "did (existing).",
)
def create_resolution(body: dict[str, Any]) -> Any:
    return confirm_as_me(
        body["payment_ids"],
        body["outcome"],
        body["comment"],
        body["idempotency_key"],
        reconciliation_id=body["reconciliation_id"],
    )


@api.post("/resolutions/<int:resolution_id>/approve")
@superadmin_decides(
    "Approve a waiting bulk resolution (never its maker's own): it is applied now",
    body=OptionalCommentSchema,
    response=DoneSchema,
    description="403 maker_cannot_approve for its maker; 403 step_up_required unless this "
    "session made a fresh step-up for it; 409 not_awaiting_approval. Each payment is judged "
    "again: one no longer uncleared comes back in refused.",
)
def approve_resolution(resolution_id: int, body: dict[str, Any]) -> Any:
    return approve_as_me(resolution_id, body["comment"])


@api.post("/resolutions/<int:resolution_id>/reject")
@superadmin_decides(
    "Reject (or, its maker, withdraw) a waiting bulk resolution: its payments stay uncleared",
    body=CommentSchema,
    response=ResolutionDetailSchema,
    description="A comment is required (422).",
)
def reject_resolution(resolution_id: int, body: dict[str, Any]) -> Any:
    resolutions.reject(engine(), actor(), resolution_id, body["comment"])
    return _detail(resolution_id)


__all__ = ["api"]
