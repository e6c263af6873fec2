"""Safe by default, in a real browser against the whole system: an admin pays with a step-up
(a wrong password first, then the right one — Mobiquity asks ``admin01`` no OTP), then makes
a request over the per-request limit, which waits; a superadmin approves it with a step-up
(password, then the OTP Mobiquity sends, read from the sandbox). Both requests are paid.

The portal under gunicorn, a scheduler and a communicator, RabbitMQ (a vhost of its own),
MariaDB (a database of its own), Redis and the Mobiquity sandbox; Debian's Chromium driven
by Playwright. Approvals and step-up run with their defaults, except a per-request limit
chosen from the seeded bills so that one request is under it and the other above it.
Screenshots: ``test-artifacts/screenshots/approve-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import billers, bills, payments
from tests.support.browser import SHOTS, chromium_page, serving, sign_in, sign_out, whole_system
from tests.support.pipeline import Pipeline, seed_fetched_bills

#: One bill each (a consumer id ending in 1 has exactly one).
ACCOUNTS = [
    ("DSCO", "64300001"),
    ("JGDCL", "64300011"),
    ("DSCO", "64300021"),
    ("JGDCL", "64300031"),
]


def _totals(pipe: Pipeline, ids: list[int]) -> dict[int, Decimal]:
    """What each bill would be paid: its amount, plus its service charge where the biller
    says so (as the confirmation page counts)."""
    with pipe.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                bills.c.id, bills.c.amount, bills.c.service_charge, billers.c.pays_service_charge
            )
            .join(billers, billers.c.utility_code == bills.c.utility_code)
            .where(bills.c.id.in_(ids))
        ).all()
    return {r.id: r.amount + (r.service_charge if r.pays_service_charge else 0) for r in rows}


@pytest.fixture
def stack(servers, mobiquity_sandbox, redis_url: str, tmp_path: Path) -> Iterator[dict]:
    with whole_system(servers, mobiquity_sandbox) as pipe:
        found = seed_fetched_bills(pipe, ACCOUNTS)
        ids = [bill_id for account in ACCOUNTS for bill_id in found[account]]
        totals = _totals(pipe, ids)
        # The smallest bill goes straight (after a step-up); the three others together
        # are above the limit (they include the largest bill, which is the limit itself).
        small = min(ids, key=lambda i: totals[i])
        large = sorted(i for i in ids if i != small)
        limit = max(totals.values())
        assert sum(totals[i] for i in large) > limit >= totals[small]
        pipe.add_users(admin01="admin", superadmin="superadmin")
        with serving(pipe, redis_url, tmp_path, BBP_APPROVAL_THRESHOLD=str(limit)) as portal:
            yield {
                "base": portal.base,
                "pipeline": pipe,
                "sandbox": pipe.sandbox,
                "small": small,
                "large": large,
                "totals": totals,
            }


def test_pay_with_a_step_up_then_approve_with_a_step_up(stack: dict) -> None:
    from playwright.sync_api import expect

    base, sandbox, pipe = stack["base"], stack["sandbox"], stack["pipeline"]
    small, large = stack["small"], stack["large"]
    with chromium_page(viewport={"width": 1280, "height": 800}) as page:
        sign_in(page, "admin01", at=base + "/")
        expect(page.get_by_test_id("user-menu")).to_be_visible()

        # --- pay: the confirmation asks for a step-up before the pay button appears
        page.goto(f"{base}/payments/new?scope=ids&ids={small}")
        expect(page.locator("#confirm-count")).to_have_text("1")
        expect(page.locator("#confirm-pay")).to_have_count(0)
        expect(page.locator("#step-up-needed")).to_be_visible()
        page.screenshot(path=str(SHOTS / "approve-confirm-step-up.png"), full_page=True)
        page.locator("#confirm-step-up").click()
        expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        expect(page.locator("#step-up-purpose")).to_contain_text("pay the bills")
        page.get_by_label("Password").fill("Wrong@123")
        page.locator("#step-up-continue").click()
        expect(page.get_by_text("That password is not correct.")).to_be_visible()
        page.get_by_label("Password").fill("Admin@123")
        page.locator("#step-up-continue").click()
        expect(page.locator("#step-up-fresh")).to_be_visible()
        page.screenshot(path=str(SHOTS / "approve-confirm-stepped-up.png"), full_page=True)
        page.locator("#confirm-pay").click()
        expect(page.get_by_role("heading", name="Payment request")).to_be_visible()
        expect(page.locator("#request-state")).to_have_text("finished", timeout=90_000)
        expect(page.locator('[data-bucket="posted"]')).to_have_text("1")

        # --- over the per-request limit: sent for approval, no step-up asked of the maker
        page.goto(f"{base}/payments/new?scope=ids&ids={','.join(map(str, large))}")
        expect(page.locator("#confirm-over-request-limit")).to_be_visible()
        expect(page.locator("#confirm-step-up")).to_have_count(0)
        page.locator("#confirm-pay").click()
        expect(page.locator("#request-state")).to_have_text("awaiting approval")
        expect(page.locator("#maker-note")).to_be_visible()
        waiting_url = page.url

        sign_out(page)

        # --- a superadmin (Mobiquity asks an OTP) approves it with a step-up
        sign_in(page, "superadmin", sandbox=sandbox)
        expect(page.get_by_test_id("user-menu")).to_be_visible()
        page.goto(waiting_url)
        page.locator("#decide").click()
        expect(page.locator('#approve-reasons [data-reason="request_limit"]')).to_be_visible()
        expect(page.locator("#approve-count")).to_have_text(str(len(large)))
        expect(page.locator("#approve")).to_have_count(0)
        page.screenshot(path=str(SHOTS / "approve-needs-step-up.png"), full_page=True)
        page.locator("#approve-step-up").click()
        page.get_by_label("Password").fill("Super@123")
        page.locator("#step-up-continue").click()
        expect(page.get_by_role("heading", name="Enter your one-time password")).to_be_visible()
        expect(page.locator("#step-up-purpose")).to_contain_text("approve payment request")
        page.get_by_label("One-time password (OTP)").fill(sandbox.otp("superadmin"))
        page.locator("#step-up-otp-continue").click()
        expect(page.locator("#step-up-fresh")).to_be_visible()
        page.get_by_label("Comment").fill("Budget for the quarter; checked the bills")
        page.screenshot(path=str(SHOTS / "approve-stepped-up.png"), full_page=True)
        page.locator("#approve").click()
        expect(page.locator("#request-state")).to_have_text("finished", timeout=90_000)
        expect(page.locator('[data-bucket="posted"]')).to_have_text(str(len(large)))
        page.screenshot(path=str(SHOTS / "approve-finished.png"), full_page=True)

    # The ledger agrees: every payment posted, each sent once.
    with pipe.engine.connect() as conn:
        done = conn.execute(sa.select(payments.c.reference_id, payments.c.state)).all()
    assert sorted(state for _, state in done) == ["posted"] * (1 + len(large))
    for reference, _state in done:
        assert len(sandbox.ledger(reference=reference)) == 1, reference
