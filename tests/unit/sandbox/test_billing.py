"""Billpay rules, the ledger, paid bills and enquiry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.mobiquity.bills import make_bill
from sandbox.mobiquity.catalogue import by_utility

from .conftest import PATH_BILLPAY, Api, assert_envelope

pytestmark = pytest.mark.unit

CID = "17021272"  # three DSCO bills


def test_accepted_payment_has_the_documented_shape_and_is_in_the_ledger(api: Api) -> None:
    bill = api.bills("DSCO", CID)[0]
    resp = api.pay("DSCO", CID, bill, "REF0000000000000001")
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {
        "code",
        "message",
        "orderId",
        "orderStatus",
        "serviceRequestId",
        "transactionTimeStamp",
    }
    assert body["code"] == "process.fulfilment" and body["orderStatus"] == "PENDING"
    assert body["message"] == "Order is placed successfully"
    parts = body["orderId"].split("-")
    assert [len(p) for p in parts] == [6, 6, 6] and all(p.isdigit() for p in parts)
    (entry,) = api.ledger()
    assert entry["reference"] == "REF0000000000000001"
    assert entry["consumer_id"] == CID and entry["bill_number"] == bill["bill_number"]
    assert entry["biller_code"] == "DSCO" and entry["utility"] == "DSCO"
    assert entry["amount"] == str(Decimal(str(bill["amount"])).quantize(Decimal("0.01")))
    assert entry["receiver"] == "01788880001"
    assert entry["outcome"] == "accepted" and entry["answered"] == "answered"
    assert entry["http_status"] == 200 and entry["order_id"] == body["orderId"]
    assert entry["order_status"] == "PENDING" and entry["error_code"] is None
    assert entry["amount_basis"] == "amount"


def test_a_paid_bill_is_no_longer_pending_and_cannot_be_paid_again(api: Api) -> None:
    bills = api.bills("DSCO", CID)
    assert api.pay("DSCO", CID, bills[1], "REF1").status_code == 200
    pending = [b["bill_number"] for b in api.bills("DSCO", CID)]
    assert pending == [bills[0]["bill_number"], bills[2]["bill_number"]]
    body = assert_envelope(
        api.pay("DSCO", CID, bills[1], "REF2"), 400, "Bill01", "bill.already.paid"
    )
    assert body["orderStatus"] == "FAILED" and body["orderId"]
    ledger = api.ledger(bill_number=bills[1]["bill_number"])
    assert [e["outcome"] for e in ledger] == ["accepted", "rejected"]
    assert [e["reference"] for e in ledger] == ["REF1", "REF2"]
    assert ledger[1]["error_code"] == "Bill01"
    assert len(api.ledger(outcome="accepted", bill_number=bills[1]["bill_number"])) == 1


def test_the_same_bill_number_of_another_utility_or_account_is_unaffected(api: Api) -> None:
    bill = api.bills("DSCO", CID)[0]
    api.pay("DSCO", CID, bill)
    assert len(api.bills("DSCO", CID)) == 2
    assert len(api.bills("DESCO", CID)) == 3
    assert len(api.bills("DSCO", "17021282")) == 3


def test_amount_plus_service_charge_is_accepted_and_recorded(api: Api) -> None:
    bill = next(b for b in api.bills("DSCO", CID) if b["service_charge"] > 0)
    total = Decimal(str(bill["amount"])) + Decimal(str(bill["service_charge"]))
    resp = api.pay("DSCO", CID, bill, amount=float(total))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert api.ledger()[0]["amount_basis"] == "amount_plus_service_charge"
    assert api.ledger()[0]["amount"] == str(total)


@pytest.mark.parametrize("amount", ["1204.68", 1204.68, "1204.680"])
def test_amount_may_be_a_string_or_a_number(api: Api, amount) -> None:
    bill = api.bills("DSCO", CID)[0]
    assert bill["amount"] == 1204.68
    assert api.pay("DSCO", CID, bill, amount=amount).status_code == 200


@pytest.mark.parametrize(
    ("amount", "error_code", "detail_code"),
    [
        (1204.67, "Bill03", "amount.mismatch"),
        (1204.69, "Bill03", "amount.mismatch"),
        (1214.69, "Bill03", "amount.mismatch"),  # amount + service charge (10.00) is 1214.68
        (0, "Generic06", "invalid.amount"),
    ],
)
def test_a_wrong_amount_is_rejected(api: Api, amount, error_code, detail_code) -> None:
    bill = api.bills("DSCO", CID)[0]
    assert (bill["amount"], bill["service_charge"]) == (1204.68, 10.0)
    assert_envelope(api.pay("DSCO", CID, bill, amount=amount), 400, error_code, detail_code)
    assert api.ledger()[0]["outcome"] == "rejected"
    assert len(api.bills("DSCO", CID)) == 3


def test_a_bill_that_does_not_exist_is_rejected(api: Api) -> None:
    bill = dict(api.bills("DSCO", CID)[0], bill_number="019999999999")
    assert_envelope(api.pay("DSCO", CID, bill), 400, "Bill02", "bill.not.found")
    other_account = api.bills("DSCO", "17021285")[0]
    assert_envelope(api.pay("DSCO", CID, other_account), 400, "Bill02", "bill.not.found")


def _pay_with(api: Api, mutate) -> dict:
    bill = api.bills("DSCO", CID)[0]
    body = api.pay_body("DSCO", CID, bill)
    mutate(body)
    return api.post(PATH_BILLPAY, body)


def test_wrong_mpin_is_the_documented_failure(api: Api) -> None:
    resp = _pay_with(api, lambda b: b["sender"].update(mpin=11111))
    body = assert_envelope(resp, 400, "Authen01", "AUTH03")
    assert body["step"] == "validate.initiator:E.update.order.initiator.authentication.failed"
    assert body["errorUserMsg"] == "Invalid credentials."
    assert body["orderStatus"] == "FAILED" and body["orderState"] == "VALIDATION_FAILED"
    assert body["httpErrorCode"] == "400" and body["orderId"]
    assert api.ledger()[0]["error_detail_code"] == "AUTH03"


@pytest.mark.parametrize(
    ("mutate", "error_code", "detail_code"),
    [
        (lambda b: b["sender"].update(idValue="01700000000"), "Generic05", "sender.not.found"),
        (lambda b: b["receiver"].update(idValue="01788880002"), "Bill05", "receiver.mismatch"),
        (lambda b: b["receiver"].update(productId=13), "Bill05", "receiver.mismatch"),
        (lambda b: b["partnerData"].update(billerCode="NOPE"), "Bill04", "biller.not.found"),
        (lambda b: b["partnerData"].pop("billNumber"), "Generic04", "mandatory.field.missing"),
        (lambda b: b["sender"].pop("mpin"), "Generic04", "mandatory.field.missing"),
        (
            lambda b: b["sender"].update(paymentInstruments=[]),
            "Generic04",
            "mandatory.field.missing",
        ),
        (
            lambda b: b["sender"]["paymentInstruments"][0].update(amount="abc"),
            "Generic06",
            "invalid.amount",
        ),
        (
            lambda b: b["sender"]["paymentInstruments"][0].update(amount=-5),
            "Generic06",
            "invalid.amount",
        ),
        (
            lambda b: b["sender"]["paymentInstruments"][0].update(amount="1204.681"),
            "Generic06",
            "invalid.amount",
        ),
    ],
)
def test_billpay_rejections(api: Api, mutate, error_code: str, detail_code: str) -> None:
    assert_envelope(_pay_with(api, mutate), 400, error_code, detail_code)
    (entry,) = api.ledger()
    assert entry["outcome"] == "rejected" and entry["error_code"] == error_code
    assert entry["error_detail_code"] == detail_code and entry["order_status"] == "FAILED"
    assert len(api.bills("DSCO", CID)) == 3


def test_a_body_that_is_not_json_is_refused_without_a_ledger_entry(api: Api) -> None:
    resp = api.client.post(
        PATH_BILLPAY, data="{oops", headers=api.headers(), content_type="application/json"
    )
    assert_envelope(resp, 400, "Generic06", "invalid.json")
    assert api.ledger() == []
    assert api.calls(endpoint="billpay")[0]["status"] == 400


def test_reusing_an_accepted_reference_for_another_bill_is_rejected(api: Api) -> None:
    bills = api.bills("DSCO", CID)
    assert api.pay("DSCO", CID, bills[0], "REFX").status_code == 200
    assert_envelope(api.pay("DSCO", CID, bills[1], "REFX"), 400, "Bill06", "duplicate.reference")
    assert len(api.bills("DSCO", CID)) == 2


def test_reference_travels_in_external_reference_id_then_remarks_then_other1(api: Api) -> None:
    bills = api.bills("DSCO", CID)
    body = api.pay_body("DSCO", CID, bills[0], "TOP")
    body["remarks"] = "REMARKS"
    api.post(PATH_BILLPAY, body)
    body = api.pay_body("DSCO", CID, bills[1], None)
    body["remarks"] = "REMARKS"
    api.post(PATH_BILLPAY, body)
    body = api.pay_body("DSCO", CID, bills[2], None)
    body.pop("remarks")
    body["partnerData"]["other1"] = "OTHER1"
    api.post(PATH_BILLPAY, body)
    assert [e["reference"] for e in api.ledger()] == ["TOP", "REMARKS", "OTHER1"]


def test_the_documents_ttas_example_is_accepted_once(api: Api) -> None:
    """TTAS is billpay-only: any bill number and amount, but still never paid twice."""
    body = {
        "bearerCode": "MOBILE",
        "currency": 101,
        "deviceInfo": {
            "appVersion": 10.2,
            "deviceId": 990000862471854,
            "latitude": 12.971599,
            "logitude": 77.594566,
            "mac": "00:1B:44:11:3A:B7",
            "model": "Oneplus10",
            "networkOperator": "Orange",
            "networkType": "4G",
            "os": "Android10",
            "providerIpAddress": "172.56.76.89",
        },
        "initiator": "sender",
        "language": "en",
        "partnerData": {
            "billAccountNumber": "12345",
            "billNumber": "12345",
            "surcharge": "surcharge1",
            "vat": "vat1",
            "other1": "other1",
            "other2": "other2",
            "billerName": "TTAS",
            "billerCode": "TTAS",
        },
        "receiver": {"idType": "mobileNumber", "idValue": "01788886666", "productId": 12},
        "remarks": "remarks",
        "sender": {
            "idType": "mobileNumber",
            "idValue": "01755555555",
            "mpin": 13579,
            "paymentInstruments": [{"instrumentType": "WALLET", "amount": 1, "productId": 12}],
            "userRole": "Channel",
        },
        "serviceFlowId": "BILLPAYOAP",
    }
    resp = api.post(PATH_BILLPAY, body)
    assert resp.status_code == 200 and resp.get_json()["code"] == "process.fulfilment"
    assert api.ledger()[0]["amount_basis"] == "open_amount"
    assert api.ledger()[0]["reference"] == "remarks"
    assert_envelope(api.post(PATH_BILLPAY, body), 400, "Bill01", "bill.already.paid")


def test_magic_9907_is_insufficient_balance(api: Api) -> None:
    bill = api.bills("DSCO", "99070002")[0]
    body = assert_envelope(api.pay("DSCO", "99070002", bill), 400, "TXN01", "insufficient.balance")
    assert body["orderStatus"] == "FAILED"
    assert api.ledger()[0]["outcome"] == "rejected"
    assert len(api.bills("DSCO", "99070002")) == 3


def test_magic_9908_is_a_wallet_authentication_failure(api: Api) -> None:
    bill = api.bills("JGDCL", "99080004")[0]
    assert_envelope(api.pay("JGDCL", "99080004", bill), 400, "Authen01", "AUTH03")


def test_billpay_without_a_valid_system_token_is_not_processed(api: Api) -> None:
    bill = api.bills("DSCO", CID)[0]
    body = api.pay_body("DSCO", CID, bill)
    resp = api.client.post(PATH_BILLPAY, json=body)
    assert resp.status_code == 401 and resp.get_json()["errorCode"] == "Authen04"
    assert api.post(PATH_BILLPAY, body, token="not-a-token").status_code == 401
    assert api.ledger() == []
    assert [c["status"] for c in api.calls(endpoint="billpay")] == [401, 401]
    assert len(api.bills("DSCO", CID)) == 3


def test_an_expired_token_is_refused(api: Api) -> None:
    import time

    api.configure(token_ttl_seconds=1)
    token = api.token(fresh=True)
    time.sleep(1.1)
    bill = make_bill(by_utility("DSCO"), CID, 0).to_json()
    resp = api.post(PATH_BILLPAY, api.pay_body("DSCO", CID, bill), token=token)
    assert resp.status_code == 401
    assert resp.get_json()["errors"][0]["code"] == "AUTH_TOKEN_EXPIRED"
    assert api.ledger() == []


def test_billpay_without_bearer_when_configured_off(api: Api) -> None:
    api.configure(require_bearer=False)
    bill = api.bills("DSCO", CID)[0]
    assert api.client.post(PATH_BILLPAY, json=api.pay_body("DSCO", CID, bill)).status_code == 200


def test_status_in_body_only_billpay_rejection_is_http_200(api: Api) -> None:
    api.configure(status_in_body_only=True)
    bill = api.bills("DSCO", CID)[0]
    resp = api.pay("DSCO", CID, bill, mpin=1)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "FAILED" and body["httpErrorCode"] == "400"
    assert body["errorCode"] == "Authen01"
    assert api.ledger()[0]["http_status"] == 200


# ---- enquiry ------------------------------------------------------------------------------


def test_enquiry_of_an_accepted_order_is_succeeded(api: Api) -> None:
    bill = api.bills("DSCO", CID)[0]
    order = api.pay("DSCO", CID, bill, "REFOK").get_json()
    resp = api.enquire("REFOK")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "SUCCEEDED" and body["orderStatus"] == "SUCCEEDED"
    assert body["externalReferenceId"] == "REFOK" and body["orderId"] == order["orderId"]
    assert body["serviceRequestId"] == order["serviceRequestId"]
    assert "errorCode" not in body


def test_enquiry_is_pending_until_the_fulfilment_delay_has_passed(api: Api) -> None:
    api.configure(fulfilment_delay_seconds=60)
    bill = api.bills("DSCO", CID)[0]
    api.pay("DSCO", CID, bill, "REFP")
    assert api.enquire("REFP").get_json()["orderStatus"] == "PENDING"
    assert api.ledger()[0]["enquiry_status"] == "PENDING"
    api.configure(fulfilment_delay_seconds=0)
    assert api.enquire("REFP").get_json()["orderStatus"] == "SUCCEEDED"


def test_enquiry_of_a_rejected_order_is_failed_with_its_error(api: Api) -> None:
    bill = api.bills("DSCO", CID)[0]
    api.pay("DSCO", CID, bill, "REFF", mpin=1)
    body = api.enquire("REFF").get_json()
    assert body["orderStatus"] == "FAILED"
    assert body["errorCode"] == "Authen01" and body["errorUserMsg"] == "Invalid credentials."


def test_enquiry_prefers_the_accepted_entry_over_a_later_rejected_retry(api: Api) -> None:
    bill = api.bills("DSCO", CID)[0]
    api.pay("DSCO", CID, bill, "REFR")
    api.pay("DSCO", CID, bill, "REFR")  # rejected: already paid
    assert api.enquire("REFR").get_json()["orderStatus"] == "SUCCEEDED"


def test_enquiry_of_an_unknown_reference_is_404(api: Api) -> None:
    body = assert_envelope(api.enquire("NOSUCHREF"), 404, "Generic05", "order.not.found")
    assert body["httpErrorCode"] == "404"
    api.configure(status_in_body_only=True)
    resp = api.enquire("NOSUCHREF")
    assert resp.status_code == 200 and resp.get_json()["errorCode"] == "Generic05"


def test_enquiry_needs_the_system_token(api: Api) -> None:
    assert api.client.get("/jigsaw/v1/order/enquiry/X").status_code == 401


def test_concurrent_payments_of_one_bill_accept_exactly_one(app, api: Api) -> None:
    """The race window is widened on purpose: without the state lock, all would pass."""
    import threading
    import time as _time

    bill = api.bills("DSCO", CID)[0]
    api.state.race_probe = lambda: _time.sleep(0.01)
    token = api.token()
    barrier = threading.Barrier(20)
    codes: list[str] = []

    def pay(i: int) -> None:
        client = app.test_client()
        body = api.pay_body("DSCO", CID, bill, f"REFC{i:03d}")
        barrier.wait()
        resp = client.post(PATH_BILLPAY, json=body, headers=api.headers(token))
        codes.append(resp.get_json().get("code") or resp.get_json()["errorCode"])

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count("process.fulfilment") == 1, codes
    assert codes.count("Bill01") == 19, codes
    assert [e["outcome"] for e in api.ledger()].count("accepted") == 1
    assert len(api.ledger()) == 20
