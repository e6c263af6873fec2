"""enquire_payment: the assumed contract (decisions.md §1), its mapping and the hook."""

from __future__ import annotations

import json
from collections.abc import Callable

import mq_doc
import mq_fake
import pytest
from mq_fake import FakeHttp
from mq_helpers import BASE, SleepRecorder, calls_to

import mobiquity_client as mq
from mobiquity_client import MobiquityClient, Paths, RetryPolicy

pytestmark = pytest.mark.unit

REF = mq_doc.REFERENCE
ENQ = f"/jigsaw/v1/order/enquiry/{REF}"
TOKEN = "/mobiquitypay/oauth/token"


def test_get_with_reference_in_path_and_bearer(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found("SUCCEEDED"))
    client.enquire_payment(REF)
    (call,) = calls_to(rsps, ENQ)
    assert call.request.method == "GET"
    assert call.request.headers["Authorization"] == "Bearer " + mq_doc.TOKEN["access_token"]


def test_succeeded(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found("SUCCEEDED"))
    outcome = client.enquire_payment(REF)
    assert outcome == mq.EnquirySucceeded(
        REF, "169647-825021-446643", "SUCCEEDED", "96c7bed5-e9bf-4f5e-96a4-3eaed32bddd3"
    )


def test_failed_keeps_mobiquity_error(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.get(
        BASE + ENQ,
        json=mq_doc.enquiry_found(
            "FAILED", errorCode="TXN01", errorUserMsg="Insufficient balance."
        ),
    )
    outcome = client.enquire_payment(REF)
    assert isinstance(outcome, mq.EnquiryFailed)
    assert (outcome.error_code, outcome.user_message) == ("TXN01", "Insufficient balance.")


@pytest.mark.parametrize("status", ["PENDING", "INPROGRESS"])
def test_pending(status: str, rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found(status))
    outcome = client.enquire_payment(REF)
    assert isinstance(outcome, mq.EnquiryPending)
    assert outcome.order_status == status


@pytest.mark.parametrize("http_status", [404, 200])  # open point 0
def test_not_found(
    http_status: int, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.get(BASE + ENQ, json=mq_doc.ENQUIRY_NOT_FOUND, status=http_status)
    outcome = client.enquire_payment(REF)
    assert isinstance(outcome, mq.EnquiryNotFound)
    assert outcome.error_code == "Generic05"
    assert len(calls_to(rsps, ENQ)) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, ""),  # a bare 404 (wrong path, proxy) is NOT "not found"
        (404, "<html>Not Found</html>"),
        (404, '{"message": "Not Found"}'),
        (400, json.dumps(mq_doc.ERROR_INVALID_VALUE)),
        (200, json.dumps(mq_doc.enquiry_found("REVERSED"))),  # unmapped status
        (200, json.dumps({"status": "SUCCEEDED", "orderId": "1"})),  # no orderStatus
        (200, json.dumps(mq_doc.enquiry_found("SUCCEEDED", orderId=17))),  # orderId a number
        (200, json.dumps(mq_doc.enquiry_found("SUCCEEDED", errors={"code": "x"}))),
        (200, json.dumps({**mq_doc.enquiry_found("SUCCEEDED"), "externalReferenceId": "OTHER"})),
        (200, "{not json"),
        (200, json.dumps({"orderStatus": 7})),
        (302, ""),
    ],
)
def test_unknown(
    status: int,
    body: str,
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.get(BASE + ENQ, body=body, status=status, content_type="application/json")
    outcome = client.enquire_payment(REF)
    assert isinstance(outcome, mq.EnquiryUnknown), outcome
    assert outcome.reference == REF


@pytest.mark.parametrize(
    "failure",
    [{"status": 500}, {"status": 503}, {"body": mq_fake.read_timeout()}],
)
def test_transient_failures_retried_then_unknown(
    failure: dict[str, object],
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
    sleeps: SleepRecorder,
) -> None:
    rsps.get(BASE + ENQ, **failure)  # type: ignore[arg-type]
    outcome = client.enquire_payment(REF)
    assert isinstance(outcome, mq.EnquiryUnknown)
    assert len(calls_to(rsps, ENQ)) == 3
    assert len(sleeps.calls) == 2


def test_transient_failure_then_answer(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.get(BASE + ENQ, status=502)
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found("SUCCEEDED"))
    assert isinstance(client.enquire_payment(REF), mq.EnquirySucceeded)


def test_no_retry_policy(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    rsps.get(BASE + ENQ, body=mq_fake.read_timeout())
    outcome = make_client(retries=RetryPolicy.none()).enquire_payment(REF)
    assert isinstance(outcome, mq.EnquiryUnknown)
    assert outcome.kind == "read_timeout"
    assert len(calls_to(rsps, ENQ)) == 1


def test_token_unavailable_is_unknown(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + TOKEN, status=401, json={"error": "invalid_client"})
    outcome = client.enquire_payment(REF)
    assert isinstance(outcome, mq.EnquiryUnknown)
    assert outcome.kind == "token"


def test_401_renews_token_once(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "access_token": "old"})
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "access_token": "new"})
    rsps.get(BASE + ENQ, status=401)
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found("PENDING"))
    assert isinstance(client.enquire_payment(REF), mq.EnquiryPending)
    assert [c.request.headers["Authorization"] for c in calls_to(rsps, ENQ)] == [
        "Bearer old",
        "Bearer new",
    ]


def test_reference_is_url_quoted(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.get(BASE + "/jigsaw/v1/order/enquiry/A%2FB%20C", json=mq_doc.enquiry_found("PENDING"))
    outcome = client.enquire_payment("A/B C")
    # the echoed externalReferenceId is another reference: unknown, but the path was right
    assert isinstance(outcome, mq.EnquiryUnknown)
    assert len(rsps.calls) == 2


def test_configured_post_contract_and_path(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    contract = mq.EnquiryContract(
        method="POST",
        reference_body_field="partnerRef",
        status_field="txnStatus",
        succeeded=frozenset({"TS"}),
        failed=frozenset({"TF"}),
        pending=frozenset({"TI", "TA"}),
    )
    client = make_client(paths=Paths(enquiry="/report/txn"), enquiry=contract)
    rsps.post(BASE + "/report/txn", json={"partnerRef": REF, "txnStatus": "TF", "orderId": "9"})
    outcome = client.enquire_payment(REF)
    assert isinstance(outcome, mq.EnquiryFailed)
    (call,) = calls_to(rsps, "/report/txn")
    assert json.loads(call.request.body) == {"partnerRef": REF}


def test_mapper_hook_takes_over_and_can_fall_back(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    seen: list[mq.EnquiryAnswer] = []

    def mapper(answer: mq.EnquiryAnswer) -> mq.EnquiryOutcome | None:
        seen.append(answer)
        if isinstance(answer.body, dict) and answer.body.get("state") == "DONE":
            return mq.EnquirySucceeded(answer.reference, None, "DONE")
        return None  # fall back to the default mapping

    client = make_client(enquiry=mq.EnquiryContract(mapper=mapper))
    rsps.get(BASE + ENQ, json={"state": "DONE"})
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found("FAILED"))
    assert client.enquire_payment(REF) == mq.EnquirySucceeded(REF, None, "DONE")
    assert isinstance(client.enquire_payment(REF), mq.EnquiryFailed)
    assert [a.http_status for a in seen] == [200, 200]
