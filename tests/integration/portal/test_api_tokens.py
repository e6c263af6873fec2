"""API tokens for machine clients (issue 18, item 5) against the real MariaDB, Redis and the
Mobiquity sandbox: made after a step-up and shown once, stored as a hash, expiry,
revocation, role limits, no CSRF with a token (still with a cookie), a disabled user's token
dies, every person-only action refused, the per-token rate limit, audit entries that name the
token, the last-used time, the OpenAPI document's schemes, and the secret nowhere.

Tokens not about how they are made are made with ``service.create`` (the pages' step-up is
tested on its own); CSRF is on in every app here.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from bbp_common.platform.db.tables import api_tokens, audit_log, bulk_requests, users
from bbp_portal.api.core import READ_METHODS
from bbp_portal.api_tokens import service
from bbp_portal.app import create_app
from bbp_portal.audit_trail import Actor
from bbp_portal.service_errors import ValidationFailed
from tests.support.accounts import sign_in
from tests.support.payments import request_state, seed_billers, seed_bills
from tests.support.portal import (
    DEMO_PASSWORDS,
    LogCapture,
    csrf_token,
    href,
    post_form,
    register,
    unregister,
)

TOKEN_TEXT = re.compile(r"bbp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def portal(portal_settings: Callable[..., Any]) -> Iterator[Callable[..., Flask]]:
    """``portal(**settings)`` → the portal (CSRF on) on the run's database, Redis and the
    sandbox; maker-checker limits off unless asked (the step-up stays as the test says)."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        values = {
            "approval_threshold": "off",
            "approval_daily_threshold": "off",
            "rate_limit_per_login_id": "100/minute",
            **overrides,
        }
        app = create_app(portal_settings(**values), TESTING=True)
        seed_billers(app.extensions["bbp.engine"])
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["bbp.engine"].dispose()


def someone(app: Flask, role: str) -> str:
    login_id = f"tok-{role[:3]}-{uuid.uuid4().hex[:8]}"
    register(app, login_id, role)
    return login_id


def token_for(
    app: Flask, login_id: str, role: str, *, name: str = "script", days: int = 7, **kw: Any
) -> str:
    created = service.create(
        app.extensions["bbp.engine"], Actor(login_id, role), name=name, days=days, **kw
    )
    return created.text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def row_of(app: Flask, token: str) -> Any:
    public_id = token.split("_")[1]
    with app.extensions["bbp.engine"].connect() as conn:
        return conn.execute(sa.select(api_tokens).where(api_tokens.c.public_id == public_id)).one()


def audit_rows(app: Flask, actor: str, action: str | None = None) -> list[Any]:
    query = sa.select(audit_log).where(audit_log.c.actor == actor).order_by(audit_log.c.id)
    if action:
        query = query.where(audit_log.c.action == action)
    with app.extensions["bbp.engine"].connect() as conn:
        return conn.execute(query).all()


def everything_kept(app: Flask, redis_url: str) -> str:
    """The tokens table, the users table, the audit log and every Redis key of this app."""
    dump = ""
    with app.extensions["bbp.engine"].connect() as conn:
        for table in (api_tokens, users, audit_log, bulk_requests):
            dump += repr(conn.execute(sa.select(table)).all())
    store = redis.Redis.from_url(redis_url)
    prefix = app.extensions["bbp.settings"].redis_key_prefix
    for key in store.keys(prefix + "*"):
        dump += repr(key) + repr(store.dump(key))
    return dump


def step_up_through_pages(client: FlaskClient, sandbox: Any, url: str, login_id: str) -> Any:
    """The step-up page at ``url``: the password, then the OTP when Mobiquity asks for one."""
    answer = post_form(client, url, {"password": DEMO_PASSWORDS[login_id]})
    if answer.status_code == 302 and answer.headers["Location"] == "/step-up/otp":
        answer = post_form(client, "/step-up/otp", {"otp": sandbox.otp(login_id)})
    return answer


# --------------------------------------------------------------------------- making one


