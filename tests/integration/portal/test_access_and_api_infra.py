"""Who may call what (every route of this feature), CSRF on the API, the OpenAPI document."""

from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from bbp_portal import create_app
from tests.integration.portal.conftest import make_settings, sign_in

FEATURE = re.compile(r"^/(accounts|billers|api/v1)(/|$)")
READ_ONLY = ("GET",)


def feature_routes(app) -> list[tuple[str, str]]:
    """(method, concrete URL) of every route of billers, accounts and /api/v1."""
    sample = {
        "account_id": "1",
        "group_id": "1",
        "upload_id": "1",
        "utility_code": "DSCO",
        "action": None,
        "fmt": "csv",
        "request_id": "999999999",  # /api/v1/requests (issue 6): no such request
        "payment_id": "999999999",  # payments (issue 8): no such payment
        "anomaly_id": "999999999",
        "resolution_id": "999999999",  # bulk resolutions (issue 18): no such one
        "reconciliation_id": "999999999",  # reconciliation (issue 18): no such one
        "alarm_id": "999999999",
    }
    found = []
    for rule in app.url_map.iter_rules():
        if not FEATURE.match(rule.rule):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            url = rule.rule
            for name in rule.arguments:
                value = sample[name]
                if value is None:  # <any(a, b):action>: the first choice
                    value = re.search(r"<any\(([^,)]+)", url)[1].strip()
                url = re.sub(rf"<[^>]*\b{name}>", value, url)
            found.append((method, url))
    return found


def test_every_route_refuses_anonymous(app):
    client = app.test_client()
    routes = feature_routes(app)
    assert len(routes) > 40
    for method, url in routes:
        answer = client.open(url, method=method)
        if url.startswith("/api/"):
            assert answer.status_code == 401, (method, url)
            assert answer.json["error"]["code"] == "unauthenticated"
        else:
            assert answer.status_code == 302 and "/login" in answer.headers["Location"], url


def test_auditors_read_but_change_nothing(client_as, app):
    auditor = client_as("auditor")
    for method, url in feature_routes(app):
        answer = auditor.open(url, method=method)
        superadmin_only = url.startswith("/billers")
        operator_only = "/upload" in url or "/template" in url or url.endswith(("/new", "/edit"))
        reading = method in READ_ONLY or url.endswith("/selection/count")
        if reading and not superadmin_only and not operator_only:
            assert answer.status_code != 403, (method, url)
        else:
            assert answer.status_code == 403, (method, url)
            if url.startswith("/api/"):
                assert answer.json["error"]["code"] == "forbidden"


def test_admins_manage_accounts_but_not_billers(client_as, app):
    admin = client_as("admin")
    for method, url in feature_routes(app):
        answer = admin.open(url, method=method)
        biller_change = url.startswith("/billers") or (
            url.startswith("/api/v1/billers") and method != "GET"
        )
        # a superadmin's alone (issue 8): resolving, acknowledging, closing the wallet breaker;
        # (issue 18) bulk resolution, clearing a double-payment alarm
        superadmin_payment_op = method == "POST" and (
            url.endswith(("/resolve", "/acknowledge", "/wallet-breaker/close", "/clear"))
            or url.startswith("/api/v1/resolutions")  # bulk resolution (issue 18)
        )
        if biller_change or superadmin_payment_op:
            assert answer.status_code == 403, (method, url)
        else:
            assert answer.status_code != 403, (method, url)


def test_superadmins_manage_billers(client_as):
    su = client_as("superadmin")
    body = {
        "utility_code": "WASA",
        "name": "Dhaka WASA",
        "receiver_wallet": "01700000009",
        "product_id": 21,
        "biller_code": "WASA01",
    }
    created = su.post("/api/v1/billers", json=body)
    assert created.status_code in (201, 409)
    answer = su.post("/api/v1/billers", json=body)
    assert answer.status_code == 409 and answer.json["error"]["field"] == "utility_code"
    bad = su.post(
        "/api/v1/billers", json={**body, "utility_code": "NEW1", "receiver_wallet": "12ab5678"}
    )
    assert bad.status_code == 422 and bad.json["error"]["field"] == "receiver_wallet"
    changed = su.patch(
        "/api/v1/billers/wasa", json={"pays_service_charge": True, "active": False}
    ).json
    assert changed["pays_service_charge"] is True and changed["active"] is False
    listed = su.get("/api/v1/billers?active=false").json
    assert "WASA" in [b["utility_code"] for b in listed]
    # an inactive biller takes no new accounts
    answer = su.post(
        "/api/v1/accounts",
        json={"utility_code": "WASA", "consumer_id": "1", "mobile": "01712345678"},
    )
    assert answer.json["error"]["code"] == "inactive"
    # the page
    assert su.post("/billers/WASA/activate").status_code == 302
    html = su.get("/billers").get_data(as_text=True)
    assert "Dhaka WASA" in html
    answer = su.post(
        "/billers/WASA/edit",
        data={
            "name": "Dhaka WASA",
            "receiver_wallet": "x",
            "product_id": "21",
            "biller_code": "WASA01",
            "active": "on",
        },
    )
    assert answer.status_code == 422 and "Receiver wallet" in answer.get_data(as_text=True)
    answer = su.post(
        "/billers/new",
        data={
            "utility_code": "pdb",
            "name": "Power Board",
            "receiver_wallet": "01700000010",
            "product_id": "22",
            "biller_code": "PDB",
            "active": "on",
            "supports_fetch": "on",
        },
    )
    assert answer.status_code in (302, 409)
    assert su.get("/api/v1/billers/PDB").json["supports_fetch"] is True


