"""``/api/v1`` reconciliations and double-payment alarms: thin views over the services the
pages call too.

Uploading a report may be done by a machine client (``tokens=True``): it changes no payment,
it only classes and may raise alarms. Clearing an alarm is a person's decision
(``tokens=False``), as is resolving the open payments a report settles (bulk resolution).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, stream_with_context
from marshmallow import Schema, fields, validate

from bbp_portal.api import endpoint, endpoints, reading
from bbp_portal.api.patterns import NOT_BLANK_PATTERN
from bbp_portal.auth import OPERATORS
from bbp_portal.reconcile import actions, alarms, service
from bbp_portal.reconcile.reading import MAPPING_FIELDS
from bbp_portal.requests.export import csv_chunks
from bbp_portal.view_context import actor, engine

api = Blueprint("reconcile", __name__)
"""Reconciliations under ``/api/v1`` (mounted by ``create_app``)."""

READERS = ("admin", "superadmin", "auditor")
TAGS = ["reconciliation"]
reader_reads = endpoints(tags=TAGS, roles=READERS)


class ReconciliationSchema(Schema):
    id = fields.Integer()
    uploaded_by = fields.String()
    uploaded_at = fields.DateTime()
    file_name = fields.String()
    file_format = fields.String(metadata={"description": "csv or xlsx"})
    report_lines = fields.Integer()
    period_from = fields.DateTime(allow_none=True, metadata={"description": "UTC"})
    period_to = fields.DateTime(allow_none=True, metadata={"description": "UTC, exclusive"})
    duration_ms = fields.Integer()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    mapping = fields.Dict(keys=fields.String(), values=fields.String())


class UploadedSchema(Schema):
    id = fields.Integer()
    lines = fields.Integer()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    alarms = fields.Integer(metadata={"description": "Double-payment alarms raised"})


class ListQuery(Schema):
    before = fields.Integer(load_default=None, allow_none=True)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class ReconciliationItemQuery(Schema):
    klass = fields.String(
        data_key="class",
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(service.CLASSES),
    )
    after = fields.Integer(load_default=None, allow_none=True)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class ReconciliationItemSchema(Schema):
    id = fields.Integer()
    klass = fields.String(attribute="class", data_key="class")
    reference_id = fields.String(allow_none=True)
    payment_id = fields.Integer(allow_none=True)
    request_id = fields.Integer(allow_none=True)
    line_no = fields.Integer(allow_none=True)
    report_lines = fields.Integer()
    transaction_id = fields.String(allow_none=True)
    report_status = fields.String(allow_none=True, metadata={"description": "paid/failed/pending"})
    report_amount = fields.Decimal(as_string=True, allow_none=True)
    report_at = fields.DateTime(allow_none=True, metadata={"description": "the report's zone"})
    our_state = fields.String(allow_none=True, metadata={"description": "when matched"})
    current_state = fields.String(allow_none=True, metadata={"description": "now"})
    our_amount = fields.Decimal(as_string=True, allow_none=True)
    outcome = fields.String(allow_none=True, metadata={"description": "paid/not_paid"})


class ReconciliationItemPageSchema(Schema):
    items = fields.List(fields.Nested(ReconciliationItemSchema))
    next_after = fields.Integer(allow_none=True)


class AlarmQuery(Schema):
    cleared = fields.Boolean(load_default=False)


class AlarmSchema(Schema):
    id = fields.Integer()
    payment_id = fields.Integer()
    reconciliation_id = fields.Integer(allow_none=True)
    raised_at = fields.DateTime()
    cleared_at = fields.DateTime(allow_none=True)
    cleared_by = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    reference_id = fields.String()
    request_id = fields.Integer()
    state = fields.String()
    total = fields.Decimal(as_string=True)


class ClearSchema(Schema):
    comment = fields.String(
        required=True,
        validate=[
            validate.Length(1, 500),
            validate.Regexp(NOT_BLANK_PATTERN, error="A comment is required."),
        ],
    )


@api.get("/reconciliations")
@reader_reads(
    "Uploaded reports, newest first", query=ListQuery, response=ReconciliationSchema, many=True
)
def list_reconciliations(query: dict[str, Any]) -> Any:
    return reading(service.list_reconciliations, before=query["before"], limit=query["limit"])


@api.post("/reconciliations")
@endpoint(
    "Upload Mobiquity's transaction report (CSV or XLSX) and match it",
    response=UploadedSchema,
    status=201,
    tags=TAGS,
    roles=OPERATORS,
    multipart={
        "file": "binary",
        "period_from": "string",
        "period_to": "string",
        **{f"col_{name}": "string" for name in MAPPING_FIELDS},
    },
    description="Form fields besides `file`: `period_from`/`period_to` (YYYY-MM-DD, the days "
    "the report covers, in its time zone) and the column mapping `col_<name>` (blank keeps "
    "the default, which fits the sandbox's report). Changes no payment; may raise "
    "double-payment alarms.",
    tokens=True,
)
def upload_report() -> Any:
    return actions.upload_from_request(request.form)


@api.get("/reconciliations/<int:reconciliation_id>")
@reader_reads("One reconciliation: counts per class", response=ReconciliationSchema)
def get_reconciliation(reconciliation_id: int) -> Any:
    return reading(service.get_reconciliation, reconciliation_id)


@api.get("/reconciliations/<int:reconciliation_id>/items")
@reader_reads(
    "A reconciliation's references, a page at a time (optionally one class)",
    query=ReconciliationItemQuery,
    response=ReconciliationItemPageSchema,
)
def list_items(reconciliation_id: int, query: dict[str, Any]) -> Any:
    found, after = reading(
        service.items,
        reconciliation_id,
        klass=query["klass"],
        after=query["after"],
        limit=query["limit"],
    )
    return {"items": found, "next_after": after}


@api.get("/reconciliations/<int:reconciliation_id>/export.csv")
@reader_reads(
    "A reconciliation's references as CSV", query=ReconciliationItemQuery, content_type="text/csv"
)
def export_items(reconciliation_id: int, query: dict[str, Any]) -> Any:
    reading(service.get_reconciliation, reconciliation_id)
    rows = service.export_rows(engine(), reconciliation_id, query["klass"])
    return Response(
        stream_with_context(csv_chunks(service.EXPORT_HEADERS, rows)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="reconciliation-{reconciliation_id}.csv"'
        },
    )


@api.get("/alarms")
@reader_reads(
    "Double-payment alarms (standing, or cleared)",
    query=AlarmQuery,
    response=AlarmSchema,
    many=True,
)
def list_alarms(query: dict[str, Any]) -> Any:
    return reading(alarms.list_alarms, cleared=query["cleared"])


@api.post("/alarms/<int:alarm_id>/clear")
@endpoint(
    "Clear a double-payment alarm (a superadmin, with a comment)",
    body=ClearSchema,
    response=AlarmSchema,
    tags=TAGS,
    roles=("superadmin",),
    tokens=False,
)
def clear_alarm(alarm_id: int, body: dict[str, Any]) -> Any:
    alarms.clear_alarm(engine(), actor(), alarm_id, body["comment"])
    return reading(alarms.get_alarm, alarm_id)


__all__ = ["api"]
