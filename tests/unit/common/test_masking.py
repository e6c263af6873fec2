import json
import logging

import pytest

from bbp_common.platform.logging import configure_logging, correlation, get_logger
from bbp_common.platform.masking import MASK, mask, mask_text

SECRETS = [
    "Com@1357",
    "560727",
    "13579",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "Q29yZVdlYjphZGF5ZmNTV2NJ",
]


def test_secret_keys_are_masked_at_any_depth():
    event = {
        "authenticationValue": "Com@1357",
        "body": {"otp": "560727", "sender": {"mpin": 13579, "idValue": "01755555555"}},
        "token": {"access_token": "abc", "expires_in": 299},
        "password_rules": "5-10",
    }
    masked = mask(event)
    assert masked["authenticationValue"] == MASK
    assert masked["body"]["otp"] == MASK
    assert masked["body"]["sender"]["mpin"] == MASK
    assert masked["body"]["sender"]["idValue"] == "01755555555"
    assert masked["token"] == MASK
    assert masked["password_rules"] == "5-10"


@pytest.mark.parametrize(
    "text",
    [
        'sent {"authenticationValue": "Com@1357", "otp": "560727"}',
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "Authorization: Basic Q29yZVdlYjphZGF5ZmNTV2NJ",
        "body mpin=13579&x=1",
        "amqp://guest:Com@1357@rabbit:5672/",
    ],
)
def test_secrets_inside_text_are_masked(text):
    masked = mask_text(text)
    for secret in SECRETS:
        assert secret not in masked


def test_log_lines_are_json_masked_and_carry_the_correlation_id(capsys):
    configure_logging("test", "INFO", "json")
    log = get_logger("t")
    with correlation("cid-1"):
        log.info("login", password="Com@1357", login_id="Aman01")
        logging.getLogger("mobiquity_client").info("payload %s", '{"mpin": 13579}')
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["correlation_id"] == "cid-1"
    assert lines[0]["login_id"] == "Aman01"
    assert lines[0]["service"] == "test"
    text = json.dumps(lines)
    assert "Com@1357" not in text
    assert "13579" not in text


def test_logging_follows_the_current_stdout_after_it_is_swapped(capsys, monkeypatch):
    """A background thread logging after stdout was replaced (and the old one closed) must
    write to the new stream, not fail with 'I/O operation on closed file'."""
    import io
    import sys

    configure_logging("test", "INFO", "json")
    old = io.StringIO()
    monkeypatch.setattr(sys, "stdout", old)
    get_logger("t").info("first")
    old.close()
    new = io.StringIO()
    monkeypatch.setattr(sys, "stdout", new)
    get_logger("t").info("second")
    assert json.loads(new.getvalue())["event"] == "second"


API_TOKEN = "bbp_0123456789abcdef_Zm9vYmFyLWJhei1xdXV4LXNlY3JldC1vZi00My1jaGFycw"
API_SECRET = API_TOKEN.split("_", 2)[2]


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {API_TOKEN}",
        f"authorization: bearer {API_TOKEN}",
        f'{{"Authorization": "Bearer {API_TOKEN}"}}',
        f"'authorization': '{API_TOKEN}'",
        f"Authorization={API_TOKEN}",
        f"GET /api/v1/requests?token={API_TOKEN} 200",
        f"the client sent {API_TOKEN} in its body",
        "Authorization: Token s3cr3t-value",
    ],
)
def test_api_tokens_and_authorization_values_are_masked(text):
    """The portal's API tokens (issue 18): the secret never survives, whatever carries it;
    an Authorization header's value is masked whatever its scheme."""
    masked = mask_text(text)
    assert API_SECRET not in masked and "s3cr3t-value" not in masked
    assert MASK in masked


def test_an_api_tokens_public_id_and_name_are_no_secrets():
    masked = mask({"token_id": "0123456789abcdef", "token_name": "nightly", "token": API_TOKEN})
    assert masked == {"token_id": "0123456789abcdef", "token_name": "nightly", "token": MASK}
    assert mask_text("authorization failed for user x") == "authorization failed for user x"
    assert mask_text(f"id bbp_0123456789abcdef_{API_SECRET}").startswith(
        "id bbp_0123456789abcdef_***"
    )


def test_a_bearer_token_never_reaches_a_log_line(capsys):
    configure_logging("test", "INFO", "json")
    get_logger("t").info("call", headers={"Authorization": f"Bearer {API_TOKEN}"})
    get_logger("t").info(f"raw header Authorization: Bearer {API_TOKEN}")
    logging.getLogger("werkzeug").info("client said %s", API_TOKEN)
    out = capsys.readouterr().out
    assert API_SECRET not in out
    assert out.count("\n") == 3
