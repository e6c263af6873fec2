"""The reconciliation page in a real browser (issue 18, item 1): an admin uploads the
sandbox's transaction report (our payments paid there, a discrepancy of every class
injected), sees the counts per class, filters a class and downloads the export.

The portal under gunicorn (two workers) against the run's MariaDB and Redis and the Mobiquity
sandbox; Debian's Chromium driven by Playwright. Screenshot:
``test-artifacts/screenshots/reconcile-*.png``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bbp_portal.app import create_app
from tests.integration.payments.test_reconciliation import CASES, injected_report, paid_world
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, portal_for, sign_in
from tests.support.payments import seed_billers
from tests.support.portal import base_settings, register

LOGIN = "Aman01"  # an admin of the sandbox (tests.support.portal.DEMO_PASSWORDS)


@pytest.fixture
def world(database_url: str, redis_url: str, sandbox: Any, tmp_path: Path) -> Iterator[Any]:
    app = create_app(base_settings(database_url=database_url, redis_url=redis_url))
    register(app, LOGIN, "admin")
    engine = app.extensions["bbp.engine"]
    seed_billers(engine)
    made = paid_world(engine, sandbox)
    report = tmp_path / "mobiquity-transactions.csv"
    report.write_bytes(injected_report(sandbox, made))
    engine.dispose()
    with portal_for(database_url, redis_url, sandbox, tmp_path) as base:
        yield base, made, report


def test_an_admin_uploads_the_report_sees_the_classes_and_exports_them(world: Any) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, made, report = world
    SHOTS.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).date().isoformat()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on(
                "console",
                lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None,
            )
            missing: list[str] = []
            page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
            sign_in(page, LOGIN, at=base + "/login")
            expect(page).to_have_url(base + "/")

            nav = page.get_by_role("navigation", name="Main")
            nav.get_by_test_id("admin-menu").click()  # back-office pages sit in the menu
            nav.get_by_role("link", name="Reconciliation").click()
            expect(
                page.get_by_role("heading", name="Reconciliation with Mobiquity's report")
            ).to_be_visible()
            page.get_by_label("The report (CSV or XLSX)").set_input_files(str(report))
            page.get_by_label("First day the report covers").fill(today)
            page.get_by_label("Last day the report covers").fill(today)
            page.get_by_text("Column mapping").click()  # the defaults fit the sandbox
            expect(page.get_by_label("Our reference id (column)")).to_have_value(
                "External Reference ID"
            )
            page.get_by_role("button", name="Upload and match").click()

            expect(page.locator(".flash.success")).to_contain_text("The report was matched")
            counts = page.locator("#class-counts")
            for klass in {expected for *_, expected in CASES.values()} | {"not_ours"}:
                cell = counts.locator(f'tr[data-class="{klass}"] td[data-count]')
                assert int(cell.get_attribute("data-count") or 0) >= 1, klass
            page.screenshot(path=str(SHOTS / "reconcile-counts.png"), full_page=True)

            # one class: the double-payment alarms, ours
            counts.get_by_role("link", name="Double-payment alarm").click()
            rows = page.locator("#items tbody tr")
            expect(rows.first).to_have_attribute("data-class", "double_payment_alarm")
            expect(page.locator("#items")).to_contain_text(
                made["ours"]["alarm_failed"].reference_id
            )
            expect(page.locator("#items")).not_to_contain_text(made["ours"]["missing"].reference_id)

            with page.expect_download() as download:
                page.locator("#export").click()
            text = Path(download.value.path()).read_text(encoding="utf-8-sig")
            lines = list(csv.reader(io.StringIO(text)))
            assert lines[0][:2] == ["class", "reference_id"]
            assert {line[0] for line in lines[1:]} == {"double_payment_alarm"}
            assert made["ours"]["alarm_unsent"].reference_id in {line[1] for line in lines[1:]}

            # the alarms page lists them (an admin sees them, a superadmin clears them)
            page.get_by_role("link", name="Double-payment alarms").first.click()
            expect(page.locator("#alarms")).to_contain_text(
                made["ours"]["alarm_failed"].reference_id
            )
            page.screenshot(path=str(SHOTS / "reconcile-alarms.png"), full_page=True)
            # (Chromium asks for /favicon.ico when a link answers a download, not a page)
            assert [e for e in errors if "/favicon.ico" not in e] == [], missing
        finally:
            browser.close()
