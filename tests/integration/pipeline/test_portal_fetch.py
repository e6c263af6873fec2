"""The portal in front of the real pipeline: its API creates the request, its after-commit
relay (or, with RabbitMQ unreachable, the scheduler's relay) publishes it, a real scheduler
and communicator fetch from the sandbox, and the portal's progress, results, per-biller
totals and export tell the truth about what happened.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from bbp_common.platform.db.tables import bills, fetch_items
from bbp_portal.app import create_app
from sandbox.testing import free_port
from tests.integration.pipeline.test_fetch_pipeline import expected
from tests.support.accounts import sign_in
from tests.support.pipeline import Pipeline
from tests.support.portal import base_settings
from tests.support.requests import group_id, item_ids, outbox_statuses

ACCOUNTS = (
    [("DSCO", f"1702{i:04d}") for i in range(20)]
    + [("DESCO", f"2205{i:04d}") for i in range(15)]
    + [("JGDCL", f"3265{i:04d}") for i in range(12)]
    + [("TTAS", f"5500{i:04d}") for i in range(2)]  # 403: not fetchable for the utility
    + [("DSCO", "99010001")]  # HTTP 500 every time: retried through the pace, then failed
)


def portal(pipeline: Pipeline, redis_url: str, amqp_url: str) -> Flask:
    return create_app(
        base_settings(
            database_url=pipeline.database_url,
            redis_url=redis_url,
            amqp_url=amqp_url,
            portal_publisher_connect_wait=5,
        ),
        TESTING=True,
        WTF_CSRF_ENABLED=False,
    )


@pytest.fixture()
def grouped(pipeline: Pipeline) -> int:
    """ACCOUNTS in the pipeline's database, all in one group; returns the group's id."""
    ids = pipeline.add_accounts(ACCOUNTS)
    with pipeline.engine.begin() as conn:
        gid = conn.execute(sa.text("INSERT INTO account_groups (name) VALUES ('Pipeline')"))
        gid = gid.lastrowid
        conn.execute(
            sa.text("INSERT INTO bill_account_groups (bill_account_id, group_id) VALUES (:a, :g)"),
            [{"a": i, "g": gid} for i in ids],
        )
    assert group_id(pipeline.engine, "Pipeline") == gid
    return int(gid)


@pytest.fixture()
def apps() -> Iterator[list[Flask]]:
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions["bbp.relay"].close()
        app.extensions["bbp.engine"].dispose()


def relayed(outcome: str) -> float:
    found = REGISTRY.get_sample_value("bbp_portal_after_commit_relay_total", {"outcome": outcome})
    return found or 0.0


def check_results(pipeline: Pipeline, client: FlaskClient, request_id: int) -> None:
    """Progress, results, per-biller totals and the export agree with the sandbox's rules."""
    progress = client.get(f"/api/v1/requests/{request_id}/progress").get_json()
    assert progress["state"] == "finished" and progress["settled"] is True
    assert progress["percent"] == 100.0 and progress["done"] == len(ACCOUNTS)

    items = client.get(f"/api/v1/requests/{request_id}/items?limit=200").get_json()["items"]
    assert len(items) == len(ACCOUNTS)
    for item in items:
        outcome, count = expected(item["utility_code"], item["consumer_id"])
        assert item["status"] == outcome, item
        assert len(item["bills"]) == count
        if outcome == "failed":
            assert item["error_code"] or item["error_message"]
    assert progress["counts"].get("failed") == 3

    with pipeline.engine.connect() as conn:
        truth = conn.execute(
            sa.select(bills.c.utility_code, sa.func.count(), sa.func.sum(bills.c.amount))
            .select_from(bills.join(fetch_items, fetch_items.c.id == bills.c.fetch_item_id))
            .where(fetch_items.c.request_id == request_id)
            .group_by(bills.c.utility_code)
        ).all()
    totals = client.get(f"/api/v1/requests/{request_id}/billers").get_json()
    assert {(b["utility_code"], b["bills"], Decimal(b["amount"])) for b in totals["billers"]} == {
        (u, n, amount) for u, n, amount in truth
    }

    exported = client.get(f"/requests/{request_id}/export.csv").get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(exported)))
    bill_rows = [r for r in rows if r["bill_number"]]
    assert len(bill_rows) == sum(n for _, n, _ in truth)
    assert len(rows) - len(bill_rows) == sum(1 for i in items if not i["bills"])


def test_rabbitmq_down_at_creation_the_request_runs_once_the_scheduler_relays_it(
    pipeline: Pipeline, grouped: int, redis_url: str, apps: list[Flask]
) -> None:
    dead_broker = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    app = portal(pipeline, redis_url, dead_broker)
    apps.append(app)
    client = sign_in(app.test_client(), "admin", "pipeline-admin")
    deferred = relayed("deferred")

    started = time.monotonic()
    answer = client.post("/api/v1/requests/fetch", json={"group_id": grouped})
    assert answer.status_code == 201, answer.get_json()
    assert time.monotonic() - started < 10  # one short wait for the broker, not a hang
    request_id = answer.get_json()["id"]
    assert answer.get_json()["total_items"] == len(ACCOUNTS)
    assert outbox_statuses(pipeline.engine, request_id) == ["pending"]
    assert relayed("deferred") == deferred + 1

    # a second request while the broker is still away answers at once (no second wait)
    started = time.monotonic()
    again = client.post("/api/v1/requests/fetch", json={"ids": [1, 2]})
    assert again.status_code == 201
    assert time.monotonic() - started < 1.5
    client.post(f"/api/v1/requests/{again.get_json()['id']}/cancel")

    pipeline.start("scheduler")
    pipeline.start("communicator")
    pipeline.wait_finished(request_id, timeout=120)
    pipeline.wait_for(
        lambda: outbox_statuses(pipeline.engine, request_id) == ["sent"],
        20,
        "the scheduler's relay to publish the portal's row",
    )
    check_results(pipeline, client, request_id)


