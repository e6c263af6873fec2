"""The HTTP transport: one urllib3 keep-alive pool per client, never a retry, and what a
failure proves.

Every request goes through ``HTTPConnectionPool.urlopen`` with ``retries=False`` and
``redirect=False``: urllib3 sends it once and raises the error it met as it is, without a
``MaxRetryError`` around it. What matters for a payment is whether any byte of the request
can have reached the server, and urllib3 says so by the class of that error:

* ``NameResolutionError`` — the host name did not resolve: not sent.
* ``NewConnectionError`` — a *new* TCP connection could not be established (refused,
  unreachable): not sent.
* ``ConnectTimeoutError`` — the TCP handshake did not complete within the connect timeout:
  not sent.
* Anything else — ``ProtocolError('Connection aborted.', RemoteDisconnected(...))`` when a
  pooled keep-alive connection died after the request was written, ``ConnectionResetError``,
  ``ReadTimeoutError``, ``IncompleteRead``, SSL errors, proxy errors — the request may have
  arrived: unknown.

urllib3 raises the first three only from ``HTTPConnection._new_conn``, that is while opening
a connection, before anything is written on it. The conclusions hold only because nothing
retries underneath: with a retry, a ``NewConnectionError`` on a second attempt could follow
a first attempt that had sent the request. urllib3 does replace a pooled connection that it
*sees* closed (FIN received) before writing anything on it; that is not a retry.

The pool is built once: proxy and CA-bundle settings are read from the environment here,
not on every call, and urllib3 keeps no cookies (nothing of one user's call can ride on
another's).
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.retry import Retry

__all__ = ["HttpTransport", "TransportFailure", "classify_exception", "no_retry", "proxy_for"]

#: what ``HttpTransport.request`` may raise for a transport failure (to classify)
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,
    HTTPException,
    OSError,
)


def no_retry() -> Retry:
    """A urllib3 ``Retry`` that never retries anything (connect, read, status, redirect).

    The transport passes ``retries=False`` on every call (the same: one attempt, and the
    error raised as it is); the pool's default is this one as well, so that nothing that
    reaches the pool some other way can retry either."""
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


def proxy_for(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url`` (``HTTPS_PROXY``, ``NO_PROXY``…),
    read with the standard library's rules, or ``None``."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in the stubs
    if not proxy or bypass(parts.netloc, proxies):
        return None
    return proxy


def ca_bundle() -> str:
    """The CA bundle: the one named by ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``, else
    certifi's — the trust requests gave this client before, unchanged."""
    return (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    )


class HttpTransport:
    """One keep-alive pool of up to ``pool_size`` connections to one Mobiquity host.

    Thread-safe (urllib3's pool hands each thread its own connection). ``request`` sends
    exactly once and returns ``(status, body)``; transport failures are raised as urllib3
    raised them, for ``classify_exception``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        pool_size: int,
        connect_timeout: float,
        read_timeout: float,
        user_agent: str = "mobiquity-client",
    ) -> None:
        parts = urlsplit(base_url)
        self._prefix = parts.path.rstrip("/")
        self._base = f"{parts.scheme}://{parts.netloc}"
        self.proxy = proxy_for(base_url)
        self.ca_certs = ca_bundle() if parts.scheme == "https" else None
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        options: dict[str, Any] = {
            "maxsize": pool_size,
            "block": False,
            "retries": no_retry(),
            "timeout": self._timeout,
        }
        if self.ca_certs:
            options["ca_certs"] = self.ca_certs
        self._default_headers = {"User-Agent": user_agent}
        self._manager: urllib3.PoolManager | None = None
        if self.proxy is not None:
            # Through a proxy the request line may need the absolute URL: the proxy manager
            # knows when (and tunnels https); it is used only where a proxy is configured.
            self._manager = urllib3.ProxyManager(self.proxy, num_pools=1, **options)
            self.pool = self._manager.connection_from_url(base_url)
        else:
            self.pool = urllib3.connection_from_url(base_url, **options)

    def request(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """Send one request, exactly once, and read the whole answer."""
        all_headers = {**self._default_headers, **headers}
        if self._manager is not None:
            response = self._manager.urlopen(
                method,
                self._base + self._prefix + path,
                body=body,
                headers=all_headers,
                retries=False,
                redirect=False,
                timeout=self._timeout,
            )
        else:
            response = self.pool.urlopen(
                method,
                self._prefix + path,
                body=body,
                headers=all_headers,
                retries=False,
                redirect=False,
                timeout=self._timeout,
                preload_content=True,
            )
        return response.status, response.data or b""

    def close(self) -> None:
        if self._manager is not None:
            self._manager.clear()
        self.pool.close()


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
            getattr(current, "original_error", None),
            current.__cause__,
            current.__context__,
            *(a for a in current.args if isinstance(a, BaseException)),
        ):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
    return seen


def classify_exception(exc: BaseException) -> TransportFailure:
    """Classify an exception raised while sending a request and reading its answer.

    "Never sent" is decided on the raised urllib3 error itself (or the direct ``reason`` of a
    ``MaxRetryError``, should a pool with ``Retry(total=0)`` wrap it) — a whitelist, never on
    something found deeper in the chain.
    """
    detail = f"{type(exc).__name__}: {exc}"
    direct = exc.reason if isinstance(exc, MaxRetryError) else exc
    if not isinstance(direct, ProxyError):
        if isinstance(direct, NameResolutionError):
            return TransportFailure("name_resolution", True, detail)
        if isinstance(direct, NewConnectionError):
            return TransportFailure("connection_refused", True, detail)
        if isinstance(direct, ConnectTimeoutError):
            return TransportFailure("connect_timeout", True, detail)
    # Everything else may have reached the server; name it for logs and metrics.
    chain = _chain(exc)
    if any(isinstance(e, ProxyError) for e in chain):
        return TransportFailure("transport", False, detail)
    if any(isinstance(e, ReadTimeoutError | TimeoutError) for e in chain):
        return TransportFailure("read_timeout", False, detail)
    if any(isinstance(e, SSLError) for e in chain):
        return TransportFailure("ssl", False, detail)
    if any(isinstance(e, ProtocolError | HTTPException | ConnectionError) for e in chain):
        return TransportFailure("connection_lost", False, detail)
    return TransportFailure("transport", False, detail)
