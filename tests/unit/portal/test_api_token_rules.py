"""API tokens (issue 18): the token's text and the role rules, without a database."""

from __future__ import annotations

import hashlib

import pytest

from bbp_portal.api.core import Operation
from bbp_portal.api_tokens import codec
from bbp_portal.api_tokens.service import effective_role, grantable_roles


def test_a_token_is_a_public_id_and_256_random_bits_of_which_only_a_hash_is_kept() -> None:
    minted = codec.mint()
    public_id, secret = codec.parse(minted.text) or ("", "")
    assert minted.text == f"bbp_{public_id}_{secret}"
    assert public_id == minted.public_id and len(public_id) == 16
    assert len(secret) == 43  # 32 bytes, URL-safe base64 without padding
    assert minted.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in minted.secret_sha256
    assert codec.matches(secret, minted.secret_sha256)
    assert not codec.matches(
        secret[:-1] + ("A" if secret[-1] != "A" else "B"), minted.secret_sha256
    )
    assert secret not in repr(minted)
    assert len({codec.mint().text for _ in range(200)}) == 200


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bbp_",
        "bbp_0123456789abcdef",
        "bbp_0123456789ABCDEF_" + "a" * 43,  # the public id is lower-case hex
        "bbp_0123456789abcdef_" + "a" * 42,
        "bbp_0123456789abcdef_" + "a" * 44,
        "xbp_0123456789abcdef_" + "a" * 43,
        "bbp_0123456789abcdef_" + "a" * 42 + "!",
    ],
)
def test_malformed_tokens_do_not_parse(text: str) -> None:
    assert codec.parse(text) is None


def test_a_token_carries_at_most_its_users_role() -> None:
    assert grantable_roles("superadmin") == ("superadmin", "admin", "auditor")
    assert grantable_roles("admin") == ("admin",)  # an admin reads no audit log: no auditor
    assert grantable_roles("auditor") == ("auditor",)
    assert grantable_roles("nobody") == ()


@pytest.mark.parametrize(
    ("token_role", "user_role", "acts_as"),
    [
        ("superadmin", "superadmin", "superadmin"),
        ("superadmin", "admin", "admin"),  # the user's role dropped: so does the token's
        ("superadmin", "auditor", "auditor"),
        ("admin", "superadmin", "admin"),  # never more than the token was made with
        ("admin", "admin", "admin"),
        ("admin", "auditor", None),  # nothing in common: refused
        ("auditor", "admin", None),
        ("auditor", "superadmin", "auditor"),
        ("admin", None, None),
    ],
)
def test_a_token_acts_with_what_both_roles_cover(token_role, user_role, acts_as) -> None:
    assert effective_role(token_role, user_role) == acts_as


def test_operations_take_tokens_for_reads_and_for_changes_only_by_name() -> None:
    plain = Operation("a read or a change")
    assert plain.takes_tokens("GET") and not plain.takes_tokens("POST")
    assert not plain.takes_tokens("DELETE") and not plain.takes_tokens("PATCH")
    assert Operation("create", tokens=True).takes_tokens("POST")
    assert not Operation("approve", tokens=False).takes_tokens("POST")
    assert not Operation("a person's read", tokens=False).takes_tokens("GET")
