"""What a transport failure proves: NotSent only when the billpay provably never left.

Two levels: the exceptions urllib3 2.x really raises (built here as urllib3 builds them; the
client sends with ``retries=False``, so urllib3 raises the error it met as is — and a pool
with ``Retry(total=0)`` would wrap it in ``MaxRetryError``), and real sockets misbehaving on
cue, where nothing is faked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http.client import BadStatusLine

import mq_doc
import mq_fake
import pytest
from mq_fake import FakeHttp
from mq_helpers import BASE, calls_to, payment
from mq_sockets import FullBacklog, MisbehavingServer, unused_port
from urllib3.exceptions import MaxRetryError, ProtocolError, ProxyError, SSLError

from mobiquity_client import (
    Accepted,
    AuthPolicy,
    EnquiryUnknown,
    MobiquityClient,
    MobiquityUnavailable,
    NotSent,
    PayerWallet,
    RetryPolicy,
    Timeouts,
    Unknown,
    classify_exception,
)

pytestmark = pytest.mark.unit

URL = "/jigsaw/v1/order/billpay"


def _max_retry(reason: Exception) -> MaxRetryError:
    return MaxRetryError(None, URL, reason)  # type: ignore[arg-type]


# -- the exceptions -------------------------------------------------------------------------------

NEVER_SENT = {
    "name_resolution": mq_fake.name_resolution_error,
    "connection_refused": mq_fake.refused,
    "connect_timeout": mq_fake.connect_timeout,
}

MAY_HAVE_BEEN_SENT = {
    # a pooled keep-alive connection that died after the request was written
    "stale_keepalive": (mq_fake.remote_disconnected, "connection_lost"),
    # the same, as a pool with Retry(total=0) reports it on a GET
    "stale_keepalive_via_max_retry": (
        lambda: _max_retry(mq_fake.remote_disconnected()),
        "connection_lost",
    ),
    "reset": (mq_fake.reset, "connection_lost"),
    "reset_via_max_retry": (lambda: _max_retry(mq_fake.reset()), "connection_lost"),
    "read_timeout": (mq_fake.read_timeout, "read_timeout"),
    "truncated_body": (mq_fake.truncated_body, "connection_lost"),
    "bad_status_line": (
        lambda: ProtocolError("Connection aborted.", BadStatusLine("garbage")),
        "connection_lost",
    ),
    "ssl": (lambda: SSLError("EOF occurred in violation of protocol"), "ssl"),
    # a proxy that could not be reached: not provably our request's fate, stay conservative
    "proxy": (
        lambda: ProxyError("Unable to connect to proxy", mq_fake.refused()),
        "transport",
    ),
    "proxy_via_max_retry": (
        lambda: _max_retry(ProxyError("Unable to connect to proxy", mq_fake.refused())),
        "transport",
    ),
    "plain_oserror": (lambda: OSError("boom"), "transport"),
}


@pytest.mark.parametrize("kind", sorted(NEVER_SENT))
@pytest.mark.parametrize("wrapped", [False, True])
def test_never_sent_errors_are_recognised(kind: str, wrapped: bool) -> None:
    error: Exception = NEVER_SENT[kind]()
    failure = classify_exception(_max_retry(error) if wrapped else error)
    assert failure.never_sent is True
    assert failure.kind == kind


@pytest.mark.parametrize("name", sorted(MAY_HAVE_BEEN_SENT))
def test_errors_after_sending_are_not_never_sent(name: str) -> None:
    make, kind = MAY_HAVE_BEEN_SENT[name]
    failure = classify_exception(make())
    assert failure.never_sent is False
    assert failure.kind == kind


def test_new_connection_error_deeper_in_the_chain_does_not_count() -> None:
    # Only the raised error (or a MaxRetryError's direct reason) decides; a
    # NewConnectionError seen in some context of an error raised after sending must not turn
    # the failure into "never sent".
    for wrap in (lambda e: e, _max_retry):
        try:
            try:
                raise mq_fake.refused()
            except Exception:
                raise mq_fake.reset() from None
        except ProtocolError as inner:
            exc = wrap(inner)
        assert classify_exception(exc).never_sent is False


@pytest.mark.parametrize("kind", sorted(NEVER_SENT))
def test_pay_bill_not_sent_for_never_sent_errors(
    kind: str, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + URL, body=NEVER_SENT[kind]())
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, NotSent)
    assert outcome.kind == kind
    assert outcome.reference == mq_doc.REFERENCE
    assert len(calls_to(rsps, URL)) == 1


@pytest.mark.parametrize("name", sorted(MAY_HAVE_BEEN_SENT))
def test_pay_bill_unknown_for_errors_after_sending(
    name: str, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    make, kind = MAY_HAVE_BEEN_SENT[name]
    rsps.post(BASE + URL, body=make())
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Unknown)
    assert outcome.kind == kind
    assert len(calls_to(rsps, URL)) == 1  # never retried


def test_idempotent_calls_see_never_sent_too(
    rsps: FakeHttp, make_client: Callable[..., MobiquityClient]
) -> None:
    rsps.post(BASE + "/mobiquitypay/oauth/token", body=mq_fake.refused())
    client = make_client(retries=RetryPolicy.none())
    with pytest.raises(MobiquityUnavailable) as err:
        client.system_token()
    assert err.value.never_sent is True
    assert err.value.kind == "connection_refused"


# -- real sockets ---------------------------------------------------------------------------------


def _enquiring_client(base_url: str) -> MobiquityClient:
    # No retries, no system token, no payer wallet: enough to enquire.
    return MobiquityClient(
        base_url,
        "id",
        "secret",
        retries=RetryPolicy.none(),
        auth=AuthPolicy(system_token_for=frozenset()),
    )


def _socket_client(base_url: str, *, read: float = 1.0, connect: float = 1.0) -> MobiquityClient:
    # Retries generously enabled: pay_bill must still send once.
    return MobiquityClient(
        base_url,
        "id",
        "secret",
        sender=PayerWallet("01755555555", "97531"),
        timeouts=Timeouts(connect=connect, read=read),
        retries=RetryPolicy(attempts=5, sleep=lambda _s: None),
        auth=AuthPolicy(system_token_for=frozenset()),
    )


def test_the_pool_never_retries_by_default_either() -> None:
    client = _socket_client("http://127.0.0.1:9")
    retry = client._transport.pool.retries
    assert (retry.total, retry.connect, retry.read, retry.status, retry.redirect, retry.other) == (
        0,
        0,
        0,
        0,
        0,
        0,
    )
    client.close()


def test_socket_nothing_listening_is_not_sent() -> None:
    client = _socket_client(f"http://127.0.0.1:{unused_port()}")
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, NotSent)
    assert outcome.kind == "connection_refused"


def test_socket_unresolvable_host_is_not_sent() -> None:
    client = _socket_client("http://no-such-host.invalid")
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, NotSent)
    assert outcome.kind == "name_resolution"


def test_socket_connect_timeout_is_not_sent() -> None:
    backlog = FullBacklog()
    try:
        client = _socket_client(backlog.url, connect=0.3)
        started = time.monotonic()
        outcome = client.pay_bill(payment())
        assert isinstance(outcome, NotSent)
        assert outcome.kind == "connect_timeout"
        assert time.monotonic() - started < 2  # one attempt, no retry
    finally:
        backlog.close()


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [("close", "connection_lost"), ("rst", "connection_lost"), ("hang", "read_timeout")],
)
def test_socket_failures_after_sending_are_unknown_and_sent_once(behaviour: str, kind: str) -> None:
    with MisbehavingServer([behaviour]) as server:
        client = _socket_client(server.url, read=0.5)
        outcome = client.pay_bill(payment())
        time.sleep(0.1)
        assert isinstance(outcome, Unknown), outcome
        assert outcome.kind == kind
        assert len(server.received) == 1
        assert server.received[0].path == URL
        assert server.connections == 1


def test_socket_body_stalling_after_headers_is_unknown() -> None:
    with MisbehavingServer(["headers_then_stall"]) as server:
        client = _socket_client(server.url, read=0.5)
        outcome = client.pay_bill(payment())
        assert isinstance(outcome, Unknown)
        assert outcome.kind == "read_timeout"
        assert len(server.received) == 1


@pytest.mark.parametrize("behaviour", ["close", "rst"])
def test_socket_answer_dropped_on_a_reused_keepalive_connection_is_unknown(
    behaviour: str,
) -> None:
    # The first payment is answered on a keep-alive connection; the second reuses the pooled
    # connection, is written, and the server reads it and then closes (or resets) without
    # answering. That must be Unknown — never NotSent — and urllib3 must not silently send it
    # again on a fresh connection.
    with MisbehavingServer(["ok", behaviour]) as server:
        client = _socket_client(server.url)
        first = client.pay_bill(payment("REF00000000000000001"))
        second = client.pay_bill(payment("REF00000000000000002"))
        time.sleep(0.1)
        assert isinstance(first, Accepted)
        assert isinstance(second, Unknown), second
        assert second.kind == "connection_lost"
        assert [r.connection for r in server.received] == [1, 1]  # reused, not resent
        assert server.connections == 1
        # the dead connection is not reused: the next call opens a new one
        third = client.pay_bill(payment("REF00000000000000003"))
        assert isinstance(third, Accepted)
        assert [r.connection for r in server.received] == [1, 1, 2]


def test_socket_enquiry_dropped_on_a_reused_connection_is_unknown_not_never_sent() -> None:
    with MisbehavingServer(["ok", "close"]) as server:
        client = _enquiring_client(server.url)
        client.enquire_payment(mq_doc.REFERENCE)
        outcome = client.enquire_payment(mq_doc.REFERENCE)
        assert isinstance(outcome, EnquiryUnknown)
        assert outcome.kind == "connection_lost"
        assert [r.connection for r in server.received] == [1, 1]


def test_socket_connection_closed_while_idle_is_replaced_before_sending() -> None:
    # The server closed the idle keep-alive connection (FIN) before our next request: urllib3
    # notices before writing anything and opens a new connection. That is not a retry.
    with MisbehavingServer(["ok_then_fin", "ok"]) as server:
        client = _socket_client(server.url)
        client.pay_bill(payment("REF00000000000000001"))
        time.sleep(0.2)
        second = client.pay_bill(payment("REF00000000000000002"))
        assert isinstance(second, Accepted)
        assert [r.connection for r in server.received] == [1, 2]


def test_socket_idempotent_enquiry_is_retried_by_policy_only() -> None:
    with MisbehavingServer(["close", "close"]) as server:
        client = _socket_client(server.url)
        client_no_retry = _enquiring_client(server.url)
        outcome = client_no_retry.enquire_payment(mq_doc.REFERENCE)
        time.sleep(0.1)
        assert isinstance(outcome, EnquiryUnknown)
        assert outcome.kind == "connection_lost"
        assert len(server.received) == 1  # no urllib3 retry of the GET either
        # with the policy's retries the third request gets the server's default answer
        client.enquire_payment(mq_doc.REFERENCE)
        assert len(server.received) == 3


@pytest.mark.parametrize(("behaviour", "status"), [("redirect", 302), ("unavailable", 503)])
def test_socket_no_redirect_followed_and_no_status_retry(behaviour: str, status: int) -> None:
    with MisbehavingServer([behaviour]) as server:
        client = _socket_client(server.url)
        outcome = client.pay_bill(payment())
        assert isinstance(outcome, Unknown)
        assert outcome.http_status == status
        assert [r.path for r in server.received] == [URL]


def test_socket_cookies_are_never_sent_back() -> None:
    # One user's answer setting a cookie must not ride on the next call of the shared client.
    with MisbehavingServer(["ok_set_cookie", "ok"]) as server:
        client = _socket_client(server.url)
        client.pay_bill(payment("REF00000000000000001"))
        client.pay_bill(payment("REF00000000000000002"))
        assert len(server.received) == 2
        assert "cookie" not in server.received[1].headers


def test_socket_one_request_line_per_call_with_keepalive() -> None:
    with MisbehavingServer([]) as server:
        client = _socket_client(server.url)
        for n in range(5):
            client.pay_bill(payment(f"REF0000000000000000{n}"))
        assert server.connections == 1  # one pooled connection, kept alive
        request = server.received[0]
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("mobiquity-client")
        assert int(request.headers["content-length"]) == len(request.body)