@pytest.mark.parametrize("step_up_setting", [True, False])
def test_a_token_is_made_after_a_step_up_shown_once_and_kept_as_a_hash(
    portal, sandbox, signed_in, redis_url, step_up_setting
) -> None:
    """Even with BBP_STEP_UP off (which only governs paying), a token needs a step-up."""
    app = portal(step_up=step_up_setting)
    client = app.test_client()
    signed_in(client, "admin", "Aman01")
    fresh = client.get("/tokens/new")
    assert fresh.status_code == 302
    here = fresh.headers["Location"]
    assert here.startswith("/tokens/new?key=")
    page = client.get(here).get_data(as_text=True)
    assert 'id="token-step-up"' in page and 'id="token-form"' not in page
    # A crafted POST without the step-up makes nothing and asks for it.
    before = len(service.mine(app.extensions["bbp.engine"], "Aman01"))
    crafted = post_form(
        client, here, {"name": "crafted", "expires_in_days": "7", "role": "admin"}, page="/"
    )
    assert crafted.status_code == 302 and crafted.headers["Location"].startswith("/step-up?")
    assert len(service.mine(app.extensions["bbp.engine"], "Aman01")) == before

    with LogCapture() as logs:
        step = href(page, "token-step-up")
        shown = client.get(step)
        assert shown.status_code == 200  # not skipped, whatever BBP_STEP_UP says
        assert "You are about to make an API token" in shown.get_data(as_text=True)
        back = step_up_through_pages(client, sandbox, step, "Aman01")
        assert back.status_code == 302 and back.headers["Location"] == here
        form_page = client.get(here).get_data(as_text=True)
        assert 'id="step-up-fresh"' in form_page and 'id="token-form"' in form_page
        made = post_form(
            client, here, {"name": "nightly fetch", "expires_in_days": "7", "role": "admin"}
        )
        assert made.status_code == 200
        body = made.get_data(as_text=True)
        assert made.headers["Cache-Control"] == "no-store"
        texts = TOKEN_TEXT.findall(body)
        assert len(set(texts)) == 1, "the token is on the page, once"
        token = texts[0]
        assert 'id="shown-once"' in body

        # It works at once, as Aman01, through the bearer scheme.
        me = app.test_client().get("/api/v1/session", headers=bearer(token))
        assert me.status_code == 200
        assert me.json["login_id"] == "Aman01" and me.json["role"] == "admin"
        assert me.json["via"] == "token" and me.json["csrf_token"] is None
        assert me.json["token"]["name"] == "nightly fetch"

        # Shown once: the list names it, never shows it; the same form again asks for a new
        # step-up (one step-up, one token).
        listing = client.get("/tokens/").get_data(as_text=True)
        assert "nightly fetch" in listing and token not in listing
        assert f"bbp_{token.split('_')[1]}_…" in listing
        again = post_form(client, here, {"name": "again", "expires_in_days": "7", "role": "admin"})
        assert again.status_code == 302 and again.headers["Location"].startswith("/step-up?")

    # Stored as a hash: SHA-256 of the secret part, and the token in no column, no audit
    # entry, no Redis key, no log line.
    row = row_of(app, token)
    secret = token.split("_", 2)[2]
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert row.login_id == "Aman01" and row.role == "admin" and row.name == "nightly fetch"
    kept = everything_kept(app, redis_url)
    assert secret not in kept and token not in kept
    assert secret not in logs.text
    # Audited: the step-up for a token, the creation (naming the token, not its secret).
    step_ups = [r for r in audit_rows(app, "Aman01", "step_up") if r.target_type == "token"]
    assert step_ups and step_ups[-1].outcome == "ok"
    created = audit_rows(app, "Aman01", "api_token.create")[-1]
    assert created.target_id == row.public_id
    assert json.loads(created.details)["token_name"] == "nightly fetch"


