"""The JSON shape of a request and its progress, the same for every kind (``/api/v1``)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from bbp_portal.bulk.queries import STATES


class ProgressSchema(Schema):
    request_id = fields.Integer()
    kind = fields.String()
    state = fields.String()
    total = fields.Integer(metadata={"description": "Items in the request"})
    done = fields.Integer(metadata={"description": "Items settled (a result, or cancelled)"})
    percent = fields.Float()
    settled = fields.Boolean(metadata={"description": "Final: nothing will change any more"})
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "Items per bucket; fetch: queued, in_flight, bills, no_bills, "
            "failed, cancelled"
        },
    )
    amounts = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Amount per bucket (decimal strings); bills: found amount"},
    )
    finished_at = fields.String(allow_none=True)


class RequestSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "fetch or payment"})
    state = fields.String(metadata={"description": ", ".join(STATES)})
    created_by = fields.String()
    selection = fields.String(metadata={"description": "The accounts chosen, in words"})
    total_items = fields.Integer()
    total_amount = fields.Decimal(as_string=True, allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    cancelled_by = fields.String(allow_none=True)
    paused_reason = fields.String(
        allow_none=True, metadata={"description": "Why it is paused ('auto-paused: …' by system)"}
    )
    paused_by = fields.String(allow_none=True, metadata={"description": "a login id or system"})
    approved_by = fields.String(
        allow_none=True, metadata={"description": "Who approved or rejected it (maker-checker)"}
    )
    approved_at = fields.DateTime(allow_none=True)
    approval_comment = fields.String(allow_none=True)
    start_at = fields.DateTime(
        allow_none=True, metadata={"description": "A scheduled payment request's start (UTC)"}
    )
    days_before_due = fields.Integer(
        allow_none=True,
        metadata={"description": "Each payment goes this many days before its bill's due date"},
    )
    source_request_id = fields.Integer(
        allow_none=True, metadata={"description": "The request this one was made from"}
    )
    origin = fields.String(
        allow_none=True,
        metadata={"description": "refetch (a scheduled request's bills fetched again), pay_again"},
    )
    progress = fields.Method("dump_progress")

    def dump_progress(self, obj: Any) -> Any:
        return ProgressSchema().dump(obj.progress.as_dict()) if obj.progress else None


__all__ = ["ProgressSchema", "RequestSchema"]
