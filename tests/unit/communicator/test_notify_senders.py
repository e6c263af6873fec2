"""How the SMS request is built from settings, and which answers are transient or permanent
(the HTTP gateway faked with ``responses``; SMTP errors classified)."""

from __future__ import annotations

import json
import smtplib

import pytest
import responses

from bbp_communicator.notify import Permanent, SmsSender, Transient, _smtp_error
from bbp_communicator.notify_settings import NotifySenderSettings

URL = "https://sms.example.test/api/send"


def sender(**overrides) -> SmsSender:
    values = {"sms_gateway_url": URL, "sms_gateway_token": "tok-123", "sms_sender": "GP"}
    values.update(overrides)
    return SmsSender(NotifySenderSettings(**values))


@responses.activate
def test_json_fields_from_the_template_with_the_token_in_a_field():
    responses.post(URL, json={"status": "SUCCESS"})
    sender().send("01711000000", "hello", "nid-1")
    body = json.loads(responses.calls[0].request.body)
    assert body == {
        "api_token": "tok-123",
        "sid": "GP",
        "msisdn": "8801711000000",
        "sms": "hello",
        "csms_id": "nid-1",
    }


@responses.activate
def test_query_format_with_a_bearer_token_and_a_nested_success_field():
    responses.get(URL, json={"result": {"code": "0"}})
    sender(
        sms_gateway_method="GET",
        sms_gateway_format="query",
        sms_gateway_auth="bearer",
        sms_gateway_fields=json.dumps({"to": "{to_local}", "msg": "{text}"}),
        sms_gateway_success_field="result.code",
        sms_gateway_success_value="0",
    ).send("01711000000", "hi there", "nid-2")
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert "to=01711000000" in request.url and "msg=hi+there" in request.url


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
@responses.activate
def test_server_trouble_is_transient(status):
    responses.post(URL, status=status, json={})
    with pytest.raises(Transient):
        sender().send("01711000000", "x", "n")


@responses.activate
def test_a_refusal_is_permanent_and_says_what_the_gateway_said_without_the_token():
    responses.post(
        URL, json={"status": "FAILED", "error_message": "Invalid MSISDN", "api_token": "tok-123"}
    )
    with pytest.raises(Permanent) as caught:
        sender().send("01711000000", "x", "n")
    assert "Invalid MSISDN" in str(caught.value) and "tok-123" not in str(caught.value)
    responses.post(URL, status=400, json={})
    with pytest.raises(Permanent):
        sender().send("01711000000", "x", "n")


def test_unreachable_gateway_is_transient_and_the_error_has_no_query_string():
    s = sender(
        sms_gateway_url="http://127.0.0.1:9/send",
        sms_gateway_format="query",
        sms_gateway_timeout=1,
    )
    with pytest.raises(Transient) as caught:
        s.send("01711000000", "x", "n")
    assert "tok-123" not in str(caught.value) and "msisdn" not in str(caught.value)


def test_smtp_errors():
    assert isinstance(_smtp_error(ConnectionRefusedError()), Transient)
    assert isinstance(_smtp_error(smtplib.SMTPDataError(421, b"busy")), Transient)
    assert isinstance(_smtp_error(smtplib.SMTPDataError(554, b"no")), Permanent)
    refused = smtplib.SMTPRecipientsRefused({"a@b.c": (550, b"no such user")})
    assert isinstance(_smtp_error(refused), Permanent)
    greylisted = smtplib.SMTPRecipientsRefused({"a@b.c": (450, b"try later")})
    assert isinstance(_smtp_error(greylisted), Transient)
    assert isinstance(_smtp_error(smtplib.SMTPAuthenticationError(535, b"bad")), Transient)


def test_settings_refuse_a_fields_template_that_is_not_a_json_object():
    with pytest.raises(ValueError):
        NotifySenderSettings(sms_gateway_fields="[1, 2]")
