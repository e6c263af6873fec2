"""Scheduling payments in a real browser against the whole system (issue 18, item 3): an admin
schedules one bill for the coming minute and another for tomorrow on the confirmation page
(Dhaka time, with the step-up the confirmation asks for), sees both listed as scheduled
with their start times, cancels tomorrow's before its start, and watches the first start by
itself, its bill fetched again, and get paid — once, in the sandbox's ledger; the cancelled
one never reaches Mobiquity.

The portal under gunicorn, a scheduler and a communicator, RabbitMQ (a vhost of its own),
MariaDB (a database of its own), Redis and the Mobiquity sandbox; Debian's Chromium driven by
Playwright. Screenshots: ``test-artifacts/screenshots/schedule-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import bulk_requests, payments
from tests.support.browser import SHOTS, chromium_page, serving, sign_in, whole_system
from tests.support.pipeline import Pipeline, seed_fetched_bills

#: One bill each (a consumer id ending in 1 has exactly one).
ACCOUNTS = [("DSCO", "64500001"), ("JGDCL", "64500011")]
DHAKA = timedelta(hours=6)


@pytest.fixture
def stack(servers, mobiquity_sandbox, redis_url: str, tmp_path: Path) -> Iterator[dict]:
    with whole_system(servers, mobiquity_sandbox, latency_ms=None) as pipe:
        found = seed_fetched_bills(pipe, ACCOUNTS)
        pipe.add_users(admin01="admin")
        with serving(pipe, redis_url, tmp_path, rate_limit=None) as portal:
            yield {
                "base": portal.base,
                "pipeline": pipe,
                "sandbox": pipe.sandbox,
                "soon": found[ACCOUNTS[0]][0],
                "tomorrow": found[ACCOUNTS[1]][0],
            }


def _db_now(pipe: Pipeline) -> datetime:
    with pipe.engine.connect() as conn:
        return conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()  # type: ignore[no-any-return]


def _schedule(page, base: str, bill_id: int, start_utc: datetime, shot: str) -> str:  # type: ignore[no-untyped-def]
    """Schedule one bill on the confirmation page (step-up included); returns its page's URL."""
    from playwright.sync_api import expect

    local = (start_utc + DHAKA).strftime("%Y-%m-%dT%H:%M")
    page.goto(f"{base}/payments/new?scope=ids&ids={bill_id}")
    expect(page.locator("#confirm-count")).to_have_text("1")
    page.locator("#when-at").check()
    page.locator("#start-at").fill(local)
    page.locator("#when-apply").click()
    shown = local.replace("T", " ")
    expect(page.locator("#schedule-summary")).to_contain_text(shown)
    page.locator("#confirm-step-up").click()
    page.get_by_label("Password").fill("Admin@123")
    page.locator("#step-up-continue").click()
    # Back on the same confirmation, the schedule still chosen.
    expect(page.locator("#step-up-fresh")).to_be_visible()
    expect(page.locator("#schedule-summary")).to_contain_text(shown)
    expect(page.locator("#confirm-pay")).to_contain_text("Schedule 1 bill,")
    page.screenshot(path=str(SHOTS / f"schedule-{shot}-confirm.png"), full_page=True)
    page.locator("#confirm-pay").click()
    expect(page.get_by_role("heading", name="Payment request")).to_be_visible()
    expect(page.locator("#request-state")).to_have_text("scheduled")
    expect(page.locator("#schedule-start")).to_contain_text(shown)
    return str(page.url)


def test_schedule_cancel_before_start_and_watch_one_start_by_itself(stack: dict) -> None:
    from playwright.sync_api import expect

    base, sandbox, pipe = stack["base"], stack["sandbox"], stack["pipeline"]
    with chromium_page(viewport={"width": 1280, "height": 900}) as page:
        page.on("dialog", lambda dialog: dialog.accept())
        sign_in(page, "admin01", at=base + "/")
        expect(page.get_by_test_id("user-menu")).to_be_visible()

        # The coming minute (at least 25 s away: the time to make it), and tomorrow.
        now = _db_now(pipe)
        soon = (now + timedelta(seconds=85)).replace(second=0, microsecond=0)
        tomorrow = (now + timedelta(days=1)).replace(second=0, microsecond=0)
        soon_url = _schedule(page, base, stack["soon"], soon, "soon")
        tomorrow_url = _schedule(page, base, stack["tomorrow"], tomorrow, "tomorrow")

        page.goto(base + "/requests?state=scheduled")
        rows = page.locator("#requests tbody tr")
        expect(rows).to_have_count(2)
        for moment in (soon, tomorrow):
            expect(page.locator("#requests")).to_contain_text(
                (moment + DHAKA).strftime("%Y-%m-%d %H:%M")
            )
        page.screenshot(path=str(SHOTS / "schedule-list.png"), full_page=True)

        # Cancel tomorrow's before its start: its bill is free again, nothing is paid.
        page.goto(tomorrow_url)
        page.locator("#cancel-form button").click()
        expect(page.locator("#request-state")).to_have_text("cancelled")

        # The first starts by itself: fetched again, then paid.
        page.goto(soon_url)
        expect(page.locator("#request-state")).to_have_text("finished", timeout=180_000)
        expect(page.locator('[data-bucket="posted"]')).to_have_text("1")
        page.screenshot(path=str(SHOTS / "schedule-finished.png"), full_page=True)

    with pipe.engine.connect() as conn:
        done = conn.execute(
            sa.select(payments.c.bill_id, payments.c.reference_id, payments.c.state)
        ).all()
        origins = (
            conn.execute(
                sa.select(bulk_requests.c.origin).where(bulk_requests.c.origin.is_not(None))
            )
            .scalars()
            .all()
        )
    assert sorted(r.state for r in done) == ["cancelled", "posted"]
    (posted,) = [r for r in done if r.state == "posted"]
    (cancelled,) = [r for r in done if r.state == "cancelled"]
    # Paid once, with the bill of the fetch at its start (one fetch again: the other request
    # was cancelled before its start); the cancelled one never reached Mobiquity.
    assert origins == ["refetch"]
    assert posted.bill_id != stack["soon"]
    assert len(sandbox.ledger(reference=posted.reference_id)) == 1
    assert cancelled.bill_id == stack["tomorrow"]
    assert sandbox.ledger(reference=cancelled.reference_id) == []
