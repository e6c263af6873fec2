"""One run of our pipeline, in the checkout under test: started by ``fetch_pipeline.py`` and
``payment_pipeline.py`` once per run, with that checkout's own Python::

    <tree>/.venv/bin/python bench/_side.py SPEC.json OUT.json

Everything that *runs* is the checkout's (``spec["tree"]``): its migrations, its
``tests.support.pipeline`` (which starts the scheduler and communicators with the Python
running this file, from that tree), its portal. Only the measuring is this file's (and
``_cpu.py`` beside it). The sandbox is the caller's — one stand-in for every run of a
benchmark — given by address and process id; the caller reads its calls and ledger.

The few imports that moved between checkouts are looked up in both places (``_compat``), so
a checkout from before ``bbp_common`` was split in two rooms (98f41a1) runs too.

The answer (OUT.json): the database's own timestamps of the run (request created and
finished, first and last dispatch, every dispatch record as epoch seconds), the CPU seconds
of each component over the measured window (from the request's creation to its finish:
set-up and start-up excluded), and the 1-minute load average at both ends.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

SPEC = json.loads(Path(sys.argv[1]).read_text())
TREE = Path(SPEC["tree"]).resolve()
sys.path.insert(1, str(TREE))  # after this file's folder (``_cpu``), before site-packages

import sqlalchemy as sa  # noqa: E402
from _cpu import Probe, load_average, shared_servers, with_children  # noqa: E402
from _workload import fetch_accounts  # noqa: E402

from tests.conftest import Servers  # noqa: E402
from tests.support.pipeline import Pipeline, create_database, drop_database, new_vhost  # noqa: E402


def _compat(*candidates: tuple[str, str]) -> Any:
    """The first ``(module, name)`` that imports: a name that moved between checkouts."""
    import importlib

    for module, name in candidates:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"none of {candidates} in {TREE}")


def epoch(value: datetime) -> float:
    """The database's naive UTC timestamp as epoch seconds."""
    return value.replace(tzinfo=UTC).timestamp()


def sandbox_of(spec: dict[str, Any]) -> Any:
    """The caller's sandbox as this checkout's ``RunningSandbox`` (control API by address)."""
    from sandbox.testing import RunningSandbox

    given = spec["sandbox"]
    return RunningSandbox(
        base_url=given["base_url"],
        port=given["port"],
        process=SimpleNamespace(pid=given["pid"]),  # type: ignore[arg-type]
        log_path=Path(os.devnull),
        client_id=given["client_id"],
        client_secret=given["client_secret"],
        payer_msisdn=given["payer_msisdn"],
        payer_mpin=given["payer_mpin"],
    )


def components(pipe: Pipeline, sandbox_pid: int) -> dict[str, list[int]]:
    return {
        "scheduler": [
            p for s in pipe.services if s.kind == "scheduler" for p in with_children(s.pid)
        ],
        "communicators": [
            p for s in pipe.services if s.kind == "communicator" for p in with_children(s.pid)
        ],
        **shared_servers(),
        "sandbox": with_children(sandbox_pid),
    }


def dispatch_times(pipe: Pipeline) -> list[float]:
    """Every dispatch record of the run (its own database: fetches, payments, enquiries)."""
    with pipe.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT dispatched_at FROM dispatches ORDER BY dispatched_at"))
        return [epoch(t) for t in rows.scalars()]


# --------------------------------------------------------------------------------- fetch


