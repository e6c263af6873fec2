"""Marshmallow schemas of the accounts API; :class:`SelectionSchema` is for reuse.

The fetch and payment endpoints take an account selection in their bodies: nest
``SelectionSchema`` and receive an :class:`~bbp_portal.accounts.selection.AccountSelection`.
Field rules (charset, lengths, MSISDN) are checked by the services with the same code as the
upload, so the schemas only check shape and type.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from bbp_portal.accounts.listing import SORTS
from bbp_portal.accounts.selection import AccountFilter, AccountSelection
from bbp_portal.accounts.service import AccountInput


class GroupRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class AccountSchema(Schema):
    id = fields.Integer()
    utility_code = fields.String(metadata={"example": "DSCO"})
    consumer_id = fields.String(metadata={"description": "Mobiquity's consumer_id"})
    mobile = fields.String(metadata={"description": "MOB_NO, 8–15 digits"})
    label = fields.String()
    active = fields.Boolean()
    groups = fields.Method("dump_groups", metadata={"description": "[{id, name}]"})

    def dump_groups(self, obj: Any) -> list[Any]:
        groups = getattr(obj, "groups", ())
        return [{"id": g[0], "name": g[1]} if isinstance(g, tuple) else {"name": g} for g in groups]


class AccountInSchema(Schema):
    utility_code = fields.String(required=True)
    consumer_id = fields.String(required=True)
    mobile = fields.String(required=True)
    label = fields.String(load_default="")
    group_ids = fields.List(fields.Integer(), load_default=list)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> AccountInput:
        return AccountInput(**data)


class AccountPatchSchema(Schema):
    utility_code = fields.String()
    consumer_id = fields.String()
    mobile = fields.String()
    label = fields.String()
    group_ids = fields.List(fields.Integer())
    active = fields.Boolean(metadata={"description": "false deactivates, true reactivates"})


class FilterSchema(Schema):
    q = fields.String(
        load_default="",
        validate=validate.Length(max=64),
        metadata={"description": "Prefix of the consumer id or the label"},
    )
    utility = fields.String(load_default="", validate=validate.Length(max=16))
    group_id = fields.Integer(load_default=None, allow_none=True)
    status = fields.String(
        load_default="all", validate=validate.OneOf(["active", "inactive", "all"])
    )

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> AccountFilter:
        return AccountFilter(**data)


class AccountListQuery(FilterSchema):
    sort = fields.String(load_default="id", validate=validate.OneOf(list(SORTS)))
    order = fields.String(load_default="asc", validate=validate.OneOf(["asc", "desc"]))
    cursor = fields.String(
        load_default=None,
        metadata={"description": "page.next, page.prev or page.last of a previous answer"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:  # type: ignore[override]
        keys = ("q", "utility", "group_id", "status")
        return {
            "filter": AccountFilter(**{k: data[k] for k in keys}),
            **{k: v for k, v in data.items() if k not in keys},
        }


class SelectionSchema(Schema):
    """Either ``ids`` (ticked accounts) or ``filter`` ("all matching", e.g. a group)."""

    ids = fields.List(fields.Integer(), load_default=list, validate=validate.Length(max=10_000))
    filter = fields.Nested(FilterSchema, load_default=None, allow_none=True)

    @validates_schema
    def one_of(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("ids")) == (data.get("filter") is not None):
            raise ValidationError("Give either ids or filter.", "ids")

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> AccountSelection:
        return AccountSelection(ids=tuple(data["ids"]), filter=data["filter"])


class SelectionCountSchema(Schema):
    count = fields.Integer(metadata={"description": "Active accounts selected (capped)"})
    capped = fields.Boolean(metadata={"description": "True: there are more than count"})
    description = fields.String()


class DeleteOutcomeSchema(Schema):
    outcome = fields.String(
        metadata={
            "description": "deleted, or deactivated when fetches or payments refer to the account"
        }
    )
    account = fields.Nested(AccountSchema, allow_none=True)


class GroupSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(1, 80))
    accounts = fields.Integer(dump_only=True, allow_none=True)


class GroupListQuery(Schema):
    counts = fields.Boolean(load_default=False, metadata={"description": "Count members"})


class UploadSchema(Schema):
    id = fields.Integer()
    file_name = fields.String()
    file_format = fields.String()
    state = fields.String(metadata={"description": "validated, imported or discarded"})
    total_rows = fields.Integer()
    valid_rows = fields.Integer()
    error_rows = fields.Integer()
    error_count = fields.Integer()
    imported_rows = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime()


class ProblemSchema(Schema):
    line = fields.Integer()
    column = fields.String(attribute="letter", metadata={"description": "Spreadsheet letter"})
    field = fields.String(attribute="column")
    code = fields.String()
    message = fields.String()
    value = fields.String()


class ProblemPageSchema(Schema):
    items = fields.List(fields.Nested(ProblemSchema))
    next_after = fields.Integer(allow_none=True, metadata={"description": "Pass as after="})


class ProblemQuery(Schema):
    after = fields.Integer(load_default=0)
    limit = fields.Integer(load_default=200, validate=validate.Range(1, 1000))


class TemplateQuery(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))
