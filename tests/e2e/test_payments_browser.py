"""An admin pays the bills a fetch found, one payment ends uncleared, a superadmin resolves
it and finds it again by its reference id — in a real browser, against the whole system.

Everything is real and a process of its own: the portal under gunicorn (two workers), a
scheduler and a communicator (``tests.support.pipeline``, short enquiry schedule), RabbitMQ
(a vhost of its own), MariaDB (a database of its own), Redis, and the Mobiquity sandbox,
whose consumer ids starting ``9904`` answer billpay with HTTP 500 before processing — so
that payment is ambiguous, every enquiry finds nothing, and it ends ``uncleared``. Debian's
Chromium driven by Playwright. Screenshots go to ``test-artifacts/screenshots/pay-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import payments
from tests.support.browser import SHOTS, chromium_page, serving, sign_in, sign_out, whole_system

GROUP = "Head office"
#: One bill each (a consumer id ending in 1 has exactly one); the last one's billpay fails
#: before processing, so its payment ends uncleared.
ACCOUNTS = [("DSCO", "64100001"), ("JGDCL", "64100011"), ("DESCO", "64100021")]
UNCLEARED = ("DSCO", "99040031")


@pytest.fixture
def stack(servers, mobiquity_sandbox, redis_url: str, tmp_path: Path) -> Iterator[dict]:
    with whole_system(servers, mobiquity_sandbox) as pipe:
        ids = pipe.add_accounts([*ACCOUNTS, UNCLEARED])
        pipe.group_accounts(GROUP, ids)
        pipe.add_users(admin01="admin", superadmin="superadmin")
        # Step-up has its own browser test (test_approvals_browser.py).
        with serving(pipe, redis_url, tmp_path, BBP_STEP_UP="false") as portal:
            yield {"base": portal.base, "pipeline": pipe, "sandbox": pipe.sandbox}


def test_pay_found_bills_watch_one_end_uncleared_resolve_it_and_find_it(stack: dict) -> None:
    from playwright.sync_api import expect

    base, sandbox, pipe = stack["base"], stack["sandbox"], stack["pipeline"]
    with chromium_page(viewport={"width": 1366, "height": 900}) as page:
        # an admin signs in for real and fetches the group's pending bills
        sign_in(page, "admin01", at=base + "/")
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Bill accounts", exact=True
        ).click()
        page.get_by_role("link", name="Groups").click()
        page.locator(f'[data-fetch-group="{GROUP}"]').click()
        page.get_by_role("button", name="Fetch bills of 4 accounts").click()
        expect(page.locator("#request-state")).to_have_text("finished", timeout=60_000)

        # from the finished fetch: its bills, ticked, to the confirmation page
        page.reload()
        page.locator("#pay-found").click()
        expect(page.locator("#pending tbody tr[data-bill]")).to_have_count(4)
        page.locator("[data-bbp-tick-page]").check()
        page.screenshot(path=str(SHOTS / "pay-pending.png"), full_page=True)
        page.locator("#pay-ticked").click()
        expect(page.locator("#confirm-count")).to_have_text("4")
        expect(page.locator("#confirm-payer")).to_have_text("GP wallet ********123")
        expect(page.locator("#confirm-billers tbody tr")).to_have_count(3)
        page.screenshot(path=str(SHOTS / "pay-confirm.png"), full_page=True)
        page.locator("#confirm-pay").click()

        # the payment request's page follows the payments without reloading
        expect(page.get_by_role("heading", name="Payment request")).to_be_visible()
        url = page.url
        expect(page.locator("#request-state")).to_have_text("finished", timeout=90_000)
        expect(page.locator('[data-bucket="uncleared"]')).to_have_text("1")
        expect(page.locator('[data-bucket="posted"]')).to_have_text("3")
        assert page.url == url
        page.reload()
        uncleared = page.locator('#payments tr:has(span[data-state="uncleared"])')
        expect(uncleared).to_have_count(1)
        reference = uncleared.get_attribute("data-reference")
        assert reference and len(reference) == 20
        page.screenshot(path=str(SHOTS / "pay-finished.png"), full_page=True)

        # a superadmin (with an OTP) resolves it from the needs-attention page
        sign_out(page)
        sign_in(page, "superadmin", sandbox=sandbox)
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Needs attention", exact=True
        ).click()
        expect(page.locator("#troubled tbody tr[data-request]")).to_have_count(1)
        page.screenshot(path=str(SHOTS / "pay-attention.png"), full_page=True)
        # a superadmin's longer menu wraps instead of pushing the page sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        page.locator("#troubled tbody tr[data-request] a").click()
        page.locator(f'tr[data-reference="{reference}"]').get_by_role(
            "link", name="Resolve"
        ).click()
        expect(page.locator("#payment-reference")).to_have_text(reference)
        page.get_by_label("Comment").fill("Not in Mobiquity's transaction report")
        page.screenshot(path=str(SHOTS / "pay-resolve.png"), full_page=True)
        page.locator("#resolve-not-paid").click()
        # the confirm step says what "not paid" does before anything changes
        expect(page.locator("#resolve-effect")).to_contain_text("paid twice")
        page.locator("#resolve-confirm").click()
        expect(page.locator("#payment-state")).to_have_text("failed")
        expect(page.locator("#resolved-by")).to_contain_text("superadmin")

        # … and finds it again by its reference id
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Find a payment", exact=True
        ).click()
        page.get_by_role("searchbox").fill(reference.lower())
        page.get_by_role("button", name="Find").click()
        found = page.locator("#found tbody tr[data-payment]")
        expect(found).to_have_count(1)
        expect(found).to_contain_text(reference)
        expect(found).to_contain_text("failed")
        page.screenshot(path=str(SHOTS / "pay-found.png"), full_page=True)

    # the ledger agrees: three paid once each, the uncleared one never processed
    with pipe.engine.connect() as conn:
        done = conn.execute(sa.select(payments.c.reference_id, payments.c.state)).all()
    assert sorted(state for _, state in done) == ["failed", "posted", "posted", "posted"]
    for ref, state in done:
        expected = 1 if state == "posted" else 0
        assert len(sandbox.ledger(reference=ref)) == expected, (ref, state)
    for shot in ("pay-pending", "pay-confirm", "pay-finished", "pay-attention", "pay-found"):
        assert (SHOTS / f"{shot}.png").stat().st_size > 5000
