"""HTTP faked at the transport level for the unit tests.

``FakeHttp`` replaces ``urllib3.HTTPConnectionPool.urlopen`` — the one call the client's
transport makes — while it is active, and answers from what the test registered (the way
``responses`` fakes ``requests``' adapter): everything of the client above urllib3's socket
work runs for real. Registered answers for the same method and URL are used in order, the
last one again and again. An answer may be an exception: it is raised as urllib3 would
raise it (the client sends with ``retries=False``, so urllib3 raises the error it met as is).

The error constructors below build those exceptions exactly as urllib3 2.x does.
"""

from __future__ import annotations

import json as jsonlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import IncompleteRead, RemoteDisconnected
from typing import Any
from unittest import mock

from urllib3 import HTTPConnectionPool, HTTPHeaderDict, HTTPResponse
from urllib3.connection import HTTPConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

_MISSING: Any = object()
_CONN = HTTPConnection("mobiquity.test", 80)
_DEFAULT_PORTS = {"http": 80, "https": 443}


# -- urllib3's errors, as urllib3 builds them ------------------------------------------------------


def name_resolution_error() -> NameResolutionError:
    return NameResolutionError("mobiquity.test", _CONN, socket.gaierror(-2, "Name unknown"))


def refused() -> NewConnectionError:
    return NewConnectionError(_CONN, "Failed to establish a new connection: [Errno 111] refused")


def connect_timeout() -> ConnectTimeoutError:
    return ConnectTimeoutError(_CONN, "Connection to mobiquity.test timed out.")


def reset() -> ProtocolError:
    """The connection was reset after the request was written."""
    return ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset"))


def remote_disconnected() -> ProtocolError:
    """The server closed the connection after the request was written, without answering."""
    return ProtocolError(
        "Connection aborted.", RemoteDisconnected("Remote end closed connection without response")
    )


def read_timeout() -> ReadTimeoutError:
    return ReadTimeoutError(None, "/", "Read timed out. (read timeout=15)")  # type: ignore[arg-type]


def truncated_body() -> ProtocolError:
    return ProtocolError("Response ended prematurely", IncompleteRead(b"{", 99))


class NoFakeAnswer(HTTPError):
    """No answer registered for a request (as ``responses`` refuses the connection)."""


# -- the fake ------------------------------------------------------------------------------------


@dataclass
class FakeRequest:
    method: str
    url: str
    body: bytes | None
    headers: HTTPHeaderDict


@dataclass
class Call:
    request: FakeRequest
    response: HTTPResponse | BaseException


Callback = Callable[[FakeRequest], tuple[int, Mapping[str, str], str | bytes]]


@dataclass
class Registered:
    method: str
    url: str
    status: int = 200
    body: bytes | BaseException = b""
    headers: dict[str, str] = field(default_factory=dict)
    callback: Callback | None = None
    call_count: int = 0


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


class FakeHttp:
    """Answers the client's HTTP requests from registered answers; records every call."""

    def __init__(self) -> None:
        self.registered: list[Registered] = []
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    # registering answers

    def add(
        self,
        method: str,
        url: str,
        *,
        body: str | bytes | BaseException = b"",
        json: Any = _MISSING,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> Registered:
        all_headers = dict(headers or {})
        if json is not _MISSING:
            body = jsonlib.dumps(json)
            content_type = content_type or "application/json"
        if content_type:
            all_headers["Content-Type"] = content_type
        if isinstance(body, str):
            body = body.encode()
        answer = Registered(method.upper(), _strip_query(url), status, body, all_headers)
        with self._lock:
            self.registered.append(answer)
        return answer

    def post(self, url: str, **kw: Any) -> Registered:
        return self.add("POST", url, **kw)

    def get(self, url: str, **kw: Any) -> Registered:
        return self.add("GET", url, **kw)

    def add_callback(self, method: str, url: str, callback: Callback) -> Registered:
        answer = Registered(method.upper(), _strip_query(url), callback=callback)
        with self._lock:
            self.registered.append(answer)
        return answer

    # answering

    def _find(self, request: FakeRequest) -> Registered | None:
        url = _strip_query(request.url)
        matches = [r for r in self.registered if r.method == request.method and r.url == url]
        if not matches:
            return None
        first = matches[0]
        if len(matches) > 1:
            self.registered.remove(first)  # used once: the next one answers the next call
            if first.call_count > 0:  # used already, before the next one was registered
                first = matches[1]
        first.call_count += 1
        return first

    def urlopen(
        self,
        pool: HTTPConnectionPool,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> HTTPResponse:
        if url.startswith("/"):
            port = "" if pool.port in (None, _DEFAULT_PORTS.get(pool.scheme)) else f":{pool.port}"
            url = f"{pool.scheme}://{pool.host}{port}{url}"
        request = FakeRequest(method.upper(), url, body, HTTPHeaderDict(headers or {}))
        with self._lock:
            answer = self._find(request)
        if answer is None:
            error = NoFakeAnswer(f"no fake answer registered for {request.method} {url}")
            self._record(request, error)
            raise error
        if answer.callback is not None:
            status, headers_out, content = answer.callback(request)
            if isinstance(content, str):
                content = content.encode()
            return self._respond(request, status, dict(headers_out), content)
        if isinstance(answer.body, BaseException):
            self._record(request, answer.body)
            raise answer.body
        return self._respond(request, answer.status, answer.headers, answer.body)

    def _respond(
        self, request: FakeRequest, status: int, headers: dict[str, str], content: bytes
    ) -> HTTPResponse:
        response = HTTPResponse(
            body=content,
            headers=headers,
            status=status,
            preload_content=False,
            request_method=request.method,
            request_url=request.url,
        )
        self._record(request, response)
        return response

    def _record(self, request: FakeRequest, response: HTTPResponse | BaseException) -> None:
        with self._lock:
            self.calls.append(Call(request, response))

    @contextmanager
    def active(self) -> Iterator[FakeHttp]:
        fake = self

        def urlopen(pool: HTTPConnectionPool, method: str, url: str, **kw: Any) -> HTTPResponse:
            return fake.urlopen(pool, method, url, **kw)

        with mock.patch.object(HTTPConnectionPool, "urlopen", urlopen):
            yield self
