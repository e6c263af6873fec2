"""What a transport failure proves: NotSent only when the billpay provably never left.

Two levels: the exception chains requests/urllib3 really build (constructed here exactly as
``requests.adapters.HTTPAdapter.send`` wraps them), and real sockets misbehaving on cue.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from http.client import IncompleteRead, RemoteDisconnected

import mq_doc
import pytest
import requests
import responses
from mq_helpers import BASE, calls_to, payment
from mq_sockets import FullBacklog, MisbehavingServer, unused_port
from urllib3.connection import HTTPConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from mobiquity_client import (
    AuthPolicy,
    EnquiryUnknown,
    MobiquityClient,
    MobiquityUnavailable,
    NotSent,
    RetryPolicy,
    Timeouts,
    Unknown,
    classify_exception,
)
from mobiquity_client.transport import make_session

pytestmark = pytest.mark.unit

URL = "/jigsaw/v1/order/billpay"
_CONN = HTTPConnection("mobiquity.test", 80)


def _max_retry(reason: Exception) -> MaxRetryError:
    return MaxRetryError(None, URL, reason)  # type: ignore[arg-type]


def _reset() -> ConnectionResetError:
    return ConnectionResetError(104, "Connection reset by peer")


# -- the exception chains ---------------------------------------------------------------------

NEVER_SENT = {
    "name_resolution": lambda: requests.ConnectionError(
        _max_retry(
            NameResolutionError("mobiquity.test", _CONN, socket.gaierror(-2, "Name unknown"))
        )
    ),
    "connection_refused": lambda: requests.ConnectionError(
        _max_retry(
            NewConnectionError(_CONN, "Failed to establish a new connection: [Errno 111] refused")
        )
    ),
    "connect_timeout": lambda: requests.ConnectTimeout(
        _max_retry(ConnectTimeoutError(_CONN, "Connection to mobiquity.test timed out."))
    ),
}

MAY_HAVE_BEEN_SENT = {
    # a pooled keep-alive connection that died after the request was written (POST: urllib3
    # re-raises the read error as is, requests wraps it)
    "stale_keepalive_post": (
        lambda: requests.ConnectionError(
            ProtocolError(
                "Connection aborted.",
                RemoteDisconnected("Remote end closed connection without response"),
            )
        ),
        "connection_lost",
    ),
    # the same on a GET: urllib3 reports it through MaxRetryError
    "stale_keepalive_get": (
        lambda: requests.ConnectionError(
            _max_retry(
                ProtocolError(
                    "Connection aborted.",
                    RemoteDisconnected("Remote end closed connection without response"),
                )
            )
        ),
        "connection_lost",
    ),
    "reset": (
        lambda: requests.ConnectionError(ProtocolError("Connection aborted.", _reset())),
        "connection_lost",
    ),
    "reset_via_max_retry": (
        lambda: requests.ConnectionError(
            _max_retry(ProtocolError("Connection aborted.", _reset()))
        ),
        "connection_lost",
    ),
    "read_timeout": (
        lambda: requests.ReadTimeout(
            ReadTimeoutError(None, URL, "Read timed out. (read timeout=15)")  # type: ignore[arg-type]
        ),
        "read_timeout",
    ),
    # a timeout while reading the body: requests raises ConnectionError(ReadTimeoutError)
    "read_timeout_in_body": (
        lambda: requests.ConnectionError(
            ReadTimeoutError(None, URL, "Read timed out.")  # type: ignore[arg-type]
        ),
        "read_timeout",
    ),
    "truncated_body": (
        lambda: requests.exceptions.ChunkedEncodingError(
            ProtocolError("Response ended prematurely", IncompleteRead(b"{", 99))
        ),
        "connection_lost",
    ),
    "ssl": (
        lambda: requests.exceptions.SSLError(_max_retry(SSLError("EOF occurred in violation"))),
        "ssl",
    ),
    # a proxy that could not be reached: not provably our request's fate, stay conservative
    "proxy": (
        lambda: requests.exceptions.ProxyError(
            _max_retry(ProxyError("Unable to connect to proxy", NewConnectionError(_CONN, "x")))
        ),
        "transport",
    ),
    "plain_oserror": (lambda: requests.ConnectionError(OSError("boom")), "transport"),
}


@pytest.mark.parametrize("kind", sorted(NEVER_SENT))
def test_never_sent_chains_are_recognised(kind: str) -> None:
    failure = classify_exception(NEVER_SENT[kind]())
    assert failure.never_sent is True
    assert failure.kind == kind


@pytest.mark.parametrize("name", sorted(MAY_HAVE_BEEN_SENT))
def test_chains_after_sending_are_not_never_sent(name: str) -> None:
    make, kind = MAY_HAVE_BEEN_SENT[name]
    failure = classify_exception(make())
    assert failure.never_sent is False
    assert failure.kind == kind


def test_new_connection_error_deeper_in_the_chain_does_not_count() -> None:
    # Only the direct urllib3 reason decides; a NewConnectionError seen in some context of an
    # error raised after sending must not turn the failure into "never sent".
    try:
        try:
            raise NewConnectionError(_CONN, "refused")
        except NewConnectionError:
            raise ProtocolError("Connection aborted.", _reset()) from None
    except ProtocolError as inner:
        exc = requests.ConnectionError(inner)
    assert classify_exception(exc).never_sent is False


@pytest.mark.parametrize("kind", sorted(NEVER_SENT))
def test_pay_bill_not_sent_for_never_sent_chains(
    kind: str, rsps: responses.RequestsMock, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + URL, body=NEVER_SENT[kind]())
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, NotSent)
    assert outcome.kind == kind
    assert outcome.reference == mq_doc.REFERENCE
    assert len(calls_to(rsps, URL)) == 1


@pytest.mark.parametrize("name", sorted(MAY_HAVE_BEEN_SENT))
def test_pay_bill_unknown_for_chains_after_sending(
    name: str, rsps: responses.RequestsMock, token_ok: object, client: MobiquityClient
) -> None:
    make, kind = MAY_HAVE_BEEN_SENT[name]
    rsps.post(BASE + URL, body=make())
    outcome = client.pay_bill(payment())
    assert isinstance(outcome, Unknown)
    assert outcome.kind == kind
    assert len(calls_to(rsps, URL)) == 1  # never retried


def test_idempotent_calls_see_never_sent_too(
    rsps: responses.RequestsMock, make_client: Callable[..., MobiquityClient]
) -> None:
    rsps.post(BASE + "/mobiquitypay/oauth/token", body=NEVER_SENT["connection_refused"]())
    client = make_client(retries=RetryPolicy.none())
    with pytest.raises(MobiquityUnavailable) as err:
        client.system_token()
    assert err.value.never_sent is True
    assert err.value.kind == "connection_refused"


# -- urllib3 never retries --------------------------------------------------------------------


def test_adapter_never_retries(client: MobiquityClient) -> None:
    adapter = client._session.get_adapter(BASE + URL)
    retry = adapter.max_retries  # type: ignore[attr-defined]
    assert (retry.total, retry.connect, retry.read, retry.status, retry.redirect, retry.other) == (
        0,
        0,
        0,
        0,
        0,
        0,
    )


def test_a_callers_session_gets_the_no_retry_adapter() -> None:
    session = requests.Session()  # its default adapter would be Retry(0, read=False)
    session.mount("http://", requests.adapters.HTTPAdapter(max_retries=5))
    client = MobiquityClient(BASE, "id", "secret", session=session)
    assert session.get_adapter(BASE + URL).max_retries.total == 0  # type: ignore[attr-defined]
    # other hosts keep the caller's adapter
    assert session.get_adapter("http://elsewhere.test/").max_retries.total == 5  # type: ignore[attr-defined]
    client.close()


def test_the_default_session_refuses_cookies(rsps: responses.RequestsMock) -> None:
    session = make_session(2)
    rsps.get(BASE + "/x", headers={"Set-Cookie": "SESSION=user-a; Path=/"})
    session.get(BASE + "/x")
    assert len(session.cookies) == 0


# -- real sockets -----------------------------------------------------------------------------


def _socket_client(base_url: str, *, read: float = 1.0, connect: float = 1.0) -> MobiquityClient:
    # Retries generously enabled: pay_bill must still send once.
    return MobiquityClient(
        base_url,
        "id",
        "secret",
        sender=__import__("mobiquity_client").PayerWallet("01755555555", "97531"),
        timeouts=Timeouts(connect=connect, read=read),
        retries=RetryPolicy(attempts=5, sleep=lambda _s: None),
        auth=AuthPolicy(system_token_for=frozenset()),
    )


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


def test_socket_stale_keepalive_connection_dying_after_the_request_is_unknown() -> None:
    # First payment answered on a keep-alive connection; the second reuses the pooled
    # connection, is written, and the server closes without answering. requests raises the
    # same ConnectionError class as for a refused connection: it must still be Unknown, and
    # urllib3 must not silently resend it on a fresh connection.
    with MisbehavingServer(["ok", "close"]) as server:
        client = _socket_client(server.url)
        first = client.pay_bill(payment("REF00000000000000001"))
        second = client.pay_bill(payment("REF00000000000000002"))
        time.sleep(0.1)
        assert first.__class__.__name__ == "Accepted"
        assert isinstance(second, Unknown)
        assert second.kind == "connection_lost"
        assert [r.connection for r in server.received] == [1, 1]  # reused, not resent
        assert server.connections == 1


def test_socket_connection_closed_while_idle_is_replaced_before_sending() -> None:
    # The server closed the idle keep-alive connection (FIN) before our next request: urllib3
    # notices before writing anything and opens a new connection. That is not a retry.
    with MisbehavingServer(["ok_then_fin", "ok"]) as server:
        client = _socket_client(server.url)
        client.pay_bill(payment("REF00000000000000001"))
        time.sleep(0.2)
        second = client.pay_bill(payment("REF00000000000000002"))
        assert second.__class__.__name__ == "Accepted"
        assert [r.connection for r in server.received] == [1, 2]


def test_socket_idempotent_enquiry_is_retried_by_policy_only() -> None:
    with MisbehavingServer(["close", "close"]) as server:
        client = _socket_client(server.url)
        client_no_retry = MobiquityClient(
            server.url,
            "id",
            "secret",
            retries=RetryPolicy.none(),
            auth=AuthPolicy(system_token_for=frozenset()),
        )
        outcome = client_no_retry.enquire_payment(mq_doc.REFERENCE)
        time.sleep(0.1)
        assert isinstance(outcome, EnquiryUnknown)
        assert outcome.kind == "connection_lost"
        assert len(server.received) == 1  # no urllib3 retry of the GET either
        # with the policy's retries the third request gets the server's default answer
        client.enquire_payment(mq_doc.REFERENCE)
        assert len(server.received) == 3
