"""The shared session reads proxy and CA settings from the environment once, not per call."""

from __future__ import annotations

import pytest

from mobiquity_client.transport import make_session


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


def test_a_proxy_from_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = make_session(4, "https://mobiquity.example")
    assert session.trust_env is False  # not re-read on every call …
    assert session.proxies["https"] == "http://proxy.example:3128"  # … but still used


def test_no_proxy_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "mobiquity.example")
    session = make_session(4, "https://mobiquity.example")
    assert "https" not in session.proxies


def test_a_ca_bundle_from_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/mobiquity.pem")
    session = make_session(4, "https://mobiquity.example")
    assert session.verify == "/etc/ssl/mobiquity.pem"
