"""marshmallow (4.x) schemas of the token and user-management answers (the hot answers —
fetch-bill, billpay, enquiry — are checked by ``answers.py``).

Unknown fields are ignored (Mobiquity adds fields freely); the fields we use are checked for
type and presence. ``load`` turns a ``ValidationError`` into ``UnexpectedResponse`` naming
the offending field (``token.access_token``), never a ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .errors import UnexpectedResponse


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE


def _opt_str() -> fields.String:
    return fields.String(load_default=None, allow_none=True)


class TokenSchema(_Base):
    access_token = fields.String(required=True, validate=validate.Length(min=1))
    expires_in = fields.Integer(required=True, validate=validate.Range(min=1))
    token_type = _opt_str()


class UserTokenSchema(_Base):
    access_token = fields.String(required=True, validate=validate.Length(min=1))
    expires_in = fields.Integer(load_default=None, allow_none=True)
    refresh_token = _opt_str()


class UmsAnswerSchema(_Base):
    serviceRequestId = _opt_str()
    originalServiceRequestId = _opt_str()
    status = fields.String(required=True)
    code = _opt_str()
    message = _opt_str()
    serviceFlow = _opt_str()
    token = fields.Nested(UserTokenSchema, load_default=None, allow_none=True)
    userId = _opt_str()
    lastLoginTime = _opt_str()
    sessionIdList = fields.List(fields.String(), load_default=None, allow_none=True)


def _first_error(messages: Any, path: str = "") -> tuple[str, str]:
    """The first leaf of marshmallow's error dict, as ("bill_list[0].amount", "message")."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if isinstance(key, int):
                sub = f"{path}[{key}]"
            elif key == "_schema":
                sub = path or "$"
            else:
                sub = f"{path}.{key}" if path else str(key)
            return _first_error(value, sub)
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, Mapping | list):
            return _first_error(first, path)
        return path or "$", str(first)
    return path or "$", str(messages)


_INSTANCES: dict[type[Schema], Schema] = {}


def _instance(schema: type[Schema]) -> Schema:
    """One instance per schema class: building a marshmallow schema costs more than a load,
    and ``load`` keeps no state in the instance, so threads can share it."""
    found = _INSTANCES.get(schema)
    if found is None:
        found = _INSTANCES.setdefault(schema, schema())
    return found


def load(
    schema: type[Schema], data: Any, *, what: str, http_status: int | None = None
) -> dict[str, Any]:
    """Validate ``data`` with ``schema``; raise ``UnexpectedResponse`` naming the bad field."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponse(
            f"{what}: field $: the answer is not a JSON object",
            field="$",
            http_status=http_status,
            endpoint=what,
        )
    try:
        result = _instance(schema).load(data)
    except ValidationError as exc:
        field, message = _first_error(exc.messages)
        raise UnexpectedResponse(
            f"{what}: field {field}: {message}",
            field=field,
            http_status=http_status,
            endpoint=what,
        ) from None
    assert isinstance(result, dict)
    return result
