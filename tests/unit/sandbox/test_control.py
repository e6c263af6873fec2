"""The control API, settings from the environment, and the command line."""

from __future__ import annotations

from typing import Any

import pytest

import sandbox.__main__ as cli
from sandbox.mobiquity import catalogue
from sandbox.mobiquity.settings import RuntimeConfig, Settings

from .conftest import PATH_LOGIN, Api, login_body

pytestmark = pytest.mark.unit

CID = "17021272"


def test_health(api: Api) -> None:
    resp = api.client.get("/__sandbox__/health")
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok"


def test_reset_forgets_everything_and_restores_the_config(api: Api) -> None:
    old_token = api.token()
    api.post(PATH_LOGIN, login_body("superadmin", "Super@123"))
    api.pay("DSCO", CID, api.bills("DSCO", CID)[0])
    api.add_fault(endpoint="fetch", fault="latency", latency_ms=1)
    api.configure(status_in_body_only=True, base_latency_ms=5)
    assert api.client.post("/__sandbox__/reset").status_code == 200
    assert api.ledger() == [] and api.calls() == []
    assert api.client.get("/__sandbox__/faults").get_json() == []
    assert api.client.get("/__sandbox__/otps/superadmin").status_code == 404
    assert api.client.get("/__sandbox__/config").get_json() == RuntimeConfig().to_json()
    assert api.fetch("DSCO", CID).status_code == 401  # the old token is forgotten
    api.token(fresh=True)
    assert len(api.bills("DSCO", CID)) == 3  # the payment is forgotten
    assert old_token != api.token()


def test_reset_can_keep_tokens(api: Api) -> None:
    api.token()
    api.client.post("/__sandbox__/reset?keep_tokens=1")
    assert api.fetch("DSCO", CID).status_code == 200


def test_otp_of_a_user_without_one_is_404(api: Api) -> None:
    assert api.client.get("/__sandbox__/otps/admin01").status_code == 404


def test_ledger_filters(api: Api) -> None:
    bills = api.bills("DSCO", CID)
    api.pay("DSCO", CID, bills[0], "R1")
    api.pay("DSCO", CID, bills[1], "R2", mpin=1)
    api.pay("DSCO", "17021285", api.bills("DSCO", "17021285")[0], "R3")
    assert [e["seq"] for e in api.ledger()] == [1, 2, 3]
    assert [e["reference"] for e in api.ledger(reference="R2")] == ["R2"]
    assert [e["reference"] for e in api.ledger(consumer_id=CID)] == ["R1", "R2"]
    assert [e["reference"] for e in api.ledger(bill_number=bills[0]["bill_number"])] == ["R1"]
    assert [e["reference"] for e in api.ledger(outcome="rejected")] == ["R2"]


def test_calls_list_mobiquity_calls_only_in_order(api: Api) -> None:
    api.fetch("DSCO", CID)
    api.client.get("/__sandbox__/ledger")
    api.client.post("/nowhere")
    calls = api.calls()
    assert [c["endpoint"] for c in calls] == ["token", "fetch", "unknown"]
    assert [c["status"] for c in calls] == [200, 200, 404]
    assert calls[1]["consumer_id"] == CID
    assert calls[0]["ts"] <= calls[1]["ts"] <= calls[2]["ts"]
    assert [c["endpoint"] for c in api.calls(endpoint="fetch")] == ["fetch"]
    assert [c["seq"] for c in api.calls(since=1)] == [2, 3]


def test_config_get_and_patch(api: Api) -> None:
    config = api.client.get("/__sandbox__/config").get_json()
    assert config == {
        "token_ttl_seconds": 299,
        "status_in_body_only": False,
        "require_bearer": True,
        "auth_require_bearer": True,
        "change_credential_requires_user_token": True,
        "fulfilment_delay_seconds": 0.0,
        "base_latency_ms": 0,
        "otp_ttl_seconds": 300,
        "slow_seconds": 30.0,
    }
    changed = api.configure(token_ttl_seconds=60, status_in_body_only=True)
    assert changed["token_ttl_seconds"] == 60 and changed["status_in_body_only"] is True
    assert api.token(fresh=True)
    assert (
        api.client.post(
            "/mobiquitypay/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic Q29yZVdlYjpzYW5kYm94LXNlY3JldA=="},
        ).get_json()["expires_in"]
        == 60
    )


