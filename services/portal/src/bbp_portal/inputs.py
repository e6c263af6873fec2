"""Every query parameter and form field of the pages, checked before the view runs.

The pages' views read their filters leniently (a date that does not parse, an unknown state
or a search too long used to be dropped or cut without a word). Here each page names the
parameters it takes and what each one is — a day, a whole number, one of some values, a text
of at most N characters, an id that must exist — and a request that breaks one gets our
error page (or, under ``/api/v1``, a JSON error) saying which parameter and why; a parameter
the page does not take, or one given twice, is refused the same way. A view therefore only
ever sees values it understands. The API's own parameters are checked by its marshmallow
schemas; here it gets the address-length and repeated-parameter checks.

The address: gunicorn answers a request line longer than its ``limit_request_line`` itself,
with a raw page. ``gunicorn.conf.py`` raises that limit to its maximum (8 190 bytes) and the
portal refuses, below it, any query string over :data:`MAX_QUERY_CHARS` with its own page.

A page added later must list its parameters in :data:`PAGES` (a test walks the URL map).

Why one module of more than 400 lines: one table of every page's parameters, so that a page
without its declaration fails a test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from flask import Flask, request
from flask_babel import gettext
from sqlalchemy import Connection, select
from werkzeug.datastructures import MultiDict

from bbp_common.platform.db.tables import (
    RECONCILIATION_CLASSES,
    account_groups,
    bulk_requests,
)
from bbp_portal.files.limits import N_
from bbp_portal.service_errors import ServiceError
from bbp_portal.view_context import engine

#: Longest query string the portal reads (characters of the raw query); gunicorn's own limit
#: on the whole request line is 8 190 bytes, so anything between gets our page, not its own.
MAX_QUERY_CHARS = 4096
#: Longest value of a text field of a form, when its page names no other limit.
MAX_FIELD_CHARS = 10_000


class BadInput(ServiceError):
    """A parameter or field the page cannot use: our error page, or the API's JSON error."""

    def __init__(self, code: str, message: str, field: str | None, status: int = 400) -> None:
        super().__init__(code, message, field)
        self.status = status


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """What one parameter is. ``label`` names it for people (translated when shown)."""

    label: str

    def check(self, name: str, value: str) -> None:
        raise NotImplementedError


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


@dataclass(frozen=True)
class Text(Kind):
    limit: int = 64

    def check(self, name: str, value: str) -> None:
        if len(value) > self.limit:
            raise BadInput(
                "too_long",
                gettext(
                    "%(field)s is longer than %(limit)s characters (it has %(size)s).",
                    field=gettext(self.label),
                    limit=f"{self.limit:,}",
                    size=f"{len(value):,}",
                ),
                name,
            )


@dataclass(frozen=True)
class Day(Kind):
    def check(self, name: str, value: str) -> None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(value)
            date.fromisoformat(value)
        except ValueError:
            raise BadInput(
                "invalid_date",
                gettext(
                    "%(field)s is not a date: %(value)s. Write it as YYYY-MM-DD, e.g. 2026-12-31.",
                    field=gettext(self.label),
                    value=_shown(value),
                ),
                name,
            ) from None


@dataclass(frozen=True)
class Moment(Kind):
    """A day and a time as a page's ``datetime-local`` field sends it (``2026-12-31T09:30``)."""

    def check(self, name: str, value: str) -> None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", value):
                raise ValueError(value)
            datetime.fromisoformat(value)
        except ValueError:
            raise BadInput(
                "invalid_moment",
                gettext(
                    "%(field)s is not a day and time: %(value)s. Write it as "
                    "YYYY-MM-DDTHH:MM, e.g. 2026-12-31T09:30.",
                    field=gettext(self.label),
                    value=_shown(value),
                ),
                name,
            ) from None


#: Whole numbers the database can hold (BIGINT).
_LARGEST = 2**63 - 1


