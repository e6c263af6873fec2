"""Recipients: Bangladeshi mobile numbers normalised and checked, e-mail addresses checked."""

from __future__ import annotations

import pytest

from bbp_common.core.contacts import (
    InvalidRecipient,
    international,
    mask_mobile,
    normalise,
    normalise_mobile,
)


@pytest.mark.parametrize(
    "raw",
    ["01711000000", "8801711000000", "+8801711000000", "+880 1711-000000", "008801711000000"],
)
def test_the_forms_of_one_number_are_one_number(raw):
    assert normalise_mobile(raw) == "01711000000"
    assert international(raw) == "8801711000000"


@pytest.mark.parametrize("prefix", ["013", "014", "015", "016", "017", "018", "019"])
def test_every_operator_prefix_is_valid(prefix):
    assert normalise_mobile(prefix + "12345678") == prefix + "12345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        None,
        "01234",
        "01212345678",
        "01112345678",
        "0171100000",
        "017110000001",
        "+911711000000",
        "0171100000x",
        "9901711000000",
    ],
)
def test_what_is_not_a_mobile_number_is_refused_with_a_reason(raw):
    with pytest.raises(InvalidRecipient) as caught:
        normalise_mobile(raw)
    assert str(caught.value)


def test_the_reason_does_not_spell_the_number_out():
    with pytest.raises(InvalidRecipient) as caught:
        normalise_mobile("01212345678")
    assert "01212345678" not in str(caught.value)
    assert mask_mobile("01711000123") == "0171****123"


def test_e_mail_addresses():
    assert normalise("email", " Admin01@BBP.example ") == "Admin01@bbp.example"
    for bad in ("", "admin01", "a@", "a b@bbp.example"):
        with pytest.raises(InvalidRecipient):
            normalise("email", bad)
    with pytest.raises(ValueError):
        normalise("fax", "x")
