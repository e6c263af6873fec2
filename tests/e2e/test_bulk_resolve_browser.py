"""Bulk resolution in a real browser (issue 18): a superadmin ticks several uncleared payments,
says they were paid with one comment, confirms after a step-up (the password again through
the sandbox's Mobiquity login; ``admin01`` is asked no OTP) and sees them resolved; a payment
that is not uncleared, sent along by "another page" (``ids``), is named as refused.

The portal under gunicorn against a database of its own, the run's Redis and the Mobiquity
sandbox; no scheduler or communicator (the payments are made uncleared through the payment
store, as the pipeline leaves them). Screenshots: ``test-artifacts/screenshots/bulk-*.png``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import payments
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from tests.support.browser import SHOTS, chromium_page, portal_for, sign_in
from tests.support.payments import make_uncleared, seed_billers, seed_bills
from tests.support.pipeline import create_database, drop_database


@pytest.fixture
def stack(servers, sandbox, redis_url: str, tmp_path: Path) -> Iterator[dict]:
    name = f"bbp_e2e_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    engine = sa.create_engine(url)
    try:
        seed_billers(engine)
        bill_ids = seed_bills(engine, [("DSCO", "100.00"), ("DSCO", "200.00"), ("DSCO", "300.00")])
        created = operations.create_payment(
            engine,
            Actor("maker01", "admin"),
            bill_ids,
            key="bulk-e2e",
            policy=operations.PayPolicy(max_bill_age=timedelta(hours=24)),
        )
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(payments.c.id, payments.c.reference_id)
                .where(payments.c.request_id == created.request_id)
                .order_by(payments.c.id)
            ).all()
        for row in found[:2]:
            make_uncleared(engine, row.id)  # the third stays queued
        with portal_for(url, redis_url, sandbox, tmp_path, admin01="superadmin") as base:
            yield {"base": base, "engine": engine, "payments": found}
    finally:
        engine.dispose()
        drop_database(servers.db_url(), name)


def test_select_many_confirm_with_a_step_up_and_see_them_resolved(stack: dict) -> None:
    from playwright.sync_api import expect

    base, engine = stack["base"], stack["engine"]
    first, second, queued = stack["payments"]
    with chromium_page(viewport={"width": 1280, "height": 800}) as page:
        sign_in(page, "admin01", at=base + "/login")
        expect(page.get_by_test_id("user-menu")).to_be_visible()

        # From the needs-attention page to the list of uncleared payments
        page.goto(base + "/attention")
        page.locator("#resolve-many-link").click()
        expect(page.get_by_role("heading", name="Resolve uncleared payments")).to_be_visible()
        expect(page.locator("#matching")).to_contain_text("2 uncleared payments match")
        # a reconciliation-like link preselects a payment that is not uncleared: named
        page.goto(f"{base}/payments/resolve-many?ids={queued.id}&reconciliation=4")
        expect(page.locator(f'#preselected [data-payment="{queued.id}"]')).to_contain_text(
            "not uncleared"
        )
        expect(page.locator("#from-reconciliation")).to_be_visible()
        page.goto(base + "/payments/resolve-many")
        page.locator("#tick-page").check()
        page.locator("#outcome-paid").check()
        page.locator("#resolve-many-comment").fill("Both in Mobiquity's report of 5 December")
        page.screenshot(path=str(SHOTS / "bulk-chosen.png"), full_page=True)
        page.locator("#resolve-many-review").click()

        # The confirmation: what happens, then the step-up, then the button
        expect(page.locator("#resolve-many-count")).to_have_text("2")
        expect(page.locator("#resolve-many-total")).to_have_text("300.00")
        expect(page.locator("#resolve-many-confirm")).to_have_count(0)
        page.locator("#resolve-many-step-up").click()
        expect(page.locator("#step-up-purpose")).to_contain_text("uncleared payments")
        page.get_by_label("Password").fill("Admin@123")
        page.locator("#step-up-continue").click()
        expect(page.locator("#step-up-fresh")).to_be_visible()
        page.screenshot(path=str(SHOTS / "bulk-confirm.png"), full_page=True)
        page.locator("#resolve-many-confirm").click()

        # Done: the bulk resolution's page, each payment resolved
        expect(page.locator("#resolution")).to_have_attribute("data-state", "applied")
        expect(page.locator('[data-result="resolved"]')).to_have_count(2)
        expect(page.locator("#resolution-comment")).to_have_text(
            "Both in Mobiquity's report of 5 December"
        )
        page.screenshot(path=str(SHOTS / "bulk-done.png"), full_page=True)
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(payments.c.id, payments.c.state)).all())
    assert states == {first.id: "succeeded", second.id: "succeeded", queued.id: "queued"}
