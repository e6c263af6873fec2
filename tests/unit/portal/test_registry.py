"""The rules of the user registry, shared by the page and the CLI."""

from __future__ import annotations

import pytest

from bbp_portal.registry import InvalidUser, check_email, check_login_id, normalize_mobile


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("01712345678", "01712345678"),
        ("+8801712345678", "01712345678"),
        ("8801912-345678", "01912345678"),
        ("017 1234 5678", "01712345678"),
        ("", None),
        (None, None),
    ],
)
def test_mobile_numbers_are_normalised(typed, stored):
    assert normalize_mobile(typed) == stored


@pytest.mark.parametrize("bad", ["0171234567", "01212345678", "+9101712345678", "phone"])
def test_bad_mobile_numbers_are_refused(bad):
    with pytest.raises(InvalidUser, match="mobile"):
        normalize_mobile(bad)


def test_emails_are_checked_without_dns():
    assert check_email(" Admin@Example.COM ") == "Admin@example.com"
    for bad in ("nope", "a@", "a b@example.com"):
        with pytest.raises(InvalidUser, match="e-mail"):
            check_email(bad)


@pytest.mark.parametrize("login_id", ["ab", "x" * 21, "has space", "semi;colon"])
def test_login_ids_follow_mobiquitys_rules(login_id):
    with pytest.raises(InvalidUser):
        check_login_id(login_id)
    assert check_login_id("Aman01") == "Aman01"
