"""One log line per call: INFO when fine, WARNING otherwise, carrying what the answer meant
(bills found, enquiry result, billpay outcome) — and none built when the level is off."""

from __future__ import annotations

import logging

import mq_doc
import pytest
from mq_fake import FakeHttp
from mq_helpers import BASE, payment

from mobiquity_client import MobiquityClient, UnexpectedResponse

pytestmark = pytest.mark.unit

FETCH = "/extensibility/fetchPendingBillsFormAggregator"
PAY = "/jigsaw/v1/order/billpay"
ENQ = f"/jigsaw/v1/order/enquiry/{mq_doc.REFERENCE}"


def _lines(caplog: pytest.LogCaptureFixture, endpoint: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "mobiquity_client" and f"endpoint={endpoint} " in r.getMessage()
    ]


def one_line(
    caplog: pytest.LogCaptureFixture, endpoint: str, level: int, *parts: str
) -> logging.LogRecord:
    """The one log line of a call to ``endpoint``: at ``level``, saying each of ``parts``."""
    (line,) = _lines(caplog, endpoint)
    assert line.levelno == level
    for part in parts:
        assert part in line.getMessage(), line.getMessage()
    return line


@pytest.fixture
def info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="mobiquity_client")
    return caplog


def test_fetch_one_line_with_the_bills_found(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient, info: pytest.LogCaptureFixture
) -> None:
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_SEVERAL_BILLS, content_type="application/json")
    client.fetch_pending_bills("DSCO", "17021270", "9810036587")
    line = one_line(info, "fetch", logging.INFO, "outcome=ok", "consumer_id=17021270")
    assert line.mobiquity["bills"] == 2  # type: ignore[attr-defined]


def test_fetch_malformed_answer_one_warning_naming_the_field(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient, info: pytest.LogCaptureFixture
) -> None:
    body = mq_doc.FETCH_SEVERAL_BILLS.replace('"amount": 220.10', '"amount": 220.105')
    rsps.post(BASE + FETCH, body=body, content_type="application/json")
    with pytest.raises(UnexpectedResponse):
        client.fetch_pending_bills("DSCO", "17021270", "9810036587")
    one_line(info, "fetch", logging.WARNING, "outcome=bad_body", "field=bill_list[1].amount")


def test_fetch_refused_one_warning(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient, info: pytest.LogCaptureFixture
) -> None:
    rsps.post(BASE + FETCH, json=mq_doc.FETCH_CONSUMER_ID_EMPTY, status=422)
    with pytest.raises(Exception):  # noqa: B017 - ConsumerIdRequired, tested elsewhere
        client.fetch_pending_bills("DSCO", "", "9810036587")
    one_line(info, "fetch", logging.WARNING, "outcome=refused")


def test_enquiry_one_line_with_its_result(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient, info: pytest.LogCaptureFixture
) -> None:
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found("SUCCEEDED"))
    client.enquire_payment(mq_doc.REFERENCE)
    found = ("result=EnquirySucceeded", "order_id=169647-825021-446643")
    one_line(info, "enquiry", logging.INFO, f"reference={mq_doc.REFERENCE}", *found)


def test_enquiry_after_a_refused_token_one_line_per_request(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient, info: pytest.LogCaptureFixture
) -> None:
    rsps.get(BASE + ENQ, json=mq_doc.UNAUTHORIZED_ENVELOPE, status=401)
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found("PENDING"))
    client.enquire_payment(mq_doc.REFERENCE)
    first, second = _lines(info, "enquiry")
    assert first.levelno == logging.WARNING
    assert "http_status=401" in first.getMessage()
    assert "result=EnquiryPending" in second.getMessage()


def test_billpay_one_line(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient, info: pytest.LogCaptureFixture
) -> None:
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    client.pay_bill(payment())
    one_line(info, "billpay", logging.INFO, "outcome=accepted")


def test_nothing_is_built_when_the_level_is_off(
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.WARNING, logger="mobiquity_client")
    built: list[object] = []
    real_log = logging.Logger.log

    def spy(self: logging.Logger, level: int, msg: object, *args: object, **kw: object) -> None:
        built.append(msg)
        real_log(self, level, msg, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(logging.Logger, "log", spy)
    rsps.post(BASE + PAY, json=mq_doc.BILLPAY_ACCEPTED)
    rsps.get(BASE + ENQ, json=mq_doc.enquiry_found("SUCCEEDED"))
    client.pay_bill(payment())
    client.enquire_payment(mq_doc.REFERENCE)
    assert built == []
