"""deviceInfo from the browser: User-Agent parsing, lengths, the device-id cookie."""

from __future__ import annotations

import pytest

from bbp_portal.device import DEVICE_COOKIE, describe_user_agent

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Mobile Safari/537.36"
)


@pytest.mark.parametrize(
    ("agent", "browser", "model", "os"),
    [
        (CHROME_WINDOWS, "Chrome 120", "Desktop - Windows 10", "Windows 10"),
        (IPHONE, "Mobile Safari 17", "Apple iPhone", "iOS 17"),
        (ANDROID, "Chrome Mobile 119", "Samsung SM-S918B", "Android 14"),
        ("", "", "Desktop", ""),
        ("curl/8.5.0", "curl 8", "Desktop", ""),
    ],
)
def test_user_agent_becomes_browser_model_and_os(agent, browser, model, os):
    seen = describe_user_agent(agent)
    assert (seen.browser, seen.model, seen.os) == (browser, model, os)


def test_every_part_fits_mobiquity_limits():
    monster = "Mozilla/5.0 (" + "X" * 5000 + ") " + "Y" * 5000
    seen = describe_user_agent(monster)
    assert len(seen.browser) <= 50 and len(seen.model) <= 150 and len(seen.os) <= 20


def test_device_info_sent_to_mobiquity_comes_from_the_browser(unit_portal):
    from bbp_portal.directory import UserRecord
    from tests.support.portal import FakeAccount, post_form

    captured = {}
    portal = unit_portal(
        users=[UserRecord("admin01", "a@bbp.example", "admin")],
        accounts={"admin01": FakeAccount("Admin@123")},
    )
    original = portal.mobiquity.login

    def spy(login_id, password, device):
        captured["device"] = device
        return original(login_id, password, device)

    portal.mobiquity.login = spy  # type: ignore[method-assign]
    client = portal.client()
    client.environ_base["HTTP_USER_AGENT"] = CHROME_WINDOWS
    client.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    post_form(client, "/login", {"login_id": "admin01", "password": "Admin@123"})
    device = captured["device"]
    assert device.browser == "Chrome 120"
    assert device.os == "Windows 10"
    assert device.model == "Desktop - Windows 10"
    assert device.provider_ip_address == "10.1.2.3"
    assert device.device_id == client.get_cookie(DEVICE_COOKIE).value
    assert device.is_public_device is False


def test_device_id_cookie_is_stable_and_long_lived(unit_portal):
    client = unit_portal().client()
    first = client.get("/login")
    cookie = client.get_cookie(DEVICE_COOKIE)
    assert cookie is not None and len(cookie.value) == 32
    set_cookie = next(h for h in first.headers.getlist("Set-Cookie") if h.startswith(DEVICE_COOKIE))
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Max-Age=63072000" in set_cookie
    again = client.get("/login")
    assert not [h for h in again.headers.getlist("Set-Cookie") if h.startswith(DEVICE_COOKIE)]
    assert client.get_cookie(DEVICE_COOKIE).value == cookie.value


def test_a_forged_device_cookie_is_replaced(unit_portal):
    client = unit_portal().client()
    client.set_cookie(DEVICE_COOKIE, "<script>" + "x" * 100)
    client.get("/login")
    assert len(client.get_cookie(DEVICE_COOKIE).value) == 32


def test_forwarded_client_ip_is_trusted_only_behind_configured_proxies(unit_portal):
    from bbp_portal.device import client_ip

    seen: dict[str, str] = {}
    for count, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = unit_portal(trusted_proxy_count=count).app

        @app.get("/__ip")
        def ip():  # type: ignore[no-untyped-def]
            seen["ip"] = client_ip()
            return "ok"

        app.view_functions["ip"].__bbp_public__ = True
        app.test_client().get("/__ip", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
        assert seen["ip"] == expected