@pytest.mark.parametrize(
    "patch",
    [
        {"nope": 1},
        {"require_bearer": "maybe"},
        {"base_latency_ms": "fast"},
        {"token_ttl_seconds": 0},
        {"base_latency_ms": -1},
        {"require_bearer": True, "nope": 1},
    ],
)
def test_config_patch_refuses_bad_values_and_changes_nothing(api: Api, patch) -> None:
    resp = api.client.patch("/__sandbox__/config", json=patch)
    assert resp.status_code == 400 and resp.get_json()["error"]
    assert api.client.get("/__sandbox__/config").get_json() == RuntimeConfig().to_json()


def test_billers_come_from_the_catalogue_module(api: Api) -> None:
    billers = api.client.get("/__sandbox__/billers").get_json()
    assert {b["code"] for b in billers} >= {"DSCO", "DESCO", "JGDCL", "TTAS"}
    assert billers == [b.to_json() for b in catalogue.BILLERS]
    ttas = next(b for b in billers if b["code"] == "TTAS")
    assert ttas["receiver_msisdn"] == "01788886666" and ttas["product_id"] == 12
    assert ttas["fetchable"] is False
    for b in billers:
        assert set(b) >= {"code", "biller_code", "receiver_msisdn", "product_id"}


def test_users_endpoint_shows_no_passwords(api: Api) -> None:
    users = api.client.get("/__sandbox__/users").get_json()
    by_id = {u["login_id"]: u for u in users}
    assert by_id["superadmin"]["otp_enabled"] is True
    assert by_id["admin01"]["otp_enabled"] is False
    assert by_id["blocked01"]["blocked"] is True
    assert all("password" not in u for u in users)
    for password in ("Super@123", "Admin@123", "Com@8989", "Com@1357", "Block@123"):
        assert password not in str(users)


def test_bills_endpoint_marks_paid_bills(api: Api) -> None:
    bill = api.bills("DSCO", CID)[1]
    api.pay("DSCO", CID, bill)
    rows = api.client.get("/__sandbox__/bills?utility=DSCO&consumer_id=17021272").get_json()
    assert [r["paid"] for r in rows] == [False, True, False]
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert api.client.get("/__sandbox__/bills?utility=XX&consumer_id=1").status_code == 400


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SANDBOX_PORT": "9999",
            "SANDBOX_HOST": "0.0.0.0",
            "SANDBOX_PAYER_MSISDN": "01700000001",
            "SANDBOX_PAYER_MPIN": "2468",
            "SANDBOX_STATUS_IN_BODY_ONLY": "true",
            "SANDBOX_OTP_TTL_SECONDS": "60",
            "SANDBOX_REQUIRE_BEARER": "0",
        }
    )
    assert (settings.port, settings.host) == (9999, "0.0.0.0")
    assert (settings.payer_msisdn, settings.payer_mpin) == ("01700000001", "2468")
    assert settings.config.status_in_body_only is True
    assert settings.config.otp_ttl_seconds == 60
    assert settings.config.require_bearer is False
    defaults = Settings.from_env({})
    assert (defaults.port, defaults.host, defaults.threads) == (8090, "127.0.0.1", 128)


def test_payer_wallet_comes_from_settings() -> None:
    from sandbox.mobiquity import create_app

    from .conftest import Api as ApiClass

    app = create_app(Settings(payer_msisdn="01700000001", payer_mpin="2468"))
    api = ApiClass(app.test_client(), app)
    bill = api.bills("DSCO", CID)[0]
    assert api.pay("DSCO", CID, bill, "A").get_json()["errors"][0]["code"] == "sender.not.found"
    body = api.pay_body("DSCO", CID, bill, "B", mpin=2468)
    body["sender"]["idValue"] = "01700000001"
    assert api.post("/jigsaw/v1/order/billpay", body).status_code == 200


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_serve(app_factory: Any, **kwargs: Any) -> None:
        # gunicorn would call the factory in its worker process.
        seen.update(kwargs, app=app_factory())

    monkeypatch.setattr("sandbox.server.serve", fake_serve)
    for name in ("SANDBOX_PORT", "SANDBOX_HOST", "SANDBOX_THREADS", "SANDBOX_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return seen


def test_cli_defaults_to_the_mobiquity_stand_in(served: dict[str, Any]) -> None:
    assert cli.main([]) == 0
    assert (served["host"], served["port"], served["threads"]) == ("127.0.0.1", 8090, 128)
    assert served["app"].name == "sandbox.mobiquity"


def test_cli_options_and_environment(served: dict[str, Any], monkeypatch) -> None:
    monkeypatch.setenv("SANDBOX_PORT", "18123")
    cli.main(["mobiquity"])
    assert served["port"] == 18123
    cli.main(["--port", "18124", "--threads", "16"])
    assert (served["port"], served["threads"]) == (18124, 16)


def test_cli_refuses_unknown_services(served: dict[str, Any]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["carrier-pigeon"])
