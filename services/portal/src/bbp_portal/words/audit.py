"""The audit log in words: each action's name, and an entry's details as a short sentence.

Why here: the request page's history and the audit log page show the same entries; the
action code and the raw JSON stay behind the "details" toggle (and in the API and the
filters), a person reads words.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from bbp_portal.words.causes import Said, request_cause

#: Every action the portal and the scheduler write to ``audit_log``.
ACTIONS: dict[str, Any] = {
    "login": _l("signed in"),
    "login_otp": _l("one-time code at sign-in"),
    "logout": _l("signed out"),
    "session_expired": _l("session expired"),
    "password_change": _l("password changed"),
    "password_reset": _l("password reset"),
    "step_up": _l("confirmed with password and code"),
    "user_add": _l("user added"),
    "user_update": _l("user changed"),
    "user_enable": _l("user enabled"),
    "user_disable": _l("user disabled"),
    "notification_resend": _l("e-mail or SMS sent again"),
    "account.create": _l("account added"),
    "account.update": _l("account changed"),
    "account.delete": _l("account deleted"),
    "account.activate": _l("account activated"),
    "account.deactivate": _l("account deactivated"),
    "accounts.upload.validate": _l("upload checked"),
    "accounts.upload.import": _l("upload imported"),
    "accounts.upload.discard": _l("upload discarded"),
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
    "api_token.call": _l("API call"),
    "biller.create": _l("biller added"),
    "biller.update": _l("biller changed"),
    "biller.activate": _l("biller activated"),
    "biller.deactivate": _l("biller deactivated"),
    "group.create": _l("group created"),
    "group.rename": _l("group renamed"),
    "group.delete": _l("group deleted"),
    "request.fetch_created": _l("fetch request created"),
    "request.payment_created": _l("payment request created"),
    "request.pay_again_started": _l("paying again started"),
    "request.approved": _l("request approved"),
    "request.rejected": _l("request rejected"),
    "request.cancelled": _l("request cancelled"),
    "request.paused": _l("request paused"),
    "request.auto_paused": _l("request paused by the system"),
    "request.resumed": _l("request resumed"),
    "request.too_large": _l("request refused: too large"),
    "request.changed_amounts_approved": _l("changed amounts approved"),
    "request.changed_amounts_cancelled": _l("changed amounts cancelled"),
    "payment.resolved": _l("uncleared payment resolved"),
    "payment.check_requested": _l("Mobiquity asked once more"),
    "payment.anomaly_acknowledged": _l("disagreeing answer acknowledged"),
    "wallet_breaker.closed": _l("wallet breaker closed"),
}


def action_name(code: str | None) -> str:
    if not code:
        return ""
    word = ACTIONS.get(code)
    return str(word) if word is not None else code.replace("_", " ").replace(".", ": ")


def _count(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def details_said(raw: str | None) -> Said | None:
    """An entry's ``details`` JSON as a sentence of what a person needs (a comment, counts,
    a total, a reason); the JSON itself is the raw part, for the toggle."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return Said("", raw, "text")
    if not isinstance(data, dict):
        return Said("", raw, "text")
    words: list[str] = []
    if isinstance(data.get("reason"), str) and data["reason"].startswith(("auto-paused", "paused")):
        said = request_cause(data["reason"])
        if said is not None and said.code != "unknown":
            words.append(said.sentence)
    if (n := _count(data, "payments")) is not None:
        words.append(ngettext("%(num)s payment", "%(num)s payments", n))
    if (n := _count(data, "items")) is not None:
        words.append(ngettext("%(num)s account", "%(num)s accounts", n))
    if (n := _count(data, "bills")) is not None:
        words.append(ngettext("%(num)s bill", "%(num)s bills", n))
    if (n := _count(data, "cancelled_payments")) is not None and n:
        words.append(ngettext("%(num)s payment cancelled", "%(num)s payments cancelled", n))
    if data.get("total") not in (None, ""):
        words.append(_("%(total)s BDT", total=data["total"]))
    if data.get("resolution") in ("paid", "not_paid"):
        words.append(
            _("recorded as paid") if data["resolution"] == "paid" else _("recorded as not paid")
        )
    if data.get("reference_id"):
        words.append(_("payment %(ref)s", ref=data["reference_id"]))
    if isinstance(data.get("comment"), str) and data["comment"]:
        words.append(_("“%(comment)s”", comment=data["comment"]))
    return Said(" · ".join(words), raw, "audit")
