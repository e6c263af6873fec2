"""Tiny real HTTP/1.1 servers that misbehave on cue, for the transport classification tests.

Each request received (across all connections, in order) is answered by the next scripted
behaviour:

* ``ok``: 200 with a JSON body (``body``), keep-alive.
* ``ok_then_fin``: 200 with the body, then the server closes the connection (a FIN the
  client's pool sees before it reuses the connection).
* ``close``: read the whole request, then close without answering.
* ``rst``: read the whole request, then reset the connection (RST).
* ``hang``: read the whole request and never answer.
* ``headers_then_stall``: send headers announcing 100 bytes, 10 bytes of body, then stall.
* ``ok_set_cookie``: as ``ok``, with a ``Set-Cookie`` header.
* ``redirect``: 302 to another path, keep-alive.
* ``unavailable``: 503 with ``Retry-After: 0``, keep-alive.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

ACCEPTED = {
    "code": "process.fulfilment",
    "message": "Order is placed successfully",
    "orderId": "169647-825021-446643",
    "orderStatus": "PENDING",
    "serviceRequestId": "96c7bed5-e9bf-4f5e-96a4-3eaed32bddd3",
}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int


@dataclass
class MisbehavingServer:
    script: list[str]
    body: dict[str, Any] = field(default_factory=lambda: dict(ACCEPTED))
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections = 0
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return self._connections

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> MisbehavingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections += 1
                number = self._connections
            thread = threading.Thread(target=self._serve, args=(conn, number), daemon=True)
            self._threads.append(thread)
            thread.start()

    @staticmethod
    def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return method, path, headers, rest[:length]

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            while not self._stop.is_set():
                try:
                    request = self._read_request(conn)
                except OSError:
                    return
                if request is None:
                    return
                with self._lock:
                    self.received.append(Received(*request, connection=number))
                    index = len(self.received) - 1
                behaviour = self.script[index] if index < len(self.script) else "ok"
                payload = json.dumps(self.body).encode()
                extra = {
                    "ok_set_cookie": b"Set-Cookie: SESSION=user-a; Path=/\r\n",
                    "redirect": b"Location: /elsewhere\r\n",
                    "unavailable": b"Retry-After: 0\r\n",
                }.get(behaviour, b"")
                status = {"redirect": b"302 Found", "unavailable": b"503 Service Unavailable"}
                if behaviour in {"ok", "ok_then_fin", "ok_set_cookie", "redirect", "unavailable"}:
                    conn.sendall(
                        b"HTTP/1.1 "
                        + status.get(behaviour, b"200 OK")
                        + b"\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(payload)}\r\n".encode()
                        + extra
                        + b"Connection: keep-alive\r\n\r\n"
                        + payload
                    )
                    if behaviour == "ok_then_fin":
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                    continue
                if behaviour == "close":
                    return
                if behaviour == "rst":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if behaviour == "hang":
                    self._stop.wait(30)
                    return
                if behaviour == "headers_then_stall":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n" + payload[:10]
                    )
                    self._stop.wait(30)
                    return
                raise ValueError(behaviour)
        finally:
            conn.close()


def unused_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FullBacklog:
    """A listener whose accept queue is full: a new connection's SYN is dropped, so connecting
    times out (Linux keeps backlog+1 pending connections; we fill them and never accept)."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        for _ in range(4):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.settimeout(0.2)
            try:
                client.connect(("127.0.0.1", self.port))
            except OSError:
                client.close()
                break
            self._held.append(client)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        for sock in self._held:
            sock.close()
        self._listener.close()