@dataclass(frozen=True)
class Whole(Kind):
    """A whole number ≥ ``least``; with ``exists``, the id of a row that must exist."""

    least: int = 0
    most: int = _LARGEST
    exists: Callable[[Connection, int], bool] | None = None
    missing: str = ""

    def check(self, name: str, value: str) -> None:
        self.number(name, value)

    def number(self, name: str, value: str) -> int:
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 19:
            raise BadInput(
                "not_a_number",
                gettext(
                    "%(field)s must be a whole number, not %(value)s.",
                    field=gettext(self.label),
                    value=_shown(value),
                ),
                name,
            )
        number = int(text)
        if not self.least <= number <= self.most:
            raise BadInput(
                "out_of_range",
                gettext(
                    "%(field)s must be between %(least)s and %(most)s.",
                    field=gettext(self.label),
                    least=f"{self.least:,}",
                    most=f"{self.most:,}",
                ),
                name,
            )
        return number


@dataclass(frozen=True)
class OneOf(Kind):
    values: Collection[str] = ()

    def check(self, name: str, value: str) -> None:
        if value not in self.values:
            raise BadInput(
                "invalid_choice",
                gettext(
                    "%(field)s cannot be %(value)s; it is one of: %(allowed)s.",
                    field=gettext(self.label),
                    value=_shown(value),
                    allowed=", ".join(sorted(self.values)),
                ),
                name,
            )


@dataclass(frozen=True)
class Amount(Kind):
    """An amount of money in BDT: digits, at most two after the point (``1250.50``)."""

    def check(self, name: str, value: str) -> None:
        if not re.fullmatch(r"\d{1,12}(\.\d{1,2})?", value.strip()):
            raise BadInput(
                "not_an_amount",
                gettext(
                    "%(field)s must be an amount in BDT, e.g. 1250.50, not %(value)s.",
                    field=gettext(self.label),
                    value=_shown(value),
                ),
                name,
            )


@dataclass(frozen=True)
class Ids(Kind):
    """Ids given as repeated fields and/or comma-separated (the pages' "ticked" boxes)."""

    limit: int = 20_000

    def check(self, name: str, value: str) -> None:
        Whole(self.label).check(name, value)

    def check_all(self, name: str, values: list[str]) -> None:
        parts = [p for v in values for p in v.split(",")]
        if len(parts) > self.limit:
            raise BadInput(
                "too_many_values",
                gettext(
                    "%(field)s holds more than %(limit)s values.",
                    field=gettext(self.label),
                    limit=f"{self.limit:,}",
                ),
                name,
            )
        for part in parts:
            if part.strip():
                self.check(name, part)


def _group_exists(conn: Connection, group_id: int) -> bool:
    found = conn.execute(select(account_groups.c.id).where(account_groups.c.id == group_id))
    return found.first() is not None


def _payment_request_exists(conn: Connection, request_id: int) -> bool:
    found = conn.execute(
        select(bulk_requests.c.id).where(
            bulk_requests.c.id == request_id, bulk_requests.c.kind == "payment"
        )
    )
    return found.first() is not None


def _fetch_request_exists(conn: Connection, request_id: int) -> bool:
    found = conn.execute(
        select(bulk_requests.c.id).where(
            bulk_requests.c.id == request_id, bulk_requests.c.kind == "fetch"
        )
    )
    return found.first() is not None


# --------------------------------------------------------------------------- the pages

