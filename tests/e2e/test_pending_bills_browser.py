"""Pending bills at scale in a real browser (issue 17, items 5 and 6): an admin filters the
pending bills by group, 25 a page, ticks a bill and sees the sticky bar's running count and
total change without a reload, selects all 60 matching bills, pages on and unticks one, sees
the bar still at the top of the window after scrolling, and opens the confirmation page: it
lists the 59 chosen bills, 50 a page, with count, bill amount, service charge and total —
the same service charge as the pending list (DSCO's 10.00 is not taken with the bill: 0.00,
and a sentence says why).

The portal under gunicorn, MariaDB (a database of its own), RabbitMQ (a vhost of its own),
Redis and the Mobiquity sandbox (sign-in); the bills are written as a finished fetch writes
them. Debian's Chromium driven by Playwright. Screenshots:
``test-artifacts/screenshots/pending-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.browser import SHOTS, chromium_page, portal_on, sign_in, whole_system
from tests.support.payments import seed_bills

GROUP = "Branch offices"


@pytest.fixture
def stack(servers, mobiquity_sandbox, redis_url: str, tmp_path: Path) -> Iterator[dict]:
    # The sandbox's catalogue (whole_system seeds it): DESCO takes the charge, DSCO not.
    with whole_system(servers, mobiquity_sandbox, latency_ms=None) as pipe:
        # 40 DSCO bills of 100.00 and 20 DESCO bills of 50.00 in the group, each with a
        # reported service charge of 10.00; 5 more outside the group.
        ids = seed_bills(
            pipe.engine,
            [("DSCO", "100.00")] * 40 + [("DESCO", "50.00")] * 20,
            group=GROUP,
            service_charge=Decimal("10.00"),
        )
        seed_bills(pipe.engine, [("JGDCL", "7.00")] * 5)
        pipe.add_users(admin01="admin")
        with portal_on(pipe, redis_url, tmp_path, BBP_STEP_UP="false") as portal:
            yield {"base": portal.base, "ids": ids}


def test_filter_select_all_matching_watch_the_running_total_and_confirm(stack: dict) -> None:
    from playwright.sync_api import expect

    base, ids = stack["base"], stack["ids"]
    with chromium_page(console_never=("htmx",), viewport={"width": 1280, "height": 800}) as page:
        sign_in(page, "admin01", at=base + "/")
        page.goto(base + "/payments/pending")

        # filter: the group, 25 a page
        page.locator("#f-group").select_option(label=GROUP)
        page.locator("#f-size").select_option("25")
        page.locator("#pending-show").click()
        rows = page.locator("#pending tbody tr[data-bill]")
        expect(rows).to_have_count(25)
        bar = page.locator("#selection-bar")
        expect(bar).to_contain_text("No bill selected.")

        # one tick: the bar follows at once (htmx), no reload
        url = page.url
        rows.first.locator("input[type=checkbox]").check()
        expect(page.locator("#selection-count")).to_have_text("1 bill selected")
        expect(page.locator("#selection-total")).to_have_text("100.00 BDT")
        assert page.url == url

        # select all matching: 60 bills of both pages, 40 × 100 + 20 × (50 + 10)
        page.locator("#select-matching").click()
        expect(page.locator("#selection-count")).to_have_text("60 bills selected")
        expect(page.locator("#selection-total")).to_have_text("5,200.00 BDT")
        expect(rows.locator("input[type=checkbox]:checked")).to_have_count(25)
        # DSCO's reported 10.00 is not taken with its bills, and the page says why
        first_charge = rows.first.locator("td[data-charge]")
        expect(first_charge).to_have_attribute("data-charge", "0.00")
        expect(page.locator("#charge-note")).to_contain_text(
            "takes no service charge with the bill"
        )
        page.screenshot(path=str(SHOTS / "pending-selected.png"), full_page=True)

        # the action bar stays at the top of the window while the page scrolls
        rows.nth(20).scroll_into_view_if_needed()
        page.wait_for_timeout(200)
        assert page.evaluate("window.scrollY") > 100
        box = bar.bounding_box()
        assert box is not None and -1 <= box["y"] <= 2, box
        expect(page.locator("#pay-ticked")).to_be_in_viewport()
        page.screenshot(path=str(SHOTS / "pending-sticky-bar.png"))

        # the selection survives paging: page 3 (bills 51-60) is ticked too
        page.locator("a[rel=next]").click()
        page.locator("a[rel=next]").click()
        expect(rows).to_have_count(10)
        expect(rows.locator("input[type=checkbox]:checked")).to_have_count(10)
        last = page.locator(f'tr[data-bill="{ids[-1]}"] input[type=checkbox]')
        last.uncheck()
        expect(page.locator("#selection-count")).to_have_text("59 bills selected")
        expect(page.locator("#selection-total")).to_have_text("5,140.00 BDT")

        # the confirmation lists the chosen bills, 50 a page, with the totals
        page.locator("#pay-ticked").click()
        expect(page.locator("#confirm-count")).to_have_text("59")
        expect(page.locator("#confirm-amount")).to_have_text("4,950.00")
        expect(page.locator("#confirm-service-charge")).to_have_text("190.00")
        expect(page.locator("#confirm-total")).to_have_text("5,140.00")
        expect(page.locator("#confirm-bill-list tbody tr")).to_have_count(50)
        expect(page.locator("#confirm-charge-note")).to_contain_text("DSCO")
        expect(page.locator("#confirm-pay")).to_have_text("Pay 59 bills, 5,140.00 BDT")
        page.screenshot(path=str(SHOTS / "pending-confirm.png"), full_page=True)
        page.locator("#confirm-bills-next").click()
        expect(page.locator("#confirm-bill-list tbody tr")).to_have_count(9)
        expect(page.locator("#confirm-total")).to_have_text("5,140.00")
        # no script blocked by the CSP, no htmx error (a favicon's 404 is no concern)
