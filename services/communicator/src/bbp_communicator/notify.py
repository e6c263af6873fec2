"""Sending notifications: render a template, send by SMTP or the SMS gateway, report.

One ``command.notify`` names one ``notifications`` row; the row is the authority on the
recipient, language, template and params. The handler:

1. reads the row (read-only). Already ``sent`` → only acknowledge: a command redelivered
   or published twice is never sent again once its delivery was recorded. A command that is
   no longer the row's current one (``command_id``: a retry or a "send again" replaced it)
   is only acknowledged too.
2. renders it (Jinja2, English or Bangla) and checks the recipient. A broken template or an
   invalid address is a **permanent** failure: reported ``failed`` (the row and the
   superadmin page say why at once) and the command is rejected into
   ``communicator.notify.dead`` — no crash loop, and the dead letter keeps the evidence.
3. sends — **one try per command**, bounded by the server's timeout; the handler never
   sleeps, so a worker is free again at once and e-mail is not held up behind an SMS
   gateway outage (or the other way round). A **transient** failure (connection refused,
   timeouts, SMTP 4xx, HTTP 5xx, 408, 429) is reported ``retry_later`` and the command
   acknowledged: the scheduler, which records every delivery, schedules the next command
   through the outbox with a growing wait (``BBP_NOTIFY_RETRY_SCHEDULE``: 30 s, 1 min,
   2 min, 5 min, … over about 1.6 hours by default) and gives up (``dead``) when the
   schedule is used up. The waiting is a row in MySQL, not a message held by a worker: no
   restart loses it. A permanent refusal (SMTP 5xx, HTTP 4xx, the gateway's success field
   says no) is reported ``failed`` and rejected into the dead-letter queue at once.
4. reports ``sent``. If the communicator dies after the server took the message and before
   the report, the redelivered command sends it once more: the only way a notification is
   sent twice, and at most once per such crash.

No secret reaches a log line, a message or an error text here: errors are described by
type and status (never a URL with a query string), and pass through the masker.

Why one module of more than 400 lines: rendering and both senders (SMTP, SMS) share one
delivery report.
"""

from __future__ import annotations

import csv
import io
import json
import re
import smtplib
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

import requests
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
)
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine, select

from bbp_common.core.contacts import InvalidRecipient, international, mask_mobile, normalise
from bbp_common.core.messages import NOTIFY_RESULT, MessageKind
from bbp_common.platform.db.tables import fetch_items, notifications, payments
from bbp_common.platform.logging import get_logger
from bbp_common.platform.masking import mask_text
from bbp_common.platform.messaging import Envelope, Reject, delivery_count
from bbp_communicator.notify_settings import NotifySenderSettings

log = get_logger(__name__)

Report = Callable[[MessageKind, Mapping[str, Any], str], None]
"""``Communicator.report``: publish a result with confirms (``Retry`` if it cannot)."""

ERROR_MAX = 500
_BN_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")


class Permanent(Exception):
    """This notification can never be sent as it is (template, address, a refusal)."""


class Transient(Exception):
    """Sending failed for now (server or network): try again later."""


# --------------------------------------------------------------------------- rendering


def _digits(value: Any, language: str) -> str:
    text = str(value)
    return text.translate(_BN_DIGITS) if language == "bn" else text


