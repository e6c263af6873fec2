"""Bill fetch, billpay and enquiry, with the ledger that proves nothing is paid twice.

Why one module of more than 400 lines: fetch-bill, billpay and enquiry as Mobiquity answers
them share one ledger and its lock.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Flask, Response, g, request

from sandbox.mobiquity import catalogue, faults
from sandbox.mobiquity.bills import bill_count, find_bill, make_bill
from sandbox.mobiquity.envelopes import (
    USER_MESSAGES,
    ErrorDetail,
    MobiquityError,
    error_envelope,
    language_of,
    new_id,
    now_precise,
    now_stamp,
    server_error,
    wrong_password,
)
from sandbox.mobiquity.http import finish, gate, json_body, json_response, state, system_auth
from sandbox.mobiquity.state import State

log = logging.getLogger("sandbox.mobiquity")

PATHS = {
    "fetch": "/extensibility/fetchPendingBillsFormAggregator",
    "billpay": "/jigsaw/v1/order/billpay",
    "enquiry": "/jigsaw/v1/order/enquiry/<path:reference>",
}
BODY_ONLY_STATUSES = (400, 403, 404, 422)
ORDER = "order"


def _status(status: int) -> int:
    """Open point 0: with `status_in_body_only` the code travels in the body only."""
    if state().config.status_in_body_only and status in BODY_ONLY_STATUSES:
        return 200
    return status


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ---- fetch --------------------------------------------------------------------------------


def fetch() -> Response:
    """POST /extensibility/fetchPendingBillsFormAggregator: the account's unpaid bills."""
    body = _dict(json_body())
    consumer_id = _text(body.get("consumer_id"))
    st = state()
    ctx = gate("fetch", auth=system_auth(st.config.require_bearer), consumer_id=consumer_id)
    if consumer_id is None:
        return finish(ctx, {"message": "Consumer Id can not be empty", "code": 422}, _status(422))
    utility = body.get("utility")
    biller = catalogue.by_utility(utility if isinstance(utility, str) else None)
    if biller is None or not biller.fetchable:
        payload = {
            "message": "This API is not applicable for the specific utility",
            "timestamp": int(time.time() * 1000),
            "status": 403,
        }
        return finish(ctx, payload, _status(403))
    bills = [make_bill(biller, consumer_id, i) for i in range(bill_count(consumer_id))]
    with st.lock:
        pending = [b for b in bills if (biller.code, consumer_id, b.bill_number) not in st.paid]
    return finish(
        ctx,
        {
            "message": "OK",
            "code": 200,
            "utility": biller.code,
            "account_no": consumer_id,
            "bill_list": [b.to_json() for b in pending],
        },
        200,
    )


# ---- billpay ------------------------------------------------------------------------------


def reference_of(body: dict[str, Any]) -> str | None:
    """Where our reference id travels (decision 2): externalReferenceId → remarks → other1."""
    for value in (
        body.get("externalReferenceId"),
        body.get("remarks"),
        _dict(body.get("partnerData")).get("other1"),
    ):
        text = _text(value)
        if text is not None:
            return text
    return None


class _Rejected(Exception):
    def __init__(self, error: MobiquityError, order_state: str) -> None:
        super().__init__(error.error_code)
        self.error = error
        self.order_state = order_state


def _reject(
    error_code: str, code: str, message: str, step: str, order_state: str = "VALIDATION_FAILED"
) -> _Rejected:
    return _Rejected(
        MobiquityError(error_code, ErrorDetail(code, message, ORDER), step=step), order_state
    )


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise _reject(
            "Generic06", "invalid.amount", "Amount must be a number", "validate.amount"
        ) from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise _reject(
            "Generic06",
            "invalid.amount",
            "Amount must be positive with at most 2 decimals",
            "validate.amount",
        )
    return amount


