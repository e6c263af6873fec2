"""Headers, error pages, the language switch and the Bangla catalogue."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import bbp_portal
from bbp_portal.directory import UserRecord
from tests.support.portal import FakeAccount, make_unit_portal, post_form

CATALOGUE = Path(bbp_portal.__file__).parent / "translations" / "bn" / "LC_MESSAGES"


def signed_in_portal(role="admin", setup=None):
    p = make_unit_portal(
        users=[UserRecord("admin01", "a@bbp.example", role)],
        accounts={"admin01": FakeAccount("Admin@123")},
    )
    if setup:
        setup(p.app)
    client = p.client()
    post_form(client, "/login", {"login_id": "admin01", "password": "Admin@123"})
    return p, client


def test_security_headers():
    _, client = signed_in_portal()
    answer = client.get("/")
    csp = answer.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/css/portal.css").headers.get("Cache-Control", "")


def test_pages_have_no_inline_script_and_expose_the_csrf_token():
    _, client = signed_in_portal("superadmin")
    for page in ("/", "/users/", "/users/new", "/audit/", "/account/password"):
        html = client.get(page).get_data(as_text=True)
        assert '<meta name="csrf-token" content="' in html, page
        for chunk in html.split("<script")[1:]:
            assert chunk.lstrip().startswith("src="), page  # only external scripts
        assert " onclick=" not in html and " onload=" not in html


def test_json_mutation_with_the_csrf_header():
    def setup(app):
        app.add_url_rule("/api/v1/echo", "echo", lambda: {"ok": True}, methods=["POST"])

    _, client = signed_in_portal(setup=setup)

    html = client.get("/").get_data(as_text=True)
    token = html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert client.post("/api/v1/echo", json={}).status_code == 400
    assert client.post("/api/v1/echo", json={}).get_json()["error"]["code"] == "csrf_failed"
    assert client.post("/api/v1/echo", json={}, headers={"X-CSRFToken": token}).status_code == 200


def test_error_pages_never_show_a_trace():
    def boom():
        raise RuntimeError("secret internals")

    def setup(app):
        app.add_url_rule("/boom", "boom", boom)
        app.add_url_rule("/api/v1/boom", "api_boom", boom)
        app.config["PROPAGATE_EXCEPTIONS"] = False

    _, client = signed_in_portal(setup=setup)
    page = client.get("/boom")
    assert page.status_code == 500
    assert "secret internals" not in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    assert client.get("/api/v1/boom").get_json() == {
        "error": {"code": "internal_error", "message": "The portal could not complete the request."}
    }
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "There is no such page." in missing.get_data(as_text=True)
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"


def test_custom_403_page():
    _, client = signed_in_portal("admin")
    page = client.get("/users/")
    assert page.status_code == 403
    assert "Your role may not open this page." in page.get_data(as_text=True)


def test_language_switch_on_the_login_page():
    client = make_unit_portal().client()
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/language/bn?next=/login"' in page
    answer = client.get("/language/bn?next=/login")
    assert answer.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="bn">' in page
    assert "লগইন আইডি" in page and "পাসওয়ার্ড" in page
    assert client.get("/language/bn?next=https://evil.example").headers["Location"] == "/login"


def test_a_users_preferred_language_is_used_after_sign_in():
    p = make_unit_portal(
        users=[UserRecord("admin01", "a@bbp.example", "admin", language="bn")],
        accounts={"admin01": FakeAccount("Admin@123")},
    )
    client = p.client()
    post_form(client, "/login", {"login_id": "admin01", "password": "Admin@123"})
    assert "ড্যাশবোর্ড" in client.get("/").get_data(as_text=True)


def test_the_compiled_catalogue_matches_its_source():
    with (CATALOGUE / "messages.po").open("rb") as f:
        po = {_key(m.id): _key(m.string) for m in read_po(f) if m.id and m.string}
    with (CATALOGUE / "messages.mo").open("rb") as f:
        mo = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id and m.string}
    assert po == mo
    assert len(po) >= 50


def _key(msgid: object) -> object:
    """A message's id or text, comparable (a plural message's are lists or tuples of forms)."""
    return msgid if isinstance(msgid, str) else tuple(msgid)  # type: ignore[arg-type]
