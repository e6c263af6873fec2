"""Why a payment, a fetch or a request is where it is: the causes the code writes, as sentences.

The stores, the scheduler and the communicator write short English causes
(``payment_events.cause``, ``payments.reason``, ``bulk_requests.paused_reason``,
``wallet_breaker.opened_reason``, ``fetch_items.error_code``). They are written by code, so
they are stable: this catalogue reads each one — a pattern per cause the code can produce —
as a sentence in the reader's language (lazy gettext, chosen when the page is drawn). What
the pattern captured (a count, a login, an amount) fills the sentence; the raw text stays
for the "details" toggle and the API. A cause no pattern knows reads as the fallback
sentence, never as the code (``tests/unit/portal/test_words.py`` walks the causes the code
writes and fails on one without a sentence).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from bbp_portal.words.catalogue import FALLBACK, Cause, _c
from bbp_portal.words.names import ENQUIRY_OUTCOMES, name
from bbp_portal.words.payment_causes import PAYMENT_CAUSES, SUFFIXES

REQUEST_CAUSES: tuple[Cause, ...] = (
    _c(
        "auto_paused",
        r"^auto-paused: the last (?P<n>\d+) payments failed with",
        _l("Paused by the system: the last %(n)s payments failed the same way."),
    ),
    _c(
        "paused_comment",
        r"^paused by (?P<person>\S+): (?P<comment>.+)$",
        _l("Paused by %(person)s: %(comment)s"),
    ),
    _c("paused", r"^paused by (?P<person>\S+)$", _l("Paused by %(person)s.")),
)

FETCH_ERRORS: tuple[Cause, ...] = (
    _c("no_result", r"^NO_RESULT$", _l("No answer from Mobiquity after every try.")),
    _c(
        "unavailable",
        r"^(MobiquityUnavailable|5\d\d)$",
        _l("Mobiquity was unavailable; the fetch was tried again, without an answer."),
    ),
    _c("unexpected", r"^UnexpectedResponse$", _l("Mobiquity's answer could not be understood.")),
    _c(
        "signin",
        r"^(TokenRejected|ClientCredentialsRejected|InvalidCredentials|401|403)$",
        _l("Mobiquity refused our sign-in: the fetch could not be made."),
    ),
    _c(
        "consumer_id",
        r"^(ConsumerIdRequired|MandatoryFieldMissing|InvalidInput)$",
        _l("Mobiquity refused the consumer id (missing or not valid)."),
    ),
    _c(
        "not_applicable",
        r"^(NotApplicableForUtility|UnsupportedFlow)$",
        _l("Mobiquity does not offer this for the biller."),
    ),
    # Any other code is Mobiquity's own answer: it refused, its words go in the details.
    _c("refused", r"^\S+$", _l("Mobiquity refused to fetch the bills of this account.")),
)


@dataclass(frozen=True)
class Said:
    """A sentence for a person and the raw text behind it (for the details toggle)."""

    sentence: str
    raw: str
    code: str

    def __str__(self) -> str:
        return self.sentence


def _fill(cause: Cause, match: re.Match[str]) -> str:
    values: Mapping[str, Any] = match.groupdict()
    if "outcome" in values:
        values = {**values, "outcome": name(ENQUIRY_OUTCOMES, values["outcome"])}
    return str(cause.sentence) % values if values else str(cause.sentence)


def find(catalogue: tuple[Cause, ...], text: str) -> tuple[Cause, re.Match[str]] | None:
    for cause in catalogue:
        match = cause.pattern.search(text)
        if match is not None:
            return cause, match
    return None


def payment_cause(text: str | None) -> Said | None:
    """A payment event's cause or a payment's reason, as a sentence (None for no text)."""
    if not text:
        return None
    raw = text.strip()
    rest, after = raw, []
    for suffix in SUFFIXES:
        match = suffix.pattern.search(rest)
        if match is not None:
            rest = rest[: match.start()]
            after.append(_fill(suffix, match))
            break
    # "check asked by a person: <what a check decided>" reads as what it decided
    person_check = rest.lower().startswith(
        "check asked by a person: "
    ) and not rest.lower().startswith("check asked by a person: no answer")
    if person_check:
        rest = rest[len("check asked by a person: ") :]
    found = find(PAYMENT_CAUSES, rest)
    if found is None:
        return Said(str(FALLBACK), raw, "unknown")
    cause, match = found
    words = [_fill(cause, match), *after]
    if person_check:
        words.insert(0, str(_l("On a person's check:")))
    return Said(" ".join(words), raw, cause.code)


def request_cause(text: str | None) -> Said | None:
    if not text:
        return None
    found = find(REQUEST_CAUSES, text.strip())
    if found is None:
        return Said(str(FALLBACK), text, "unknown")
    return Said(_fill(*found), text, found[0].code)


def fetch_error(code: str | None, message: str | None) -> Said | None:
    """A fetch item's error (its code and Mobiquity's message) as a sentence."""
    if not code and not message:
        return None
    raw = " ".join(x for x in (code, message) if x)
    found = find(FETCH_ERRORS, code or "")
    if found is None:
        return Said(str(FALLBACK), raw, "unknown")
    return Said(_fill(*found), raw, found[0].code)