def _validate_billpay(
    st: State, body: dict[str, Any], plan: faults.Plan, entry: dict[str, Any]
) -> None:
    """Every billpay rule, in Mobiquity's order: initiator, biller, bill, amount.

    Runs under the state lock; on success the bill is marked paid. Raises _Rejected.
    """
    sender, receiver = _dict(body.get("sender")), _dict(body.get("receiver"))
    partner = _dict(body.get("partnerData"))
    instruments = sender.get("paymentInstruments")
    instrument = _dict(instruments[0]) if isinstance(instruments, list) and instruments else {}
    required = {
        "sender.idValue": sender.get("idValue"),
        "sender.mpin": sender.get("mpin"),
        "sender.paymentInstruments[0].amount": instrument.get("amount"),
        "receiver.idValue": receiver.get("idValue"),
        "receiver.productId": receiver.get("productId"),
        "partnerData.billerCode": partner.get("billerCode"),
        "partnerData.billAccountNumber": partner.get("billAccountNumber"),
        "partnerData.billNumber": partner.get("billNumber"),
    }
    for name, value in required.items():
        if _text(value) is None:
            raise _reject(
                "Generic04", "mandatory.field.missing", f"{name} is mandatory", "validate.request"
            )
    consumer_id = str(partner["billAccountNumber"])
    bill_number = str(partner["billNumber"])
    if _text(sender["idValue"]) != st.settings.payer_msisdn:
        raise _reject(
            "Generic05",
            "sender.not.found",
            "Sender wallet not found",
            "validate.initiator:E.initiator.not.found",
        )
    if plan.wrong_mpin or str(sender["mpin"]) != st.settings.payer_mpin:
        error = wrong_password("validate.initiator:E.update.order.initiator.authentication.failed")
        raise _Rejected(error, "VALIDATION_FAILED")
    if plan.insufficient_balance:
        raise _reject(
            "TXN01",
            "insufficient.balance",
            "Insufficient balance in the sender wallet",
            "debit.sender:E.insufficient.balance",
            "TRANSACTION_FAILED",
        )
    biller = catalogue.by_biller_code(_text(partner["billerCode"]))
    if biller is None:
        raise _reject("Bill04", "biller.not.found", "Biller not found", "validate.biller")
    entry["utility"] = biller.code
    if _text(receiver["idValue"]) != biller.receiver_msisdn or str(receiver["productId"]) != str(
        biller.product_id
    ):
        raise _reject(
            "Bill05",
            "receiver.mismatch",
            "Receiver wallet or productId does not match the biller",
            "validate.receiver",
        )
    amount = _amount(instrument["amount"])
    bill = find_bill(biller, consumer_id, bill_number) if biller.fetchable else None
    if biller.fetchable and bill is None:
        raise _reject("Bill02", "bill.not.found", "No such bill for this account", "validate.bill")
    key = (biller.code, consumer_id, bill_number)
    if key in st.paid:
        raise _reject(
            "Bill01",
            "bill.already.paid",
            f"Bill already paid (ledger seq {st.paid[key]})",
            "validate.bill",
        )
    reference = entry["reference"]
    if reference is not None and reference in st.accepted_refs:
        raise _reject(
            "Bill06",
            "duplicate.reference",
            f"Reference already used (ledger seq {st.accepted_refs[reference]})",
            "validate.reference",
        )
    if bill is None:
        entry["amount_basis"] = "open_amount"
    elif amount == bill.amount:
        entry["amount_basis"] = "amount"
    elif bill.service_charge and amount == bill.amount + bill.service_charge:
        entry["amount_basis"] = "amount_plus_service_charge"
    else:
        raise _reject(
            "Bill03",
            "amount.mismatch",
            f"Amount {amount} does not match the bill amount {bill.amount}"
            + (
                f" (or {bill.amount + bill.service_charge} with service charge)"
                if bill.service_charge
                else ""
            ),
            "validate.amount",
        )
    if st.race_probe is not None:
        st.race_probe()  # tests widen the check-then-record window here
    # The bill and the reference are marked by `State.record_billpay`, still under the lock.


def _amount_text(value: Any) -> str | None:
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    except (InvalidOperation, ValueError):
        return None if value is None else str(value)