def _amount(value: Any, language: str = "en") -> str:
    """``"1234.5"`` → ``1,234.50`` (Bangla digits in Bangla)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return _digits(value, language)
    return _digits(f"{number:,.2f}", language)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None = None


class Renderer:
    """Templates ``email/<name>.<lang>.j2`` (blocks ``subject``, ``text``, optional ``html``)
    and ``sms/<name>.<lang>.j2`` (the whole file is the text).

    Strict: a parameter a template uses but the notification lacks is an error (permanent),
    not an empty gap in a message to a customer. ``template_dir`` overrides built-in
    templates of the same name (operators may change wording without a new image).
    """

    def __init__(self, template_dir: str = "") -> None:
        loaders: list[Any] = [PackageLoader("bbp_communicator", "templates")]
        if template_dir:
            loaders.insert(0, FileSystemLoader(template_dir))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=False,  # noqa: S701 - plain text and SMS; an html block escapes itself
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def _context(self, language: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **params,
            "lang": language,
            "amount": lambda v: _amount(v, language),
            "num": lambda v: _digits(v, language),
        }

    def email(self, name: str, language: str, params: Mapping[str, Any]) -> RenderedEmail:
        path = f"email/{name}.{language}.j2"
        try:
            template = self.env.get_template(path)
            context = template.new_context(self._context(language, params))
            # Render the whole file once: its top-level ``{% set %}`` (labels shared by the
            # blocks) land in the context the blocks are then rendered with.
            "".join(template.root_render_func(context))
            parts = {
                block: "".join(render(context)).strip()
                for block, render in template.blocks.items()
                if block in ("subject", "text", "html")
            }
        except TemplateError as exc:
            raise Permanent(f"template {path}: {type(exc).__name__}: {exc}") from None
        if not parts.get("subject") or not parts.get("text"):
            raise Permanent(f"template {path} has no subject or text block")
        subject = " ".join(parts["subject"].split())
        return RenderedEmail(subject, parts["text"] + "\n", parts.get("html") or None)

    def sms(self, name: str, language: str, params: Mapping[str, Any]) -> str:
        path = f"sms/{name}.{language}.j2"
        try:
            text = self.env.get_template(path).render(self._context(language, params))
        except TemplateError as exc:
            raise Permanent(f"template {path}: {type(exc).__name__}: {exc}") from None
        text = " ".join(text.split())
        if not text:
            raise Permanent(f"template {path} renders nothing")
        return text


# --------------------------------------------------------------------------- e-mail


def _smtp_error(exc: Exception) -> Exception:
    """Classify an smtplib/socket error: 5xx answers are permanent, the rest transient."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        text = f"recipient refused ({', '.join(map(str, codes))})"
        return Permanent(text) if codes and all(c >= 500 for c in codes) else Transient(text)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # The deployment's credentials, not this message: retry (and end dead, resendable).
        return Transient(f"SMTP login refused ({exc.smtp_code})")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"SMTP {exc.smtp_code} {_decode(exc.smtp_error)[:120]}"
        return Permanent(text) if exc.smtp_code >= 500 else Transient(text)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Transient(f"mail server does not support it: {exc}")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return Transient(f"TLS with the mail server failed: {type(exc).__name__}")
    return Transient(f"mail server unreachable: {type(exc).__name__}: {exc}")


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class SmtpSender:
    """One SMTP connection per message: simple, and a broken connection never lingers."""

    def __init__(self, settings: NotifySenderSettings) -> None:
        self.settings = settings

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.settings.smtp_ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            client: smtplib.SMTP
            if s.smtp_security == "tls":
                client = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=self._tls()
                )
            else:
                client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            with client:
                client.ehlo()
                if s.smtp_security == "starttls":
                    client.starttls(context=self._tls())
                    client.ehlo()
                if s.smtp_username:
                    client.login(s.smtp_username, s.smtp_password.get_secret_value())
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise _smtp_error(exc) from None


# --------------------------------------------------------------------------- SMS


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


