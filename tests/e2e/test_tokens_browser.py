"""An admin makes an API token in a real browser (issue 18): the token pages ask for a step-up
(the password again, through Mobiquity's login — the sandbox asks ``Aman01`` no OTP), show the
token once, list it without it, and revoke it; a machine uses it meanwhile.

The portal under gunicorn (two workers) against the run's MariaDB and Redis and the Mobiquity
sandbox; Debian's Chromium driven by Playwright. Screenshots:
``test-artifacts/screenshots/tokens-*.png``.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import SHOTS, chromium_page, portal_for, sign_in

LOGIN, PASSWORD = "Aman01", "Com@1357"


@pytest.fixture
def portal_server(database_url: str, redis_url: str, sandbox, tmp_path: Path) -> Iterator[str]:
    with portal_for(database_url, redis_url, sandbox, tmp_path, **{LOGIN: "admin"}) as base:
        yield base


def call(base: str, token: str) -> tuple[int, dict]:
    """What a machine client gets from GET /api/v1/session with this token."""
    request = urllib.request.Request(
        base + "/api/v1/session", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_an_admin_makes_a_token_after_a_step_up_sees_it_once_and_revokes_it(
    portal_server: str, sandbox
) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    base = portal_server
    with chromium_page(viewport={"width": 1280, "height": 800}) as page:
        sign_in(page, LOGIN, at=base + "/login")
        expect(page).to_have_url(base + "/")

        page.get_by_test_id("user-menu").click()
        page.get_by_test_id("my-tokens").click()
        expect(page.get_by_role("heading", name="My API tokens")).to_be_visible()
        page.get_by_role("link", name="Make a token").click()
        expect(page.get_by_role("heading", name="Make an API token")).to_be_visible()
        # No form before the step-up: only "Confirm it is you".
        expect(page.locator("#token-form")).to_have_count(0)
        page.screenshot(path=str(SHOTS / "tokens-new.png"), full_page=True)
        page.get_by_role("link", name="Confirm it is you").click()

        expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        expect(page.locator("#step-up-purpose")).to_contain_text("make an API token")
        page.get_by_label("Password").fill("Wrong@123")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_text("That password is not correct.")).to_be_visible()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Continue").click()

        expect(page.locator("#step-up-fresh")).to_be_visible()
        page.get_by_label("Name").fill("nightly fetch")
        page.get_by_label("Expires after (days, 1 to 30)").fill("7")
        page.get_by_role("button", name="Make the token").click()

        expect(page.get_by_role("heading", name="Your new API token")).to_be_visible()
        expect(page.locator("#shown-once")).to_contain_text("it is shown this once")
        token = page.locator("#token-secret").input_value()
        assert re.fullmatch(r"bbp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        page.screenshot(path=str(SHOTS / "tokens-created.png"), full_page=True)

        # A machine uses it: no cookie, no CSRF token, the user's role.
        status, me = call(base, token)
        assert status == 200 and me["login_id"] == LOGIN and me["via"] == "token"

        page.get_by_role("link", name="I have copied it").click()
        row = page.locator(f'tr[data-token-id="{token.split("_")[1]}"]')
        expect(row).to_contain_text("nightly fetch")
        expect(row.locator("[data-last-used]")).not_to_have_text("never")
        expect(page.locator("body")).not_to_contain_text(token.split("_", 2)[2])
        page.screenshot(path=str(SHOTS / "tokens-list.png"), full_page=True)

        # Shown once: going back does not show it again (the page was no-store and came
        # from a POST: the browser keeps no copy and does not resend the form by itself).
        try:
            page.go_back()
        except PlaywrightError as refused:
            assert "ERR_CACHE_MISS" in str(refused)
        page.wait_for_load_state()
        expect(page.locator("#token-secret")).to_have_count(0)
        expect(page.locator("body")).not_to_contain_text(token.split("_", 2)[2])

        page.goto(base + "/tokens/")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("row").filter(has_text="nightly fetch").get_by_role(
            "button", name="Revoke"
        ).click()
        expect(page.get_by_text("is revoked: it no longer works.")).to_be_visible()
        expect(row).to_contain_text("revoked")
        status, refused = call(base, token)
        assert status == 401 and refused["error"]["code"] == "token_revoked"

        page.get_by_role("link", name="বাংলা").click()
        expect(page.get_by_role("heading", name="আমার এপিআই টোকেন")).to_be_visible()
        page.evaluate("document.fonts.ready.then(() => true)")  # our Bengali font
        page.screenshot(path=str(SHOTS / "tokens-list-bn.png"), full_page=True)
    assert (SHOTS / "tokens-created.png").stat().st_size > 5000