def billpay() -> Response:
    """POST /jigsaw/v1/order/billpay: validate, record in the ledger, answer (or not)."""
    raw = json_body()
    body = _dict(raw)
    partner = _dict(body.get("partnerData"))
    reference = reference_of(body)
    consumer_id = _text(partner.get("billAccountNumber"))
    st = state()
    ctx = gate(
        "billpay",
        auth=system_auth(st.config.require_bearer),
        consumer_id=consumer_id,
        reference=reference,
    )
    language = language_of(body)
    if not isinstance(raw, dict):
        err = MobiquityError(
            "Generic06",
            ErrorDetail("invalid.json", "Request body must be a JSON object", ORDER),
            step="validate.request",
        )
        return finish(ctx, error_envelope(err, language), _status(400))
    sender, receiver = _dict(body.get("sender")), _dict(body.get("receiver"))
    instruments = sender.get("paymentInstruments")
    instrument = _dict(instruments[0]) if isinstance(instruments, list) and instruments else {}
    service_request_id = new_id()
    with st.lock:
        entry: dict[str, Any] = {
            "seq": len(st.ledger) + 1,
            "received_at": now_precise(),
            "ts": time.time(),
            "reference": reference,
            "consumer_id": consumer_id,
            "bill_number": _text(partner.get("billNumber")),
            "biller_code": _text(partner.get("billerCode")),
            "utility": None,
            "amount": _amount_text(instrument.get("amount")),
            "receiver": _text(receiver.get("idValue")),
            "sender": _text(sender.get("idValue")),
            "external_reference_id": _text(body.get("externalReferenceId")),
            "remarks": _text(body.get("remarks")),
            "outcome": "accepted",
            "http_status": None,
            "answered": ctx.plan.after,
            "order_id": st.next_order_id(),
            "service_request_id": service_request_id,
            "order_status": "PENDING",
            "order_state": None,
            "error_code": None,
            "error_detail_code": None,
            "error_user_msg": None,
            "amount_basis": None,
            "fault_ids": list(ctx.plan.fault_ids),
        }
        try:
            _validate_billpay(st, body, ctx.plan, entry)
            payload: dict[str, Any] = {
                "code": "process.fulfilment",
                "message": "Order is placed successfully",
                "orderId": entry["order_id"],
                "orderStatus": "PENDING",
                "serviceRequestId": service_request_id,
                "transactionTimeStamp": now_stamp(),
            }
            status = 200
        except _Rejected as rejected:
            err = rejected.error
            entry.update(
                outcome="rejected",
                order_status="FAILED",
                order_state=rejected.order_state,
                error_code=err.error_code,
                error_detail_code=err.details[0].code,
                error_user_msg=_user_msg(err),
            )
            payload = error_envelope(err, language)
            payload.update(
                orderId=entry["order_id"], orderStatus="FAILED", orderState=rejected.order_state
            )
            status = _status(err.http_status)
        entry["http_status"] = {
            faults.DROP: None,
            faults.AFTER_500: 500,
            faults.MALFORMED: 200,
        }.get(ctx.plan.after, status)
        try:
            st.record_billpay(entry)
        except OSError:
            log.exception(
                "billpay seq=%s not recorded: the ledger file cannot be written", entry["seq"]
            )
            unrecorded = True
        else:
            unrecorded = False
    if unrecorded:
        # Nothing was recorded or marked paid: answer like Mobiquity failing before processing.
        g.answered = "answered"
        return json_response(server_error(request.path), 500)
    log.info(
        "billpay seq=%s reference=%s consumer_id=%s bill=%s outcome=%s error=%s answer=%s",
        entry["seq"],
        reference,
        consumer_id,
        entry["bill_number"],
        entry["outcome"],
        entry["error_code"],
        entry["answered"],
    )
    return finish(ctx, payload, status)


def _user_msg(err: MobiquityError) -> str:
    return USER_MESSAGES.get(err.error_code, "Bad Request")


# ---- enquiry ------------------------------------------------------------------------------


def order_for(st: State, reference: str) -> dict[str, Any] | None:
    """The ledger entry an enquiry answers from: the accepted one, else the latest."""
    found = None
    for entry in st.ledger_by_reference.get(reference, ()):
        if entry["outcome"] == "accepted":
            return entry
        found = entry
    return found


def enquiry_status(st: State, entry: dict[str, Any]) -> str:
    """FAILED for rejected orders; accepted ones are PENDING until fulfilment, then SUCCEEDED."""
    if entry["outcome"] != "accepted":
        return "FAILED"
    if time.time() - entry["ts"] < st.config.fulfilment_delay_seconds:
        return "PENDING"
    return "SUCCEEDED"


def enquiry(reference: str) -> Response:
    """GET /jigsaw/v1/order/enquiry/<reference> (assumed contract, docs/decisions.md #1)."""
    st = state()
    with st.lock:
        first = order_for(st, reference)
    ctx = gate(
        "enquiry",
        auth=system_auth(st.config.require_bearer),
        consumer_id=first["consumer_id"] if first else None,
        reference=reference,
    )
    with st.lock:
        entry = order_for(st, reference)
        status_now = enquiry_status(st, entry) if entry else None
    if entry is None:
        err = MobiquityError(
            "Generic05",
            ErrorDetail("order.not.found", f"No order with reference {reference}", ORDER),
            http_status=404,
            step="order.enquiry",
        )
        return finish(ctx, error_envelope(err), _status(404))
    payload: dict[str, Any] = {
        "status": "SUCCEEDED",
        "externalReferenceId": reference,
        "orderId": entry["order_id"],
        "orderStatus": status_now,
        "serviceRequestId": entry["service_request_id"],
        "transactionTimeStamp": now_stamp(),
    }
    if status_now == "FAILED":
        payload["errorCode"] = entry["error_code"]
        payload["errorUserMsg"] = entry["error_user_msg"]
    return finish(ctx, payload, 200)


def register(app: Flask) -> None:
    """Add fetch, billpay and enquiry to the app."""
    app.add_url_rule(PATHS["fetch"], endpoint="fetch", view_func=fetch, methods=["POST"])
    app.add_url_rule(PATHS["billpay"], endpoint="billpay", view_func=billpay, methods=["POST"])
    app.add_url_rule(PATHS["enquiry"], endpoint="enquiry", view_func=enquiry, methods=["GET"])