_QUERY = Text(N_("The search"), 64)
_UTILITY = Text(N_("The utility"), 16)
_GROUP = Whole(N_("The group"), 1, exists=_group_exists, missing=N_("There is no group #%(id)s."))
_FETCH = Whole(
    N_("The fetch request"),
    1,
    exists=_fetch_request_exists,
    missing=N_("There is no fetch request #%(id)s."),
)
_CURSOR = Text(N_("The page position"), 512)
_NEXT = Text(N_("The page to return to"), 2048)
_COMMENT = Text(N_("The comment"), MAX_FIELD_CHARS)
_CSRF = Text(N_("The form's security token"), 512)
_ACCOUNT_STATUS = OneOf(N_("The status"), ("active", "inactive", "all"))
_SELECTION: dict[str, Kind] = {
    "scope": OneOf(N_("The selection"), ("ids", "group", "filter")),
    "ids": Ids(N_("The chosen items")),
    "group_id": _GROUP,
    "q": _QUERY,
    "utility": _UTILITY,
    "status": _ACCOUNT_STATUS,
}
_PENDING: dict[str, Kind] = {
    "utility": _UTILITY,
    "group_id": _GROUP,
    "due_from": Day(N_("The first due date")),
    "due_to": Day(N_("The last due date")),
    "request": _FETCH,
    "amount_min": Amount(N_("The smallest amount")),
    "amount_max": Amount(N_("The largest amount")),
    "consumer": Text(N_("The consumer id"), 64),
}
#: The uncleared payments a bulk resolution chooses from (``payments.resolve_many``).
_UNCLEARED: dict[str, Kind] = {
    "request": Whole(
        N_("The payment request"),
        1,
        exists=_payment_request_exists,
        missing=N_("There is no payment request #%(id)s."),
    ),
    "utility": _UTILITY,
    "from": Day(N_("The first day")),
    "to": Day(N_("The last day")),
}
#: The pending page's size, as the page offers it.
_PAGE_SIZE = OneOf(N_("The page size"), ("25", "50", "100", "200"))
#: When a new payment request pays (its confirmation), and what it pays again.
_WHEN: dict[str, Kind] = {
    "when": OneOf(N_("When to pay"), ("now", "at", "before_due")),
    "start_at": Moment(N_("The start")),
    "days_before": Whole(N_("The days before the due date"), 0, 60),
    "again": Whole(
        N_("The request to pay again"),
        1,
        exists=_payment_request_exists,
        missing=N_("There is no payment request #%(id)s."),
    ),
}


