"""Explicit validation of the answers on the hot path: fetch-bill, billpay and enquiry.

The same rules the marshmallow schemas applied (``schemas.py`` keeps them for the token and
the user-management answers), written out: unknown fields are ignored, the fields we use are
checked for type and presence, and the first error raises ``UnexpectedResponse`` naming the
field (``bill_list[1].detail.lpc``). A fetch answer with three bills costs ~0.7 ms through
marshmallow and a few dozen microseconds here (``bench/client_cpu.py``).

Amounts: a JSON number (already a ``Decimal``: the JSON is parsed with
``parse_float=Decimal``), an integer or a numeric string; finite and exact to the cent — an
amount that needs a third decimal is refused, never rounded (issue 15, defect 4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import UnexpectedResponse
from .models import BillDetail, PendingBill

__all__ = ["ENVELOPE_FIELDS", "decimal_places", "envelope", "pending_bills"]

_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_DMY = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})")


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _fail(what: str, http_status: int | None, field: str, message: str) -> UnexpectedResponse:
    return UnexpectedResponse(
        f"{what}: field {field}: {message}", field=field, http_status=http_status, endpoint=what
    )


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


def _exact_to_the_cent(value: Decimal) -> bool:
    """Whether a finite amount keeps its value on two decimal places (no rounding)."""
    try:
        return value == value.quantize(_CENT)  # exact comparison; the common case, fast
    except InvalidOperation:  # more digits than the context's precision
        return decimal_places(value) <= 2


# -- fields ------------------------------------------------------------------------------------


def _opt_str(data: Mapping[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _Invalid(path + key, "Not a valid string.")


def _money(value: Any, field: str, *, non_negative: bool) -> Decimal:
    """An amount exact to the cent (never rounded)."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _Invalid(field, "Not a valid number.") from None
    else:
        raise _Invalid(field, "Not a valid number.")
    if not number.is_finite():
        raise _Invalid(field, "Special numeric values (nan or infinity) are not permitted.")
    if not _exact_to_the_cent(number):
        raise _Invalid(field, "more than two decimal places")
    if non_negative and number < _ZERO:
        raise _Invalid(field, "Must be greater than or equal to 0.")
    return number


def _opt_money(value: Any, field: str, *, non_negative: bool = False) -> Decimal | None:
    return None if value is None else _money(value, field, non_negative=non_negative)


