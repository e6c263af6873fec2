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
