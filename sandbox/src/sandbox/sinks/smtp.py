"""The SMTP sink: an aiosmtpd server that keeps every message it accepts, parsed.

Plain SMTP by default (what ``make run`` uses); STARTTLS when ``SANDBOX_SMTP_TLS_CERT`` and
``SANDBOX_SMTP_TLS_KEY`` name a certificate (implicit TLS instead when
``SANDBOX_SMTP_IMPLICIT_TLS=1``), and AUTH LOGIN/PLAIN when
``SANDBOX_SMTP_USER``/``SANDBOX_SMTP_PASSWORD`` are set (any other login is refused).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sandbox.sinks.state import SinkState


def parse(raw: bytes) -> dict[str, Any]:
    """A received message as JSON-friendly data: headers, text, html, attachments."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    attachments = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True) or b""
        item: dict[str, Any] = {
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "size": len(payload),
        }
        if part.get_content_maintype() == "text":
            item["content"] = payload.decode(part.get_content_charset() or "utf-8", "replace")
        else:
            item["content_base64"] = base64.b64encode(payload).decode()
        attachments.append(item)
    return {
        "from": str(msg.get("From", "")),
        "to": str(msg.get("To", "")),
        "subject": str(msg.get("Subject", "")),
        "message_id": str(msg.get("Message-ID", "")),
        "notification_id": str(msg.get("X-BBP-Notification-Id", "")) or None,
        "language": str(msg.get("Content-Language", "")) or None,
        "text": _lines(text_part.get_content()) if text_part is not None else None,
        "html": _lines(html_part.get_content()) if html_part is not None else None,
        "attachments": attachments,
        "size": len(raw),
    }


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n")


class Handler:
    """aiosmtpd handler: faults first, then keep the message."""

    def __init__(self, state: SinkState) -> None:
        self.state = state

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        fault = self.state.take_fault("mail", [address])
        if fault is not None and fault.fault == "permanent":
            self.state.note_refused("mail", [address], "permanent")
            return "550 5.1.1 Mailbox unavailable (sandbox fault: permanent)"
        if fault is not None:
            # Outage and slow act at DATA: remember the fault for it.
            envelope.__dict__.setdefault("bbp_faults", []).append(fault)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        faults = envelope.__dict__.get("bbp_faults", [])
        if any(f.fault == "outage" for f in faults):
            self.state.note_refused("mail", list(envelope.rcpt_tos), "outage")
            return "421 4.3.2 Service not available (sandbox fault: outage)"
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "authenticated": bool(getattr(session, "authenticated", False)),
            **parse(data),
        }
        self.state.keep("mail", record)
        slow = next((f for f in faults if f.fault == "slow"), None)
        if slow is not None:
            await asyncio.sleep(slow.seconds)
        return "250 Message accepted for delivery"


class Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)


def start_smtp(
    state: SinkState,
    host: str,
    port: int,
    *,
    tls_cert: str = "",
    tls_key: str = "",
    user: str = "",
    password: str = "",
    implicit_tls: bool = False,
) -> Controller:
    """Start the SMTP sink in a thread of its own; returns the controller (``.stop()``)."""
    kwargs: dict[str, Any] = {"decode_data": False, "enable_SMTPUTF8": True}
    if tls_cert and tls_key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls_cert, tls_key)
        kwargs["ssl_context" if implicit_tls else "tls_context"] = context
    if user:
        kwargs["authenticator"] = Authenticator(user, password)
        # With implicit TLS every byte is already encrypted (aiosmtpd only knows STARTTLS).
        kwargs["auth_require_tls"] = bool(tls_cert) and not implicit_tls
    else:
        kwargs["auth_require_tls"] = False
    controller = Controller(Handler(state), hostname=host, port=port, **kwargs)
    controller.start()
    return controller
