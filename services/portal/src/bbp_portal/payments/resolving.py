"""The pages of bulk resolution (issue 18): the uncleared payments to choose from, the
confirmation (what each chosen payment becomes, which are refused and why, whether a second
superadmin must approve, the step-up), and the bulk resolutions themselves (the waiting ones
approved or rejected by another superadmin). The rules are ``resolutions``'; ``views``
routes here (endpoints ``payments.resolve_many`` …).

``/payments/resolve-many`` takes, by GET or POST, ``ids`` (repeated: preselected payments),
``reconciliation`` (the reconciliation the evidence comes from: carried into each payment's
comment and audit entry) and ``outcome`` (a hint): the reconciliation page sends its
"definitive line for an open payment" rows here. The chosen selection, outcome and comment
wait in the session under a key (the selection may be thousands of ids: too long for an
address) while the person confirms, and steps up for that key.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from bbp_portal.auth import refused_or_step_up, role_required, step_up_until
from bbp_portal.auth.access import current_user, login_required
from bbp_portal.billers.service import list_billers
from bbp_portal.payments import resolution_records as records
from bbp_portal.payments import resolutions, uncleared
from bbp_portal.payments.confirming import FLASH_PROBLEMS, KEY
from bbp_portal.payments.deciding import approve_as_me, confirm_as_me
from bbp_portal.service_errors import Forbidden, NotFound, Refused, ServiceError
from bbp_portal.view_context import actor, engine, settings

#: The session's waiting confirmations of bulk resolutions (key → what was chosen).
DRAFTS = "bulk_resolve_drafts"
#: Confirmations kept at once (other tabs); the oldest goes first.
MAX_DRAFTS = 3


def refusal_text(code: str) -> str:
    """Why a chosen payment is not resolved, in words."""
    texts = {
        "not_uncleared": _("it is not uncleared (only an uncleared payment is resolved)"),
        "success_unacknowledged": _(
            "Mobiquity answered that it succeeded and nobody acknowledged that yet"
        ),
        "in_pending": _("it waits in another bulk resolution"),
        "not_found": _("there is no such payment"),
    }
    return texts.get(code, code)


def message_of(exc: ServiceError) -> str:
    """A refusal of ``resolutions`` in the person's language (its own English otherwise)."""
    texts = {
        "maker_cannot_approve": _(
            "You made this bulk resolution: another superadmin must approve it."
        ),
        "not_awaiting_approval": _("This bulk resolution no longer waits for approval."),
        "comment_required": _("A comment is required."),
        "comment_too_long": _("The comment is too long."),
        "invalid_resolution": _('Choose "It was paid" or "It was not paid".'),
        "nothing_chosen": _("Tick at least one payment to resolve."),
        "too_many_payments": _(
            "More than %(cap)s payments are chosen: narrow the filter.",
            cap=f"{uncleared.MAX_PAYMENTS:,}",
        ),
    }
    return texts.get(exc.code, exc.message)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filter(values: MultiDict[str, str]) -> uncleared.UnclearedFilter:
    return uncleared.UnclearedFilter(
        request_id=_int(values.get("request")),
        utility=values.get("utility", "")[:16],
        since=_day(values.get("from")),
        until=_day(values.get("to")),
    )


def _ids(values: MultiDict[str, str]) -> list[int]:
    raw = [part for v in values.getlist("ids") for part in v.split(",")]
    return sorted({int(v) for v in raw if v.strip().isdigit()})


def _threshold() -> Any:
    return settings().bulk_resolve_second_approval_above


# --------------------------------------------------------------------------- choosing


