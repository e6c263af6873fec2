"""Marshmallow schemas of the accounts API; :class:`SelectionSchema` is for reuse.

The fetch and payment endpoints take an account selection in their bodies: nest
``SelectionSchema`` and receive an :class:`~bbp_portal.accounts.selection.AccountSelection`.
Field rules (charset, lengths, MSISDN) are checked by the services with the same code as the
upload; the schemas also state them (``rules.*_PATTERN``, lengths) so the API refuses a
value not in its canonical form before the service would tidy it, and the OpenAPI document
says exactly what is accepted. Cross-field rules are stated with ``json_schema_rules``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from bbp_portal.accounts import rules
from bbp_portal.accounts.listing import SORTS
from bbp_portal.accounts.selection import AccountFilter, AccountSelection
from bbp_portal.accounts.service import AccountInput
from bbp_portal.api.openapi import json_schema_rules
from bbp_portal.api.patterns import NULL_OBJECT


def _utility(**kw: Any) -> fields.String:
    return fields.String(
        **kw,
        validate=validate.Regexp(
            rules.UTILITY_PATTERN, error="A utility code: 2–16 of A–Z, 0–9, _."
        ),
        metadata={"example": "DSCO"},
    )


def _consumer_id(**kw: Any) -> fields.String:
    return fields.String(
        **kw,
        validate=[
            validate.Length(1, rules.CONSUMER_ID_MAX),
            validate.Regexp(
                rules.CONSUMER_ID_PATTERN,
                error="Letters, digits and inner dashes (not scientific notation).",
            ),
        ],
        metadata={"description": "Mobiquity's consumer_id"},
    )


def _mobile(**kw: Any) -> fields.String:
    return fields.String(
        **kw,
        validate=validate.Regexp(rules.MOBILE_PATTERN, error="8–15 digits."),
        metadata={"description": "MOB_NO, 8–15 digits"},
    )


def _label(**kw: Any) -> fields.String:
    return fields.String(**kw, validate=validate.Length(max=rules.LABEL_MAX))


def _group_ids(**kw: Any) -> fields.List:
    return fields.List(
        fields.Integer(), **kw, validate=validate.Length(max=rules.MAX_GROUPS_PER_ACCOUNT)
    )


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
    utility_code = _utility(required=True)
    consumer_id = _consumer_id(required=True)
    mobile = _mobile(required=True)
    label = _label(load_default="")
    group_ids = _group_ids(load_default=list)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> AccountInput:
        return AccountInput(**data)


class AccountPatchSchema(Schema):
    utility_code = _utility()
    consumer_id = _consumer_id()
    mobile = _mobile()
    label = _label()
    group_ids = _group_ids()
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


@json_schema_rules(
    oneOf=[
        {"required": ["ids"], "properties": {"ids": {"minItems": 1}, "filter": NULL_OBJECT}},
        {
            "required": ["filter"],
            "properties": {"ids": {"maxItems": 0}, "filter": {"type": "object"}},
        },
    ]
)
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
    name = fields.String(
        required=True,
        validate=[
            validate.Length(1, rules.GROUP_NAME_MAX),
            validate.Regexp(rules.GROUP_NAME_PATTERN, error="Not blank, and no '|'."),
        ],
    )
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
