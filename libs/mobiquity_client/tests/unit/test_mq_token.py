"""system_token(): client credentials, cached, renewed before expiry, thread-safe."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import mq_doc
import pytest
from mq_fake import FakeHttp
from mq_helpers import BASE, CLIENT_ID, CLIENT_SECRET, calls_to

from mobiquity_client import (
    AuthPolicy,
    ClientCredentialsRejected,
    MobiquityClient,
    MobiquityUnavailable,
    UnexpectedResponse,
)

pytestmark = pytest.mark.unit

TOKEN = "/mobiquitypay/oauth/token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_request_is_client_credentials_with_basic_auth(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    assert client.system_token() == mq_doc.TOKEN["access_token"]
    (call,) = calls_to(rsps, TOKEN)
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert call.request.headers["Authorization"] == f"Basic {expected}"
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(call.request.body.decode()) == {"grant_type": ["client_credentials"]}


def test_cached_until_shortly_before_expiry(
    rsps: FakeHttp, make_client: Callable[..., MobiquityClient]
) -> None:
    clock = FakeClock()
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "access_token": "t1", "expires_in": 299})
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "access_token": "t2", "expires_in": 299})
    client = make_client(clock=clock, auth=AuthPolicy(renew_margin_seconds=30))
    assert client.system_token() == "t1"
    clock.now += 268  # 299 - 30 - 1: still inside the lifetime minus the margin
    assert client.system_token() == "t1"
    assert len(calls_to(rsps, TOKEN)) == 1
    clock.now += 2  # past expiry - margin: renewed before it expires
    assert client.system_token() == "t2"
    assert len(calls_to(rsps, TOKEN)) == 2


def test_margin_is_at_most_half_the_lifetime(
    rsps: FakeHttp, make_client: Callable[..., MobiquityClient]
) -> None:
    clock = FakeClock()
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "expires_in": 10})
    client = make_client(clock=clock, auth=AuthPolicy(renew_margin_seconds=30))
    client.system_token()
    clock.now += 4
    client.system_token()
    assert len(calls_to(rsps, TOKEN)) == 1  # a 30 s margin would renew on every call
    clock.now += 2
    client.system_token()
    assert len(calls_to(rsps, TOKEN)) == 2


def test_invalidate(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    client.system_token()
    client.invalidate_system_token()
    client.system_token()
    assert len(calls_to(rsps, TOKEN)) == 2


def test_concurrent_callers_make_one_token_request(rsps: FakeHttp, client: MobiquityClient) -> None:
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()

    def slow_token(_request: object) -> tuple[int, dict[str, str], str]:
        nonlocal in_flight, max_in_flight
        with lock:
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
        time.sleep(0.2)
        with lock:
            in_flight -= 1
        return 200, {"Content-Type": "application/json"}, '{"access_token": "t", "expires_in": 299}'

    rsps.add_callback("POST", BASE + TOKEN, callback=slow_token)
    barrier = threading.Barrier(16)
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        results.append(client.system_token())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["t"] * 16
    assert len(calls_to(rsps, TOKEN)) == 1
    assert max_in_flight == 1


@pytest.mark.parametrize("status", [400, 401, 403])
def test_refused_credentials(status: int, rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + TOKEN, status=status, json={"error": "invalid_client"})
    with pytest.raises(ClientCredentialsRejected) as err:
        client.system_token()
    assert err.value.http_status == status
    assert "invalid_client" in str(err.value)
    assert len(calls_to(rsps, TOKEN)) == 1  # a refusal is not retried


def test_5xx_is_retried(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + TOKEN, status=503)
    rsps.post(BASE + TOKEN, json=mq_doc.TOKEN)
    assert client.system_token() == mq_doc.TOKEN["access_token"]
    assert len(calls_to(rsps, TOKEN)) == 2


def test_5xx_retries_exhausted(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + TOKEN, status=500)
    with pytest.raises(MobiquityUnavailable):
        client.system_token()
    assert len(calls_to(rsps, TOKEN)) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token_type": "bearer", "expires_in": 299}, "access_token"),
        ({"access_token": "t"}, "expires_in"),
        ({"access_token": "t", "expires_in": "soon"}, "expires_in"),
        ({"access_token": "", "expires_in": 299}, "access_token"),
    ],
)
def test_odd_token_answers_name_the_field(
    body: dict[str, object], field: str, rsps: FakeHttp, client: MobiquityClient
) -> None:
    rsps.post(BASE + TOKEN, json=body)
    with pytest.raises(UnexpectedResponse) as err:
        client.system_token()
    assert err.value.field == field