def run_fetch(pipe: Pipeline, spec: dict[str, Any], url: str, amqp_url: str) -> dict[str, Any]:
    from bbp_portal.app import create_app
    from tests.support.accounts import sign_in
    from tests.support.portal import base_settings

    pipe.seed_billers()
    pipe.add_accounts(fetch_accounts(spec["items"]))
    pipe.start("scheduler")
    pipe.leader()
    for _ in range(spec["communicators"]):
        pipe.start("communicator")
    app = create_app(
        base_settings(
            database_url=url,
            redis_url=os.environ.get("BBP_BENCH_REDIS_URL", "redis://127.0.0.1/15"),
            amqp_url=amqp_url,
            log_level="WARNING",
        ),
        TESTING=True,
        WTF_CSRF_ENABLED=False,
    )
    try:
        client = sign_in(app.test_client(), "admin", "bench-admin")
        # One request of every account, or (requests k) k requests of a share each, created
        # back to back (their tally rows are apart: see docs/benchmarks.md).
        if spec["requests"] == 1:
            bodies: list[dict[str, Any]] = [{"filter": {"q": ""}}]
        else:
            with pipe.engine.connect() as conn:
                ids = list(
                    conn.execute(sa.text("SELECT id FROM bill_accounts ORDER BY id")).scalars()
                )
            share = -(-len(ids) // spec["requests"])
            bodies = [{"ids": ids[i : i + share]} for i in range(0, len(ids), share)]
        probe = Probe(components(pipe, spec["sandbox"]["pid"]))
        load_start, started = load_average(), time.perf_counter()
        request_ids = []
        for body in bodies:
            answer = client.post("/api/v1/requests/fetch", json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"fetch request refused: {answer.get_json()}")
            request_ids.append(answer.get_json()["id"])
        for request_id in request_ids:
            pipe.wait_finished(request_id, timeout=spec["items"] / 10 + 120)
        cpu = probe.spent()
        wall, load_end = time.perf_counter() - started, load_average()
    finally:
        app.extensions["bbp.relay"].close()
        app.extensions["bbp.engine"].dispose()
    ids_sql = ", ".join(str(int(i)) for i in request_ids)
    with pipe.engine.connect() as conn:
        created, finished = conn.execute(
            sa.text(
                "SELECT MIN(created_at), MAX(finished_at) FROM bulk_requests"
                f" WHERE id IN ({ids_sql})"
            )
        ).one()
    return {
        "start": epoch(created),
        "end": epoch(finished),
        "dispatches": dispatch_times(pipe),
        "cpu": cpu,
        "wall": wall,
        "load": [load_start, load_end],
    }


# ------------------------------------------------------------------------------ payments


def seed_payments(pipe: Pipeline, n: int) -> list[int]:
    """n accounts with one pending bill each, stored as a finished fetch would (in bulk)."""
    from sandbox.mobiquity.bills import bills_for
    from sandbox.mobiquity.catalogue import by_utility

    tables = _compat(("bbp_common.platform.db", "tables"), ("bbp_common.db", "tables"))
    consumers = [f"8{i:06d}1" for i in range(n)]  # last digit 1: exactly one bill each
    biller = by_utility("DSCO")
    with pipe.engine.begin() as conn:
        conn.execute(
            sa.insert(tables.bill_accounts),
            [
                {"utility_code": "DSCO", "consumer_id": c, "mobile": "01711000000"}
                for c in consumers
            ],
        )
        accounts = dict(
            conn.execute(sa.text("SELECT consumer_id, id FROM bill_accounts")).tuples().all()
        )
        request_id = conn.execute(
            sa.insert(tables.bulk_requests).values(
                kind="fetch", state="finished", created_by="bench"
            )
        ).inserted_primary_key[0]
        conn.execute(
            sa.insert(tables.fetch_items),
            [
                {
                    "request_id": request_id,
                    "bill_account_id": accounts[c],
                    "utility_code": "DSCO",
                    "consumer_id": c,
                    "mobile": "01711000000",
                    "state": "done",
                    "outcome": "bills",
                }
                for c in consumers
            ],
        )
        items = dict(
            conn.execute(
                sa.text("SELECT consumer_id, id FROM fetch_items WHERE request_id = :r"),
                {"r": request_id},
            )
            .tuples()
            .all()
        )
        now = conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        rows = []
        for c in consumers:
            (bill,) = bills_for(biller, c)
            rows.append(
                {
                    "fetch_item_id": items[c],
                    "bill_account_id": accounts[c],
                    "utility_code": "DSCO",
                    "consumer_id": c,
                    "bill_number": bill.bill_number,
                    "due_date": bill.due_date,
                    "amount": bill.amount,
                    "service_charge": bill.service_charge,
                    "fetched_at": now,
                }
            )
        conn.execute(sa.insert(tables.bills), rows)
        conn.execute(sa.text("UPDATE wallet_breaker SET state = 'closed'"))  # a proven wallet
        return list(conn.execute(sa.text("SELECT id FROM bills ORDER BY id")).scalars())


def run_payments(pipe: Pipeline, spec: dict[str, Any]) -> dict[str, Any]:
    create_payment_request = _compat(
        ("bbp_portal.payments.service", "create_payment_request"),
        ("bbp_portal.requests.service", "create_payment_request"),
    )
    pipe.seed_billers()
    bill_ids = seed_payments(pipe, spec["items"])
    pipe.start("scheduler")
    pipe.leader()
    workers = str(max(32, spec["in_flight"]))
    for _ in range(spec["communicators"]):
        pipe.start("communicator", BBP_COMMUNICATOR_PAY_WORKERS=workers)
    probe = Probe(components(pipe, spec["sandbox"]["pid"]))
    load_start, started = load_average(), time.perf_counter()
    created = create_payment_request(pipe.engine, "bench", bill_ids)
    rate = spec["cap"] or 1000
    pipe.wait_finished(created.request_id, timeout=spec["items"] / rate * 4 + 120)
    cpu = probe.spent()
    wall, load_end = time.perf_counter() - started, load_average()
    with pipe.engine.connect() as conn:
        first, last = conn.execute(
            sa.text(
                "SELECT MIN(dispatched_at), MAX(answered_at) FROM payments WHERE request_id = :r"
            ),
            {"r": created.request_id},
        ).one()
        states = dict(
            conn.execute(
                sa.text(
                    "SELECT state, COUNT(*) FROM payments WHERE request_id = :r GROUP BY state"
                ),
                {"r": created.request_id},
            )
            .tuples()
            .all()
        )
    return {
        "start": epoch(first),
        "end": epoch(last),
        "dispatches": dispatch_times(pipe),
        "states": states,
        "cpu": cpu,
        "wall": wall,
        "load": [load_start, load_end],
    }


# ----------------------------------------------------------------------------------- run


def main() -> None:
    spec = SPEC
    servers = Servers()
    if not servers.rabbitmqctl:
        raise SystemExit("needs rabbitmqctl (a vhost of the benchmark's own)")
    sandbox = sandbox_of(spec)
    name = f"bbp_bench_{spec['kind'][:5]}_{uuid.uuid4().hex[:8]}"
    url = create_database(servers.db_url(), name)
    try:
        with new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url:
            pipe = Pipeline(url, amqp_url, sandbox, env_overrides=dict(spec["env"]))
            try:
                if spec["kind"] == "fetch":
                    found = run_fetch(pipe, spec, url, amqp_url)
                else:
                    found = run_payments(pipe, spec)
            finally:
                pipe.stop_all()
                pipe.engine.dispose()
    finally:
        drop_database(servers.db_url(), name)
    Path(sys.argv[2]).write_text(json.dumps(found))


if __name__ == "__main__":
    main()
