"""pay_bill: the body it sends, and its outcome classified from Mobiquity's answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import mq_doc
import pytest
from mq_fake import FakeHttp
from mq_helpers import BASE, MPIN, calls_to, payment, sent_body

from mobiquity_client import (
    Accepted,
    AuthPolicy,
    BillpaySettings,
    ConfigurationError,
    MobiquityClient,
    NotSent,
    Paths,
    ReferencePlacement,
    Rejected,
    RetryPolicy,
    Unknown,
)

pytestmark = pytest.mark.unit

PAY = "/jigsaw/v1/order/billpay"
TOKEN = "/mobiquitypay/oauth/token"


def _sent_body(rsps: FakeHttp) -> dict[str, Any]:
    return sent_body(rsps, PAY)


# -- the request ------------------------------------------------------------------------------


def test_body_follows_the_document_and_carries_the_reference(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    client.pay_bill(payment())
    body = _sent_body(rsps)
    for key, value in mq_doc.BILLPAY_REQUEST.items():
        assert body[key] == value
    assert body["externalReferenceId"] == mq_doc.REFERENCE
    assert body["remarks"] == mq_doc.REFERENCE
    assert body["partnerData"]["billAccountNumber"] == "17021270"  # the consumer id (point 11)
    assert body["partnerData"]["billNumber"] == "012331291314"
    assert body["partnerData"]["billerCode"] == "DSCO"
    assert body["receiver"] == {"idType": "mobileNumber", "idValue": "01788886666", "productId": 12}
    sender = body["sender"]
    assert sender["idValue"] == "01755555555"
    assert sender["mpin"] == MPIN
    assert sender["userRole"] == "Channel"
    assert sender["paymentInstruments"] == [
        {"instrumentType": "WALLET", "amount": Decimal("110.00"), "productId": 12}
    ]
    assert body["deviceInfo"]["isPublicDevice"] == "N"
    (call,) = calls_to(rsps, PAY)
    assert call.request.headers["Authorization"] == "Bearer " + mq_doc.TOKEN["access_token"]
    assert call.request.headers["Content-Type"] == "application/json"


def test_amount_is_written_exactly_never_through_float(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    client.pay_bill(payment(amount=Decimal("1234567890123.10")))
    (call,) = calls_to(rsps, PAY)
    assert b'"amount":1234567890123.10' in call.request.body  # float would print ...123.1


def test_amount_as_string_when_configured(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    make_client(billpay=BillpaySettings(amount_format="string")).pay_bill(payment())
    assert _sent_body(rsps)["sender"]["paymentInstruments"][0]["amount"] == "110.00"


def test_reference_in_partner_data_other1_only(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    placement = ReferencePlacement(top_level_field=None, remarks=False, partner_data_other1=True)
    make_client(reference_in=placement).pay_bill(payment(other1="ignored"))
    body = _sent_body(rsps)
    assert body["partnerData"]["other1"] == mq_doc.REFERENCE
    assert "externalReferenceId" not in body
    assert body["remarks"] == ""


def test_reference_under_another_top_level_name(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    make_client(reference_in=ReferencePlacement(top_level_field="partnerReference")).pay_bill(
        payment()
    )
    body = _sent_body(rsps)
    assert body["partnerReference"] == mq_doc.REFERENCE
    assert "externalReferenceId" not in body


def test_reference_must_travel_somewhere() -> None:
    with pytest.raises(ConfigurationError):
        ReferencePlacement(top_level_field=None, remarks=False, partner_data_other1=False)


def test_without_bearer_when_configured_off(
    rsps: FakeHttp, make_client: Callable[..., MobiquityClient]
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    client = make_client(auth=AuthPolicy(system_token_for=frozenset()))
    assert isinstance(client.pay_bill(payment()), Accepted)
    (call,) = calls_to(rsps, PAY)
    assert "Authorization" not in call.request.headers
    assert not calls_to(rsps, TOKEN)


def test_configured_path_is_used(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    rsps.post(BASE + "/custom/pay", json=mq_doc.BILLPAY_ACCEPTED)
    outcome = make_client(paths=Paths(billpay="/custom/pay")).pay_bill(payment())
    assert isinstance(outcome, Accepted)


def test_missing_sender_is_a_programmer_error(
    make_client: Callable[..., MobiquityClient],
) -> None:
    with pytest.raises(ConfigurationError):
        make_client(sender=None).pay_bill(payment())


# -- accepted ---------------------------------------------------------------------------------


def test_document_accepted_answer(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Accepted)
    assert outcome.order_id == "169647-825021-446643"
    assert outcome.order_status == "PENDING"
    assert outcome.code == "process.fulfilment"
    assert outcome.service_request_id == "96c7bed5-e9bf-4f5e-96a4-3eaed32bddd3"
    assert outcome.reference == mq_doc.REFERENCE


@pytest.mark.parametrize(
    "answer",
    [
        {"orderId": "1", "orderStatus": "PENDING"},
        {"orderId": "1", "orderStatus": "SUCCEEDED"},
        {"code": "process.fulfilment"},
        {"status": "SUCCEEDED", "orderId": "1"},
    ],
)
def test_each_acceptance_signal(
    answer: dict[str, Any],
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + PAY, json=answer)
    assert isinstance(client.pay_bill(payment()), Accepted)


# -- rejected ---------------------------------------------------------------------------------


def test_document_failed_answer_is_rejected_with_all_details(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_FAILED, status=400)
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Rejected)
    assert outcome.error_code == "Authen01"
    assert outcome.error_codes == ("AUTH03",)
    assert outcome.user_message == "Invalid credentials."
    assert outcome.order_id == "169647-832294-424111"
    assert outcome.order_status == "FAILED"
    assert outcome.trace_id == "79f0dc48-3ecb-441e-b70c-4adaab4d722c"
    assert outcome.http_status == 400


def test_failed_answer_with_status_only_in_body_is_rejected(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_FAILED, status=200)  # open point 0
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Rejected)
    assert outcome.error_code == "Authen01"


def test_insufficient_balance_is_rejected(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    answer = {
        **mq_doc.BILLPAY_FAILED,
        "errorCode": "TXN01",
        "errors": [{"code": "TXN01", "message": "Insufficient balance"}],
        "errorUserMsg": "Insufficient balance.",
    }
    rsps.post(BASE + PAY, json=answer, status=400)
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Rejected)
    assert (outcome.error_code, outcome.user_message) == ("TXN01", "Insufficient balance.")


@pytest.mark.parametrize("status", [401, 403])
def test_http_401_403_is_rejected_and_never_resent(
    status: int, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, json={"error": "invalid_token"}, status=status)
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Rejected)
    assert outcome.http_status == status
    assert len(calls_to(rsps, PAY)) == 1


def test_401_drops_the_cached_token_for_the_next_call(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, status=401)
    client.pay_bill(payment())
    client.system_token()
    assert len(calls_to(rsps, TOKEN)) == 2


def test_401_in_body_only_is_rejected(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, json={"httpErrorCode": "401", "message": "token expired"})
    assert isinstance(client.pay_bill(payment()), Rejected)


# -- unknown ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (500, json.dumps(mq_doc.BILLPAY_FAILED), "http_5xx"),  # even a FAILED envelope
        (502, "<html>Bad gateway</html>", "http_5xx"),
        (503, "", "http_5xx"),
        (504, "", "http_5xx"),
        (200, '{"httpErrorCode": "500", "status": "FAILED", "errorCode": "X"}', "http_5xx"),
        (200, '{"code": "process.fulfilment", "orderId": ', "bad_body"),  # truncated JSON
        (200, "", "bad_body"),
        (200, "[]", "bad_body"),
        (200, '{"message": "ok"}', "bad_body"),  # no acceptance signal
        (200, '{"code": "process.fulfilment", "orderId": 12345}', "bad_body"),  # orderId int
        (200, '{"orderStatus": "PENDING", "status": "FAILED", "errorCode": "X"}', "contradictory"),
        (200, '{"status": "FAILED"}', "bad_body"),  # FAILED without any error code
        (200, '{"orderStatus": "UNHEARD_OF"}', "bad_body"),
        (200, '{"amount": NaN}', "bad_body"),
        (200, '{"status": "FAILED", "errors": [{"code": 5}]}', "bad_body"),  # code not a string
        (200, '{"status": "FAILED", "errorCode": "X", "errors": "AUTH03"}', "bad_body"),
        (200, '{"status": "FAILED", "errorCode": "X", "errors": ["AUTH03"]}', "bad_body"),
        (200, '{"code": "process.fulfilment", "orderStatus": ["PENDING"]}', "bad_body"),
        (302, "", "bad_body"),
        (404, '{"message": "no route"}', "unexpected_status"),
        (429, '{"message": "slow down"}', "unexpected_status"),
    ],
)
def test_unknown_answers(
    status: int,
    body: str,
    kind: str,
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + PAY, body=body, status=status, content_type="application/json")
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Unknown), outcome
    assert outcome.kind == kind
    assert outcome.reference == mq_doc.REFERENCE
    assert len(calls_to(rsps, PAY)) == 1


def test_unexpected_shape_names_the_field(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, json={"code": "process.fulfilment", "orderId": 12345})
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Unknown)
    assert "orderId" in outcome.reason
    rsps.post(BASE + PAY, json={"status": "FAILED", "errors": [{"code": "A"}, {"message": 7}]})
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Unknown)
    assert "field errors[1].message" in outcome.reason


def test_redirect_is_not_followed(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, status=307, headers={"Location": BASE + "/elsewhere"})
    rsps.post(BASE + "/elsewhere", json=mq_doc.BILLPAY_ACCEPTED)
    assert isinstance(client.pay_bill(payment()), Unknown)
    assert not calls_to(rsps, "/elsewhere")


def test_5xx_is_never_retried_even_with_a_retry_policy(
    rsps: FakeHttp,
    token_ok: object,
    make_client: Callable[..., MobiquityClient],
    sleeps: Any,
) -> None:
    rsps.post(BASE + PAY, status=500)
    client = make_client(retries=RetryPolicy(attempts=10, sleep=sleeps))
    assert isinstance(client.pay_bill(payment()), Unknown)
    assert len(calls_to(rsps, PAY)) == 1
    assert sleeps.calls == []


# -- not sent ---------------------------------------------------------------------------------


def test_no_system_token_means_not_sent(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + TOKEN, status=503)
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, NotSent)
    assert outcome.kind == "token"
    assert not calls_to(rsps, PAY)


def test_refused_client_credentials_means_not_sent(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + TOKEN, status=401, json={"error": "invalid_client"})
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, NotSent)
    assert not calls_to(rsps, PAY)


# -- never raises, metrics hook ---------------------------------------------------------------


def test_an_unforeseen_exception_while_sending_is_unknown(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + PAY, body=RuntimeError("something odd in the stack"))
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Unknown)
    assert outcome.kind == "internal"


def test_on_call_reports_each_request(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    seen: list[tuple[str, str, float]] = []
    client = make_client(on_call=lambda e, o, s: seen.append((e, o, s)))
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    client.pay_bill(payment())
    assert [(e, o) for e, o, _ in seen] == [("token", "ok"), ("billpay", "accepted")]
    assert all(s >= 0 for _, _, s in seen)


def test_a_failing_on_call_hook_does_not_break_the_payment(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    def hook(endpoint: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics down")

    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    assert isinstance(make_client(on_call=hook).pay_bill(payment()), Accepted)


def test_log_line_carries_reference_and_mobiquity_ids(
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_FAILED, status=400)
    with caplog.at_level("INFO", logger="mobiquity_client"):
        client.pay_bill(payment())
    (line,) = [r for r in caplog.records if "endpoint=billpay" in r.getMessage()]
    text = line.getMessage()
    assert f"reference={mq_doc.REFERENCE}" in text
    assert "trace_id=79f0dc48-3ecb-441e-b70c-4adaab4d722c" in text
    assert "outcome=rejected" in text
    assert "latency_ms=" in text
    assert line.mobiquity["order_id"] == "169647-832294-424111"  # type: ignore[attr-defined]


# -- send-by: at once or not at all ------------------------------------------------------------


def test_a_payment_past_its_send_by_moment_never_leaves(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    """The caller claimed it promising to send at once or not at all: once its deadline on
    the client's monotonic clock has passed, the request does not leave (NotSent)."""
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    outcome = client.pay_bill(payment(), send_by=client._clock() - 0.001)
    assert isinstance(outcome, NotSent) and outcome.kind == "send_by"
    assert calls_to(rsps, PAY) == []
    sent = client.pay_bill(payment(), send_by=client._clock() + 60)
    assert isinstance(sent, Accepted)
    assert len(calls_to(rsps, PAY)) == 1
