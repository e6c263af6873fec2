"""``make screenshots``: the README's pictures, taken from the whole system in a real browser.

Not a test of its own (the behaviour each picture shows has its browser test:
``test_payments_browser``, ``test_approvals_browser``, ``test_live_browser``); marked
``screenshots`` so that ``make test`` skips it (``tests/conftest.py``) and only
``make screenshots`` (``BBP_SCREENSHOTS=1``) runs it. It still fails loudly when a page no
longer shows what its picture is meant to show.

Everything ``make run`` starts (``tests.support.system``) on a throw-away database: the
sandbox, the sinks, the portal under gunicorn, a scheduler and a communicator. An admin
fetches the bills of eight bill accounts through the pages, ticks some on *Pending bills*,
confirms with a step-up, and pays. The sandbox's fault injection makes two things happen
for real:

* one account's billpay is processed but never answered (``drop_after_process``) and every
  enquiry of it fails (``error_500_before_process``); with an enquiry schedule whose second
  check is a quarter of an hour away the payment waits, and its row says so;
* two other accounts' billpays are refused for a wrong MPIN (``wrong_mpin``): the first
  opens the wallet breaker, the banner appears on every page, and the rest wait.

Debian's Chromium (never a downloaded browser) at 1280×800; the files go to
``docs/screenshots/`` (the README's "What it looks like"). Pages are found by role and
label text where they have one, so the pictures survive layout changes; a page that moved
on fails here with the locator that no longer matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import account_groups, bill_account_groups, bill_accounts
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, ROOT
from tests.support.system import System, whole_system

pytestmark = pytest.mark.screenshots

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
GROUP = "Dhaka offices"
#: (utility, consumer id, label); the sandbox's bills follow the last digit (1, 3, 6, 9: one
#: bill; 4, 7: two; 2, 5, 8: three).
PAID = [
    ("DSCO", "17021272", "Gulshan office"),
    ("DSCO", "17021273", "Banani branch"),
    ("DESCO", "22050014", "Uttara depot"),
    ("DESCO", "22050016", "Mirpur warehouse"),
    ("JGDCL", "32650007", "Sylhet office"),
]
NO_ANSWER = ("DSCO", "17021276", "Motijheel head office")
WRONG_PIN = [("DESCO", "22050019", "Dhanmondi office"), ("JGDCL", "32650013", "Tejgaon factory")]
#: The first enquiry is soon (and fails); the next ones are far enough for the picture.
ENQUIRIES = "2s,15m,30m,1h,2h"


@pytest.fixture
def system(servers, mobiquity_sandbox, redis_url: str, tmp_path: Path) -> Iterator[System]:
    sandbox = mobiquity_sandbox
    with whole_system(
        servers,
        sandbox,
        redis_url,
        tmp_path,
        fast=True,
        # One call at a time: the wrong MPIN opens the breaker before the next billpay leaves.
        scheduler={
            "BBP_ENQUIRY_SCHEDULE": ENQUIRIES,
            "BBP_MOBIQUITY_RATE_LIMIT": "4",
            "BBP_MOBIQUITY_MAX_IN_FLIGHT": "1",
        },
        communicator={"BBP_ENQUIRY_SCHEDULE": ENQUIRIES},
        portal={"BBP_PAYER_LABEL": "GP wallet 01755555555"},
    ) as running:
        accounts = [*PAID, NO_ANSWER, *WRONG_PIN]
        with running.pipeline.engine.begin() as conn:
            conn.execute(
                sa.insert(bill_accounts),
                [
                    {"utility_code": u, "consumer_id": c, "mobile": "01711000000", "label": label}
                    for u, c, label in accounts
                ],
            )
            group = conn.execute(sa.insert(account_groups).values(name=GROUP)).lastrowid
            ids = conn.execute(sa.select(bill_accounts.c.id)).scalars().all()
            conn.execute(
                sa.insert(bill_account_groups),
                [{"bill_account_id": i, "group_id": group} for i in ids],
            )
        consumer = NO_ANSWER[1]
        sandbox.add_fault(endpoint="billpay", fault="drop_after_process", consumer_id=consumer)
        sandbox.add_fault(
            endpoint="enquiry", fault="error_500_before_process", consumer_id=consumer
        )
        for _, pin_consumer, _ in WRONG_PIN:
            sandbox.add_fault(endpoint="billpay", fault="wrong_mpin", consumer_id=pin_consumer)
        yield running
        sandbox.control("DELETE", "faults")


def shoot(page: Any, name: str, *, full_page: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(300)  # let the last repaint settle (fonts, htmx swaps)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)
    print(f"wrote {(OUT / f'{name}.png').relative_to(ROOT)}")


def tick(page: Any, consumer_ids: list[str]) -> int:
    """Tick the pending bills of these consumer ids (a row with a checkbox that names one)."""
    rows = page.get_by_role("row").filter(has=page.get_by_role("checkbox"))
    ticked = 0
    for i in range(rows.count()):
        row = rows.nth(i)
        if any(c in row.inner_text() for c in consumer_ids):
            row.get_by_role("checkbox").check()
            ticked += 1
    assert ticked, f"no pending bill of {consumer_ids}"
    return ticked


def pay_ticked(page: Any) -> None:
    """From Pending bills to the confirmation page (by the button's words, else its id)."""
    button = page.get_by_role("button", name=re.compile(r"Pay .*ticked", re.I))
    (button if button.count() else page.locator("#pay-ticked")).first.click()
    page.get_by_role("heading", name=re.compile("Confirm", re.I)).first.wait_for()


def step_up_and_pay(page: Any, password: str) -> None:
    from playwright.sync_api import expect

    step_up = page.get_by_role("link", name="Confirm it is you")
    if step_up.count():
        step_up.click()
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name=re.compile(r"^Pay \d+ bills, ")).click()
    expect(page.get_by_role("heading", name="Payment request")).to_be_visible()


