"""The words catalogue (``bbp_portal.words``): every cause the code can write reads as a
sentence, in English and in Bangla.

The causes are walked where they are made: the domain's decisions for every state and
answer (``decide_pay_result``, ``decide_enquiry_result``, the schedule's verdicts), and the
texts the stores, the scheduler, the communicator and the portal write (``SAMPLES``, each as
the code writes it). A guard reads those modules' sources for the literal causes they write
and fails on one that no sample covers — a new cause must come with its sentence.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import Babel, force_locale

import bbp_portal
from bbp_common.core.domain.payments import (
    EnquiryOutcome,
    EnquiryPolicy,
    PaymentState,
    PayOutcome,
    decide_enquiry_result,
    decide_pay_result,
)
from bbp_common.core.domain.schedules import VERDICT_REASONS
from bbp_portal.words import (
    actor_name,
    fetch_error,
    names,
    payment_cause,
    request_cause,
    selection_words,
)
from bbp_portal.words.audit import ACTIONS, details_said
from bbp_portal.words.causes import FALLBACK, FETCH_ERRORS, PAYMENT_CAUSES, REQUEST_CAUSES, SUFFIXES

REPO = Path(__file__).resolve().parents[3]
PO = Path(bbp_portal.__file__).parent / "translations" / "bn" / "LC_MESSAGES" / "messages.po"

#: Causes and reasons as the stores, the scheduler, the communicator and the portal write them.
SAMPLES = [
    # PaymentStore / services
    "payment request created",
    "payment request created: waits for its due time",
    "dispatched (attempt 1)",
    "claimed for billpay",
    "command not published; queued again with the same reference id",
    "command lost: not claimed by its deadline; not sent after 4 tries",
    "command lost: not claimed by its deadline; its request was cancelled",
    "the wallet breaker refused the claim; queued again with the same reference id",
    "not sent (not sent (connection_refused)); queued again with the same reference id",
    "not sent (not sent: the paying wallet was refused meanwhile); queued again with the same"
    " reference id",
    "command not claimed in time (its claim deadline passed before it was claimed); queued"
    " again with the same reference id",
    "command not claimed in time (not claimed: no Mobiquity token); queued again with the same"
    " reference id",
    "not sent (its sender's late report) (not sent (read_timeout)); queued again with the same"
    " reference id",
    "not claimed: no Mobiquity token",
    "no billpay could be built (configuration)",
    "payment could not be built: biller DSCO has no billpay settings",
    "no enquiries configured",
    "enquiry 2 of 5: no answer (unknown)",
    "enquiry command not published",
    "the check expired before it was sent: asked again",
    "the enquiry expired before it was sent: asked again",
    "pay-super asked Mobiquity once more (check now, not counted)",
    "check: Mobiquity says succeeded; recorded for the person who resolves it",
    "check asked by a person: enquiry: succeeded",
    "check asked by a person: no answer (unknown); not counted",
    "resolved by a person: paid",
    "resolved by a person: not paid",
    "request cancelled by pay-admin",
    "request rejected by pay-checker",
    "its time came: its bill is fetched again first (fetch request #12)",
    "fetched again before paying: the same amount",
    "amount changed when fetched again before paying: 100.00 → 120.00 BDT; waits for a person",
    "new amount 120.00 BDT approved by pay-admin: fetched again before paying",
    "bill fetched too long ago to pay now: fetch it again",
    # the communicator's reasons (mobiquity_client's outcome kinds)
    "http_5xx: HTTP 500: the order may have been processed",
    "read_timeout: no answer within 30 s",
    "connection_lost: the connection closed mid-answer",
    "bad_body: HTTP 200 without an acceptance signal",
    "contradictory: the answer says both FAILED and accepted",
    "unexpected_status: HTTP 302 without a documented answer",
    "unexpected outcome Foo",
    "client error: KeyError",
    "documented FAILED answer",
    "HTTP 401: the request was refused before processing",
    "command redelivered while sending",
    "its claim deadline passed before it was claimed",
    "no answer in time: its sender is gone",
    "wallet authentication failed (Authen01/AUTH03)",
    "wallet authentication failed (Authen01)",
]

REQUEST_SAMPLES = [
    "auto-paused: the last 3 payments failed with Generic05/",
    "paused by pay-admin",
    "paused by pay-admin: the wallet is being topped up",
]

FETCH_SAMPLES = [
    ("MobiquityUnavailable", "fetch: HTTP 500 from Mobiquity"),
    ("NO_RESULT", "no result after 5 attempts"),
    ("UnexpectedResponse", "fetch: no bills field"),
    ("TokenRejected", "token refused"),
    ("ConsumerIdRequired", "consumer id required"),
    ("NotApplicableForUtility", "not applicable"),
    ("BILLPAY_CONSUMER_NOT_FOUND", "Consumer not found"),
    ("500", "HTTP 500"),
]


def domain_causes() -> list[str]:
    """Every cause the payment state machine can give, for every state and answer."""
    found = set()
    for state in PaymentState:
        for outcome in PayOutcome:
            for same in (True, False):
                try:
                    found.add(decide_pay_result(state, outcome, same_attempt=same).cause)
                except KeyError:
                    continue
        for answer in EnquiryOutcome:
            for done in (1, 5):
                for extra in (True, False):
                    for believe in (True, False):
                        now = datetime.now(UTC)
                        found.add(
                            decide_enquiry_result(
                                state,
                                answer,
                                enquiries_done=done,
                                policy=EnquiryPolicy(believe_not_found=believe),
                                answer_by=now - timedelta(hours=1),
                                now=now,
                                extra=extra,
                            ).cause
                        )
    return sorted(found | set(VERDICT_REASONS.values()))


@pytest.fixture(scope="module")
def app() -> Flask:
    application = Flask(__name__)
    application.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PO.parents[2])
    Babel(application)
    return application


@pytest.mark.parametrize("cause", domain_causes() + SAMPLES)
def test_every_payment_cause_the_code_writes_is_a_sentence(app, cause):
    with app.test_request_context():
        said = payment_cause(cause)
        assert said is not None and said.code != "unknown", cause
        assert said.raw == cause
        # the sentence never repeats the code's words
        for code in ("billpay", "http_5xx", "_", "not_found", "enquiry 2"):
            assert code not in said.sentence, (cause, said.sentence)
        with force_locale("bn"):
            bangla = payment_cause(cause)
            assert bangla is not None and bangla.sentence != said.sentence, cause
            assert re.search("[\u0980-\u09ff]", bangla.sentence), bangla.sentence


@pytest.mark.parametrize("cause", REQUEST_SAMPLES)
def test_request_causes_are_sentences(app, cause):
    with app.test_request_context():
        said = request_cause(cause)
        assert said is not None and said.code != "unknown"
        assert "auto-paused" not in said.sentence and "Generic05" not in said.sentence


@pytest.mark.parametrize(("code", "message"), FETCH_SAMPLES)
def test_fetch_errors_are_sentences_and_keep_the_code_for_the_details(app, code, message):
    with app.test_request_context():
        said = fetch_error(code, message)
        assert said is not None and said.code != "unknown"
        assert code not in said.sentence and message not in said.sentence
        assert code in said.raw and message in said.raw


def test_an_unknown_cause_reads_as_the_fallback_never_as_the_code(app):
    with app.test_request_context():
        said = payment_cause("frobnicated_xyz: 42")
        assert said is not None and said.sentence == str(FALLBACK) and said.code == "unknown"
        assert said.raw == "frobnicated_xyz: 42"


def test_the_code_writes_no_cause_without_a_sample():
    """The literal causes and reasons in the modules that write them: each one's fixed start
    is the start of a sample above (or of a domain cause), so each has its sentence."""
    sources = [
        "libs/common/src/bbp_common/core/stores/payments.py",
        "libs/common/src/bbp_common/core/stores/claims.py",
        "libs/common/src/bbp_common/core/domain/payments.py",
        "services/scheduler/src/bbp_scheduler/dispatcher.py",
        "services/scheduler/src/bbp_scheduler/sweeper.py",
        "services/scheduler/src/bbp_scheduler/picking.py",
        "services/scheduler/src/bbp_scheduler/handlers/enquiry.py",
        "services/communicator/src/bbp_communicator/paying.py",
        "services/communicator/src/bbp_communicator/outcomes.py",
    ]
    known = [s.lower() for s in SAMPLES + domain_causes()]
    pattern = re.compile(
        r"""(?:"reason":\s*|why=|cause=|never_left\(\s*\w+,\s*|never_left\(\[\w+\],\s*"""
        r"""|cause = \(?\s*|self\.note\(\s*row,\s*\w+,\s*|\w+, "|Decision\([^,]+,\s*)f?"([^"]+)""",
    )
    missing = []
    for source in sources:
        text = (REPO / source).read_text()
        for match in pattern.finditer(text):
            literal = match.group(1)
            start = literal.split("{")[0].strip().lower()
            if len(start) < 6 or not re.search("[a-z]{3}", start):
                continue
            if not any(start in k for k in known):
                missing.append(f"{source}: {literal!r}")
    assert missing == []


def _catalogue_ids() -> list[str]:
    ids = [
        str(c.sentence._args[0]) for c in PAYMENT_CAUSES + SUFFIXES + REQUEST_CAUSES + FETCH_ERRORS
    ]
    for table in (
        names.PAYMENT_STATES,
        names.REQUEST_STATES,
        names.FETCH_STATUSES,
        names.ENQUIRY_OUTCOMES,
        names.BREAKER_STATES,
        names.OUTCOMES,
        names.NOTIFICATION_KINDS,
        names.CHANNELS,
        names.NOTIFICATION_STATES,
        ACTIONS,
    ):
        ids += [str(word._args[0]) for word in table.values()]
    return ids


def test_every_sentence_and_name_has_its_bangla():
    with PO.open("rb") as f:
        bn = read_po(f, locale="bn")
    lacking = []
    for msgid in _catalogue_ids():
        message = bn.get(msgid)
        if message is None or message.fuzzy or not message.string:
            lacking.append(msgid)
    assert lacking == []


def test_states_read_as_words_in_both_languages(app):
    with app.test_request_context():
        assert names.name(names.PAYMENT_STATES, "unsent") == "not sent"
        assert names.name(names.PAYMENT_STATES, "ambiguous") == "waiting for Mobiquity's answer"
        assert names.name(names.REQUEST_STATES, "enquiring") == "waiting for Mobiquity's answers"
        with force_locale("bn"):
            for table, code in (
                (names.PAYMENT_STATES, "unsent"),
                (names.PAYMENT_STATES, "scheduled"),
                (names.REQUEST_STATES, "enquiring"),
                (names.FETCH_STATUSES, "failed"),
            ):
                assert re.search("[\u0980-\u09ff]", names.name(table, code)), code


def test_actors_are_people_or_the_system(app):
    with app.test_request_context():
        assert actor_name("scheduler:scheduler@vm:1379") == "the system"
        assert actor_name("communicator@vm:2211") == "the system"
        assert actor_name("system") == "the system"
        assert actor_name("portal:pay-admin") == "pay-admin"
        assert actor_name("pay-admin") == "pay-admin"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("ids:260", "1 account ticked"),
        ("ids:1,2,3 (+20 more)", "23 accounts ticked"),
        ("all:utility=DESCO;group=Home", "every account: biller DESCO, group Home"),
        ("pending bills where request=4", "the pending bills: found by fetch request #4"),
        ("3 chosen bills", "3 bills chosen"),
        ("1 chosen bills of fetch request #4", "1 bill chosen, found by fetch request #4"),
        (
            "pay again: 2 bills that failed in payment request #9",
            "pays again 2 bills that failed in payment request #9",
        ),
    ],
)
def test_a_selection_reads_as_words(app, raw, words):
    with app.test_request_context():
        said = selection_words(raw)
        assert said is not None and said.sentence == words and said.raw == raw


def test_audit_details_read_as_words_with_the_json_behind(app):
    with app.test_request_context():
        raw = '{"payments": 3, "total": "12.00", "comment": "ok", "maker": "m1"}'
        said = details_said(raw)
        assert said is not None and said.sentence == "3 payments · 12.00 BDT · “ok”"
        assert said.raw == raw