class SmsSender:
    """Sends one SMS through the configured HTTP gateway (see ``notify_settings``)."""

    def __init__(self, settings: NotifySenderSettings) -> None:
        self.settings = settings
        self.session = requests.Session()
        parts = urlsplit(settings.sms_gateway_url)
        self.where = f"{parts.scheme}://{parts.hostname}{parts.path}" if parts.hostname else "?"

    def _fields(self, to: str, text: str, notification_id: str) -> dict[str, str]:
        s = self.settings
        values = {
            "{to}": international(to),
            "{to_local}": to,
            "{text}": text,
            "{sender}": s.sms_sender,
            "{id}": notification_id,
            "{token}": s.sms_gateway_token.get_secret_value(),
            "{username}": s.sms_gateway_username,
        }
        out = {}
        for name, template in s.sms_fields.items():
            value = template
            for placeholder, replacement in values.items():
                value = value.replace(placeholder, replacement)
            out[name] = value
        return out

    def send(self, to: str, text: str, notification_id: str) -> None:
        s = self.settings
        if not s.sms_gateway_url:
            raise Transient("no SMS gateway configured (BBP_SMS_GATEWAY_URL)")
        fields = self._fields(to, text, notification_id)
        kwargs: dict[str, Any] = {"timeout": s.sms_gateway_timeout, "headers": {}}
        if s.sms_gateway_format == "json":
            kwargs["json"] = fields
        elif s.sms_gateway_format == "form":
            kwargs["data"] = fields
        else:
            kwargs["params"] = fields
        if s.sms_gateway_auth == "bearer":
            kwargs["headers"]["Authorization"] = f"Bearer {s.sms_gateway_token.get_secret_value()}"
        elif s.sms_gateway_auth == "basic":
            kwargs["auth"] = (s.sms_gateway_username, s.sms_gateway_token.get_secret_value())
        try:
            response = self.session.request(s.sms_gateway_method, s.sms_gateway_url, **kwargs)
        except requests.Timeout:
            raise Transient(f"SMS gateway {self.where} did not answer in time") from None
        except requests.RequestException as exc:
            # requests' messages carry the URL, query string (and a token) included: not used.
            raise Transient(f"SMS gateway {self.where} unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise Transient(f"SMS gateway answered HTTP {status}")
        if status >= 400:
            raise Permanent(f"SMS gateway refused it: HTTP {status} {self._said(response)}")
        if not s.sms_gateway_success_field:
            return
        try:
            answer = response.json()
        except ValueError:
            raise Transient(f"SMS gateway answered HTTP {status} without JSON") from None
        value = _dig(answer, s.sms_gateway_success_field)
        if str(value).lower() != s.sms_gateway_success_value.lower():
            raise Permanent(
                f"SMS gateway did not accept it: {s.sms_gateway_success_field}={value!r} "
                f"{self._said(response)}"
            )

    def _said(self, response: requests.Response) -> str:
        """What the gateway answered, for the error: masked, and never our own credential
        (a gateway may echo the request back)."""
        text = " ".join(response.text.split())
        token = self.settings.sms_gateway_token.get_secret_value()
        if token:
            text = text.replace(token, "***")
        return mask_text(text)[:200]


# --------------------------------------------------------------------------- the handler


@dataclass
class Prepared:
    """A notification ready to send (rendered, recipient checked)."""

    channel: str
    recipient: str
    email: EmailMessage | None = None
    sms: str | None = None


@dataclass
class NotifyMetrics:
    sent: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None) -> NotifyMetrics:
        kwargs: dict[str, Any] = {"registry": registry} if registry is not None else {}
        return cls(
            Counter(
                "bbp_notifications_total",
                "Notification deliveries, by channel and outcome",
                ["channel", "outcome"],
                **kwargs,
            )
        )