@role_required("superadmin")
def resolve_many() -> Any:
    """GET (or a POST from another page, e.g. a reconciliation's rows): the uncleared
    payments to choose from, the ``ids`` given ticked. POST with ``review``: the person chose
    — keep the choice in the session and show the confirmation."""
    values = request.form if request.method == "POST" else request.args
    if request.method == "POST" and values.get("review") == "1":
        return _review(values)
    flt = _filter(values)
    chosen = _ids(values)
    with engine().connect() as conn:
        try:
            page = uncleared.list_uncleared(conn, flt, before=_int(values.get("before")))
            preselected = uncleared.preview(conn, chosen, "paid", None) if chosen else None
        except ServiceError as exc:
            flash(exc.message, "warning")
            return redirect(url_for("payments.resolve_many"))
        billers = list_billers(conn)
    outcome = values.get("outcome", "")
    return render_template(
        "payments/resolve_many.html",
        page=page,
        filter=flt,
        keep=flt.as_args(),
        billers=billers,
        preselected=preselected,
        outcome=outcome if outcome in uncleared.OUTCOMES else "",
        reconciliation=_int(values.get("reconciliation")),
        comment=values.get("comment", ""),
        refusal_text=refusal_text,
        comment_max=uncleared.COMMENT_MAX,
        threshold=_threshold(),
    )


def _back(values: MultiDict[str, str]) -> Any:
    return redirect(url_for("payments.resolve_many", **_filter(values).as_args()))


def _review(values: MultiDict[str, str]) -> Any:
    outcome = values.get("outcome", "")
    if outcome not in uncleared.OUTCOMES:
        flash(_('Choose "It was paid" or "It was not paid".'), "warning")
        return _back(values)
    comment = " ".join((values.get("comment") or "").split())
    if not comment:
        flash(_("Say what Mobiquity's report shows: a comment is required."), "warning")
        return _back(values)
    if len(comment) > uncleared.COMMENT_MAX:
        flash(_("The comment is at most %(n)s characters.", n=uncleared.COMMENT_MAX), "warning")
        return _back(values)
    if values.get("scope") == "filter":
        with engine().connect() as conn:
            ids = uncleared.uncleared_ids(conn, _filter(values))
    else:
        ids = _ids(values)
    if not ids:
        flash(_("Tick at least one payment to resolve."), "warning")
        return _back(values)
    if len(ids) > uncleared.MAX_PAYMENTS:
        flash(
            _(
                "More than %(cap)s payments are chosen: narrow the filter.",
                cap=f"{uncleared.MAX_PAYMENTS:,}",
            ),
            "warning",
        )
        return _back(values)
    key = secrets.token_urlsafe(24)
    drafts = dict(session.get(DRAFTS) or {})
    while len(drafts) >= MAX_DRAFTS:
        drafts.pop(next(iter(drafts)))
    drafts[key] = {
        "ids": ids,
        "outcome": outcome,
        "comment": comment,
        "reconciliation": _int(values.get("reconciliation")),
    }
    session[DRAFTS] = drafts
    return redirect(url_for("payments.resolve_many_confirm", key=key))


# --------------------------------------------------------------------------- confirming


def _draft(key: str) -> dict[str, Any] | None:
    if not KEY.match(key):
        return None
    found = (session.get(DRAFTS) or {}).get(key)
    return found if isinstance(found, dict) else None


def _step_up_url(key: str) -> str:
    here = url_for("payments.resolve_many_confirm", key=key)
    return url_for("auth.step_up", action="resolve", target=key, next=here)


def _ended() -> Any:
    flash(_("That step has ended. Please start again."), "warning")
    return redirect(url_for("payments.resolve_many"))


@role_required("superadmin")
def resolve_many_confirm(key: str) -> Any:
    """What confirming will do, before anything changes."""
    draft = _draft(key)
    if draft is None:
        return _ended()
    with engine().connect() as conn:
        plan = uncleared.preview(conn, draft["ids"], draft["outcome"], _threshold())
    until = step_up_until("resolve", key)
    return render_template(
        "payments/resolve_many_confirm.html",
        plan=plan,
        key=key,
        comment=draft["comment"],
        reconciliation=draft.get("reconciliation"),
        refusal_text=refusal_text,
        payment_sms=settings().notify_payment_sms,
        step_up_needed=settings().step_up,
        step_up_until=datetime.fromtimestamp(until, UTC) if until else None,
        step_up_url=_step_up_url(key),
    )


def _refused_text(refused: list[tuple[str, str]]) -> str:
    parts = [f"{ref}: {refusal_text(code)}" for ref, code in refused[:FLASH_PROBLEMS]]
    more = len(refused) - FLASH_PROBLEMS
    text = _("Not resolved:") + " " + "; ".join(parts)
    return text + (" " + _("and %(n)s more.", n=more) if more > 0 else "")