def test_a_token_carries_at_most_its_users_role(portal, sandbox, signed_in) -> None:
    """A superadmin (Mobiquity asks an OTP) may make an auditor's token; an admin may not
    make a superadmin's; 1 to 30 days."""
    app = portal()
    client = app.test_client()
    signed_in(client, "superadmin", "superadmin")
    here = client.get("/tokens/new").headers["Location"]
    page = client.get(here).get_data(as_text=True)
    stepped = step_up_through_pages(client, sandbox, href(page, "token-step-up"), "superadmin")
    assert stepped.status_code == 302 and stepped.headers["Location"] == here
    form = client.get(here).get_data(as_text=True)
    assert all(f'value="{r}"' in form for r in ("superadmin", "admin", "auditor"))
    too_long = post_form(
        client, here, {"name": "reports", "expires_in_days": "31", "role": "auditor"}
    )
    assert too_long.status_code == 400 and "From 1 to 30 days." in too_long.get_data(as_text=True)
    made = post_form(client, here, {"name": "reports", "expires_in_days": "30", "role": "auditor"})
    token = TOKEN_TEXT.findall(made.get_data(as_text=True))[0]
    me = app.test_client().get("/api/v1/session", headers=bearer(token)).json
    assert me["role"] == "auditor"
    row = row_of(app, token)
    days = (row.expires_at - row.created_at).total_seconds() / 86400
    assert days == pytest.approx(30, abs=1e-3)

    engine = app.extensions["bbp.engine"]
    admin = someone(app, "admin")
    with pytest.raises(ValidationFailed) as refused:
        service.create(engine, Actor(admin, "admin"), name="x", days=7, role="superadmin")
    assert refused.value.code == "role_not_allowed"
    with pytest.raises(ValidationFailed) as refused:
        service.create(engine, Actor(admin, "admin"), name="x", days=31, role=None)
    assert refused.value.code == "bad_lifetime"
    # The session's role does not matter: the registry's does (an admin claiming more).
    with pytest.raises(ValidationFailed):
        service.create(engine, Actor(admin, "superadmin"), name="x", days=7, role="superadmin")


# --------------------------------------------------------------------------- dying


