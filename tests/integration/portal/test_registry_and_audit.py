"""The user registry (page and CLI) and the audit log page, on the real database."""

from __future__ import annotations

import html
from datetime import date

import sqlalchemy as sa

from bbp_common.platform.db.tables import audit_log, users
from bbp_portal.audit import AuditEvent, SqlAuditStore
from tests.support.portal import flashes, post_form, register


def test_superadmin_adds_edits_and_disables_a_user(portal_app, portal_client, sandbox, signed_in):
    signed_in(portal_client, role="superadmin")
    bad = post_form(
        portal_client,
        "/users/new",
        {
            "login_id": "admin02",
            "email": "not-an-email",
            "mobile": "12345",
            "role": "admin",
            "language": "en",
        },
    )
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "Invalid email address." in html and "Bangladeshi mobile number" in html

    added = post_form(
        portal_client,
        "/users/new",
        {
            "login_id": "admin02",
            "email": "admin02@bbp.example",
            "mobile": "+8801712345678",
            "role": "auditor",
            "language": "bn",
        },
    )
    assert added.headers["Location"] == "/users/"
    listing = portal_client.get("/users/").get_data(as_text=True)
    assert 'data-login-id="admin02"' in listing and "01712345678" in listing

    dup = post_form(
        portal_client,
        "/users/new",
        {"login_id": "ADMIN02", "email": "x@bbp.example", "role": "admin", "language": "en"},
    )
    assert "already registered" in dup.get_data(as_text=True)

    edited = post_form(
        portal_client,
        "/users/admin02",
        {"email": "a2@bbp.example", "mobile": "", "role": "admin", "language": "en"},
    )
    assert edited.headers["Location"] == "/users/"
    with portal_app.extensions["bbp.engine"].connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.login_id == "admin02")).one()
    assert (row.email, row.mobile, row.role, row.language) == (
        "a2@bbp.example",
        None,
        "admin",
        "en",
    )

    post_form(portal_client, "/users/admin02/disable", {}, page="/users/")
    other = portal_app.test_client()
    answer = post_form(other, "/login", {"login_id": "admin02", "password": "Admin@234"})
    assert "may not use the portal" in " ".join(flashes(answer))
    post_form(portal_client, "/users/admin02/enable", {}, page="/users/")
    answer = post_form(other, "/login", {"login_id": "admin02", "password": "Admin@234"})
    assert answer.headers["Location"].startswith("/login/otp")

    with portal_app.extensions["bbp.engine"].connect() as conn:
        actions = [
            (r.action, r.actor, r.target_id)
            for r in conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.target_id == "admin02")
                .order_by(audit_log.c.id)
            )
        ]
    assert actions == [
        ("user_add", "superadmin", "admin02"),
        ("user_update", "superadmin", "admin02"),
        ("user_disable", "superadmin", "admin02"),
        ("user_enable", "superadmin", "admin02"),
    ]


def test_a_superadmin_cannot_disable_themselves(portal_client, sandbox, signed_in):
    signed_in(portal_client, role="superadmin")
    answer = post_form(portal_client, "/users/superadmin/disable", {}, page="/users/")
    assert "cannot disable yourself" in " ".join(
        flashes(portal_client.get(answer.headers["Location"]))
    )


def test_cli_manages_users(portal_app, sandbox):
    cli = portal_app.test_cli_runner()
    result = cli.invoke(
        args=[
            "users",
            "add",
            "cliuser1",
            "cli@bbp.example",
            "--role",
            "auditor",
            "--mobile",
            "01812345678",
            "--language",
            "bn",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "added cliuser1 (auditor)" in result.output
    again = cli.invoke(args=["users", "add", "cliuser1", "cli@bbp.example"])
    assert again.exit_code != 0 and "already registered" in again.output
    bad = cli.invoke(args=["users", "add", "cliuser2", "nope", "--role", "admin"])
    assert bad.exit_code != 0 and "e-mail" in bad.output
    assert cli.invoke(args=["users", "disable", "cliuser1"]).exit_code == 0
    listing = cli.invoke(args=["users", "list"]).output
    line = next(ln for ln in listing.splitlines() if ln.startswith("cliuser1"))
    assert "auditor" in line and " no " in line and "01812345678" in line
    assert cli.invoke(args=["users", "enable", "cliuser1"]).exit_code == 0
    assert cli.invoke(args=["users", "disable", "ghost99"]).exit_code != 0
    ensured = cli.invoke(args=["users", "ensure", "cliuser1", "cli@bbp.example", "--role", "admin"])
    assert ensured.exit_code == 0 and "ensured cliuser1 (admin)" in ensured.output
    with portal_app.extensions["bbp.engine"].connect() as conn:
        acts = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.actor)
            .where(audit_log.c.target_id == "cliuser1")
            .order_by(audit_log.c.id)
        ).all()
    assert [a for a, _ in acts] == ["user_add", "user_disable", "user_enable", "user_update"]
    assert all(actor.startswith("cli") for _, actor in acts)


def test_audit_page_filters_and_pages(portal_app, portal_client, sandbox, signed_in):
    store = SqlAuditStore(portal_app.extensions["bbp.engine"])
    for i in range(7):
        store.write(
            AuditEvent(
                action="login",
                actor="pager01",
                outcome="failed" if i % 2 else "ok",
                ip="10.0.0.1",
                details={"n": i},
            )
        )
    register(portal_app, "Aman01", "auditor")
    signed_in(portal_client, role="auditor")
    page = portal_client.get("/audit/?actor=pager01&size=3").get_data(as_text=True)
    assert page.count('class="audit-entry"') == 3
    # the details' JSON is behind the toggle
    shown = html.unescape(page)
    assert '{"n": 6}' in shown and '{"n": 4}' in shown and '{"n": 3}' not in shown
    older = page.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    page2 = portal_client.get(older).get_data(as_text=True)
    shown = html.unescape(page2)
    assert '{"n": 3}' in shown and '{"n": 1}' in shown and '{"n": 6}' not in shown
    page3 = portal_client.get(
        page2.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    ).get_data(as_text=True)
    assert page3.count('class="audit-entry"') == 1 and 'rel="next"' not in page3
    failed = portal_client.get("/audit/?actor=pager01&outcome=failed").get_data(as_text=True)
    assert failed.count('class="audit-entry"') == 3
    today = date.today().isoformat()
    dated = portal_client.get(f"/audit/?actor=pager01&from={today}&to={today}")
    assert dated.get_data(as_text=True).count('class="audit-entry"') == 7
    none = portal_client.get("/audit/?actor=pager01&from=2001-01-01&to=2001-01-02")
    assert "Nothing matches." in none.get_data(as_text=True)
    # The auditor's own sign-in is there too, with IP and device.
    mine = portal_client.get("/audit/?actor=Aman01&action=login").get_data(as_text=True)
    assert "127.0.0.1" in mine


def test_audit_log_stays_append_only(portal_app):
    engine = portal_app.extensions["bbp.engine"]
    SqlAuditStore(engine).write(AuditEvent(action="login", actor="x"))
    import pytest

    with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
        conn.execute(sa.delete(audit_log))
