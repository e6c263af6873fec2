"""A person signs in with an OTP in a real browser: sandbox + portal under gunicorn + Chromium.

Debian's Chromium (``/usr/bin/chromium``) driven by Playwright for Python (pinned in
constraints.txt); never a downloaded browser. Screenshots of the login and OTP pages are
saved under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import SHOTS, chromium_page, portal_for


@pytest.fixture
def portal_server(database_url: str, redis_url: str, sandbox, tmp_path: Path) -> Iterator[str]:
    """The portal under real gunicorn (two workers) on a free port, pointed at the sandbox."""
    # The demo superadmin must be registered with us (as `make run` does).
    with portal_for(database_url, redis_url, sandbox, tmp_path, superadmin="superadmin") as base:
        yield base


def test_sign_in_with_otp_reaches_the_dashboard(portal_server: str, sandbox) -> None:
    from playwright.sync_api import expect

    # chromium_page: afterwards, the strict CSP blocked nothing the pages need.
    with chromium_page(viewport={"width": 1280, "height": 800}) as page:
        page.goto(portal_server + "/")
        expect(page).to_have_url(portal_server + "/login")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.locator(".navbar-brand")).to_contain_text("GrameenPhone · Bulk Bill Payment")
        page.get_by_label("Login ID").fill("superadmin")
        page.get_by_label("Password").fill("Super@123")
        page.screenshot(path=str(SHOTS / "login.png"), full_page=True)
        page.get_by_role("button", name="Sign in").click()

        expect(page.get_by_role("heading", name="Enter your one-time password")).to_be_visible()
        otp = sandbox.otp("superadmin")
        page.get_by_label("One-time password (OTP)").fill(otp)
        page.screenshot(path=str(SHOTS / "otp.png"), full_page=True)
        page.get_by_role("button", name="Continue").click()

        expect(page).to_have_url(portal_server + "/")
        expect(page.get_by_test_id("role")).to_have_text("You are signed in as superadmin.")
        nav = page.get_by_role("navigation", name="Main")
        # the superadmin's pages sit in one menu, so the bar stays one line high
        page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
        assert nav.bounding_box()["height"] < 80
        nav.get_by_test_id("admin-menu").click()
        expect(nav.get_by_role("link", name="Users")).to_be_visible()
        expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
        page.screenshot(path=str(SHOTS / "dashboard-admin-menu.png"))
        nav.get_by_test_id("admin-menu").click()
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        expect(page.get_by_role("button", name="Menu")).to_be_visible()
        page.screenshot(path=str(SHOTS / "dashboard-phone.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1280, "height": 800})

        # The cookie holds only an id, and JavaScript cannot read it.
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["bbp_session"]["httpOnly"] is True
        assert cookies["bbp_session"]["sameSite"] == "Lax"
        assert page.evaluate("document.cookie") == ""

        page.get_by_test_id("user-menu").click()
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(portal_server + "/login")
        expect(page.get_by_text("You have signed out.")).to_be_visible()

        page.get_by_role("link", name="বাংলা").click()
        expect(page.get_by_role("heading", name="সাইন ইন")).to_be_visible()
        page.evaluate("document.fonts.ready.then(() => true)")  # our Bengali font
        assert page.evaluate("document.fonts.check('16px \"BBP Bengali\"', 'সাইন')")
        page.screenshot(path=str(SHOTS / "login-bn.png"), full_page=True)
        # no horizontal scrolling on a phone
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert (SHOTS / "login.png").stat().st_size > 5000
    assert (SHOTS / "otp.png").stat().st_size > 5000