def _opt_int(value: Any, field: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    number: int
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            raise _Invalid(field, "Not a valid integer.") from None
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        number = int(value)
    else:
        raise _Invalid(field, "Not a valid integer.")
    if not low <= number <= high:
        raise _Invalid(
            field, f"Must be greater than or equal to {low} and less than or equal to {high}."
        )
    return number


def _opt_date(value: Any, field: str, parse: Callable[[str], date]) -> date | None:
    """None, or a string ``parse`` reads as a date (it raises ValueError otherwise)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError:
            pass
    raise _Invalid(field, "Not a valid date.")


def _opt_iso_date(value: Any, field: str) -> date | None:
    return _opt_date(value, field, date.fromisoformat)


def _dmy(value: str) -> date:
    found = _DMY.fullmatch(value)
    if not found:
        raise ValueError(value)
    day, month, year = found.groups()
    return date(int(year), int(month), int(day))


def _opt_dmy_date(value: Any, field: str) -> date | None:
    """A DD-MM-YYYY date (``14-07-2023``; one-digit day and month accepted)."""
    return _opt_date(value, field, _dmy)


# -- fetch-bill -------------------------------------------------------------------------------


def _detail(raw: Any, path: str) -> BillDetail | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _Invalid(path.rstrip("."), "Invalid input type.")
    # Billers send "" for an absent value: treat it as null rather than as a bad number.
    data = {k: (None if v == "" else v) for k, v in raw.items()}
    return BillDetail(
        account_no=_opt_str(data, "accountNo", path),
        bill_no=_opt_str(data, "billNo", path),
        bill_month=_opt_int(data.get("billMonth"), path + "billMonth", 1, 12),
        bill_year=_opt_int(data.get("billYear"), path + "billYear", 1900, 2999),
        total_kwh=_opt_str(data, "totalKwh", path),
        amount=_opt_money(data.get("amount"), path + "amount"),
        lpc=_opt_money(data.get("lpc"), path + "lpc"),
        vat=_opt_money(data.get("vat"), path + "vat"),
        issue_date=_opt_dmy_date(data.get("issueDate"), path + "issueDate"),
        due_date=_opt_dmy_date(data.get("dueDate"), path + "dueDate"),
        payment_status=_opt_str(data, "paymentStatus", path),
        raw=dict(raw),
    )


def _bill(raw: Any, path: str) -> PendingBill:
    if not isinstance(raw, Mapping):
        raise _Invalid(path.rstrip("."), "Invalid input type.")
    for key in ("bill_number", "due_date", "amount", "detail"):
        if key not in raw:
            raise _Invalid(path + key, "Missing data for required field.")
    number = raw["bill_number"]
    if not isinstance(number, str):
        raise _Invalid(path + "bill_number", "Not a valid string.")
    if not number:
        raise _Invalid(path + "bill_number", "Shorter than minimum length 1.")
    if raw["amount"] is None:
        raise _Invalid(path + "amount", "Field may not be null.")
    service_charge = _opt_money(
        raw.get("service_charge"), path + "service_charge", non_negative=True
    )
    return PendingBill(
        bill_number=number,
        due_date=_opt_iso_date(raw["due_date"], path + "due_date"),
        amount=_money(raw["amount"], path + "amount", non_negative=True),
        service_charge=_ZERO if service_charge is None else service_charge,
        detail=_detail(raw["detail"], path + "detail."),
        raw=dict(raw),
    )


def pending_bills(body: Any, *, http_status: int | None = None) -> list[PendingBill]:
    """The bills of a fetch answer; raises ``UnexpectedResponse`` for any malformed part —
    the whole answer is refused, never a bill of it."""
    what = "fetch"
    if not isinstance(body, Mapping):
        raise _fail(what, http_status, "$", "the answer is not a JSON object")
    try:
        for key in ("message", "utility"):
            _opt_str(body, key, "")
        if "bill_list" not in body:
            raise _Invalid("bill_list", "Missing data for required field.")
        bills = body["bill_list"]
        if bills is None:
            raise _Invalid("bill_list", "Field may not be null.")
        if not isinstance(bills, list):
            raise _Invalid("bill_list", "Not a valid list.")
        return [_bill(raw, f"bill_list[{n}].") for n, raw in enumerate(bills)]
    except _Invalid as bad:
        raise _fail(what, http_status, bad.field, bad.message) from None


# -- billpay and enquiry: the common envelope ----------------------------------------------------

#: every field of the envelope we read; the string ones are type-checked
ENVELOPE_FIELDS = (
    "status",  # "FAILED"/"SUCCEEDED" or, on fetch, a number: any type
    "code",  # "process.fulfilment" or a number: any type
    "httpErrorCode",  # any type
    "message",
    "serviceRequestId",
    "serviceFlow",
    "errorCode",
    "errorUserMsg",
    "traceId",
    "step",
    "orderId",
    "orderStatus",
    "orderState",
)
_ANY_TYPE = frozenset({"status", "code", "httpErrorCode"})
_ERROR_ITEM_FIELDS = ("code", "message", "componentName")


def envelope(body: Any, *, what: str, http_status: int | None = None) -> dict[str, Any]:
    """The common envelope of an answer (success and error fields, all optional): a dict
    with every key of ``ENVELOPE_FIELDS`` and ``errors`` (``None`` when absent)."""
    if not isinstance(body, Mapping):
        raise _fail(what, http_status, "$", "the answer is not a JSON object")
    try:
        data = {
            key: body.get(key) if key in _ANY_TYPE else _opt_str(body, key, "")
            for key in ENVELOPE_FIELDS
        }
        errors = body.get("errors")
        if errors is not None:
            if not isinstance(errors, list):
                raise _Invalid("errors", "Not a valid list.")
            for n, item in enumerate(errors):
                if not isinstance(item, Mapping):
                    raise _Invalid(f"errors[{n}]", "Invalid input type.")
                for key in _ERROR_ITEM_FIELDS:
                    _opt_str(item, key, f"errors[{n}].")
        data["errors"] = errors
    except _Invalid as bad:
        raise _fail(what, http_status, bad.field, bad.message) from None
    return data
