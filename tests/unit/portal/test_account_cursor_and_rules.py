"""Keyset cursors (encode, decode, tampering) and the single-field rules of bill accounts."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy.dialects import mysql

from bbp_portal.accounts import rules
from bbp_portal.accounts.listing import KEY_TYPES, SORTS, _beyond
from bbp_portal.accounts.selection import AccountFilter, AccountSelection
from bbp_portal.cursor import Cursor, InvalidCursor, decode_cursor


def encode(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor("id", "asc", "after", (42,)),
        Cursor("label", "desc", "before", ("Dhaka — অফিস", 7)),
        Cursor("consumer_id", "asc", "after", ("AB-17", "DSCO")),
        Cursor("utility", "asc", "last"),
    ],
)
def test_cursor_round_trip(cursor):
    token = cursor.encode()
    assert "=" not in token and "/" not in token and "+" not in token  # URL-safe
    assert decode_cursor(token, key_types=KEY_TYPES) == cursor


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        encode([1, 2]),
        encode({"s": "mobile", "o": "asc", "d": "after", "k": [1]}),
        encode({"s": "id", "o": "sideways", "d": "after", "k": [1]}),
        encode({"s": "id", "o": "asc", "d": "jump", "k": [1]}),
        encode({"s": "id", "o": "asc", "d": "after", "k": ["1"]}),
        encode({"s": "id", "o": "asc", "d": "after", "k": [True]}),
        encode({"s": "id", "o": "asc", "d": "after", "k": [1, 2]}),
        encode({"s": "label", "o": "asc", "d": "after", "k": ["x"]}),
        encode({"s": "id", "o": "asc", "d": "last", "k": [1]}),
        encode({"s": "id", "o": "asc", "d": "after", "k": "1"}),
    ],
)
def test_tampered_cursors_are_refused(token):
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor(token, key_types=KEY_TYPES)
    assert caught.value.code == "invalid_cursor" and caught.value.status == 400


def test_keyset_condition_is_range_friendly():
    sql = str(
        _beyond(SORTS["utility"], ("DSCO", "17"), True).compile(
            dialect=mysql.dialect(), compile_kwargs={"literal_binds": True}
        )
    )
    assert sql == (
        "bill_accounts.utility_code > 'DSCO' OR bill_accounts.utility_code = 'DSCO' "
        "AND bill_accounts.consumer_id > '17'"
    )
    sql = str(_beyond(SORTS["id"], (5,), False).compile(compile_kwargs={"literal_binds": True}))
    assert sql == "bill_accounts.id < 5"


def test_search_escapes_like_wildcards():
    condition = AccountFilter(q="5%_!").conditions()[0]
    compiled = condition.compile(dialect=mysql.dialect())
    assert "5!%!_!!%" in compiled.params.values()


def test_selection_description():
    assert AccountSelection(ids=(3, 1)).describe() == "ids:3,1"
    assert AccountSelection(ids=tuple(range(25))).describe().endswith("(+5 more)")
    described = AccountSelection(filter=AccountFilter(utility="DSCO", group_id=4)).describe()
    assert described == "all:utility=DSCO;group_id=4"
    assert AccountSelection(filter=AccountFilter()).describe() == "all"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01712345678", "01712345678"),
        ("+880 1712-345678", "8801712345678"),
        ("(017) 1234.5678", "01712345678"),
        (8801712345678, "8801712345678"),
        (1712345678.0, "1712345678"),
        ("12345678", "12345678"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_mobile_forms(raw, expected):
    assert rules.mobile(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "missing"),
        (None, "missing"),
        ("1234567", "malformed"),
        ("1234567890123456", "malformed"),
        ("0171234567O", "malformed"),
        ("০১৭১২৩৪৫৬৭৮", "malformed"),  # Bengali digits: not what Mobiquity takes
        ("8.80171E+12", "scientific_notation"),
        ("1712345678.0", "excel_number"),
        (True, "malformed"),
    ],
)
def test_bad_mobiles(raw, code):
    with pytest.raises(rules.FieldError) as caught:
        rules.mobile(raw)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "missing"),
        ("-17", "malformed"),
        ("17-", "malformed"),
        ("17 02", "malformed"),
        ("17/02", "malformed"),
        ("x" * 41, "too_long"),
        ("1.7E+07", "scientific_notation"),
        ("1,7e7", "scientific_notation"),
        ("17021270.0", "excel_number"),
        (17021270.5, "excel_number"),
        (10**15, "excel_number"),
        (-5, "malformed"),
    ],
)
def test_bad_consumer_ids(raw, code):
    with pytest.raises(rules.FieldError) as caught:
        rules.consumer_id(raw)
    assert caught.value.code == code


def test_good_consumer_ids_and_labels():
    assert rules.consumer_id(" AB-1234 ") == "AB-1234"
    assert rules.consumer_id(17021270) == "17021270"
    assert rules.label("  Dhaka   অফিস  ") == "Dhaka অফিস"
    assert rules.group_names("A | b |a| ") == ["A", "b"]
    assert rules.account_key("dsco", "Ab-1") == rules.account_key("DSCO", "aB-1")