@role_required("superadmin")
def resolve_many_apply(key: str) -> Any:
    draft = _draft(key)
    if draft is None:
        return _ended()
    here = url_for("payments.resolve_many_confirm", key=key)
    try:
        done = confirm_as_me(
            draft["ids"],
            draft["outcome"],
            draft["comment"],
            key,
            reconciliation_id=draft.get("reconciliation"),
        )
    except Refused as exc:
        flash(
            _("None of the chosen payments can be resolved now.")
            + " "
            + _refused_text(list(exc.details.items())),
            "danger",
        )
        return redirect(here)
    except Forbidden as exc:
        if exc.code != "step_up_required":
            raise
        flash(_("Confirm it is you first: a step-up lasts a few minutes only."), "warning")
        return redirect(_step_up_url(key))
    except ServiceError as exc:
        flash(message_of(exc), "danger")
        return redirect(here)
    if done.state == "awaiting_approval":
        flash(
            _(
                "Bulk resolution #%(id)s waits for another superadmin's approval: its total "
                "is above the limit. The payments stay uncleared until then.",
                id=done.resolution_id,
            ),
            "warning",
        )
    elif done.existing:
        flash(_("This confirmation was already submitted: here is what it did."), "info")
    else:
        flash(
            _("Resolved %(n)s payments.", n=f"{len(done.resolved):,}"),
            "success",
        )
    if done.refused and not done.existing:
        flash(_refused_text(done.refused), "warning")
    return redirect(url_for("payments.resolution", resolution_id=done.resolution_id))


# --------------------------------------------------------------------------- the resolutions


@login_required
def resolutions_index() -> Any:
    state = request.args.get("state", "")
    with engine().connect() as conn:
        found = records.list_resolutions(conn, state or None)
    return render_template("payments/resolutions.html", found=found, state=state)


@login_required
def resolution(resolution_id: int) -> Any:
    with engine().connect() as conn:
        try:
            row, items = records.get_resolution(conn, resolution_id)
        except NotFound:
            abort(404)
    user = current_user()
    waits = row.state == "awaiting_approval"
    is_maker = bool(user and user.login_id.lower() == row.created_by.lower())
    until = step_up_until("resolution", str(resolution_id))
    here = url_for("payments.resolution", resolution_id=resolution_id)
    return render_template(
        "payments/resolution.html",
        r=row,
        items=items,
        refusal_text=refusal_text,
        is_maker=is_maker,
        can_approve=bool(user and user.is_superadmin) and waits and not is_maker,
        can_reject=bool(user and user.is_superadmin) and waits,
        step_up_needed=settings().step_up,
        step_up_until=datetime.fromtimestamp(until, UTC) if until else None,
        step_up_url=url_for(
            "auth.step_up", action="resolution", target=str(resolution_id), next=here
        ),
    )


@role_required("superadmin")
def approve_resolution(resolution_id: int) -> Any:
    here = url_for("payments.resolution", resolution_id=resolution_id)
    try:
        done = approve_as_me(resolution_id, request.form.get("comment"))
    except NotFound:
        abort(404)
    except Forbidden as exc:
        return refused_or_step_up(exc, "resolution", resolution_id, here, message_of(exc))
    except ServiceError as exc:
        flash(message_of(exc), "danger")
        return redirect(here)
    flash(_("Approved: resolved %(n)s payments.", n=f"{len(done.resolved):,}"), "success")
    if done.refused:
        flash(_refused_text(done.refused), "warning")
    return redirect(here)


@role_required("superadmin")
def reject_resolution(resolution_id: int) -> Any:
    here = url_for("payments.resolution", resolution_id=resolution_id)
    try:
        resolutions.reject(engine(), actor(), resolution_id, request.form.get("comment"))
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(message_of(exc), "danger")
    else:
        flash(_("Rejected: its payments stay uncleared."), "success")
    return redirect(here)


__all__ = [
    "approve_resolution",
    "refusal_text",
    "reject_resolution",
    "resolution",
    "resolutions_index",
    "resolve_many",
    "resolve_many_apply",
    "resolve_many_confirm",
]
