"""The transactional outbox and its relay against the real database and broker."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from messaging_support import (
    ITEM,
    apply_effect,
    depth,
    drain,
    effect_count,
    new_effect,
    new_queue,
)
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Engine, select, text

from bbp_common.platform import outbox
from bbp_common.platform import relay as outbox_relay
from bbp_common.platform.db import make_engine
from bbp_common.platform.db.tables import outbox as outbox_table
from bbp_common.platform.inbox import first_time
from bbp_common.platform.logging import correlation
from bbp_common.platform.messaging import InvalidMessage, Publisher
from bbp_common.platform.settings import DatabaseSettings

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.usefixtures("clean_outbox")


def add_rows(engine: Engine, routing_key: str, count: int, start: int = 0) -> list[str]:
    with engine.begin() as conn:
        return [
            outbox.add(conn, "bbp", routing_key, ITEM, {"n": n}, version=1)
            for n in range(start, start + count)
        ]


def row(engine: Engine, message_id: str) -> dict[str, object]:
    with engine.connect() as conn:
        return dict(
            conn.execute(select(outbox_table).where(outbox_table.c.message_id == message_id))
            .mappings()
            .one()
        )


def test_a_row_of_a_rolled_back_transaction_is_never_published(
    amqp_url: str, engine: Engine, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    with engine.connect() as conn, conn.begin() as tx:
        rolled_back = outbox.add(conn, "bbp", f"{spec.name}.x", ITEM, {"n": 1}, version=1)
        tx.rollback()  # the business change failed: its message must not exist
    [committed] = add_rows(engine, f"{spec.name}.x", 1, start=2)

    relay = outbox_relay.OutboxRelay(
        engine, publisher, batch_size=10, metrics_registry=CollectorRegistry()
    )
    assert relay.relay_once() == 1

    got = drain(amqp_url, spec.name)
    assert [g.body["message_id"] for g in got] == [committed]
    with engine.connect() as conn:
        ids = conn.execute(select(outbox_table.c.message_id)).scalars().all()
    assert rolled_back not in ids
    assert row(engine, committed)["status"] == "sent"
    assert row(engine, committed)["sent_at"] is not None


def test_the_envelope_is_stored_whole_with_the_current_correlation_id(
    amqp_url: str, engine: Engine, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    with correlation("portal-request-9"), engine.begin() as conn:
        message_id = outbox.add(conn, "bbp", f"{spec.name}.x", ITEM, {"n": 9}, version=1)
    stored = row(engine, message_id)
    assert stored["correlation_id"] == "portal-request-9"
    assert stored["message_type"] == ITEM

    outbox_relay.OutboxRelay(engine, publisher, metrics_registry=CollectorRegistry()).relay_once()
    [got] = drain(amqp_url, spec.name)
    assert got.body["correlation_id"] == "portal-request-9"
    assert got.properties.correlation_id == "portal-request-9"
    assert got.body["body"] == {"n": 9}


def test_an_invalid_body_fails_the_business_transaction(engine: Engine) -> None:
    with pytest.raises(InvalidMessage), engine.begin() as conn:
        outbox.add(conn, "bbp", "x", ITEM, {"n": "nine"}, version=1)
    with pytest.raises(InvalidMessage, match="unknown message type"), engine.begin() as conn:
        outbox.add(conn, "bbp", "x", "test.unregistered", {}, version=1)


def test_a_relay_killed_between_publish_and_mark_sent_publishes_again_and_it_is_applied_once(
    amqp_url: str, database_url: str, engine: Engine, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    [message_id] = add_rows(engine, f"{spec.name}.x", 1)

    child = subprocess.run(
        [sys.executable, str(HERE / "child_relay.py"), database_url, amqp_url],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 17, child.stderr[-2000:]
    assert message_id in child.stdout  # it was confirmed by the broker …
    assert row(engine, message_id)["status"] == "pending"  # … and never marked sent
    assert depth(amqp_url, spec.name) == 1

    relay = outbox_relay.OutboxRelay(engine, publisher, metrics_registry=CollectorRegistry())
    assert relay.relay_once() == 1
    assert row(engine, message_id)["status"] == "sent"

    got = drain(amqp_url, spec.name)
    assert [g.body["message_id"] for g in got] == [message_id, message_id]  # twice on the wire

    with engine.begin() as conn:
        effect = new_effect(conn)
    for copy in got:  # the consumer's transaction: inbox + effect
        with engine.begin() as conn:
            if first_time(conn, "test-relay-killed", copy.body["message_id"]):
                apply_effect(conn, effect)
    with engine.connect() as conn:
        assert effect_count(conn, effect) == 1


def test_two_relays_running_at_once_publish_each_row_exactly_once(
    amqp_url: str, database_url: str, engine: Engine
) -> None:
    spec = new_queue(amqp_url)
    total = 400
    message_ids = add_rows(engine, f"{spec.name}.x", total)
    published: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def relay(name: str) -> None:
        own_engine = make_engine(DatabaseSettings(database_url=SecretStr(database_url)))
        pub = Publisher(amqp_url, confirm_timeout=5, name=f"relay-{name}").start()
        try:
            assert pub.wait_ready(10)

            def slow(ids: Sequence[str]) -> None:
                published[name].extend(ids)
                time.sleep(0.02)  # hold the claim a moment: the other relay must skip it

            worker = outbox_relay.OutboxRelay(
                own_engine,
                pub,
                batch_size=25,
                after_publish=slow,
                metrics_registry=CollectorRegistry(),
            )
            while worker.relay_once():
                pass
        except BaseException as exc:
            errors.append(exc)
        finally:
            pub.close()
            own_engine.dispose()

    threads = [threading.Thread(target=relay, args=(name,)) for name in published]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors, errors
    assert published["a"] and published["b"], "the relays did not run side by side"
    assert Counter(published["a"] + published["b"]) == Counter(message_ids)
    got = drain(amqp_url, spec.name, wait=5, expect=total)
    assert Counter(g.body["message_id"] for g in got) == Counter(message_ids)
    with engine.connect() as conn:
        statuses = conn.execute(text("SELECT status, COUNT(*) FROM outbox GROUP BY status")).all()
    assert dict(statuses) == {"sent": total}


def test_a_row_that_keeps_failing_is_retried_with_backoff_then_marked_failed_and_counted(
    amqp_url: str, engine: Engine, publisher: Publisher
) -> None:
    [message_id] = add_rows(engine, "nobody.listens.here", 1)  # unroutable: returned
    registry = CollectorRegistry()
    patient = outbox_relay.OutboxRelay(
        engine, publisher, max_attempts=2, retry_initial=60, metrics_registry=registry
    )

    assert patient.relay_once() == 0
    first = row(engine, message_id)
    assert (first["status"], first["attempts"]) == ("pending", 1)
    assert "NO_ROUTE" in str(first["last_error"])
    pushed_back = (first["available_at"] - first["created_at"]).total_seconds()
    assert 45 <= pushed_back <= 61  # 60 s less up to 20 % jitter
    assert patient.relay_once() == 0  # not due yet: not claimed
    assert row(engine, message_id)["attempts"] == 1

    with engine.begin() as conn:  # time passes
        conn.execute(
            text("UPDATE outbox SET available_at = UTC_TIMESTAMP(6) WHERE message_id = :m"),
            {"m": message_id},
        )
    assert patient.relay_once() == 0
    last = row(engine, message_id)
    assert (last["status"], last["attempts"]) == ("failed", 2)
    assert patient.failed_count() == 1
    assert registry.get_sample_value("bbp_outbox_failed_rows") == 1
    assert registry.get_sample_value("bbp_outbox_publish_failures_total") == 2

    with engine.begin() as conn:  # failed rows are never claimed again
        conn.execute(text("UPDATE outbox SET available_at = UTC_TIMESTAMP(6)"))
    assert patient.relay_once() == 0
    assert row(engine, message_id)["attempts"] == 2


def test_while_the_broker_is_unreachable_rows_are_not_claimed_and_attempts_not_spent(
    engine: Engine,
) -> None:
    [message_id] = add_rows(engine, "x", 1)
    with Publisher("amqp://guest:guest@127.0.0.1:1/", reconnect_cap=0.2) as unreachable:
        relay = outbox_relay.OutboxRelay(engine, unreachable, metrics_registry=CollectorRegistry())
        assert relay.relay_once() == 0
        assert relay.relay_ids([message_id]) == 0
    assert row(engine, message_id)["attempts"] == 0


def test_relay_ids_publishes_just_those_rows_right_after_commit(
    amqp_url: str, engine: Engine, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    others = add_rows(engine, f"{spec.name}.x", 3)
    mine = add_rows(engine, f"{spec.name}.x", 5, start=10)
    relay = outbox_relay.OutboxRelay(
        engine, publisher, batch_size=2, metrics_registry=CollectorRegistry()
    )

    assert relay.relay_ids(mine) == 5
    assert relay.relay_ids(mine) == 0  # already sent: nothing claimed twice

    got = drain(amqp_url, spec.name)
    assert sorted(g.body["message_id"] for g in got) == sorted(mine)
    assert {str(row(engine, m)["status"]) for m in others} == {"pending"}


def test_run_relays_new_rows_until_stopped(
    amqp_url: str, engine: Engine, publisher: Publisher
) -> None:
    spec = new_queue(amqp_url)
    relay = outbox_relay.OutboxRelay(
        engine, publisher, poll_interval=0.05, metrics_registry=CollectorRegistry()
    )
    stop = threading.Event()
    ticks: list[int] = []
    runner = threading.Thread(
        target=relay.run, args=(stop,), kwargs={"on_tick": lambda: ticks.append(1)}
    )
    runner.start()
    try:
        message_ids = add_rows(engine, f"{spec.name}.x", 3)
        got = drain(amqp_url, spec.name, wait=10, expect=3)
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()
    assert sorted(g.body["message_id"] for g in got) == sorted(message_ids)
    assert ticks


def test_the_claim_query_walks_the_status_index_without_a_filesort(engine: Engine) -> None:
    add_rows(engine, "x", 50)
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET status = 'sent' WHERE id % 2 = 0"))
    with engine.connect() as conn:
        compiled = outbox.pending_claim(10).compile(conn, compile_kwargs={"literal_binds": True})
        plan = conn.execute(text(f"EXPLAIN {compiled}")).mappings().all()
    [step] = plan
    assert step["key"] == "ix_outbox_status_available_at_id"
    assert "filesort" not in (step["Extra"] or "")
    assert "FOR UPDATE SKIP LOCKED" in str(compiled)


def test_a_relay_skips_rows_another_relay_holds(engine: Engine, publisher: Publisher) -> None:
    """The claim itself, without timing luck: a held claim is invisible to a second one."""
    add_rows(engine, "x", 6)
    relay = outbox_relay.OutboxRelay(engine, publisher, batch_size=4)
    with engine.connect() as first, engine.connect() as second, first.begin():
        held = relay._claim_pending(first)
        with second.begin():
            other = relay._claim_pending(second)
    assert len(held) == 4
    assert len(other) == 2
    assert not {r.id for r in held} & {r.id for r in other}
