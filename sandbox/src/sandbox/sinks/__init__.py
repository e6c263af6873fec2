"""Sinks for the communicator's e-mail and SMS: they keep what they receive, to read back.

``python -m sandbox sinks`` starts both in one process (they share the fault list): the SMTP
sink on ``SANDBOX_SMTP_PORT`` (8025) and the HTTP app — the SMS gateway at ``/sms/send``,
the JSON read-back under ``/__sandbox__/`` and the demo's inbox page at ``/`` — on
``SANDBOX_SMS_PORT`` (8091). See ``sandbox/README.md``.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from types import FrameType

from werkzeug.serving import make_server

from sandbox.sinks.state import SinkState

DEMO_SMS_TOKEN = "sandbox-sms-token"


@dataclass(frozen=True)
class SinkSettings:
    host: str = "127.0.0.1"
    smtp_port: int = 8025
    http_port: int = 8091
    sms_token: str = DEMO_SMS_TOKEN
    smtp_tls_cert: str = ""
    smtp_tls_key: str = ""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_implicit_tls: bool = False

    @classmethod
    def from_env(cls) -> SinkSettings:
        env = os.environ.get
        return cls(
            host=env("SANDBOX_HOST", "127.0.0.1"),
            smtp_port=int(env("SANDBOX_SMTP_PORT", "8025")),
            http_port=int(env("SANDBOX_SMS_PORT", "8091")),
            sms_token=env("SANDBOX_SMS_TOKEN", DEMO_SMS_TOKEN),
            smtp_tls_cert=env("SANDBOX_SMTP_TLS_CERT", ""),
            smtp_tls_key=env("SANDBOX_SMTP_TLS_KEY", ""),
            smtp_user=env("SANDBOX_SMTP_USER", ""),
            smtp_password=env("SANDBOX_SMTP_PASSWORD", ""),
            smtp_implicit_tls=env("SANDBOX_SMTP_IMPLICIT_TLS", "0") in ("1", "true", "yes"),
        )


def run(settings: SinkSettings) -> int:
    """Serve both sinks until SIGTERM/SIGINT (blocks)."""
    from sandbox.sinks.app import create_app
    from sandbox.sinks.smtp import start_smtp

    state = SinkState()
    controller = start_smtp(
        state,
        settings.host,
        settings.smtp_port,
        tls_cert=settings.smtp_tls_cert,
        tls_key=settings.smtp_tls_key,
        user=settings.smtp_user,
        password=settings.smtp_password,
        implicit_tls=settings.smtp_implicit_tls,
    )
    server = make_server(
        settings.host,
        settings.http_port,
        create_app(state, sms_token=settings.sms_token),
        threaded=True,
    )
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(  # noqa: T201 - the sandbox's start-up line
        f"sinks: SMTP on {settings.host}:{settings.smtp_port}, "
        f"SMS gateway and inbox on http://{settings.host}:{settings.http_port}/",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        controller.stop()
    return 0


__all__ = ["DEMO_SMS_TOKEN", "SinkSettings", "SinkState", "run"]
