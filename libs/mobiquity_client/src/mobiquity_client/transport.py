"""The HTTP transport: one session, no urllib3 retries, and what a failure proves.

``requests`` folds very different failures into one ``ConnectionError``. What matters for a
payment is whether any byte of the request can have reached the server. urllib3 tells us
through the wrapped reason:

* ``MaxRetryError(reason=NameResolutionError)`` — the host name did not resolve: not sent.
* ``MaxRetryError(reason=NewConnectionError)`` — a *new* TCP connection could not be
  established (refused, unreachable): not sent.
* ``MaxRetryError(reason=ConnectTimeoutError)`` (``requests.ConnectTimeout``) — the TCP
  handshake did not complete within the connect timeout: not sent.
* Anything else — ``ProtocolError('Connection aborted.', RemoteDisconnected(...))`` when a
  pooled keep-alive connection died after the request was written, ``ConnectionResetError``,
  ``ReadTimeoutError``, ``ChunkedEncodingError``, SSL errors, proxy errors — the request may
  have arrived: unknown.

These conclusions hold only because urllib3 never retries on this client's adapter
(``Retry(total=0)``): with retries, a ``NewConnectionError`` on a second attempt could follow a
first attempt that had sent the request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from http.client import HTTPException
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.retry import Retry

__all__ = ["TransportFailure", "classify_exception", "make_adapter", "make_session", "no_retry"]


def no_retry() -> Retry:
    """A urllib3 ``Retry`` that never retries anything (connect, read, status, redirect)."""
    return Retry(
        total=0,
        connect=0,
        read=0,
        redirect=0,
        status=0,
        other=0,
        raise_on_redirect=False,
        raise_on_status=False,
        respect_retry_after_header=False,
    )


def make_adapter(pool_size: int) -> HTTPAdapter:
    return HTTPAdapter(
        pool_connections=1, pool_maxsize=pool_size, max_retries=no_retry(), pool_block=False
    )


def make_session(pool_size: int, base_url: str | None = None) -> requests.Session:
    """A session for one Mobiquity host, shared by many threads.

    Cookies are refused: a cookie set in one user's login answer must never ride along on
    another user's call through the shared session. Proxy and CA-bundle settings from the
    environment are read once, here, rather than on every call (requests re-reads them per
    request, a noticeable share of a busy caller's CPU).
    """
    session = requests.Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    if base_url is not None:
        session.proxies.update(requests.utils.get_environ_proxies(base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
    adapter = make_adapter(pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class TransportFailure:
    """What a transport exception proves.

    ``kind``: ``name_resolution`` | ``connection_refused`` | ``connect_timeout`` (never sent);
    ``read_timeout`` | ``connection_lost`` | ``ssl`` | ``transport`` (may have been sent).
    """

    kind: str
    never_sent: bool
    detail: str

    @property
    def is_timeout(self) -> bool:
        return self.kind in {"connect_timeout", "read_timeout"}


def _urllib3_reason(exc: BaseException) -> BaseException | None:
    """The urllib3 (or socket) error a ``requests`` exception wraps, one level down."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        return inner.reason
    if isinstance(inner, BaseException):
        return inner
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (args, reason, cause, context), without loops."""
    seen: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (
            getattr(current, "reason", None),
            current.__cause__,
            current.__context__,
            *(a for a in current.args if isinstance(a, BaseException)),
        ):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
    return seen


def classify_exception(exc: BaseException) -> TransportFailure:
    """Classify an exception raised while sending a request and reading its answer."""
    detail = f"{type(exc).__name__}: {exc}"
    # Never sent: decided on the direct urllib3 reason only (a whitelist).
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        reason = _urllib3_reason(exc)
        if isinstance(reason, NameResolutionError):
            return TransportFailure("name_resolution", True, detail)
        if isinstance(reason, NewConnectionError):
            return TransportFailure("connection_refused", True, detail)
        if isinstance(reason, ConnectTimeoutError):
            return TransportFailure("connect_timeout", True, detail)
    # Everything else may have reached the server; name it for logs and metrics.
    chain = _chain(exc)
    if isinstance(exc, requests.ReadTimeout) or any(
        isinstance(e, ReadTimeoutError | TimeoutError) for e in chain
    ):
        return TransportFailure("read_timeout", False, detail)
    if any(isinstance(e, SSLError | requests.exceptions.SSLError) for e in chain):
        return TransportFailure("ssl", False, detail)
    if any(
        isinstance(
            e,
            ProtocolError
            | HTTPException
            | ConnectionError
            | requests.exceptions.ChunkedEncodingError,
        )
        for e in chain
    ):
        return TransportFailure("connection_lost", False, detail)
    return TransportFailure("transport", False, detail)
