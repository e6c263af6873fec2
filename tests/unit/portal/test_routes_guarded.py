"""Every route needs a session, except the few that must not: proven by walking the URL map.

A route added later is covered automatically: the walk finds it, and an anonymous request to
it must be refused unless its view is marked ``@public`` *and* listed here (a deliberate,
reviewed decision).
"""

from __future__ import annotations

import re

from flask import Flask

from bbp_portal.auth import is_public, public
from tests.support.portal import make_unit_portal

#: The only endpoints anybody may reach without signing in.
PUBLIC_ENDPOINTS = {
    "static",
    "healthz",
    "readyz",
    "auth.login",
    "auth.login_otp",
    "auth.forgot_password",
    "auth.forgot_password_otp",
    "auth.forgot_password_new",
    "i18n.switch",
}


def _sample_url(rule) -> str:  # type: ignore[no-untyped-def]
    """A concrete URL for a rule, with a plausible value for each variable."""
    url = rule.rule
    for name, converter in rule._converters.items():
        value = "x"
        if type(converter).__name__ == "AnyConverter":
            value = next(iter(converter.items)) if hasattr(converter, "items") else "enable"
        if type(converter).__name__ in ("IntegerConverter", "NumberConverter"):
            value = "1"
        url = re.sub(rf"<[^>]*:?{name}>", value, url)
    return url


def unguarded_routes(app: Flask) -> list[str]:
    """Each (method, URL) an anonymous client reaches, outside PUBLIC_ENDPOINTS."""
    app.config["WTF_CSRF_ENABLED"] = False  # reach the guard, not the CSRF check
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        if is_public(view):
            found.append(f"{rule.endpoint} is marked @public but not listed as public")
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client = app.test_client()
            answer = client.open(_sample_url(rule), method=method)
            refused = answer.status_code == 401 or (
                answer.status_code == 302 and answer.headers["Location"].startswith("/login")
            )
            if not refused:
                found.append(f"{method} {rule.rule} ({rule.endpoint}) -> {answer.status_code}")
    return found


def test_every_route_but_the_public_ones_needs_a_session():
    app = make_unit_portal().app
    assert len(list(app.url_map.iter_rules())) >= 15  # the walk really walks
    assert unguarded_routes(app) == []


def test_public_routes_are_exactly_the_listed_ones():
    app = make_unit_portal().app
    marked = {
        r.endpoint for r in app.url_map.iter_rules() if is_public(app.view_functions[r.endpoint])
    }
    assert marked | {"static"} == PUBLIC_ENDPOINTS


def test_a_new_route_without_decorators_is_still_guarded():
    app = make_unit_portal().app

    @app.get("/forgotten-guard")
    def forgotten():  # type: ignore[no-untyped-def]
        return "secret"

    assert unguarded_routes(app) == []
    assert app.test_client().get("/forgotten-guard").status_code == 302


def test_the_walk_catches_a_new_public_route():
    app = make_unit_portal().app

    @app.get("/oops")
    @public
    def oops():  # type: ignore[no-untyped-def]
        return "open"

    assert unguarded_routes(app) == ["oops is marked @public but not listed as public"]


def test_json_api_answers_401_not_a_redirect():
    app = make_unit_portal().app

    @app.post("/api/v1/things")
    def things():  # type: ignore[no-untyped-def]
        return {"ok": True}

    app.config["WTF_CSRF_ENABLED"] = False
    answer = app.test_client().post("/api/v1/things", json={})
    assert answer.status_code == 401
    assert answer.get_json() == {"error": {"code": "unauthenticated", "message": "Sign in first."}}