def test_screenshots(system: System) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            main_nav = page.get_by_role("navigation", name="Main")
            page.goto(system.base + "/")
            page.get_by_label("Login ID").fill("admin01")
            page.get_by_label("Password").fill("Admin@123")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_test_id("user-menu")).to_be_visible()

            # Fetch every account's bills through the pages.
            main_nav.get_by_role("link", name="Bill accounts", exact=True).click()
            page.get_by_role("link", name="Fetch bills of all matching").click()
            page.get_by_role("button", name=re.compile(r"^Fetch bills of \d+ accounts")).click()
            expect(page.locator("#request-state")).to_have_text("finished", timeout=90_000)

            # 1. Pending bills, some ticked: whatever running count and total the page keeps.
            page.get_by_role("link", name="Pay the bills found").click()
            tick(page, [c for _, c, _ in [*PAID, NO_ANSWER]])
            shoot(page, "pending-bills")

            # 2. The confirmation page before the step-up.
            pay_ticked(page)
            expect(page.get_by_role("link", name="Confirm it is you")).to_be_visible()
            shoot(page, "confirm-step-up", full_page=True)

            # 3. The payment request: all paid but one, which waits for Mobiquity's answer.
            step_up_and_pay(page, "Admin@123")
            waiting = page.locator("[data-enquiry]").filter(
                has_text="waiting for Mobiquity's answer"
            )
            expect(waiting).to_contain_text("next check at", timeout=60_000)
            try:  # the first enquiry failed too: the next is a quarter of an hour away
                expect(waiting).to_contain_text(re.compile(r"\(2 of \d+\)"), timeout=30_000)
            except PlaywrightTimeout:
                print("the first enquiry had not been answered: the picture shows (1 of N)")
            expect(page.locator('[data-bucket="posted"]')).to_have_text(
                str(sum({"2": 3, "3": 1, "4": 2, "6": 1, "7": 2}[c[-1]] for _, c, _ in PAID)),
                timeout=30_000,
            )
            waiting.scroll_into_view_if_needed()
            shoot(page, "request-enquiring", full_page=True)
            request_url = page.url

            # 4. The same page in Bangla (and back to English).
            page.get_by_role("link", name="বাংলা").click()
            expect(page.locator("html")).to_have_attribute("lang", "bn")
            page.goto(request_url)
            shoot(page, "request-enquiring-bn", full_page=True)
            page.get_by_role("link", name="English").click()
            expect(page.locator("html")).to_have_attribute("lang", "en")

            # 5. A wrong MPIN opens the wallet breaker: the banner, and the request waits.
            main_nav.get_by_role("link", name="Pay bills", exact=True).click()
            tick(page, [c for _, c, _ in WRONG_PIN])
            pay_ticked(page)
            step_up_and_pay(page, "Admin@123")
            banner = page.locator("#breaker-banner")
            for _ in range(60):
                if banner.count():
                    break
                page.wait_for_timeout(500)
                page.reload()
            expect(banner).to_contain_text("Payments are stopped.")
            try:  # the other billpay never left: the request says why it waits
                expect(page.locator("#breaker-wait")).to_be_visible(timeout=10_000)
            except PlaywrightTimeout:
                print("both billpays left before the breaker opened: no waiting payment shown")
            shoot(page, "breaker-banner")
        finally:
            browser.close()
    for name in (
        "pending-bills",
        "confirm-step-up",
        "request-enquiring",
        "request-enquiring-bn",
        "breaker-banner",
    ):
        assert (OUT / f"{name}.png").stat().st_size > 10_000, name