def _pages() -> dict[str, dict[str, Kind]]:
    """Endpoint → the parameters it takes (query for GET, form fields for POST)."""
    from bbp_portal.accounts.listing import SORTS
    from bbp_portal.audit import ACTIONS, OUTCOMES
    from bbp_portal.bulk import queries as request_queries
    from bbp_portal.payments import operations, uncleared
    from bbp_portal.payments import queries as payment_queries
    from bbp_portal.reconcile.reading import MAPPING_FIELDS
    from bbp_portal.requests.items import ITEM_STATUSES

    comment: dict[str, Kind] = {"comment": _COMMENT}
    account_form: dict[str, Kind] = {
        name: Text(N_("The field"), MAX_FIELD_CHARS)
        for name in ("utility_code", "consumer_id", "mobile", "label")
    } | {"group_ids": Ids(N_("The groups"), 1_000)}
    biller_form: dict[str, Kind] = {
        name: Text(N_("The field"), MAX_FIELD_CHARS)
        for name in (
            "utility_code",
            "name",
            "receiver_wallet",
            "biller_code",
            "pays_service_charge",
            "supports_fetch",
            "active",
        )
    } | {"product_id": Whole(N_("The product id"))}
    return {
        # -- GET pages
        "dashboard.home": {},
        "accounts.index": {
            "q": _QUERY,
            "utility": _UTILITY,
            "group_id": _GROUP,
            "status": _ACCOUNT_STATUS,
            "sort": OneOf(N_("The sort order"), tuple(SORTS)),
            "order": OneOf(N_("The direction"), ("asc", "desc")),
            "cursor": _CURSOR,
        },
        "accounts.groups": {},
        "accounts.template": {},
        "accounts.upload": {},
        "accounts.upload_report": {},
        "accounts.upload_report_csv": {},
        "audit.index": {
            "actor": Text(N_("The person"), 64),
            "action": OneOf(N_("The action"), ACTIONS),
            "outcome": OneOf(N_("The outcome"), OUTCOMES),
            "reference": Text(N_("The reference id"), 64),
            "from": Day(N_("The first day")),
            "to": Day(N_("The last day")),
            "size": Whole(N_("The page size"), 1, 200),
            "before": Whole(N_("The page position")),
        },
        "billers.index": {},
        "notifications.index": {"before": Whole(N_("The page position"))},
        "payments.attention": {},
        "payments.pending": _PENDING | {"cursor": _CURSOR, "size": _PAGE_SIZE},
        "payments.confirm": _PENDING
        | _WHEN
        | {
            "scope": OneOf(N_("The selection"), ("ids", "filter", "selection")),
            "ids": Ids(N_("The chosen bills")),
            "selection": Text(N_("The selection"), 400),
            "key": Text(N_("The form's key"), 64),
            "bills_page": Whole(N_("The page of bills"), 1, 100_000),
        },
        "payments.resolve_many": _UNCLEARED
        | comment
        | {
            "before": Whole(N_("The page position")),
            "ids": Ids(N_("The chosen payments"), uncleared.MAX_PAYMENTS),
            "scope": OneOf(N_("The selection"), ("ids", "filter")),
            "outcome": OneOf(N_("The resolution"), uncleared.OUTCOMES),
            "reconciliation": Whole(N_("The reconciliation"), 1),
            "review": OneOf(N_("The confirmation"), ("1",)),
            "csrf_token": _CSRF,
        },
        "payments.resolve_many_confirm": {},
        "payments.resolutions": {"state": OneOf(N_("The state"), uncleared.STATES)},
        "payments.resolution": {},
        "payments.search": {"q": _QUERY},
        "payments.show": {},
        "payments.wallet": {},
        "payments.decide": {},
        "payments.close_breaker_confirm": {},
        "payments_live.enquiry": {"shown": Text(N_("The state shown"), 32)},
        "payments_live.check": {"csrf_token": _CSRF},
        "requests.live": {
            "status": OneOf(N_("The status"), ITEM_STATUSES),
            "state": OneOf(N_("The state"), payment_queries.STATES),
            "utility": _UTILITY,
            "q": _QUERY,
            "cursor": _CURSOR,
        },
        "requests.index": {
            "kind": OneOf(N_("The kind"), request_queries.KINDS),
            "state": OneOf(N_("The state"), request_queries.STATES),
            "created_by": Text(N_("The person"), 64),
            "created_from": Day(N_("The first day")),
            "created_to": Day(N_("The last day")),
            "cursor": _CURSOR,
        },
        "requests.show": {
            "status": OneOf(N_("The status"), ITEM_STATUSES),
            "state": OneOf(N_("The state"), payment_queries.STATES),
            "utility": _UTILITY,
            "q": _QUERY,
            "cursor": _CURSOR,
        },
        "requests.confirm_fetch": _SELECTION,
        "requests.export": {},
        "users.index": {},
        "i18n.switch": {"next": _NEXT},
        "api_tokens.index": {},
        "reconcile.index": {"before": Whole(N_("The page position"))},
        "reconcile.show": {
            "class": OneOf(N_("The class"), RECONCILIATION_CLASSES),
            "after": Whole(N_("The page position")),
        },
        "reconcile.export": {"class": OneOf(N_("The class"), RECONCILIATION_CLASSES)},
        "reconcile.alarm_list": {},
        "api_tokens.everyone": {
            "before": Whole(N_("The page position")),
            "live": OneOf(N_("Live tokens only"), ("1",)),
        },
        # -- POST forms (the CSRF token travels in each)
        "accounts.new": account_form | {"csrf_token": _CSRF},
        "accounts.edit": account_form | {"csrf_token": _CSRF},
        "accounts.create_group": {"name": Text(N_("The name"), 1_000), "csrf_token": _CSRF},
        "accounts.rename_group": {"name": Text(N_("The name"), 1_000), "csrf_token": _CSRF},
        "accounts.set_active": {"csrf_token": _CSRF},
        "accounts.delete": {"csrf_token": _CSRF},
        "accounts.delete_group": {"csrf_token": _CSRF},
        "accounts.upload_post": {"csrf_token": _CSRF},
        "accounts.upload_finish": {"csrf_token": _CSRF},
        "billers.new": biller_form | {"csrf_token": _CSRF},
        "billers.edit": biller_form | {"csrf_token": _CSRF},
        "billers.set_active": {"csrf_token": _CSRF},
        "notifications.resend": {"csrf_token": _CSRF},
        "payments.choose": _PENDING
        | {
            "size": _PAGE_SIZE,
            "action": OneOf(N_("The action"), ("matching", "clear")),
            "bill": Whole(N_("The bill")),
            "page": Ids(N_("The bills of the page"), 1_000),
            "ticked": OneOf(N_("Ticked"), ("1",)),
            "csrf_token": _CSRF,
        },
        "payments.create": _PENDING
        | _WHEN
        | {
            "scope": OneOf(N_("The selection"), ("ids", "filter", "selection")),
            "ids": Ids(N_("The chosen bills")),
            "selection": Text(N_("The selection"), 400),
            "idempotency_key": Text(N_("The form's key"), 64),
            "confirm_url": _NEXT,
            "csrf_token": _CSRF,
        },
        "payments.resolve": comment
        | {
            "resolution": OneOf(N_("The resolution"), tuple(operations.RESOLUTIONS)),
            "confirmed": OneOf(N_("The confirmation"), ("1",)),
            "csrf_token": _CSRF,
        },
        "payments.approve": comment | {"csrf_token": _CSRF},
        "payments.approve_changed": comment | {"csrf_token": _CSRF},
        "payments.cancel_changed": comment | {"csrf_token": _CSRF},
        "payments.pay_again": {"csrf_token": _CSRF},
        "payments.reject": comment | {"csrf_token": _CSRF},
        "payments.pause": comment | {"csrf_token": _CSRF},
        "payments.resume": comment | {"csrf_token": _CSRF},
        "payments.acknowledge": comment | {"csrf_token": _CSRF},
        "payments.close_breaker": comment | {"csrf_token": _CSRF},
        "payments.resolve_many_apply": {"csrf_token": _CSRF},
        "payments.approve_resolution": comment | {"csrf_token": _CSRF},
        "payments.reject_resolution": comment | {"csrf_token": _CSRF},
        "requests.create_fetch": _SELECTION | {"csrf_token": _CSRF},
        "requests.cancel": comment | {"csrf_token": _CSRF},
        "api_tokens.revoke": {"csrf_token": _CSRF, "next": _NEXT},
        "reconcile.upload": {
            "csrf_token": _CSRF,
            "period_from": Day(N_("The first day")),
            "period_to": Day(N_("The last day")),
        }
        | {f"col_{name}": Text(N_("The column mapping"), 400) for name in MAPPING_FIELDS},
        "reconcile.clear_alarm": comment | {"csrf_token": _CSRF},
    }


