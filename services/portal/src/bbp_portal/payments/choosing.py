"""Ticking pending bills into the person's server-side selection (``basket``), and the
sticky bar that shows its running count and total.

A tick or an untick on the pending page is an htmx POST of one bill (or of the page's bills,
from the header box) answered with the bar alone; "select all matching" and "clear" are
ordinary forms answered with the pending page again (its boxes show the new selection).
Without script every one of them is an ordinary form and comes back to the page.
``views`` routes them (endpoints ``payments.choose`` and ``payments.pending``'s bar).
"""

from __future__ import annotations

from typing import Any

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from bbp_portal.auth import OPERATORS, role_required
from bbp_portal.payments import basket, selection
from bbp_portal.service_errors import ServiceError
from bbp_portal.view_context import engine

#: What the choose form may do besides ticking: tick every bill matching, or clear.
ACTIONS = ("matching", "clear")


def _ids(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip().isdigit()]


def bar_context(login_id: str) -> dict[str, Any]:
    """What the sticky bar shows: the selection's tally, and whether it is over the cap."""
    cap = selection.policy().max_bills
    with engine().connect() as conn:
        found = basket.tally(conn, login_id)
    return {"chosen": found, "chosen_cap": cap, "chosen_over": found.count > cap}


#: Marks an answer that is the bar (``portal.js`` swaps in nothing else: an ended session's
#: sign-in page reloads the page instead).
BAR_HEADER = "X-BBP-Selection"


def render_bar(login_id: str) -> Any:
    answer = make_response(render_template("payments/_selection_bar.html", **bar_context(login_id)))
    answer.headers[BAR_HEADER] = "1"
    return answer


@role_required(*OPERATORS)
def choose() -> Any:
    """Tick (``ticked`` present) or untick ``bill`` / ``page`` (comma-separated ids), or —
    ``action`` — tick every fresh bill matching the filter given, or clear the selection."""
    form = request.form
    login_id = selection.login_id()
    action = form.get("action", "")
    found_filter = None
    try:
        found_filter = selection.pending_filter(form)
    except ServiceError as exc:
        flash(exc.message, "warning")
    back_args = {k: v for k, v in (found_filter.as_dict() if found_filter else {}).items() if v}
    if form.get("size"):
        back_args["size"] = selection.page_size(form)
    back = url_for("payments.pending", **back_args)
    if action == "clear":
        with engine().begin() as conn:
            basket.clear(conn, login_id)
        flash(_("The selection is cleared."), "info")
        return redirect(back)
    if action == "matching":
        if found_filter is None:
            return redirect(back)
        policy = selection.policy()
        with engine().begin() as conn:
            matched = basket.add_matching(
                conn,
                login_id,
                found_filter,
                max_bill_age=policy.max_bill_age,
                cap=policy.max_bills,
            )
        if matched is None:
            flash(
                _(
                    "More than %(cap)s bills match: narrow the filter.",
                    cap=f"{policy.max_bills:,}",
                ),
                "warning",
            )
        else:
            flash(
                ngettext(
                    "%(count)s matching bill is selected (bills fetched too long ago are left"
                    " out: fetch them again).",
                    "%(count)s matching bills are selected (bills fetched too long ago are left"
                    " out: fetch them again).",
                    matched,
                    count=f"{matched:,}",
                ),
                "success",
            )
        return redirect(back)
    ids = _ids(form.get("bill", "")) + _ids(form.get("page", ""))
    with engine().begin() as conn:
        if form.get("ticked"):
            basket.add(conn, login_id, ids)
        else:
            basket.remove(conn, login_id, ids)
    if request.headers.get("HX-Request"):
        return render_bar(login_id)
    return redirect(back)


__all__ = ["ACTIONS", "BAR_HEADER", "bar_context", "choose", "render_bar"]
