"""The names people read for states and statuses (English and Bangla through the ``.po``).

Why lazy strings in dictionaries: the code stays the key (data attributes, the API, CSS
classes use it), and the word is chosen in the reader's language when the page is drawn,
never stored in English.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

Names = dict[str, Any]  # lazy strings: the word is read when drawn

PAYMENT_STATES: Names = {
    "scheduled": _l("scheduled"),
    "queued": _l("waiting to be sent"),
    "dispatched": _l("being sent"),
    "sending": _l("being sent"),
    "posted": _l("submitted"),
    "succeeded": _l("paid"),
    "failed": _l("failed"),
    "ambiguous": _l("waiting for Mobiquity's answer"),
    "uncleared": _l("uncleared: a person decides"),
    "cancelled": _l("cancelled"),
    "unsent": _l("not sent"),
    # the request page's groups of states
    "in_flight": _l("being sent"),
}

REQUEST_STATES: Names = {
    "awaiting_approval": _l("awaiting approval"),
    "scheduled": _l("scheduled"),
    "rejected": _l("rejected"),
    "queued": _l("queued"),
    "running": _l("running"),
    "paused": _l("paused"),
    "enquiring": _l("waiting for Mobiquity's answers"),
    "finished": _l("finished"),
    "cancelled": _l("cancelled"),
}

#: A fetch item's state or outcome (the request page shows the outcome once it is done).
FETCH_STATUSES: Names = {
    "queued": _l("queued"),
    "dispatched": _l("being fetched"),
    "done": _l("done"),
    "cancelled": _l("cancelled"),
    "bills": _l("bills found"),
    "no_bills": _l("no bill"),
    "failed": _l("failed"),
}

#: What Mobiquity said when asked about a payment (an enquiry or a person's "check now").
ENQUIRY_OUTCOMES: Names = {
    "succeeded": _l("it was paid"),
    "failed": _l("it failed"),
    "pending": _l("it is still being processed"),
    "not_found": _l("it has no record of it"),
    "unknown": _l("no answer"),
}

BREAKER_STATES: Names = {
    "closed": _l("closed: payments go"),
    "probing": _l("proving the wallet: one payment first"),
    "open": _l("open: payments are stopped"),
    "resuming": _l("resuming: one payment at a time"),
}

REQUEST_KINDS: Names = {"fetch": _l("fetch"), "payment": _l("payment")}

#: Audit outcomes.
OUTCOMES: Names = {
    "ok": _l("done"),
    "failed": _l("failed"),
    "denied": _l("refused"),
    "otp_sent": _l("one-time code sent"),
}


def name(names: Names, code: str | None) -> str:
    """The word for ``code``; an unknown code reads as itself, spaced (never a blank)."""
    if not code:
        return ""
    word = names.get(str(code))
    return str(word) if word is not None else str(code).replace("_", " ")


NOTIFICATION_KINDS: Names = {
    "request_finished": _l("request finished"),
    "payments_attention": _l("payments need attention"),
    "request_paused": _l("request paused"),
    "approval_needed": _l("approval needed"),
    "request_approved": _l("request approved"),
    "request_rejected": _l("request rejected"),
    "payment_submitted": _l("payment submitted"),
    "password_changed": _l("password changed"),
    "wallet_breaker_opened": _l("payments stopped (wallet PIN)"),
}

CHANNELS: Names = {"email": _l("e-mail"), "sms": _l("SMS")}

NOTIFICATION_STATES: Names = {
    "pending": _l("waiting to be sent"),
    "sent": _l("sent"),
    "failed": _l("failed for now"),
    "dead": _l("given up"),
}

UPLOAD_STATES: Names = {
    "validated": _l("checked, not imported yet"),
    "imported": _l("imported"),
    "discarded": _l("discarded"),
}
