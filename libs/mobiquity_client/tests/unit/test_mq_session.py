"""The transport reads proxy and CA settings from the environment once, when it is built."""

from __future__ import annotations

import pytest
from mq_helpers import payment
from mq_sockets import MisbehavingServer

from mobiquity_client import AuthPolicy, MobiquityClient, PayerWallet, RetryPolicy
from mobiquity_client.transport import HttpTransport


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


def _transport(base_url: str = "https://mobiquity.example") -> HttpTransport:
    return HttpTransport(base_url, pool_size=4, connect_timeout=1, read_timeout=1)


def test_a_proxy_from_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    transport = _transport()
    monkeypatch.delenv("HTTPS_PROXY")  # read once, when built
    assert transport.proxy == "http://proxy.example:3128"
    assert transport.pool.proxy is not None
    assert transport.pool.proxy.host == "proxy.example"


def test_no_proxy_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "mobiquity.example")
    transport = _transport()
    assert transport.proxy is None
    assert transport.pool.proxy is None


def test_no_proxy_without_settings() -> None:
    assert _transport().proxy is None


def test_a_ca_bundle_from_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/mobiquity.pem")
    transport = _transport()
    assert transport.ca_certs == "/etc/ssl/mobiquity.pem"
    assert transport.pool.ca_certs == "/etc/ssl/mobiquity.pem"  # type: ignore[attr-defined]


def test_https_trusts_certifi_by_default() -> None:
    # the trust requests gave this client before the switch to urllib3
    import certifi

    assert _transport().ca_certs == certifi.where()
    assert _transport("http://mobiquity.example").ca_certs is None


def test_calls_really_go_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The misbehaving server plays an HTTP proxy: it must see the absolute URL of the call.
    with MisbehavingServer([]) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        client = MobiquityClient(
            "http://mobiquity.example/base",
            "id",
            "secret",
            sender=PayerWallet("01755555555", "97531"),
            retries=RetryPolicy.none(),
            auth=AuthPolicy(system_token_for=frozenset()),
        )
        assert client.pay_bill(payment()).__class__.__name__ == "Accepted"
        client.close()
        assert [r.path for r in proxy.received] == [
            "http://mobiquity.example/base/jigsaw/v1/order/billpay"
        ]