@dataclass
class Notifier:
    """The ``communicator.notify`` consumer."""

    engine: Engine
    settings: NotifySenderSettings
    report: Report
    registry: CollectorRegistry | None = None
    renderer: Renderer = field(init=False)
    smtp: SmtpSender = field(init=False)
    sms: SmsSender = field(init=False)
    metrics: NotifyMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.settings.notify_template_dir)
        self.smtp = SmtpSender(self.settings)
        self.sms = SmsSender(self.settings)
        self.metrics = NotifyMetrics.create(self.registry)

    # ------------------------------------------------------------------ entry

    def handle(self, message: Envelope, redelivered: bool) -> None:
        notification_id = message.body["notification_id"]
        row = self._load(notification_id)
        if row is None:
            log.error("notification_missing", notification_id=notification_id)
            raise Reject(f"notification {notification_id} does not exist")
        if row.state == "sent":
            log.info(
                "notification_already_sent",
                notification_id=notification_id,
                redelivered=redelivered,
            )
            return
        if row.command_id is not None and row.command_id != message.message_id:
            # A retry or a "send again" wrote a newer command; that one sends it.
            log.info(
                "notification_command_superseded",
                notification_id=notification_id,
                command_id=message.message_id,
                current=row.command_id,
                redelivered=redelivered,
            )
            return
        delivery = delivery_count() + 1
        try:
            prepared = self.prepare(row)
        except Permanent as exc:
            self._give_up(message, row, "failed", str(exc), 0, delivery)
            raise Reject(f"notification {notification_id}: {exc}") from None
        base = {
            "notification_id": notification_id,
            "report_id": str(uuid.uuid4()),
            "tries": 1,
            "command_id": message.message_id,
        }
        try:
            self.send(prepared, notification_id)
        except Permanent as exc:
            self._give_up(message, row, "failed", str(exc), 1, delivery)
            raise Reject(f"notification {notification_id}: {exc}") from None
        except Transient as exc:
            # Not retried here (no sleeping in a shared worker): the scheduler schedules the
            # next try through the outbox. Acknowledged once the report is confirmed — a
            # report that cannot be published raises Retry and the command comes back.
            error = _error_text(exc)
            log.warning(
                "notification_will_retry",
                notification_id=notification_id,
                kind=row.kind,
                channel=row.channel,
                retries_so_far=row.retries,
                delivery=delivery,
                error=error,
            )
            self._report(message, row, {**base, "outcome": "retry_later", "error": error})
            return
        log.info(
            "notification_sent",
            notification_id=notification_id,
            kind=row.kind,
            channel=row.channel,
            recipient=_describe(row.channel, prepared.recipient),
            retries=row.retries,
            delivery=delivery,
        )
        self._report(message, row, {**base, "outcome": "sent", "error": None})

    def _give_up(
        self,
        message: Envelope,
        row: Any,
        outcome: str,
        error: str,
        tries: int,
        delivery: int,
    ) -> None:
        error = mask_text(error)[:ERROR_MAX]
        log.error(
            "notification_failed" if outcome == "failed" else "notification_dead",
            notification_id=row.notification_id,
            kind=row.kind,
            channel=row.channel,
            template=row.template,
            delivery=delivery,
            error=error,
        )
        self._report(
            message,
            row,
            {
                "notification_id": row.notification_id,
                "report_id": str(uuid.uuid4()),
                "outcome": outcome,
                "tries": tries,
                "error": error,
                "command_id": message.message_id,
            },
        )

    def _report(self, message: Envelope, row: Any, result: dict[str, Any]) -> None:
        """Count the notification's outcome by channel and report it to the scheduler (which
        records it, and schedules a retry)."""
        self.metrics.sent.labels(row.channel, result["outcome"]).inc()
        self.report(NOTIFY_RESULT, result, message.correlation_id)

    def _load(self, notification_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(notifications).where(notifications.c.notification_id == notification_id)
            ).first()

    # ------------------------------------------------------------------ prepare and send

    def prepare(self, row: Any) -> Prepared:
        """Render and address the notification (Permanent if it cannot be)."""
        try:
            params = json.loads(row.params)
        except ValueError:
            raise Permanent("params are not JSON") from None
        try:
            recipient = normalise(row.channel, row.recipient)
        except InvalidRecipient as exc:
            raise Permanent(str(exc)) from None
        if row.channel == "sms":
            return Prepared(
                "sms", recipient, sms=self.renderer.sms(row.template, row.language, params)
            )
        link = ""
        if params.get("request_id") is not None:
            link = f"{self.settings.portal_base_url}/requests/{params['request_id']}"
        params = {"portal_url": self.settings.portal_base_url, "request_url": link, **params}
        rendered = self.renderer.email(row.template, row.language, params)
        email = EmailMessage()
        email["From"] = self.settings.smtp_from
        email["To"] = recipient
        email["Subject"] = rendered.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = make_msgid(idstring=row.notification_id, domain="bbp.notify")
        email["X-BBP-Notification-Id"] = row.notification_id
        email.set_content(rendered.text)
        if rendered.html:
            email.add_alternative(rendered.html, subtype="html")
        attachment = self._results_csv(row, params)
        if attachment is not None:
            name, data = attachment
            email.add_attachment(data, maintype="text", subtype="csv", filename=name)
        # After the body: making the message multipart moves Content-* headers into a part.
        email["Content-Language"] = row.language
        return Prepared("email", recipient, email=email)

    def send(self, prepared: Prepared, notification_id: str) -> None:
        if prepared.channel == "email":
            assert prepared.email is not None
            self.smtp.send(prepared.email)
        else:
            assert prepared.sms is not None
            self.sms.send(prepared.recipient, prepared.sms, notification_id)

    # ------------------------------------------------------------------ the results CSV

    def _results_csv(self, row: Any, params: Mapping[str, Any]) -> tuple[str, bytes] | None:
        """The request's results as CSV, for the request-finished e-mail (read from MySQL)."""
        if row.kind != "request_finished" or row.request_id is None:
            return None
        limit = self.settings.notify_csv_max_rows
        if limit <= 0:
            return None
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        with self.engine.connect() as conn:
            if params.get("request_kind") == "payment":
                writer.writerow(
                    [
                        "reference_id",
                        "utility",
                        "consumer_id",
                        "bill_number",
                        "amount",
                        "service_charge",
                        "total",
                        "state",
                        "order_id",
                        "reason",
                    ]
                )
                rows = conn.execute(
                    select(
                        payments.c.reference_id,
                        payments.c.utility_code,
                        payments.c.consumer_id,
                        payments.c.bill_number,
                        payments.c.amount,
                        payments.c.service_charge,
                        payments.c.total,
                        payments.c.state,
                        payments.c.order_id,
                        payments.c.reason,
                    )
                    .where(payments.c.request_id == row.request_id)
                    .order_by(payments.c.dispatch_order, payments.c.id)
                    .limit(limit)
                )
            else:
                writer.writerow(
                    [
                        "utility",
                        "consumer_id",
                        "state",
                        "outcome",
                        "bills",
                        "bills_amount",
                        "error_code",
                        "error_message",
                    ]
                )
                rows = conn.execute(
                    select(
                        fetch_items.c.utility_code,
                        fetch_items.c.consumer_id,
                        fetch_items.c.state,
                        fetch_items.c.outcome,
                        fetch_items.c.bill_count,
                        fetch_items.c.bills_amount,
                        fetch_items.c.error_code,
                        fetch_items.c.error_message,
                    )
                    .where(fetch_items.c.request_id == row.request_id)
                    .order_by(fetch_items.c.id)
                    .limit(limit)
                )
            for record in rows:
                writer.writerow(["" if v is None else _csv_cell(v) for v in record])
        return f"request-{row.request_id}-results.csv", out.getvalue().encode("utf-8-sig")


_FORMULA = re.compile(r"^[=+\-@\t\r]")


def _csv_cell(value: Any) -> str:
    """A cell as text; one that a spreadsheet would run as a formula is quoted with ``'``."""
    text = str(value)
    return "'" + text if _FORMULA.match(text) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _describe(channel: str, recipient: str) -> str:
    return mask_mobile(recipient) if channel == "sms" else recipient


def _error_text(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    return mask_text(str(exc) or type(exc).__name__)[:ERROR_MAX]


__all__ = [
    "Notifier",
    "Permanent",
    "Renderer",
    "SmsSender",
    "SmtpSender",
    "Transient",
]
