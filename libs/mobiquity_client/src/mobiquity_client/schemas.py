"""marshmallow (4.x) schemas of Mobiquity's answers.

Unknown fields are ignored (Mobiquity adds fields freely); the fields we use are checked for
type and presence. ``load`` turns a ``ValidationError`` into ``UnexpectedResponse`` naming
the offending field (``bill_list[0].amount``), never a ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from .errors import UnexpectedResponse


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE


def _opt_str() -> fields.String:
    return fields.String(load_default=None, allow_none=True)


def decimal_places(value: Decimal) -> int:
    """Decimal places a finite ``Decimal`` needs to keep its value (``110.50`` → 1,
    ``110.000`` → 0, ``123.456`` → 3): trailing zeros change no value."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), "finite values only"
    end = len(digits)
    while exponent < 0 and end > 1 and digits[end - 1] == 0:
        end -= 1
        exponent += 1
    return max(0, -exponent)


def _to_the_cent(value: Decimal) -> None:
    # Our amounts are kept to the cent (DECIMAL(…, 2)): a third decimal would be rounded away
    # silently when stored, so such an answer is malformed (issue 15, defect 4).
    if decimal_places(value) > 2:
        raise ValidationError("more than two decimal places")


def _money(*, required: bool = False, non_negative: bool = False) -> fields.Decimal:
    """An amount: a JSON number or string, finite, exact to the cent (never rounded)."""
    checks: list[Any] = [_to_the_cent]
    if non_negative:
        checks.append(validate.Range(min=0))
    if required:
        return fields.Decimal(required=True, validate=checks)
    return fields.Decimal(load_default=None, allow_none=True, validate=checks)


class TokenSchema(_Base):
    access_token = fields.String(required=True, validate=validate.Length(min=1))
    expires_in = fields.Integer(required=True, validate=validate.Range(min=1))
    token_type = _opt_str()


class ErrorItemSchema(_Base):
    code = _opt_str()
    message = _opt_str()
    componentName = _opt_str()


class EnvelopeSchema(_Base):
    """The common envelope: success fields and the error fields, all optional."""

    status = fields.Raw(load_default=None, allow_none=True)  # "FAILED" or, on fetch, 403
    code = fields.Raw(load_default=None, allow_none=True)  # "otp.validation.required" or 422
    message = _opt_str()
    serviceRequestId = _opt_str()
    serviceFlow = _opt_str()
    errorCode = _opt_str()
    errors = fields.List(fields.Nested(ErrorItemSchema), load_default=None, allow_none=True)
    errorUserMsg = _opt_str()
    traceId = _opt_str()
    httpErrorCode = fields.Raw(load_default=None, allow_none=True)
    step = _opt_str()
    orderId = _opt_str()
    orderStatus = _opt_str()
    orderState = _opt_str()


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


class BillDetailSchema(_Base):
    accountNo = _opt_str()
    billNo = _opt_str()
    billMonth = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 12))
    billYear = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(1900, 2999)
    )
    totalKwh = _opt_str()
    amount = _money()
    lpc = _money()
    vat = _money()
    issueDate = fields.Date(format="%d-%m-%Y", load_default=None, allow_none=True)
    dueDate = fields.Date(format="%d-%m-%Y", load_default=None, allow_none=True)
    paymentStatus = _opt_str()

    @pre_load
    def _blank_is_none(self, data: Any, **_: Any) -> Any:
        # Billers send "" for an absent value; treat it as null rather than as a bad number.
        if isinstance(data, Mapping):
            return {k: (None if v == "" else v) for k, v in data.items()}
        return data


class BillSchema(_Base):
    bill_number = fields.String(required=True, validate=validate.Length(min=1))
    due_date = fields.Date(required=True, allow_none=True)
    amount = _money(required=True, non_negative=True)
    service_charge = _money(non_negative=True)
    detail = fields.Nested(BillDetailSchema, required=True, allow_none=True)


class FetchAnswerSchema(_Base):
    message = _opt_str()
    utility = _opt_str()
    account_no = fields.Raw(load_default=None, allow_none=True)
    bill_list = fields.List(fields.Nested(BillSchema), required=True)


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
