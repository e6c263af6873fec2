"""Long addresses through real gunicorn: a 6 000-character search gets the portal's own page
(our layout, the reason, in the reader's language), not gunicorn's raw "Request-Line too
large"; only a line over gunicorn's maximum (8 190 bytes) still gets gunicorn's answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.browser import portal_for
from tests.support.portal import DEMO_PASSWORDS

OURS = "GrameenPhone · Bulk Bill Payment"  # the navbar of every page of ours


@pytest.fixture
def portal(database_url: str, redis_url: str, sandbox, tmp_path: Path) -> Iterator[str]:
    with portal_for(database_url, redis_url, sandbox, tmp_path, admin01="admin") as base:
        yield base


def signed_in(base: str) -> requests.Session:
    """admin01 (no OTP) through the real sign-in form."""
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, page[-1000:]
    answer = session.post(
        f"{base}/login",
        data={
            "csrf_token": token.group(1),
            "login_id": "admin01",
            "password": DEMO_PASSWORDS["admin01"],
        },
        timeout=30,
    )
    assert answer.status_code == 200 and "/login" not in answer.url, answer.url
    return session


def test_a_6000_character_search_gets_our_page_not_gunicorns(portal: str) -> None:
    session = signed_in(portal)
    answer = session.get(f"{portal}/payments/search", params={"q": "x" * 6000}, timeout=10)
    assert answer.status_code == 414
    assert OURS in answer.text and "Request Line is too large" not in answer.text
    assert "The address is too long (6,002 characters; at most 4,096)" in answer.text
    # the API answers in JSON, the same reason
    answer = session.get(f"{portal}/api/v1/accounts", params={"q": "x" * 6000}, timeout=10)
    assert answer.status_code == 414 and answer.json()["error"]["code"] == "uri_too_long"
    # as long as gunicorn's limit allows (the request line is at most 8 190 bytes)
    answer = session.get(f"{portal}/payments/search", params={"q": "x" * 8150}, timeout=10)
    assert answer.status_code == 414 and OURS in answer.text
    # in Bangla too
    session.get(f"{portal}/language/bn", timeout=10)
    answer = session.get(f"{portal}/payments/search", params={"q": "x" * 6000}, timeout=10)
    assert answer.status_code == 414 and "ঠিকানাটি অনেক লম্বা" in answer.text


def test_signed_out_a_long_address_gets_our_page_too(portal: str) -> None:
    answer = requests.get(f"{portal}/login", params={"next": "/" + "x" * 6000}, timeout=10)
    assert answer.status_code == 414 and OURS in answer.text


def test_only_beyond_gunicorns_maximum_does_gunicorn_answer(portal: str) -> None:
    answer = requests.get(f"{portal}/payments/search", params={"q": "x" * 8200}, timeout=10)
    assert answer.status_code == 414 and OURS not in answer.text
    assert "Request Line is too large" in answer.text  # gunicorn's raw page: the last resort
