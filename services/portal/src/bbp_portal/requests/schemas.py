"""Marshmallow schemas of the requests API (``/api/v1/requests``)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from bbp_portal.accounts.schemas import FilterSchema
from bbp_portal.api.openapi import json_schema_rules
from bbp_portal.api.patterns import NULL_INTEGER, NULL_OBJECT
from bbp_portal.bulk.queries import KINDS, STATES
from bbp_portal.bulk.schemas import RequestSchema
from bbp_portal.requests.actions import MAX_TICKED
from bbp_portal.requests.items import ITEM_STATUSES, ItemFilter
from bbp_portal.requests.queries import RequestFilter


@json_schema_rules(
    oneOf=[
        {
            "required": ["ids"],
            "properties": {"ids": {"minItems": 1}, "group_id": NULL_INTEGER, "filter": NULL_OBJECT},
        },
        {
            "required": ["group_id"],
            "properties": {
                "ids": {"maxItems": 0},
                "group_id": {"type": "integer"},
                "filter": NULL_OBJECT,
            },
        },
        {
            "required": ["filter"],
            "properties": {
                "ids": {"maxItems": 0},
                "group_id": NULL_INTEGER,
                "filter": {"type": "object"},
            },
        },
    ]
)
class FetchCreateSchema(Schema):
    """Which accounts to fetch: exactly one of ``ids``, ``group_id`` or ``filter``."""

    ids = fields.List(
        fields.Integer(),
        load_default=list,
        validate=validate.Length(max=MAX_TICKED),
        metadata={"description": "Ticked bill account ids"},
    )
    group_id = fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "Every active account of it"}
    )
    filter = fields.Nested(
        FilterSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "All active accounts matching, as GET /accounts filters"},
    )

    @validates_schema
    def exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        given = [k for k in ("ids", "group_id", "filter") if data.get(k) not in (None, [])]
        if len(given) != 1:
            raise ValidationError("Give exactly one of ids, group_id or filter.", "ids")


class RequestListQuery(Schema):
    kind = fields.String(load_default="", validate=validate.OneOf(["", *KINDS]))
    state = fields.String(load_default="", validate=validate.OneOf(["", *STATES]))
    created_by = fields.String(load_default="", validate=validate.Length(max=64))
    created_from = fields.Date(load_default=None, metadata={"description": "YYYY-MM-DD (UTC)"})
    created_to = fields.Date(load_default=None, metadata={"description": "YYYY-MM-DD, inclusive"})
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        keys = ("kind", "state", "created_by", "created_from", "created_to")
        return {
            "filter": RequestFilter(**{k: data[k] for k in keys}),
            "cursor": data["cursor"],
            "limit": data["limit"],
        }


class BillSchema(Schema):
    id = fields.Integer()
    bill_number = fields.String()
    due_date = fields.Date(allow_none=True)
    amount = fields.Decimal(as_string=True)
    service_charge = fields.Decimal(as_string=True)


class ItemSchema(Schema):
    id = fields.Integer()
    bill_account_id = fields.Integer()
    utility_code = fields.String()
    consumer_id = fields.String()
    mobile = fields.String()
    state = fields.String(metadata={"description": "queued, dispatched, done or cancelled"})
    outcome = fields.String(allow_none=True, metadata={"description": "bills, no_bills, failed"})
    status = fields.String(metadata={"description": "The outcome once done, else the state"})
    attempts = fields.Integer()
    bill_count = fields.Integer(allow_none=True)
    bills_amount = fields.Decimal(as_string=True, allow_none=True)
    error_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True, metadata={"description": "Mobiquity's reason"})
    completed_at = fields.DateTime(allow_none=True)
    bills = fields.List(fields.Nested(BillSchema))


class ItemListQuery(Schema):
    status = fields.String(load_default="", validate=validate.OneOf(["", *ITEM_STATUSES]))
    utility = fields.String(load_default="", validate=validate.Length(max=16))
    q = fields.String(
        load_default="",
        validate=validate.Length(max=64),
        metadata={"description": "Consumer id starts with"},
    )
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {
            "filter": ItemFilter(data["status"], data["utility"], data["q"]),
            "cursor": data["cursor"],
            "limit": data["limit"],
        }


class BillerTotalSchema(Schema):
    utility_code = fields.String()
    accounts = fields.Integer(metadata={"description": "Accounts with at least one bill"})
    bills = fields.Integer()
    amount = fields.Decimal(as_string=True)
    service_charge = fields.Decimal(as_string=True)


class BillerTotalsSchema(Schema):
    request_id = fields.Integer()
    settled = fields.Boolean(metadata={"description": "Final totals (else: so far)"})
    billers = fields.List(fields.Nested(BillerTotalSchema))
    bills = fields.Integer()
    amount = fields.Decimal(as_string=True)
    service_charge = fields.Decimal(as_string=True)


class CancelledSchema(Schema):
    request_id = fields.Integer()
    cancelled_items = fields.Integer(metadata={"description": "Undispatched items cancelled"})
    request = fields.Nested(RequestSchema)


class ExportQuery(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


__all__ = [
    "BillerTotalsSchema",
    "CancelledSchema",
    "ExportQuery",
    "FetchCreateSchema",
    "ItemListQuery",
    "ItemSchema",
    "RequestListQuery",
]
