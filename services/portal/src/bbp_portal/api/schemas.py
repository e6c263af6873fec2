"""Schemas every API feature shares: the error envelope and the page envelope."""

from __future__ import annotations

from marshmallow import Schema, fields


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "Stable machine code"})
    message = fields.String(required=True, metadata={"description": "For a person"})
    field = fields.String(metadata={"description": "The request field at fault, if one is"})
    details = fields.Dict(metadata={"description": "Every field's messages (validation)"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class PageInfoSchema(Schema):
    """Keyset cursors: pass one back as ``cursor`` to get that page. No totals (see count)."""

    limit = fields.Integer(required=True)
    sort = fields.String()
    order = fields.String()
    next = fields.String(allow_none=True, metadata={"description": "Cursor of the next page"})
    prev = fields.String(allow_none=True, metadata={"description": "Cursor of the previous page"})
    last = fields.String(allow_none=True, metadata={"description": "Cursor of the last page"})