def test_csrf_is_required_on_api_mutations(database_url, redis_url):
    app = create_app(make_settings(database_url, redis_url), TESTING=True)
    client = sign_in(app.test_client(), "admin")
    answer = client.post("/api/v1/groups", json={"name": "csrf group"})
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "csrf_failed"
    token = client.get("/api/v1/session").json["csrf_token"]
    answer = client.post(
        "/api/v1/groups", json={"name": f"csrf group {token[:6]}"}, headers={"X-CSRFToken": token}
    )
    assert answer.status_code == 201
    answer = client.post("/accounts/groups", data={"name": "no token"})
    assert answer.status_code == 400
    answer = client.post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(b"x"), "a.csv")},
        content_type="multipart/form-data",
    )
    assert answer.json["error"]["code"] == "csrf_failed"
    app.extensions["bbp.engine"].dispose()


def test_openapi_document(admin):
    doc = admin.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path, method in [
        ("/api/v1/accounts", "get"),
        ("/api/v1/accounts", "post"),
        ("/api/v1/accounts/{account_id}", "patch"),
        ("/api/v1/accounts/{account_id}", "delete"),
        ("/api/v1/groups", "post"),
        ("/api/v1/billers", "post"),
        ("/api/v1/uploads", "post"),
        ("/api/v1/uploads/{upload_id}/import", "post"),
    ]:
        assert method in paths[path], (path, method)
    listing = paths["/api/v1/accounts"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"q", "utility", "group_id", "status", "sort", "order", "cursor", "limit"} <= names
    ok = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/AccountPage"}
    schemas = doc["components"]["schemas"]
    assert {"Account", "AccountIn", "Biller", "Group", "Upload", "Error", "Selection"} <= set(
        schemas
    )
    assert "Roles: superadmin." in paths["/api/v1/billers"]["post"]["description"]
    upload = paths["/api/v1/uploads"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    json.dumps(doc)  # serialisable
    assert admin.get("/api/v1/nowhere").json["error"]["code"] == "not_found"
    assert admin.put("/api/v1/accounts").json["error"]["code"] == "method_not_allowed"


class _Catalogue(BaseHTTPRequestHandler):
    body = json.dumps(
        {
            "billers": [
                {
                    "utility": "DSCO",
                    "name": "Dhaka Supply",
                    "receiverWallet": "01700000001",
                    "productId": 11,
                    "billerCode": "DSCO",
                },
                {
                    "utility": "SEEDX",
                    "name": "Seeded biller",
                    "receiverWallet": "01700000020",
                    "productId": 31,
                    "billerCode": "SEEDX",
                    "supportsFetch": False,
                },
            ]
        }
    ).encode()

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/__sandbox__/billers" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def catalogue_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Catalogue)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_seeding_from_the_sandbox_catalogue_is_idempotent(app, catalogue_url, client_as):
    runner = CliRunner()
    cli = app.cli
    with app.app_context():
        first = runner.invoke(cli, ["billers", "seed-from", catalogue_url])
        second = runner.invoke(cli, ["billers", "seed-from", catalogue_url])
        down = runner.invoke(cli, ["billers", "seed-from", "http://127.0.0.1:9"])
    assert first.exit_code == 0, first.output
    assert "added SEEDX" in first.output
    assert "none (all present)" in second.output
    assert down.exit_code != 0 and "cannot read the biller catalogue" in down.output
    seeded = client_as("auditor").get("/api/v1/billers/SEEDX").json
    assert seeded["supports_fetch"] is False and seeded["product_id"] == 31


def test_readiness_needs_the_database_and_redis_and_reports_the_broker(database_url, redis_url):
    """A broker outage does not take the portal out of service (requests wait in the
    outbox); the database and the session store do."""
    app = create_app(
        make_settings(database_url, redis_url, amqp_url="amqp://guest:guest@127.0.0.1:1/%2F"),
        TESTING=True,
    )
    try:
        answer = app.test_client().get("/readyz")
        body = answer.get_json()
        assert answer.status_code == 200 and body["status"] == "ok"
        assert body["database"] == "ok" and body["redis"] == "ok"
        assert body["rabbitmq"] != "ok"
        down = create_app(
            make_settings("mysql+pymysql://root@127.0.0.1:1/none", redis_url), TESTING=True
        )
        answer = down.test_client().get("/readyz")
        assert answer.status_code == 503 and answer.get_json()["database"].startswith("failing")
    finally:
        app.extensions["bbp.engine"].dispose()
