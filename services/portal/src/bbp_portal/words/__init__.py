"""Every word a person reads for a state, a status or a reason: one catalogue.

``names`` holds the words for states and statuses, ``causes`` the sentences for the causes
the code writes. This module gives the pages what they call (:func:`init_words` makes them
template globals): a payment's reason (:func:`payment_reason`), a fetch item's error, a
request's pause, the wallet breaker's opening, an actor ("the system" for a service, never a
host and process id), a request's selection in words. Each reason comes as a
:class:`~bbp_portal.words.causes.Said`: the sentence, and the raw text the
``words/_said.html`` macro puts behind a "details" toggle.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from bbp_portal.words import causes, names
from bbp_portal.words.audit import action_name, details_said
from bbp_portal.words.causes import Said, fetch_error, payment_cause, request_cause
from bbp_portal.words.names import name

#: Why a payment is failed, by its ``failure`` column (the domain's ``Failure``).
FAILURES = {
    "rejected": _l("Mobiquity refused the payment."),
    "enquiry": _l("Asked, Mobiquity said the payment failed."),
    "not_found": _l("Asked, Mobiquity has no record of the payment: it never arrived."),
    "person": _l("A person checked Mobiquity's reports and recorded it as not paid."),
}

SYSTEM = _l("the system")


def actor_name(actor: str | None) -> str:
    """Who did it, for a person: a login id, or "the system" for a service (whose actor is
    ``scheduler:<name>@<host>:<pid>``, ``system`` or the like)."""
    if not actor:
        return str(SYSTEM)
    if actor.startswith("portal:"):
        return actor.removeprefix("portal:")
    if actor == "system" or ":" in actor or "@" in actor:
        return str(SYSTEM)
    return actor


def payment_reason(p: Any) -> Said | None:
    """Why payment row ``p`` is where it is (its ``failure``, ``reason`` and Mobiquity's
    ``error_*``), or None when there is nothing to say. Mobiquity's code and message go in
    the raw part (the details), never in the sentence."""
    mobiquity = " ".join(
        x
        for x in (
            "/".join(
                c
                for c in (getattr(p, "error_code", None), getattr(p, "error_detail_code", None))
                if c
            ),
            getattr(p, "error_message", None) or "",
        )
        if x
    )
    reason = getattr(p, "reason", None)
    raw = " · ".join(x for x in (mobiquity, reason or "") if x)
    failure = getattr(p, "failure", None)
    if getattr(p, "state", None) == "failed" and failure in FAILURES:
        return Said(str(FAILURES[failure]), raw, f"failed_{failure}")
    said = payment_cause(reason)
    if said is None:
        return Said(str(causes.FALLBACK), raw, "unknown") if raw else None
    return Said(said.sentence, raw, said.code)


def breaker_reason(text: str | None) -> Said | None:
    """Why the paying wallet's breaker opened."""
    return payment_cause(text)


_IDS = re.compile(r"^ids:(?P<ids>[\d,]*)(?: \(\+(?P<more>\d+) more\))?$")
_PAY_AGAIN = re.compile(
    r"^pay again: (?P<n>\d+) bills that failed in payment request #(?P<id>\d+)$"
)
_CHOSEN = re.compile(r"^(?P<n>\d+) chosen bills(?: of fetch request #(?P<id>\d+))?$")
_PENDING_KEYS = {
    "utility": _l("biller %(v)s"),
    "group_id": _l("group #%(v)s"),
    "group": _l("group %(v)s"),
    "due_from": _l("due from %(v)s"),
    "due_to": _l("due until %(v)s"),
    "request": _l("found by fetch request #%(v)s"),
    "q": _l("matching “%(v)s”"),
    "status": _l("status %(v)s"),
}


def _conditions(text: str, separator: str) -> str:
    parts = []
    for part in (p for p in text.split(separator) if p):
        key, _eq, value = part.strip().partition("=")
        template = _PENDING_KEYS.get(key)
        parts.append(str(template) % {"v": value} if template else part.strip())
    return ", ".join(parts)


def selection_words(text: str | None) -> Said | None:
    """What a request covers, from ``bulk_requests.selection`` (written by the code that
    made it), as words: "12 accounts ticked", "every account, biller DESCO", "the pending
    bills found by fetch request #4", "3 bills chosen"."""
    if not text:
        return None
    raw = text.strip()
    if match := _IDS.match(raw):
        n = len([i for i in match["ids"].split(",") if i]) + int(match["more"] or 0)
        return Said(ngettext("%(num)s account ticked", "%(num)s accounts ticked", n), raw, "ids")
    if raw == "all":
        return Said(_("every account"), raw, "all")
    if raw.startswith("all:"):
        return Said(_("every account: %(what)s", what=_conditions(raw[4:], ";")), raw, "all")
    if raw == "pending bills":
        return Said(_("every pending bill"), raw, "pending")
    if raw.startswith("pending bills where "):
        what = _conditions(raw.removeprefix("pending bills where "), ",")
        return Said(_("the pending bills: %(what)s", what=what), raw, "pending")
    if match := _PAY_AGAIN.match(raw):
        n = int(match["n"])
        return Said(
            ngettext(
                "pays again %(num)s bill that failed in payment request #%(id)s",
                "pays again %(num)s bills that failed in payment request #%(id)s",
                n,
                id=match["id"],
            ),
            raw,
            "pay_again",
        )
    if match := _CHOSEN.match(raw):
        n = int(match["n"])
        if match["id"]:
            sentence = ngettext(
                "%(num)s bill chosen, found by fetch request #%(id)s",
                "%(num)s bills chosen, found by fetch request #%(id)s",
                n,
                id=match["id"],
            )
        else:
            sentence = ngettext("%(num)s bill chosen", "%(num)s bills chosen", n)
        return Said(sentence, raw, "chosen")
    # A person's own words (a selection typed on the pending page) read as they are.
    return Said(raw, raw, "text")


def init_words(app: Flask) -> None:
    """The catalogue's words as template globals (read in the reader's language)."""
    app.jinja_env.globals.update(
        payment_state=lambda code: name(names.PAYMENT_STATES, code),
        request_state_name=lambda code: name(names.REQUEST_STATES, code),
        fetch_status=lambda code: name(names.FETCH_STATUSES, code),
        breaker_state=lambda code: name(names.BREAKER_STATES, code),
        enquiry_outcome=lambda code: name(names.ENQUIRY_OUTCOMES, code),
        request_kind=lambda code: name(names.REQUEST_KINDS, code),
        audit_outcome=lambda code: name(names.OUTCOMES, code),
        upload_state=lambda code: name(names.UPLOAD_STATES, code),
        notification_kind=lambda code: name(names.NOTIFICATION_KINDS, code),
        channel_name=lambda code: name(names.CHANNELS, code),
        notification_state=lambda code: name(names.NOTIFICATION_STATES, code),
        payment_reason=payment_reason,
        payment_cause=payment_cause,
        request_cause=request_cause,
        fetch_error=fetch_error,
        breaker_reason=breaker_reason,
        actor_name=actor_name,
        selection_words=selection_words,
        audit_action=action_name,
        audit_said=details_said,
    )


__all__ = [
    "Said",
    "actor_name",
    "breaker_reason",
    "fetch_error",
    "init_words",
    "payment_cause",
    "payment_reason",
    "request_cause",
    "selection_words",
]