def test_with_rabbitmq_up_the_portal_publishes_right_after_commit(
    pipeline: Pipeline, grouped: int, redis_url: str, apps: list[Flask]
) -> None:
    pipeline.start("scheduler")  # declares the topology in the pipeline's vhost
    pipeline.leader()
    pipeline.start("communicator")
    app = portal(pipeline, redis_url, pipeline.amqp_url)
    apps.append(app)
    client = sign_in(app.test_client(), "superadmin", "pipeline-super")
    published = relayed("published")

    answer = client.post("/api/v1/requests/fetch", json={"filter": {"q": "", "group_id": grouped}})
    assert answer.status_code == 201, answer.get_json()
    request_id = answer.get_json()["id"]
    # sent by the portal itself, within the request
    assert relayed("published") == published + 1
    assert outbox_statuses(pipeline.engine, request_id) == ["sent"]
    assert app.extensions["bbp.relay"].connected

    pipeline.wait_finished(request_id, timeout=120)
    check_results(pipeline, client, request_id)
    listed = client.get("/api/v1/requests?created_by=pipeline-super").get_json()["items"]
    assert [r["id"] for r in listed] == [request_id]
    assert listed[0]["progress"]["percent"] == 100.0


def test_cancel_through_the_portal_mid_request(
    pipeline: Pipeline, redis_url: str, apps: list[Flask]
) -> None:
    ids = pipeline.add_accounts([("DSCO", f"1702{i:04d}") for i in range(300)])
    pipeline.sandbox.configure(base_latency_ms=50)
    pipeline.start("scheduler", BBP_MOBIQUITY_RATE_LIMIT="20", BBP_MOBIQUITY_MAX_IN_FLIGHT="4")
    pipeline.leader()
    pipeline.start("communicator")
    app = portal(pipeline, redis_url, pipeline.amqp_url)
    apps.append(app)
    client = sign_in(app.test_client(), "admin", "pipeline-canceller")
    request_id = client.post("/api/v1/requests/fetch", json={"ids": ids}).get_json()["id"]

    pipeline.wait_for(
        lambda: (
            pipeline.tallies(request_id).get("no_bills", (0,))[0]
            + pipeline.tallies(request_id).get("bills", (0,))[0]
            >= 10
        ),
        30,
        "some results",
    )
    answer = client.post(f"/api/v1/requests/{request_id}/cancel")
    assert answer.status_code == 200
    cancelled = answer.get_json()["cancelled_items"]
    assert 0 < cancelled < 300

    def settled() -> dict | None:
        p = client.get(f"/api/v1/requests/{request_id}/progress").get_json()
        return p if p["settled"] else None

    progress = pipeline.wait_for(settled, 30, "dispatched items to finish")
    assert progress["state"] == "cancelled"
    assert progress["counts"]["cancelled"] == cancelled
    assert progress["done"] == 300 and progress["percent"] == 100.0
    with pipeline.engine.connect() as conn:
        states = dict(
            conn.execute(
                sa.select(fetch_items.c.state, sa.func.count())
                .where(fetch_items.c.request_id == request_id)
                .group_by(fetch_items.c.state)
            ).all()
        )
    assert states == {"done": 300 - cancelled, "cancelled": cancelled}
    time.sleep(1.5)  # nothing more is dispatched after the cancel
    assert pipeline.tallies(request_id).get("cancelled", (0,))[0] == cancelled


def test_one_correlation_id_follows_a_request_from_the_portal_to_the_mobiquity_calls(
    pipeline: Pipeline, redis_url: str, apps: list[Flask]
) -> None:
    ids = pipeline.add_accounts([("DSCO", "17029901"), ("DESCO", "22059901")])
    app = portal(pipeline, redis_url, pipeline.amqp_url)
    apps.append(app)
    client = sign_in(app.test_client(), "admin", "pipeline-admin")
    trace = "trace-0123456789abcdef"
    answer = client.post(
        "/api/v1/requests/fetch", json={"ids": ids}, headers={"X-Request-ID": trace}
    )
    assert answer.status_code == 201 and answer.headers["X-Request-ID"] == trace
    request_id = answer.get_json()["id"]
    pipeline.start("scheduler")
    communicator = pipeline.start("communicator")
    pipeline.wait_finished(request_id, timeout=60)
    with pipeline.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT correlation_id FROM bulk_requests WHERE id = :i"), {"i": request_id}
        ).scalar_one()
    assert stored == trace
    traced = [line for line in communicator.log_lines() if line.get("correlation_id") == trace]
    # Both accounts' Mobiquity calls are logged under the portal request's id.
    assert sum(1 for line in traced if "fetch" in json.dumps(line)) >= 2, traced
    # The client's own line about each call (with Mobiquity's ids, where it answers them)
    # names the request and the item.
    calls = [line for line in traced if str(line.get("event", "")).startswith("mobiquity call")]
    fetches = [line for line in calls if "endpoint=fetch" in line["event"]]
    assert len(fetches) >= 2, calls
    assert all(line.get("request_id") == request_id and line.get("item_id") for line in fetches)
    assert {line["item_id"] for line in fetches} >= set(item_ids(pipeline.engine, request_id))
    # A header that is not a plain token is not trusted: the portal makes its own id.
    odd = client.get("/api/v1/requests", headers={"X-Request-ID": "not a token; <script>"})
    assert odd.headers["X-Request-ID"] != "not a token; <script>"
