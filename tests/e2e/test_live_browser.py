"""Live request pages and the wallet banner in a real browser (issue 17).

The portal under gunicorn (two gthread workers) on a database of its own, the Mobiquity
sandbox for the real sign-in, Debian's Chromium driven by Playwright. No scheduler runs: the
test moves payments and fetch items itself, through the same stores the scheduler uses, so
it knows the moment each change commits and can hold the page to "within 2 s, no click".
Screenshots go to ``test-artifacts/screenshots/live-*.png``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bbp_common.core.domain.payments import EnquiryPolicy
from bbp_common.core.domain.payments import PaymentState as S
from bbp_common.core.domain.requests import FetchItemState, FetchOutcome
from bbp_common.core.stores import FetchItemStore, PaymentStore, RequestStore, WalletBreaker
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from bbp_portal.requests.service import create_fetch_request
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, portal_under_gunicorn, sign_in
from tests.support.payments import move, payment_rows, seed_billers, seed_bills
from tests.support.pipeline import create_database, drop_database

ADMIN = Actor("admin01", "admin")
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))
#: A DOM change must show within this long of its commit (the page polls every 1.5 s).
LIVE_MS = 2_000


@pytest.fixture(scope="module")
def stack(
    servers, mobiquity_sandbox, redis_url: str, amqp_url: str, tmp_path_factory
) -> Iterator[dict[str, Any]]:
    sandbox = mobiquity_sandbox
    sandbox.reset()
    name = f"bbp_e2e_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    engine = sa.create_engine(url)
    try:
        seed_billers(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (login_id, email, role, created_by) VALUES "
                    "('admin01', 'admin01@bbp.example', 'admin', 'e2e')"
                )
            )
        with portal_under_gunicorn(
            database_url=url,
            amqp_url=amqp_url,
            redis_url=redis_url,
            sandbox=sandbox,
            tmp_path=tmp_path_factory.mktemp("live"),
        ) as portal:
            yield {"base": portal.base, "engine": engine}
    finally:
        engine.dispose()
        drop_database(servers.db_url(), name)


@pytest.fixture(scope="module")
def browser(stack: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def signed_in(browser: Any, base: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, "admin01", at=base + "/")
    page.get_by_test_id("signed-in-as").wait_for()
    return page


def test_request_pages_update_their_rows_without_a_click(stack, browser) -> None:
    from playwright.sync_api import expect

    engine, base = stack["engine"], stack["base"]
    ids = seed_bills(engine, [("DSCO", "101.00"), ("JGDCL", "102.00"), ("DESCO", "103.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="e2e-live", policy=POLICY)
    request_id = request_id.request_id
    first, second, third = payment_rows(engine, request_id)

    page = signed_in(browser, base)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    polls: list[dict[str, str]] = []
    page.on("request", lambda r: polls.append(r.headers) if "/live" in r.url else None)
    page.goto(f"{base}/requests/{request_id}")
    row = page.locator(f'#payments tr[data-payment="{first.id}"] [data-state]')
    expect(row).to_have_text("waiting to be sent")  # queued, in words
    url = page.url

    # Posted: the row, the progress and the counts follow without a click.
    move(engine, first.id, S.DISPATCHED, S.SENDING, S.POSTED)
    committed = time.monotonic()
    expect(row).to_have_text("submitted", timeout=LIVE_MS)  # posted, in words
    shown_after = time.monotonic() - committed
    expect(page.locator('[data-bucket="posted"]')).to_have_text("1", timeout=LIVE_MS)

    # No answer: the row says when Mobiquity is asked next.
    move(engine, second.id, S.DISPATCHED, S.SENDING)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="scheduler:e2e", policy=EnquiryPolicy())
        store.lock([second.id])
        store.to_ambiguous(store.current(second.id), "no usable answer to billpay")
        store.flush()
    waiting = page.locator(f'#payments tr[data-payment="{second.id}"] [data-enquiry]')
    expect(waiting).to_contain_text(
        "waiting for Mobiquity's answer — next check at", timeout=LIVE_MS
    )
    expect(waiting).to_contain_text("(1 of 5)")
    page.screenshot(path=str(SHOTS / "live-enquiring.png"), full_page=True)

    # Finished: the final rows stay, and the page stops asking.
    move(engine, second.id, S.SUCCEEDED)
    with engine.begin() as conn:
        PaymentStore(conn, actor="test").cancel_queued(request_id, "e2e: the rest cancelled")
        RequestStore(conn, actor="test").settle(request_id)
    expect(page.locator("#request-state")).to_have_text("finished", timeout=LIVE_MS)
    expect(page.locator(f'#payments tr[data-payment="{third.id}"] [data-state]')).to_have_text(
        "cancelled"
    )
    expect(page.locator("#cancel-form")).to_have_count(0)
    settled_polls = len(polls)
    page.wait_for_timeout(4_000)
    assert len(polls) == settled_polls, "the page kept polling a finished request"
    assert page.url == url  # never reloaded
    # Every poll was a background one: it never keeps an unattended session alive.
    assert polls and all(h.get("x-bbp-background") == "1" for h in polls)
    page.screenshot(path=str(SHOTS / "live-finished.png"), full_page=True)

    # A fetch request's page is live the same way.
    with engine.connect() as conn:
        accounts = conn.execute(sa.text("SELECT id FROM bill_accounts ORDER BY id LIMIT 2"))
        account_ids = [a for (a,) in accounts]
    fetch_id = create_fetch_request(engine, "admin01", account_ids).request_id
    page.goto(f"{base}/requests/{fetch_id}")
    with engine.connect() as conn:
        item_id = conn.execute(
            sa.text("SELECT MIN(id) FROM fetch_items WHERE request_id = :r"), {"r": fetch_id}
        ).scalar_one()
    status = page.locator(f'#results tr[data-item="{item_id}"] .badge')
    expect(status).to_have_text("queued")
    with engine.begin() as conn:
        now = conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        items = FetchItemStore(conn)
        (dispatched,) = items.dispatch({item_id: now}, 60)
        items.move(
            dispatched, FetchItemState.DONE, {"completed_at": now}, outcome=FetchOutcome.NO_BILLS
        )
        items.flush()
    expect(status).to_have_text("no bill", timeout=LIVE_MS)
    assert not [e for e in errors if "Content Security Policy" in e or "htmx" in e], errors
    print(f"payment row shown {shown_after:.2f} s after its commit")


def test_operators_see_the_wallet_banner_on_every_page(stack, browser) -> None:
    from playwright.sync_api import expect

    engine, base = stack["engine"], stack["base"]
    ids = seed_bills(engine, [("DSCO", "201.00"), ("DSCO", "202.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="e2e-held", policy=POLICY)
    request_id = request_id.request_id
    page = signed_in(browser, base)
    expect(page.locator("#breaker-banner")).to_have_count(0)  # nothing wrong yet
    expect(page.get_by_test_id("attention-clear")).to_be_visible()

    with engine.begin() as conn:
        WalletBreaker(conn, actor="communicator-1").open(
            cause="wallet authentication failed (Authen01/AUTH03)", reference_id=None, details={}
        )
    for path in ("/", "/accounts", "/requests"):
        page.goto(base + path)
        banner = page.locator("#breaker-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Payments are stopped.")
        expect(banner).to_contain_text("a superadmin closes the breaker")
    page.goto(f"{base}/requests/{request_id}")
    expect(page.locator("#breaker-wait")).to_contain_text("Its payments are waiting")
    page.screenshot(path=str(SHOTS / "live-breaker-banner.png"), full_page=True)
    banner.get_by_role("link", name="Paying wallet").click()
    expect(page.locator("#breaker-state")).to_have_attribute("data-state", "open")

    operations.close_wallet_breaker(engine, Actor("boss", "superadmin"), "MPIN fixed")
    page.goto(base + "/")
    expect(page.locator("#breaker-banner")).to_contain_text("Payments are resuming carefully.")
    with engine.begin() as conn:
        WalletBreaker(conn, actor="communicator-1").confirm(reference_id="R" * 20)
    page.reload()
    expect(page.locator("#breaker-banner")).to_have_count(0)
