"""The bulk fetch through the real pipeline: portal service → outbox → RabbitMQ → scheduler
(paced) → communicator → sandbox, and back."""

from __future__ import annotations

import sqlalchemy as sa

from bbp_common.platform.db.tables import bills, fetch_items
from bbp_portal.requests.service import create_fetch_request
from sandbox.mobiquity.bills import bills_for
from sandbox.mobiquity.catalogue import by_utility
from tests.support.pipeline import Pipeline


def pending_bills(utility: str, consumer_id: str) -> list:
    return bills_for(by_utility(utility), consumer_id)


def expected(utility: str, consumer_id: str) -> tuple[str, int]:
    """What the sandbox's documented rules say an account's fetch must end with."""
    if not consumer_id.strip():
        return ("failed", 0)  # 422 Consumer Id can not be empty
    if utility == "TTAS":
        return ("failed", 0)  # 403 not applicable for the utility
    if consumer_id.startswith("9901"):
        return ("failed", 0)  # HTTP 500 every time: retried, then final
    found = pending_bills(utility, consumer_id)
    return ("bills", len(found)) if found else ("no_bills", 0)


def test_a_thousand_accounts_covering_every_fetch_case(pipeline: Pipeline) -> None:
    accounts = [("DSCO", f"1702{i:04d}") for i in range(400)]
    accounts += [("DESCO", f"2205{i:04d}") for i in range(300)]
    accounts += [("JGDCL", f"3265{i:04d}") for i in range(280)]
    accounts += [("TTAS", f"5500{i:04d}") for i in range(10)]
    accounts += [("DSCO", f"9901{i:04d}") for i in range(9)]
    accounts += [("DESCO", "")]
    assert len(accounts) == 1000
    ids = pipeline.add_accounts(accounts)
    for name in ("scheduler-a", "scheduler-b"):
        pipeline.start("scheduler", name)
    for name in ("communicator-a", "communicator-b"):
        pipeline.start("communicator", name)

    created = create_fetch_request(pipeline.engine, "admin01", ids, selection="all")
    assert created.items == 1000
    pipeline.wait_finished(created.request_id, timeout=120)

    with pipeline.engine.connect() as conn:
        items = conn.execute(
            sa.select(fetch_items).where(fetch_items.c.request_id == created.request_id)
        ).all()
        stored = conn.execute(
            sa.select(bills.c.fetch_item_id, bills.c.bill_number, bills.c.amount, bills.c.due_date)
        ).all()
    by_item: dict[int, list] = {}
    for bill in stored:
        by_item.setdefault(bill.fetch_item_id, []).append(bill)
    outcomes: dict[str, int] = {}
    for item in items:
        outcome, count = expected(item.utility_code, item.consumer_id)
        assert item.state == "done", item
        assert item.outcome == outcome, item
        assert (item.bill_count or 0) == count, item
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome == "bills":
            truth = {b.bill_number: b for b in pending_bills(item.utility_code, item.consumer_id)}
            mine = by_item[item.id]
            assert {b.bill_number for b in mine} == set(truth)
            for bill in mine:
                assert bill.amount == truth[bill.bill_number].amount
            assert item.bills_amount == sum(b.amount for b in mine)
        if item.consumer_id.startswith("9901"):
            assert item.attempts == 3  # retried through the pace, then final
    assert set(outcomes) == {"bills", "no_bills", "failed"}
    tallies = pipeline.tallies(created.request_id)
    assert tallies["bills"][0] == outcomes["bills"]
    assert tallies["failed"][0] == outcomes["failed"] == 20
    assert "queued" not in tallies and "in_flight" not in tallies


def test_the_scheduler_reports_its_work_as_metrics(pipeline: Pipeline) -> None:
    from urllib.request import urlopen

    ids = pipeline.add_accounts([("DSCO", f"1703{i:04d}") for i in range(60)])
    scheduler = pipeline.start("scheduler")
    pipeline.start("communicator")
    created = create_fetch_request(pipeline.engine, "admin01", ids)
    pipeline.wait_finished(created.request_id, timeout=60)
    with urlopen(f"http://127.0.0.1:{scheduler.health_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['bbp_scheduler_dispatched_total{kind="fetch"}'] == 60
    assert samples['bbp_scheduler_result_lag_seconds_count{kind="fetch"}'] == 60
    assert samples["bbp_scheduler_leader"] == 1
    assert samples['bbp_scheduler_results_total{kind="fetch",outcome="bills"}'] > 0
    assert "bbp_scheduler_in_flight" in samples