#: Endpoints whose forms are WTForms forms (each field validated and shown on the form), and
#: which take only ``next`` (and the sign-in page ``restart``) in their query; health checks
#: and static files take nothing.
WTFORMS_PAGES = frozenset(
    {
        "auth.login",
        "auth.login_otp",
        "auth.forgot_password",
        "auth.forgot_password_otp",
        "auth.forgot_password_new",
        "auth.change_password",
        "auth.change_password_otp",
        "auth.logout",
        "auth.step_up",
        "auth.step_up_otp",
        "users.new",
        "users.edit",
        "users.toggle",
        "api_tokens.new",
    }
)
UNCHECKED = frozenset({"static", "healthz", "readyz"})
#: The query of WTForms pages beyond ``next``/``restart`` (their views check the values).
WTFORMS_QUERIES: dict[str, dict[str, Kind]] = {
    "auth.step_up": {
        "action": Text(N_("The action"), 32),
        "target": Text(N_("The target"), 200),
    },
    "api_tokens.new": {"key": Text(N_("The form's key"), 64)},
}
#: The API's query filters naming a row: checked to exist (their type is the schema's job).
API_IDS: dict[str, dict[str, Whole]] = {
    "api_v1.accounts.list_accounts": {"group_id": _GROUP},
    "api_v1.payments.list_pending": {"group_id": _GROUP, "fetch_request_id": _FETCH},
}
_WTFORMS_QUERY = {"next": _NEXT, "restart": OneOf(N_("The restart"), ("1",))}


