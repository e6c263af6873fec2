"""The secrets proof's search: where a run left text, and which secrets that text holds.

A run of the platform leaves text in many places — every log line of the portal, scheduler
and communicator, every column of every table, every Redis value of the portal, every
message that crossed RabbitMQ, every page the portal served. Each piece of text is a
``Haystack`` with a *place* that does not depend on the run (a log line's service and
event, a table and column, a message's routing key, a page's method and path with its
numbers blanked), so that two runs with different secrets can be compared place by place.

Why two runs: a 6-digit OTP or a 5-digit MPIN can appear in unrelated digits by chance
(an amount, a timestamp, a wallet number). A short secret's hit therefore counts only when
both runs find *their own* secret at the *same place*; a chance match does not repeat with
other digits. A distinctive secret (a 10-character mixed password, a 43-character API token)
cannot match by chance, so one run's hit is enough.

The sandbox's log is not searched: Mobiquity receives the secrets by design.

Also here, the recorders: ``Client`` (a browser or script that keeps every answer it got)
and a tracing queue bound with ``#`` to both exchanges (``trace_messages``, ``traced``).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pika
import requests
import sqlalchemy as sa

from bbp_common.platform.messaging import DEAD_LETTER_EXCHANGE, EXCHANGE, setup_topology

#: Secrets at least this long (and random) cannot match other text by chance.
DISTINCTIVE_LENGTH = 10

Place = tuple[str, ...]


@dataclass(frozen=True)
class Haystack:
    place: Place
    text: str


@dataclass(frozen=True)
class Hit:
    secret: str  # the secret's name (``otp``, ``mpin``, ``password_reset`` …), never its value
    place: Place


def forms(value: str) -> set[str]:
    """The ways a secret can be written down: as is, URL-encoded, HTML-escaped, JSON-escaped."""
    return {
        value,
        quote(value, safe=""),
        quote_plus(value),
        html.escape(value),
        html.escape(value, quote=False),
        json.dumps(value)[1:-1],
    }


def find(haystacks: Iterable[Haystack], secrets: Mapping[str, Iterable[str]]) -> set[Hit]:
    """Every (secret name, place) where a value of that secret occurs, in any of its forms."""
    needles = {
        name: {form for value in values for form in forms(value)}
        for name, values in secrets.items()
    }
    hits: set[Hit] = set()
    for stack in haystacks:
        for name, wanted in needles.items():
            if any(form in stack.text for form in wanted):
                hits.add(Hit(name, stack.place))
    return hits


def counted(
    first: set[Hit],
    second: set[Hit],
    first_secrets: Mapping[str, Iterable[str]],
    second_secrets: Mapping[str, Iterable[str]],
) -> set[Hit]:
    """The hits that are leaks: a distinctive secret's in either run; a short secret's only
    where both runs found theirs at the same place."""

    def distinctive(name: str) -> bool:
        values = [*first_secrets.get(name, ()), *second_secrets.get(name, ())]
        return bool(values) and all(len(v) >= DISTINCTIVE_LENGTH for v in values)

    return {hit for hit in first | second if distinctive(hit.secret)} | (first & second)


# --------------------------------------------------------------------------- where text is

_NUMBERS = re.compile(r"\d+")


def blank_numbers(text: str) -> str:
    return _NUMBERS.sub("N", text)


def log_haystacks(service: str, path: Path) -> Iterator[Haystack]:
    """Each line of a service's log; its place is the service and the line's event."""
    for raw in path.read_text(errors="replace").splitlines():
        event = "-"
        try:
            decoded = json.loads(raw)
            if isinstance(decoded, dict):
                event = str(decoded.get("event", "-"))[:80]
        except ValueError:
            pass
        yield Haystack(("log", service, blank_numbers(event)), raw)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return data.decode("utf-8", "replace") + " " + data.hex()
    return "" if value is None else str(value)


def database_haystacks(engine: sa.Engine) -> Iterator[Haystack]:
    """Every column of every row of every table (the outbox and inbox included)."""
    with engine.connect() as conn:
        tables = [row[0] for row in conn.execute(sa.text("SHOW TABLES"))]
        for table in tables:
            result = conn.execute(sa.text(f"SELECT * FROM `{table}`"))  # names from SHOW TABLES
            columns = list(result.keys())
            for row in result:
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        yield Haystack(("db", table, column), _text(value))


def redis_haystacks(redis_url: str, prefix: str, *, forget: bool = True) -> Iterator[Haystack]:
    """Every key and value the portal keeps in Redis: its sessions under its prefix, and the
    rate-limit counters (``LIMITS:LIMITER/<prefix>ratelimit/…``). ``forget``: delete them
    once read (they would otherwise live out their hour in the shared test database)."""
    import redis

    store = redis.Redis.from_url(redis_url)
    for key in list(store.scan_iter(match=f"*{prefix}*", count=1000)):
        name = key.decode(errors="replace").replace(prefix, "")
        place = ("redis", re.sub(r"[0-9a-f]{8,}|[A-Za-z0-9_-]{20,}", "K", blank_numbers(name)))
        dumped = store.dump(key) or b""
        yield Haystack(place, name + " " + dumped.decode("latin-1"))
        if forget:
            store.delete(key)


@dataclass
class Page:
    """One answer of the portal as a client saw it."""

    method: str
    path: str
    status: int
    headers: str
    body: str
    exempt: bool = False  # the one page that shows a new API token, once


def page_haystacks(pages: Iterable[Page]) -> Iterator[Haystack]:
    for page in pages:
        if not page.exempt:
            place = ("page", page.method, blank_numbers(page.path))
            yield Haystack(place, page.headers + "\n" + page.body)


@dataclass(frozen=True)
class Message:
    exchange: str
    routing_key: str
    headers: str
    body: str


def message_haystacks(messages: Iterable[Message]) -> Iterator[Haystack]:
    for message in messages:
        place = ("amqp", message.exchange, message.routing_key)
        yield Haystack(place, message.headers + "\n" + message.body)


def excerpts(
    haystacks: Iterable[Haystack], secrets: Mapping[str, Iterable[str]], hits: Iterable[Hit]
) -> list[str]:
    """Where each hit is, with 60 characters either side (the failure message's evidence)."""
    wanted = {(hit.secret, hit.place) for hit in hits}
    found = []
    for stack in haystacks:
        for name, values in secrets.items():
            if (name, stack.place) not in wanted:
                continue
            for form in {f for value in values for f in forms(value)}:
                at = stack.text.find(form)
                if at >= 0:
                    context = stack.text[max(0, at - 60) : at + len(form) + 60]
                    found.append(f"{name} at {'/'.join(stack.place)}: …{context}…")
    return found


# --------------------------------------------------------------------------- recording

TRACE_QUEUE = "secrets-proof-trace"
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Client:
    """A person's browser (or a script) on the portal: cookies, CSRF, and every answer kept."""

    base: str
    pages: list[Page] = field(default_factory=list)
    http: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        answer = self.http.request(
            method, self.base + path, allow_redirects=False, timeout=30, **kw
        )
        self.pages.append(
            Page(
                method,
                path.split("?", 1)[0],
                answer.status_code,
                "\n".join(f"{k}: {v}" for k, v in answer.headers.items()),
                answer.text,
            )
        )
        return answer

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, data: dict[str, str], page: str | None = None) -> requests.Response:
        """POST a form with the session's CSRF token (read from ``page``, default ``path``)."""
        shown = self.get(page or path)
        found = META_CSRF.search(shown.text)
        assert found, f"no CSRF token on {page or path} ({shown.status_code})"
        return self.call("POST", path, data={**data, "csrf_token": found.group(1)})


def trace_messages(amqp_url: str) -> None:
    """A queue that keeps a copy of every message published to our two exchanges."""
    setup_topology(amqp_url, delivery_limit=5)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.queue_declare(TRACE_QUEUE, durable=True)
        for exchange in (EXCHANGE, DEAD_LETTER_EXCHANGE):
            channel.queue_bind(TRACE_QUEUE, exchange, routing_key="#")
    finally:
        connection.close()


def traced(amqp_url: str) -> list[Message]:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    found = []
    try:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(TRACE_QUEUE, auto_ack=True)
            if method is None:
                return found
            found.append(
                Message(
                    method.exchange,
                    method.routing_key,
                    repr(properties.headers) + repr(properties.correlation_id),
                    body.decode("utf-8", "replace"),
                )
            )
    finally:
        connection.close()
