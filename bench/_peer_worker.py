"""The Celery peer's worker: the same fetch job as our pipeline, the way a Celery user would
write it — one task per account: POST fetch-bill to the Mobiquity stand-in, one UPDATE of
the account's row in MariaDB. Started by ``_peer.py`` as::

    python -m celery -A _peer_worker worker --pool threads --concurrency N ...

(``bench/`` on ``PYTHONPATH``), configured by environment variables:

* ``PEER_BROKER_URL`` — the benchmark's own RabbitMQ vhost;
* ``PEER_DATABASE_URL`` — the benchmark's own database (table ``peer_fetch_items``);
* ``PEER_MOBIQUITY_URL``, ``PEER_CLIENT_ID``, ``PEER_CLIENT_SECRET`` — the sandbox;
* ``PEER_RATE_LIMIT`` — Celery's own ``rate_limit`` of the task (``"200/s"``), or empty;
* ``PEER_CONCURRENCY`` — the size of the database pool (the thread pool's);
* ``PEER_READY_FILE`` — written when the worker consumes (``worker_ready``).

It does less than our pipeline, knowingly: no pacing (the thread pool bounds the calls in
flight, nothing bounds a second — except ``rate_limit``), no publisher confirms, one hop (no
result message back to a scheduler), Celery's defaults (the message is acknowledged when
the task starts; a classic queue), no retries, one row and no bills table. Bench only: never
imported by the services, not installed by ``make setup``.
"""

from __future__ import annotations

import json
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from celery import Celery
from celery.signals import worker_ready

FETCH_PATH = "/extensibility/fetchPendingBillsFormAggregator"
TOKEN_PATH = "/mobiquitypay/oauth/token"

app = Celery("peer", broker=os.environ.get("PEER_BROKER_URL", "amqp://"))
app.conf.update(
    task_ignore_result=True,
    task_default_queue="peer.fetch",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_engine = sa.create_engine(
    os.environ.get("PEER_DATABASE_URL", "mysql+pymysql://root@127.0.0.1/none"),
    pool_size=int(os.environ.get("PEER_CONCURRENCY", "10")),
    max_overflow=0,
)
_update = sa.text(
    "UPDATE peer_fetch_items SET state = 'done', outcome = :outcome, bill_count = :count,"
    " bills = :bills, attempts = attempts + 1, completed_at = UTC_TIMESTAMP(6)"
    " WHERE id = :id"
)
_base_url = os.environ.get("PEER_MOBIQUITY_URL", "http://127.0.0.1:8090")
_local = threading.local()
_token_lock = threading.Lock()
_token: dict[str, str] = {}


def _system_token(refused: str | None = None) -> str:
    """The client-credentials token, shared by the threads; fetched again once refused."""
    with _token_lock:
        if not _token or _token["value"] == refused:
            answer = requests.post(
                _base_url + TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                auth=(os.environ["PEER_CLIENT_ID"], os.environ["PEER_CLIENT_SECRET"]),
                timeout=10,
            )
            answer.raise_for_status()
            _token["value"] = answer.json()["access_token"]
        return _token["value"]


def _session() -> requests.Session:
    """One keep-alive session per worker thread."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _post_fetch(body: dict[str, Any]) -> requests.Response:
    token = _system_token()
    answer = _session().post(
        _base_url + FETCH_PATH,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=(1, 10),
    )
    if answer.status_code == 401:
        token = _system_token(refused=token)
        answer = _session().post(
            _base_url + FETCH_PATH,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=(1, 10),
        )
    return answer


@app.task(name="peer.fetch", rate_limit=os.environ.get("PEER_RATE_LIMIT") or None)
def fetch(item_id: int, utility: str, consumer_id: str, mobile: str) -> None:
    answer = _post_fetch(
        {
            "utility": utility,
            "consumer_id": consumer_id,
            "thirdParty": "aggregator",
            "params": {"MOB_NO": mobile},
        }
    )
    bills: list[dict[str, Any]] = []
    if answer.ok:
        body = answer.json(parse_float=Decimal)  # amounts stay exact, as ours
        bills = body.get("bill_list") or []
        outcome = "bills" if bills else "no_bills"
    else:
        outcome = "failed"
    with _engine.begin() as conn:
        conn.execute(
            _update,
            {
                "id": item_id,
                "outcome": outcome,
                "count": len(bills),
                "bills": json.dumps(bills, default=str),
            },
        )


@worker_ready.connect
def _ready(**_: Any) -> None:
    ready_file = os.environ.get("PEER_READY_FILE")
    if ready_file:
        Path(ready_file).write_text("ready")
