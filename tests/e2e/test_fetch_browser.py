"""An admin fetches a group's pending bills in a real browser and downloads the results.

Everything is real and a process of its own: the portal under gunicorn (two workers, metrics
in Prometheus multiprocess mode served by the master), a scheduler and a communicator
(``tests.support.pipeline``), RabbitMQ (a vhost of its own), MariaDB (a database of its
own), Redis, and the Mobiquity sandbox. Debian's Chromium driven by Playwright. Screenshots
go to ``test-artifacts/screenshots/fetch-*.png``.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.integration.pipeline.test_fetch_pipeline import expected
from tests.support.browser import SHOTS, chromium_page, serving, sign_in, whole_system

GROUP = "Dhaka offices"
IN_GROUP = [("DSCO", f"1702{i:04d}") for i in range(24)] + [
    ("DESCO", f"2205{i:04d}") for i in range(16)
]
OUTSIDE = [("JGDCL", f"3265{i:04d}") for i in range(10)]


@pytest.fixture
def stack(servers, mobiquity_sandbox, redis_url: str, tmp_path: Path) -> Iterator[dict]:
    """A database, a vhost, the sandbox, a scheduler, a communicator and the portal."""
    with whole_system(servers, mobiquity_sandbox) as pipe:
        ids = pipe.add_accounts(IN_GROUP + OUTSIDE)
        pipe.group_accounts(GROUP, ids[: len(IN_GROUP)])
        pipe.add_users(admin01="admin")
        # Slow enough to watch the progress move: 40 accounts at 8 a second.
        with serving(pipe, redis_url, tmp_path, rate_limit="8") as portal:
            yield {
                "base": portal.base,
                "metrics": portal.metrics,
                "pipeline": pipe,
                "log": portal.log,
            }


def test_select_a_group_fetch_watch_progress_and_download(stack: dict) -> None:
    from playwright.sync_api import expect

    base = stack["base"]
    with chromium_page(viewport={"width": 1366, "height": 900}, accept_downloads=True) as page:
        # sign in for real (the sandbox checks admin01's password; no OTP for it)
        sign_in(page, "admin01", at=base + "/")
        expect(
            page.get_by_role("navigation", name="Main").get_by_role(
                "link", name="Requests", exact=True
            )
        ).to_be_visible()

        # the group, from the accounts' groups page
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Bill accounts", exact=True
        ).click()
        page.get_by_role("link", name="Groups").click()
        page.locator(f'[data-fetch-group="{GROUP}"]').click()
        expect(page.locator("#confirm-count")).to_contain_text(
            f"{len(IN_GROUP)} active accounts will be asked"
        )
        page.screenshot(path=str(SHOTS / "fetch-confirm.png"), full_page=True)
        page.get_by_role("button", name=f"Fetch bills of {len(IN_GROUP)} accounts").click()

        # the request page at once; the progress moves without reloading
        expect(page.get_by_role("heading", name="Fetch request")).to_be_visible()
        expect(page.locator("#progress-total")).to_have_text(str(len(IN_GROUP)))
        url = page.url
        page.wait_for_function(
            "() => { const n = Number(document.getElementById('progress-percent')"
            ".textContent); return n > 0 && n < 100; }",
            timeout=30_000,
        )
        page.screenshot(path=str(SHOTS / "fetch-progress.png"), full_page=True)
        expect(page.locator("#progress-percent")).to_have_text("100.0", timeout=60_000)
        expect(page.locator("#request-state")).to_have_text("finished", timeout=10_000)
        assert page.url == url  # never reloaded
        expect(page.locator('#biller-totals tfoot tr[data-biller="total"]')).to_be_visible()
        # the rows followed without a click: none is left queued or being asked
        expect(page.locator("#results tbody tr[data-item]").first).to_be_visible()
        live = page.locator("#results tbody td .badge").all_inner_texts()
        assert live and not {"queued", "being fetched"} & set(live), live
        page.screenshot(path=str(SHOTS / "fetch-done.png"), full_page=True)

        # filter: accounts with bills only
        page.get_by_label("Outcome").select_option("bills")
        page.get_by_role("button", name="Show").click()
        statuses = page.locator("#results tbody td .badge").all_inner_texts()
        assert statuses and set(statuses) == {"bills found"}

        # the export, as a person downloads it
        with page.expect_download() as download:
            page.locator("#export-csv").click()
        text = Path(download.value.path()).read_bytes().decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        with page.expect_download() as download:
            page.locator("#export-xlsx").click()
        assert download.value.suggested_filename.endswith("-results.xlsx")
        sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
        assert sheet.max_row == len(rows) + 1

        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Requests", exact=True
        ).click()
        expect(page.locator("#requests tbody tr")).to_have_count(1)
        page.screenshot(path=str(SHOTS / "fetch-requests.png"), full_page=True)

    # the file says what the sandbox's rules say, one row per bill plus accounts without one
    by_account: dict[str, list[dict]] = {}
    for row in rows:
        by_account.setdefault(row["consumer_id"], []).append(row)
    assert set(by_account) == {c for _, c in IN_GROUP}
    for utility, consumer in IN_GROUP:
        outcome, count = expected(utility, consumer)
        mine = by_account[consumer]
        assert {r["status"] for r in mine} == {outcome}
        assert len([r for r in mine if r["bill_number"]]) == count

    # the portal's counters, added up across workers by gunicorn's master
    with urllib.request.urlopen(stack["metrics"], timeout=5) as answer:
        metrics = answer.read().decode()
    assert 'bbp_portal_requests_created_total{kind="fetch",via="page"} 1.0' in metrics
    assert f'bbp_portal_request_items_created_total{{kind="fetch"}} {float(len(IN_GROUP))}' in (
        metrics
    )
    # the request's message left right after commit (or, had the worker's connection not
    # been up yet, was left to the scheduler's relay): counted once either way
    relayed = {
        outcome: float(value)
        for outcome, value in re.findall(
            r'bbp_portal_after_commit_relay_total\{outcome="(\w+)"\} ([0-9.]+)', metrics
        )
    }
    assert sum(relayed.values()) == 1.0, relayed
    assert 'bbp_portal_request_exports_total{format="csv"} 1.0' in metrics
    for shot in ("fetch-confirm", "fetch-progress", "fetch-done", "fetch-requests"):
        assert (SHOTS / f"{shot}.png").stat().st_size > 5000
