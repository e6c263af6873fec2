"""Every template renders in English and Bangla from the params its producer writes; a
template that needs a missing param, or is broken, is a permanent failure (not a gap)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bbp_communicator
from bbp_common.core.notifications import KINDS
from bbp_communicator.notify import Permanent, Renderer

REQUEST = {
    "request_id": 42,
    "request_kind": "payment",
    "created_by": "admin01",
    "total_items": 3,
    "total_amount": "12345.50",
    "login_id": "admin01",
    "request_url": "https://bbp.example.com/requests/42",
    "portal_url": "https://bbp.example.com",
}
PARAMS = {
    "request_finished": {
        **REQUEST,
        "finished_at": "2026-11-25 10:00 UTC",
        "outcomes": [
            {"outcome": "posted", "count": 2, "amount": "10000.00"},
            {"outcome": "uncleared", "count": 1, "amount": "2345.50"},
        ],
    },
    "payments_attention": {
        **REQUEST,
        "payments": [
            {
                "reference_id": "REF00000000000000001",
                "consumer_id": "17021272",
                "bill_number": "B1",
                "amount": "2345.50",
                "reason": "no answer after 5 enquiries",
            }
        ],
    },
    "request_paused": {
        **REQUEST,
        "reason": "auto-paused: the last 5 payments failed with TXN01/",
        "failed_alike": 5,
        "payments": [{"reference_id": "REF00000000000000002", "error": "TXN01", "reason": None}],
    },
    "approval_needed": REQUEST,
    "request_approved": {**REQUEST, "decided_by": "boss"},
    "request_rejected": {**REQUEST, "decided_by": "boss", "comment": "too much"},
    "password_changed": {
        "login_id": "admin01",
        "how": "reset",
        "changed_at": "2026-11-25 10:00 UTC",
    },
    "wallet_breaker_opened": {
        "login_id": "superadmin",
        "cause": "wallet authentication failed (Authen01/AUTH03)",
        "reference_id": "REF00000000000000004",
        "opened_at": "2026-11-25 10:00 UTC",
        "portal_url": "https://bbp.example.com",
        "request_url": "",
    },
    "payment_submitted": {
        "state": "posted",
        "biller": "DESCO",
        "bill_number": "0123",
        "consumer_id": "22051272",
        "total": "1520",
        "reference_id": "REF00000000000000003",
    },
}
TEMPLATES = Path(bbp_communicator.__file__).parent / "templates"


def test_each_kind_has_templates_in_both_languages():
    for kind in KINDS:
        found = {p.name for p in TEMPLATES.glob(f"*/{kind}.*.j2")}
        assert found, kind
        for name in found:
            other = name.replace(".en.", ".bn.") if ".en." in name else name.replace(".bn.", ".en.")
            assert other in found, name


@pytest.mark.parametrize("language", ["en", "bn"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders(kind, language):
    renderer = Renderer()
    params = PARAMS[kind]
    if (TEMPLATES / "email" / f"{kind}.{language}.j2").exists():
        mail = renderer.email(kind, language, params)
        assert mail.subject and "\n" not in mail.subject and mail.text.strip()
        assert "{{" not in mail.text and "None" not in mail.text
        if "request_id" in params:
            digits = "৪২" if language == "bn" else "42"
            assert digits in mail.subject
    if (TEMPLATES / "sms" / f"{kind}.{language}.j2").exists():
        text = renderer.sms(kind, language, params)
        assert text and "\n" not in text and "{{" not in text


def test_the_breaker_notice_says_what_stopped_and_what_to_do():
    renderer = Renderer()
    params = PARAMS["wallet_breaker_opened"]
    mail = renderer.email("wallet_breaker_opened", "en", params)
    assert "stopped" in mail.subject.lower()
    assert "https://bbp.example.com/wallet" in mail.text and "REF00000000000000004" in mail.text
    assert (
        "None"
        not in renderer.email("wallet_breaker_opened", "en", {**params, "reference_id": ""}).text
    )
    sms = renderer.sms("wallet_breaker_opened", "bn", params)
    assert "২০২৬-১১-২৫ ১০:০০" in sms and "ব্রেকার" in sms


def test_posted_is_submitted_and_succeeded_is_paid():
    renderer = Renderer()
    posted = renderer.sms("payment_submitted", "en", PARAMS["payment_submitted"])
    assert "submitted" in posted and "paid" not in posted
    assert "Tk 1,520.00" in posted and "REF00000000000000003" in posted and "0123" in posted
    paid = renderer.sms(
        "payment_submitted", "en", {**PARAMS["payment_submitted"], "state": "succeeded"}
    )
    assert "was paid" in paid
    bangla = renderer.sms("payment_submitted", "bn", PARAMS["payment_submitted"])
    assert "জমা" in bangla and "৳১,৫২০.০০" in bangla


def test_a_missing_param_or_a_broken_template_is_permanent(tmp_path):
    with pytest.raises(Permanent, match="request_id"):
        Renderer().email("request_finished", "en", {"login_id": "x"})
    with pytest.raises(Permanent, match="TemplateNotFound"):
        Renderer().sms("password_changed", "en", {})
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "password_changed.en.j2").write_text("{% block subject %}{{ oops(")
    with pytest.raises(Permanent, match="TemplateSyntaxError"):
        Renderer(str(tmp_path)).email("password_changed", "en", PARAMS["password_changed"])


def test_an_operator_template_replaces_the_built_in_one(tmp_path):
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "payment_submitted.en.j2").write_text("Paid {{ reference_id }}")
    text = Renderer(str(tmp_path)).sms("payment_submitted", "en", PARAMS["payment_submitted"])
    assert text == "Paid REF00000000000000003"


def test_the_attention_table_lines_up_and_reads_without_codes():
    renderer = Renderer()
    params = {
        **PARAMS["payments_attention"],
        "payments": [
            {
                "reference_id": "REF00000000000000001",
                "consumer_id": "22051272",
                "bill_number": "0123",
                "amount": "1520.00",
                "reason": "no answer after 5 enquiries",
            },
            {
                "reference_id": "ABCDEFGHIJ0123456789",
                "consumer_id": "7",
                "bill_number": "BN9999999999",
                "amount": "123456.5",
                "reason": None,
            },
        ],
    }
    mail = renderer.email("payments_attention", "en", params)
    assert mail.subject == "Request #42: 2 payments need attention"
    lines = mail.text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Reference id"))
    _header, rule, *rows = lines[start : start + 4]
    columns = [m.start() for m in re.finditer(r"-+", rule)]
    assert len(columns) == 4
    for row in rows:
        # every value starts where its column does; amounts end where theirs does
        starts = [m.start() for m in re.finditer(r"\S+", row)]
        assert starts[:3] == columns[:3], row
        assert len(row) == len(rule), row
    assert "enquiries" not in mail.text  # the reason's code is not in the e-mail
    one = renderer.email("payments_attention", "en", {**params, "payments": params["payments"][:1]})
    assert one.subject == "Request #42: 1 payment needs attention"
