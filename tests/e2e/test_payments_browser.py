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

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import account_groups, bill_account_groups, payments
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, portal_under_gunicorn
from tests.support.pipeline import Pipeline, create_database, drop_database, new_vhost

GROUP = "Head office"
#: One bill each (a consumer id ending in 1 has exactly one); the last one's billpay fails
#: before processing, so its payment ends uncleared.
ACCOUNTS = [("DSCO", "64100001"), ("JGDCL", "64100011"), ("DESCO", "64100021")]
UNCLEARED = ("DSCO", "99040031")


@pytest.fixture
def stack(servers, mobiquity_sandbox, redis_url: str, tmp_path: Path) -> Iterator[dict]:
    if not servers.rabbitmqctl:
        pytest.skip("needs rabbitmqctl to make a vhost of its own")
    sandbox = mobiquity_sandbox
    sandbox.reset()
    sandbox.configure(base_latency_ms=20)
    name = f"bbp_e2e_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    with new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url:
        pipe = Pipeline(url, amqp_url, sandbox)
        try:
            pipe.seed_billers()
            ids = pipe.add_accounts([*ACCOUNTS, UNCLEARED])
            with pipe.engine.begin() as conn:
                gid = conn.execute(sa.insert(account_groups).values(name=GROUP)).lastrowid
                conn.execute(
                    sa.insert(bill_account_groups),
                    [{"bill_account_id": i, "group_id": gid} for i in ids],
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO users (login_id, email, role, created_by) VALUES "
                        "('admin01', 'admin01@bbp.example', 'admin', 'e2e'), "
                        "('superadmin', 'superadmin@bbp.example', 'superadmin', 'e2e')"
                    )
                )
            pipe.start("scheduler", BBP_MOBIQUITY_RATE_LIMIT="8")
            pipe.start("communicator")
            with portal_under_gunicorn(
                database_url=url,
                amqp_url=amqp_url,
                redis_url=redis_url,
                sandbox=sandbox,
                tmp_path=tmp_path,
                BBP_PAYER_LABEL="GP wallet 01711000123",
                # Step-up has its own browser test (test_approvals_browser.py).
                BBP_STEP_UP="false",
            ) as portal:
                yield {"base": portal.base, "pipeline": pipe, "sandbox": sandbox}
        finally:
            pipe.stop_all()
            pipe.engine.dispose()
    drop_database(servers.db_url(), name)


def test_pay_found_bills_watch_one_end_uncleared_resolve_it_and_find_it(stack: dict) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, sandbox, pipe = stack["base"], stack["sandbox"], stack["pipeline"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            # an admin signs in for real and fetches the group's pending bills
            page.goto(base + "/")
            page.get_by_label("Login ID").fill("admin01")
            page.get_by_label("Password").fill("Admin@123")
            page.get_by_role("button", name="Sign in").click()
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
            uncleared = page.locator('#payments tr:has(span[data-state]:text-is("uncleared"))')
            expect(uncleared).to_have_count(1)
            reference = uncleared.get_attribute("data-reference")
            assert reference and len(reference) == 20
            page.screenshot(path=str(SHOTS / "pay-finished.png"), full_page=True)

            # a superadmin (with an OTP) resolves it from the needs-attention page
            page.get_by_test_id("user-menu").click()
            page.get_by_role("button", name="Sign out").click()
            page.get_by_label("Login ID").fill("superadmin")
            page.get_by_label("Password").fill("Super@123")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Enter your one-time password")).to_be_visible()
            page.get_by_label("One-time password (OTP)").fill(sandbox.otp("superadmin"))
            page.get_by_role("button", name="Continue").click()
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
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()

    # the ledger agrees: three paid once each, the uncleared one never processed
    with pipe.engine.connect() as conn:
        done = conn.execute(sa.select(payments.c.reference_id, payments.c.state)).all()
    assert sorted(state for _, state in done) == ["failed", "posted", "posted", "posted"]
    for ref, state in done:
        expected = 1 if state == "posted" else 0
        assert len(sandbox.ledger(reference=ref)) == expected, (ref, state)
    for shot in ("pay-pending", "pay-confirm", "pay-finished", "pay-attention", "pay-found"):
        assert (SHOTS / f"{shot}.png").stat().st_size > 5000