def test_an_expired_token_is_refused(portal) -> None:
    app = portal()
    login = someone(app, "admin")
    token = token_for(app, login, "admin", days=1)
    machine = app.test_client()
    assert machine.get("/api/v1/requests", headers=bearer(token)).status_code == 200
    with app.extensions["bbp.engine"].begin() as conn:  # a day later, on the database's clock
        conn.execute(
            sa.update(api_tokens)
            .where(api_tokens.c.public_id == token.split("_")[1])
            .values(expires_at=sa.text("UTC_TIMESTAMP(6) - INTERVAL 1 SECOND"))
        )
    answer = machine.get("/api/v1/requests", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "token_expired"
    assert "expired" in answer.json["error"]["message"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert token.split("_", 2)[2] not in answer.get_data(as_text=True)


def test_a_revoked_token_is_refused_its_user_or_a_superadmin_revokes(portal) -> None:
    app = portal()
    owner, other, boss = someone(app, "admin"), someone(app, "admin"), someone(app, "superadmin")
    first, second = (token_for(app, owner, "admin", name=n) for n in ("first", "second"))
    machine = app.test_client()
    assert machine.get("/api/v1/attention", headers=bearer(first)).status_code == 200

    # Another admin cannot revoke it (nor see that it exists).
    stranger = sign_in(app.test_client(), "admin", other)
    answer = post_form(stranger, f"/tokens/{row_of(app, first).id}/revoke", {}, page="/tokens/")
    assert answer.status_code == 302
    assert "There is no such token." in stranger.get("/tokens/").get_data(as_text=True)
    assert machine.get("/api/v1/attention", headers=bearer(first)).status_code == 200

    # Its user revokes it on their page.
    me = sign_in(app.test_client(), "admin", owner)
    mine = me.get("/tokens/").get_data(as_text=True)
    assert f'data-revoke="{row_of(app, first).public_id}"' in mine
    answer = post_form(me, f"/tokens/{row_of(app, first).id}/revoke", {}, page="/tokens/")
    assert answer.status_code == 302
    refused = machine.get("/api/v1/attention", headers=bearer(first))
    assert refused.status_code == 401 and refused.json["error"]["code"] == "token_revoked"
    assert row_of(app, first).revoked_reason == "owner"

    # A superadmin revokes anyone's, from the list of all tokens.
    su = sign_in(app.test_client(), "superadmin", boss)
    everyone = su.get("/tokens/all").get_data(as_text=True)
    assert f'data-revoke="{row_of(app, second).public_id}"' in everyone
    assert first not in everyone and second not in everyone
    answer = post_form(
        su,
        f"/tokens/{row_of(app, second).id}/revoke",
        {"next": "/tokens/all"},
        page="/tokens/all",
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/tokens/all"
    assert machine.get("/api/v1/attention", headers=bearer(second)).status_code == 401
    assert row_of(app, second).revoked_by == boss
    assert row_of(app, second).revoked_reason == "superadmin"
    # Admins do not see the list of everyone's tokens.
    assert me.get("/tokens/all").status_code == 403
    revoked = audit_rows(app, boss, "api_token.revoke")
    assert [json.loads(r.details)["owner"] for r in revoked] == [owner]


def test_a_disabled_or_removed_users_token_dies(portal) -> None:
    app = portal()
    login, boss = someone(app, "admin"), someone(app, "superadmin")
    token = token_for(app, login, "admin")
    machine = app.test_client()
    assert machine.get("/api/v1/requests", headers=bearer(token)).status_code == 200

    su = sign_in(app.test_client(), "superadmin", boss)
    assert post_form(su, f"/users/{login}/disable", {}, page="/users/").status_code == 302
    answer = machine.get("/api/v1/requests", headers=bearer(token))
    assert answer.status_code == 401 and answer.json["error"]["code"] == "token_revoked"
    assert row_of(app, token).revoked_reason == "user_disabled"
    # Enabled again: the token stays dead (a new one must be made, after a step-up).
    assert post_form(su, f"/users/{login}/enable", {}, page="/users/").status_code == 302
    assert machine.get("/api/v1/requests", headers=bearer(token)).status_code == 401

    # Disabled in the registry by any other path, the token is refused all the same.
    other = someone(app, "admin")
    live = token_for(app, other, "admin")
    with app.extensions["bbp.engine"].begin() as conn:
        conn.execute(sa.update(users).where(users.c.login_id == other).values(active=False))
    answer = machine.get("/api/v1/requests", headers=bearer(live))
    assert answer.status_code == 401 and answer.json["error"]["code"] == "token_user_disabled"

    # Removed from the registry: its tokens go with it.
    gone = someone(app, "admin")
    orphan = token_for(app, gone, "admin")
    unregister(app, gone)
    answer = machine.get("/api/v1/requests", headers=bearer(orphan))
    assert answer.status_code == 401 and answer.json["error"]["code"] == "invalid_token"


def test_a_wrong_or_malformed_token_is_refused_without_echoing_it(portal) -> None:
    app = portal()
    login = someone(app, "admin")
    token = token_for(app, login, "admin")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    machine = app.test_client()
    with LogCapture() as logs:
        for presented in (forged, "bbp_nothing", "", token.upper()):
            answer = machine.post(
                "/api/v1/groups", json={"name": "forged"}, headers=bearer(presented)
            )
            assert answer.status_code == 401, presented
            assert answer.json["error"]["code"] == "invalid_token"
            if presented:
                assert presented not in answer.get_data(as_text=True)
            assert "Set-Cookie" not in answer.headers
    assert forged.split("_", 2)[2] not in logs.text
    assert "api_token_refused" in logs.text


# --------------------------------------------------------------------------- what it may do


def test_an_auditors_token_reads_and_changes_nothing(portal) -> None:
    app = portal()
    login = someone(app, "auditor")
    token = token_for(app, login, "auditor")
    machine = app.test_client()
    for url in ("/api/v1/requests", "/api/v1/accounts", "/api/v1/attention", "/api/v1/billers"):
        assert machine.get(url, headers=bearer(token)).status_code == 200, url
    for url, body in (
        ("/api/v1/requests/fetch", {"ids": [1]}),
        ("/api/v1/groups", {"name": "auditor group"}),
        ("/api/v1/payments/preview", {"bill_ids": [1]}),
    ):
        answer = machine.post(url, json=body, headers=bearer(token))
        assert answer.status_code == 403, url
        assert answer.json["error"]["code"] == "forbidden"


def test_an_admins_token_creates_requests_that_wait_for_a_person(portal) -> None:
    """With BBP_STEP_UP off, too: a token never steps up, so its payment requests wait."""
    app = portal(step_up=False)
    engine = app.extensions["bbp.engine"]
    login = someone(app, "admin")
    token = token_for(app, login, "admin", name="billing system")
    machine = app.test_client()

    group = machine.post("/api/v1/groups", json={"name": f"g {login}"}, headers=bearer(token))
    assert group.status_code == 201  # no CSRF token with a bearer token

    ids = seed_bills(engine, [("DSCO", "120.00"), ("JGDCL", "80.00")])
    preview = machine.post(
        "/api/v1/payments/preview", json={"bill_ids": ids}, headers=bearer(token)
    )
    assert preview.status_code == 200
    assert preview.json["needs_approval"] is True and preview.json["approval_reasons"] == [
        "step_up"
    ]
    created = machine.post(
        "/api/v1/requests/payment",
        json={"bill_ids": ids, "idempotency_key": preview.json["idempotency_key"]},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.json
    assert created.json["awaiting_approval"] is True
    assert created.json["approval_reasons"] == ["step_up"]
    request_id = created.json["request"]["id"]
    found = request_state(engine, request_id)
    assert found.state == "awaiting_approval" and found.created_by == login
    # The maker may pause (stop) or cancel what it made; approving stays with a person.
    answer = machine.post(
        f"/api/v1/requests/{request_id}/approve", json={"comment": "ok"}, headers=bearer(token)
    )
    assert answer.status_code == 403 and answer.json["error"]["code"] == "token_not_allowed"
    assert request_state(engine, request_id).state == "awaiting_approval"
    cancelled = machine.post(f"/api/v1/requests/{request_id}/cancel", headers=bearer(token))
    assert cancelled.status_code == 200
    assert request_state(engine, request_id).state == "cancelled"


def test_when_the_users_role_drops_the_tokens_power_drops_with_it(portal) -> None:
    app = portal()
    login = someone(app, "superadmin")
    token = token_for(app, login, "superadmin")
    machine = app.test_client()
    assert machine.get("/api/v1/session", headers=bearer(token)).json["role"] == "superadmin"
    register(app, login, "admin")  # demoted
    assert machine.get("/api/v1/session", headers=bearer(token)).json["role"] == "admin"
    register(app, login, "auditor")
    assert machine.get("/api/v1/session", headers=bearer(token)).json["role"] == "auditor"
    refused = machine.post("/api/v1/groups", json={"name": "x"}, headers=bearer(token))
    assert refused.status_code == 403
    register(app, login, "superadmin")  # promoted again: never more than the token's role
    assert machine.get("/api/v1/session", headers=bearer(token)).json["role"] == "superadmin"

    other = someone(app, "admin")
    admins = token_for(app, other, "admin")
    register(app, other, "auditor")  # an admin's token has nothing in common with an auditor
    answer = machine.get("/api/v1/requests", headers=bearer(admins))
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "token_role_withdrawn"
    register(app, other, "superadmin")  # covers admin: the token acts as admin again
    assert machine.get("/api/v1/session", headers=bearer(admins)).json["role"] == "admin"


#: What only a person does, each refused to a (superadmin's) token before anything is read.
PERSON_ONLY = [
    ("post", "/api/v1/requests/{rid}/approve", {"comment": "fine"}),
    ("post", "/api/v1/requests/{rid}/reject", {"comment": "no"}),
    ("post", "/api/v1/requests/{rid}/resume", {"comment": None}),
    ("post", "/api/v1/payments/999999999/resolve", {"resolution": "paid", "comment": "seen"}),
    ("post", "/api/v1/anomalies/999999999/acknowledge", {"comment": "seen"}),
    ("post", "/api/v1/wallet-breaker/close", {"comment": "fixed"}),
    ("post", "/api/v1/billers", {"utility_code": "TOKX", "name": "x"}),
    ("patch", "/api/v1/billers/DSCO", {"receiver_wallet": "01700000099"}),
]


def test_every_action_that_stays_with_a_person_is_refused_to_a_token(portal) -> None:
    app = portal()
    engine = app.extensions["bbp.engine"]
    maker = someone(app, "admin")
    ids = seed_bills(engine, [("DSCO", "150.00")])
    made = service.create(engine, Actor(maker, "admin"), name="maker", days=1, role=None)
    machine = app.test_client()
    key = machine.post(
        "/api/v1/payments/preview", json={"bill_ids": ids}, headers=bearer(made.text)
    ).json["idempotency_key"]
    rid = machine.post(
        "/api/v1/requests/payment",
        json={"bill_ids": ids, "idempotency_key": key},
        headers=bearer(made.text),
    ).json["request"]["id"]
    boss = someone(app, "superadmin")
    token = token_for(app, boss, "superadmin", name="ops robot")
    for method, url, body in PERSON_ONLY:
        answer = machine.open(
            url.format(rid=rid), method=method.upper(), json=body, headers=bearer(token)
        )
        assert answer.status_code == 403, url
        error = answer.json["error"]
        assert error["code"] == "token_not_allowed", url
        assert "stays with a person signed in to the portal" in error["message"]
    assert request_state(engine, rid).state == "awaiting_approval"
    with engine.connect() as conn:
        wallet = conn.execute(
            sa.text("SELECT receiver_wallet FROM billers WHERE utility_code='DSCO'")
        )
        assert wallet.scalar_one() != "01700000099"
    # Each refusal is audited under the user and the token's name.
    refused = [r for r in audit_rows(app, boss, "api_token.call") if r.outcome == "denied"]
    assert len(refused) == len(PERSON_ONLY)
    assert {json.loads(r.details)["code"] for r in refused} == {"token_not_allowed"}
    assert {json.loads(r.details)["token_name"] for r in refused} == {"ops robot"}


def test_a_token_changes_only_what_an_operation_allows_by_name(portal) -> None:
    """Deny by default: every /api/v1 operation that changes something and does not say
    ``tokens=True`` is refused to a token before its view runs (a new endpoint is safe until
    its author decides), and every one that says so is not refused for being a token."""
    app = portal()
    boss = someone(app, "superadmin")
    token = token_for(app, boss, "superadmin")
    machine = app.test_client()
    checked = allowed = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        view = app.view_functions[rule.endpoint]
        op = getattr(view, "__api_operation__", None)
        url = re.sub(r"<(?:int:)?(\w+)>", lambda m: "999999999" if "id" in m[1] else "X", rule.rule)
        for method in sorted((rule.methods or set()) - READ_METHODS):
            answer = machine.open(url, method=method, json={}, headers=bearer(token))
            code = (answer.json or {}).get("error", {}).get("code")
            if op is not None and op.tokens is True:
                assert code != "token_not_allowed", (method, url)
                allowed += 1
            else:
                assert answer.status_code == 403 and code == "token_not_allowed", (method, url)
            checked += 1
    assert allowed >= 14 and checked - allowed >= 8  # 15 a token may call, 8 it may not


# --------------------------------------------------------------------------- CSRF, sessions


def test_no_csrf_with_a_token_still_with_a_cookie_and_the_cookies_step_up_never_counts(
    portal, sandbox, signed_in
) -> None:
    app = portal(step_up=True)
    engine = app.extensions["bbp.engine"]
    client = app.test_client()
    signed_in(client, "admin", "Aman01")
    token = token_for(app, "Aman01", "admin", name="csrf test")

    # The cookie session still needs its CSRF token for a change through the API.
    answer = client.post("/api/v1/groups", json={"name": f"cookie {uuid.uuid4().hex[:6]}"})
    assert answer.status_code == 400 and answer.json["error"]["code"] == "csrf_failed"
    # A token needs none, and leaves no session or cookie behind.
    answer = app.test_client().post(
        "/api/v1/groups", json={"name": f"token {uuid.uuid4().hex[:6]}"}, headers=bearer(token)
    )
    assert answer.status_code == 201
    assert "Set-Cookie" not in answer.headers

    # The browser steps up for a confirmation's key; the same browser sending a token for
    # that key does not borrow the step-up: the request waits.
    ids = seed_bills(engine, [("DSCO", "60.00")])
    key = uuid.uuid4().hex
    step = f"/step-up?action=pay&target={key}&next=/"
    assert step_up_through_pages(client, sandbox, step, "Aman01").status_code == 302
    with client.session_transaction() as sess:
        assert sess["step_up"]["target"] == key
    created = client.post(
        "/api/v1/requests/payment",
        json={"bill_ids": ids, "idempotency_key": key},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.json
    assert created.json["approval_reasons"] == ["step_up"]
    # …and the cookie's session is untouched by the token's call (still signed in).
    assert client.get("/api/v1/session").json["via"] == "session"
    # Its maker, a person in the portal, may confirm it there (with a step-up of its own).
    rid = created.json["request"]["id"]
    decide = client.get(f"/requests/{rid}/approve").get_data(as_text=True)
    assert f"Confirm payment request #{rid}" in decide and 'id="approve-step-up"' in decide
    # A page does not take a token: it wants the person's session.
    page = app.test_client().get("/tokens/", headers=bearer(token))
    assert page.status_code == 302 and "/login" in page.headers["Location"]


# --------------------------------------------------------------------------- rate, audit, use


def test_the_rate_limit_is_per_token(portal) -> None:
    app = portal(api_token_rate_limit="3/minute")
    login = someone(app, "admin")
    first, second = token_for(app, login, "admin"), token_for(app, login, "admin")
    machine = app.test_client()
    for _ in range(3):
        assert machine.get("/api/v1/requests", headers=bearer(first)).status_code == 200
    limited = machine.post("/api/v1/groups", json={"name": "over"}, headers=bearer(first))
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    assert machine.get("/api/v1/attention", headers=bearer(first)).status_code == 429
    # Another token of the same user has its own budget; a person's session is not counted.
    assert machine.get("/api/v1/requests", headers=bearer(second)).status_code == 200
    person = sign_in(app.test_client(), "admin", login)
    for _ in range(5):
        assert person.get("/api/v1/requests").status_code == 200


def test_every_change_is_audited_under_the_user_and_the_tokens_name(portal) -> None:
    app = portal()
    login = someone(app, "admin")
    token = token_for(app, login, "admin", name="sync job")
    machine = app.test_client()
    name = f"audited {uuid.uuid4().hex[:6]}"
    made = machine.post("/api/v1/groups", json={"name": name}, headers=bearer(token))
    assert made.status_code == 201
    machine.get("/api/v1/groups", headers=bearer(token))  # reads are not audited
    bad = machine.post("/api/v1/requests/fetch", json={"ids": []}, headers=bearer(token))
    assert bad.status_code == 422

    public_id = token.split("_")[1]
    change = audit_rows(app, login, "group.create")[-1]
    details = json.loads(change.details)
    assert details["token_id"] == public_id and details["token_name"] == "sync job"
    calls = audit_rows(app, login, "api_token.call")
    assert [(json.loads(r.details)["method"], json.loads(r.details)["status"]) for r in calls] == [
        ("POST", 201),
        ("POST", 422),
    ]
    assert [r.outcome for r in calls] == ["ok", "failed"]
    assert all(r.target_id == public_id for r in calls)
    assert all(json.loads(r.details)["token_name"] == "sync job" for r in calls)
    assert json.loads(calls[1].details)["code"] == bad.json["error"]["code"]
    assert token.split("_", 2)[2] not in repr(audit_rows(app, login))


def test_the_last_used_time_is_shown_and_written_at_most_once_a_minute(portal) -> None:
    app = portal()
    engine = app.extensions["bbp.engine"]
    login = someone(app, "admin")
    token = token_for(app, login, "admin", name="poller")

    person = sign_in(app.test_client(), "admin", login)
    row = re.search(
        r'<tr data-token-id="[0-9a-f]{16}".*?</tr>',
        person.get("/tokens/").get_data(as_text=True),
        re.S,
    )
    assert row and "never" in row.group(0)

    machine = app.test_client()
    assert machine.get("/api/v1/requests", headers=bearer(token)).status_code == 200
    first = row_of(app, token).last_used_at
    assert first is not None and row_of(app, token).last_used_ip == "127.0.0.1"
    shown = person.get("/tokens/").get_data(as_text=True)
    assert first.strftime("%Y-%m-%d %H:%M") in shown and "from 127.0.0.1" in shown

    for _ in range(5):  # within the minute: no write
        machine.get("/api/v1/requests", headers=bearer(token))
    assert row_of(app, token).last_used_at == first
    with engine.begin() as conn:  # a minute later
        conn.execute(
            sa.update(api_tokens)
            .where(api_tokens.c.public_id == token.split("_")[1])
            .values(last_used_at=sa.text("UTC_TIMESTAMP(6) - INTERVAL 61 SECOND"))
        )
    machine.get("/api/v1/requests", headers=bearer(token))
    assert row_of(app, token).last_used_at > first


# --------------------------------------------------------------------------- the document


def test_the_openapi_document_describes_both_schemes_per_operation(portal) -> None:
    app = portal()
    login = someone(app, "auditor")
    token = token_for(app, login, "auditor")
    doc = app.test_client().get("/api/v1/openapi.json", headers=bearer(token)).json
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert schemes["session"] == {
        **schemes["session"],
        "type": "apiKey",
        "in": "cookie",
        "name": "bbp_session",
    }
    paths = doc["paths"]
    both = [{"session": []}, {"bearer": []}]
    assert paths["/api/v1/requests"]["get"]["security"] == both
    assert paths["/api/v1/requests/payment"]["post"]["security"] == both
    assert paths["/api/v1/requests/fetch"]["post"]["security"] == both
    assert "429" in paths["/api/v1/requests/fetch"]["post"]["responses"]
    for path in (
        "/api/v1/requests/{request_id}/approve",
        "/api/v1/requests/{request_id}/reject",
        "/api/v1/requests/{request_id}/resume",
        "/api/v1/payments/{payment_id}/resolve",
        "/api/v1/wallet-breaker/close",
        "/api/v1/anomalies/{anomaly_id}/acknowledge",
    ):
        operation = paths[path]["post"]
        assert operation["security"] == [{"session": []}], path
        assert "API tokens: refused (403 token_not_allowed)" in operation["description"], path
    assert "Authorization: Bearer" in doc["info"]["description"]
    assert "bbp_session" in doc["info"]["description"]


def test_the_csrf_token_of_a_page_is_no_key_for_a_token(portal) -> None:
    """A page's CSRF token next to a wrong bearer token gets nothing: the token is judged."""
    app = portal()
    person = sign_in(app.test_client(), "admin", someone(app, "admin"))
    token = csrf_token(person, "/")
    answer = person.post(
        "/api/v1/groups",
        json={"name": "mixed"},
        headers={"X-CSRFToken": token, "Authorization": "Bearer bbp_0000000000000000_" + "A" * 43},
    )
    assert answer.status_code == 401 and answer.json["error"]["code"] == "invalid_token"
