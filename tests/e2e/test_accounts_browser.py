"""An admin uploads accounts in a real browser: sign-in, template, report, import, list.

The portal runs under real gunicorn (two workers) against the run's database and Redis and
the Mobiquity sandbox (which checks the password); Debian's Chromium is driven by Playwright.
The biller catalogue is seeded from the sandbox's own catalogue, as ``make run`` does.
Screenshots go to ``test-artifacts/screenshots/accounts-*.png``.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bbp_portal.accounts.groups import create_group
from bbp_portal.app import create_app
from bbp_portal.audit_trail import SYSTEM
from bbp_portal.billers.service import fetch_catalogue, seed_billers
from tests.e2e.test_signin_browser import portal_server
from tests.support.browser import SHOTS, chromium_page, sign_in
from tests.support.portal import base_settings, register

__all__ = ["portal_server"]  # the fixture: the portal under gunicorn, pointed at the sandbox


@pytest.fixture
def prepared(portal_server: str, database_url: str, redis_url: str, sandbox) -> Iterator[dict]:
    """Billers from the sandbox, a group, and the demo admin ``admin01`` registered."""
    app = create_app(base_settings(database_url=database_url, redis_url=redis_url))
    register(app, "admin01", "admin")
    group = f"Dhaka offices {uuid.uuid4().hex[:6]}"
    with app.extensions["bbp.engine"].begin() as conn:
        seed_billers(conn, SYSTEM, fetch_catalogue(sandbox.base_url))
        create_group(conn, SYSTEM, group)
    yield {"base": portal_server, "group": group}
    app.extensions["bbp.engine"].dispose()


def test_upload_report_import_and_find(prepared: dict, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    base, group = prepared["base"], prepared["group"]
    stem = str(uuid.uuid4().int)[:9]
    with chromium_page(viewport={"width": 1280, "height": 900}, accept_downloads=True) as page:
        # sign in for real (the sandbox checks the password; admin01 has no OTP)
        sign_in(page, "admin01", at=base + "/accounts")
        expect(page.get_by_role("heading", name="Bill accounts")).to_be_visible()

        # the template, from the upload page
        page.get_by_role("link", name="Bulk upload").click()
        expect(page.get_by_role("heading", name="Bulk upload of bill accounts")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("link", name="Template (.csv)").click()
        template = Path(download.value.path()).read_bytes().decode("utf-8-sig")
        header, example = template.strip().splitlines()
        assert header == "utility,consumer_id,mobile,label,groups"
        assert example.startswith("# example: ")  # skipped when uploaded

        # fill it: three good rows, three bad ones, as Excel would save it (; and CRLF)
        rows = [
            ["DSCO", f"{stem}1", "01712345678", "Gulshan office", group],
            ["DESCO", f"{stem}2", "+880 1812-345678", "Banani office", ""],
            ["XYZ", f"{stem}3", "01712345678", "Unknown utility", ""],
            ["JGDCL", "1.7E+07", "01712345678", "Excel mangled the id", ""],
            ["DSCO", f"{stem}5", "01712ABC678", "Letters in the mobile", ""],
            ["JGDCL", f"{stem}6", "01912345678", "Sylhet office", group],
        ]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(header.split(","))
        writer.writerows(rows)
        upload = tmp_path / "accounts.csv"
        upload.write_bytes(("\ufeff" + out.getvalue()).encode("utf-8"))
        page.get_by_label("File").set_input_files(str(upload))
        page.screenshot(path=str(SHOTS / "accounts-upload.png"), full_page=True)
        page.get_by_role("button", name="Check the file").click()

        # the report, before anything is stored
        expect(page.get_by_role("heading", name="Upload report: accounts.csv")).to_be_visible()
        expect(page.locator("#total-rows")).to_have_text("6")
        expect(page.locator("#valid-rows")).to_have_text("3")
        expect(page.locator("#error-rows")).to_have_text("3")
        problems = page.locator("#problems tbody tr")
        expect(problems).to_have_count(3)
        found = [
            (
                problems.nth(i).get_attribute("data-line"),
                problems.nth(i).get_attribute("data-column"),
                problems.nth(i).get_attribute("data-code"),
            )
            for i in range(3)
        ]
        assert found == [
            ("4", "A", "unknown"),
            ("5", "B", "scientific_notation"),
            ("6", "C", "malformed"),
        ]
        page.screenshot(path=str(SHOTS / "accounts-report.png"), full_page=True)
        with page.expect_download() as download:
            page.get_by_role("link", name="Download the report (CSV)").click()
        report = Path(download.value.path()).read_text("utf-8-sig").splitlines()
        assert report[0] == "line,column,field,code,message,value" and len(report) == 4
        page.goto(base + "/accounts?q=" + stem)
        expect(page.locator("#accounts tbody tr[data-id]")).to_have_count(0)
        page.go_back()

        # import the valid rows
        page.get_by_role("button", name="Import the 3 valid rows").click()
        expect(page.get_by_text("Imported 3 accounts from accounts.csv.")).to_be_visible()

        # and find them in the list: by search, then by group
        page.get_by_label("Search").fill(stem)
        page.get_by_role("button", name="Show").click()
        listed = page.locator("#accounts tbody tr[data-id]")
        expect(listed).to_have_count(3)
        expect(page.locator("#accounts")).to_contain_text("8801812345678")
        expect(page.locator("#accounts")).not_to_contain_text("Unknown utility")
        page.screenshot(path=str(SHOTS / "accounts-list.png"), full_page=True)
        page.get_by_label("Search").fill("")
        page.get_by_label("Group").select_option(label=group)
        page.get_by_role("button", name="Show").click()
        expect(listed).to_have_count(2)
        expect(page.locator("#accounts")).to_contain_text("Sylhet office")
        page.screenshot(path=str(SHOTS / "accounts-group.png"), full_page=True)
    assert (SHOTS / "accounts-report.png").stat().st_size > 5000