# --------------------------------------------------------------------------- the check


def _refuse_long_query() -> None:
    size = len(request.query_string)
    if size > MAX_QUERY_CHARS:
        raise BadInput(
            "uri_too_long",
            gettext(
                "The address is too long (%(size)s characters; at most %(limit)s). Shorten the "
                "search or the filters.",
                size=f"{size:,}",
                limit=f"{MAX_QUERY_CHARS:,}",
            ),
            None,
            414,
        )


def _refuse_repeated(values: MultiDict[str, str], repeatable: Collection[str] = ()) -> None:
    for name in values:
        if name not in repeatable and len(values.getlist(name)) > 1:
            raise BadInput(
                "repeated_parameter",
                gettext("%(field)s is given more than once.", field=_shown(name)),
                name,
            )


def _refuse_unknown_ids(values: MultiDict[str, str], kinds: Mapping[str, Whole]) -> None:
    """The API's id filters: a well-formed id that names nothing is a 404, not an empty list
    (a malformed one is left to the endpoint's schema, which answers 422)."""
    for name, kind in kinds.items():
        value = values.get(name, "").strip()
        if value.isascii() and value.isdigit() and len(value) <= 19:
            _must_exist(kind, name, int(value))


def _must_exist(kind: Whole, name: str, number: int) -> None:
    if kind.exists is None:
        return
    with engine().connect() as conn:
        found = kind.exists(conn, number)
    if not found:
        raise BadInput("not_found", gettext(kind.missing, id=f"{number:,}"), name, status=404)


def check_values(values: MultiDict[str, str], kinds: Mapping[str, Kind], *, form: bool) -> None:
    """Refuse the first value ``kinds`` does not allow (an unknown name included)."""
    repeatable = [name for name, kind in kinds.items() if isinstance(kind, Ids)]
    _refuse_repeated(values, repeatable)
    for name in values:
        kind = kinds.get(name)
        if kind is None:
            template = (
                N_("This form has no field %(field)s.")
                if form
                else N_("This page does not take %(field)s.")
            )
            raise BadInput("unknown_parameter", gettext(template, field=_shown(name)), name)
        if isinstance(kind, Ids):
            kind.check_all(name, values.getlist(name))
            continue
        value = values[name]
        if value == "" or (value.strip() == "" and not isinstance(kind, Text)):
            continue  # an empty filter is no filter
        kind.check(name, value)
        if isinstance(kind, Whole):
            _must_exist(kind, name, kind.number(name, value))


def check_request() -> None:
    """``before_request``: the address, then the page's parameters and form fields."""
    _refuse_long_query()
    endpoint = request.endpoint or ""
    if endpoint in UNCHECKED:
        return
    if request.path.startswith("/api/"):
        _refuse_repeated(request.args)
        _refuse_unknown_ids(request.args, API_IDS.get(endpoint, {}))
        return
    if endpoint in WTFORMS_PAGES:
        check_values(request.args, _WTFORMS_QUERY | WTFORMS_QUERIES.get(endpoint, {}), form=False)
        return
    kinds = PAGES.get(endpoint)
    if kinds is None:
        return  # no such page: the 404/405 handlers answer
    if request.method == "POST":
        check_values(request.args, {}, form=False)
        check_values(request.form, kinds, form=True)
    else:
        check_values(request.args, kinds, form=False)


PAGES: dict[str, dict[str, Kind]] = {}


def init_inputs(app: Flask) -> None:
    """Check every request's parameters before its view (after the sign-in guard)."""
    PAGES.update(_pages())
    app.before_request(check_request)
