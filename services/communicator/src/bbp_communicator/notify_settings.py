"""The communicator's settings for e-mail (SMTP) and SMS (an HTTP gateway).

Gateways differ, so the SMS request is described by settings rather than code: the URL and
method, where the fields go (query string, form or JSON body), which fields with which
placeholders, how the credential travels, and which response field/value means "accepted".
Secrets (the SMTP password, the gateway token) are ``SecretStr``: they come from the
communicator's Secret and never reach a log line or a message.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, SecretStr, field_validator

from bbp_common.platform.settings import Seconds, _Base

#: The SSL Wireless-style default: most Bangladeshi gateways take these fields.
DEFAULT_SMS_FIELDS = json.dumps(
    {
        "api_token": "{token}",
        "sid": "{sender}",
        "msisdn": "{to}",
        "sms": "{text}",
        "csms_id": "{id}",
    }
)


class NotifySenderSettings(_Base):
    # --- SMTP -------------------------------------------------------------------------------
    smtp_host: str = Field("localhost", description="Mail server host name")
    smtp_port: int = Field(
        587, ge=1, le=65535, description="Mail server port (587 STARTTLS, 465 implicit TLS)"
    )
    smtp_security: str = Field(
        "starttls",
        pattern="^(starttls|tls|none)$",
        description="starttls (upgrade after connecting), tls (implicit, port 465) or none",
    )
    smtp_username: str = Field("", description="SMTP login name ('' = no login)")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password (a secret)")
    smtp_from: str = Field(
        "Bulk Bill Payment <no-reply@bbp.example>",
        description="From address of every e-mail (name and address)",
    )
    smtp_timeout: Seconds = Field(20, description="Seconds to wait for the mail server")
    smtp_ca_file: str = Field(
        "", description="CA bundle that signs the mail server's certificate ('' = the system's)"
    )

    # --- SMS gateway ------------------------------------------------------------------------
    sms_gateway_url: str = Field(
        "", description="URL of the SMS gateway's send call ('' = SMS cannot be sent)"
    )
    sms_gateway_method: str = Field("POST", pattern="^(GET|POST)$", description="HTTP method")
    sms_gateway_format: str = Field(
        "json",
        pattern="^(json|form|query)$",
        description="Where the fields go: a JSON body, a form body, or the query string",
    )
    sms_gateway_fields: str = Field(
        DEFAULT_SMS_FIELDS,
        description="JSON object of the gateway's fields; values may hold {to} (8801…), "
        "{to_local} (01…), {text}, {sender}, {id} (the notification id), {token}, {username}",
    )
    sms_gateway_auth: str = Field(
        "field",
        pattern="^(field|bearer|basic|none)$",
        description="How the token travels: field ({token} in the fields), bearer "
        "(Authorization header), basic (username + token), none",
    )
    sms_gateway_username: str = Field("", description="Gateway user name (basic auth, {username})")
    sms_gateway_token: SecretStr = Field(
        SecretStr(""), description="Gateway credential: API token or password (a secret)"
    )
    sms_gateway_success_field: str = Field(
        "status",
        description="Dotted path of the response field that says the SMS was accepted "
        "('' = any 2xx answer is success)",
    )
    sms_gateway_success_value: str = Field(
        "SUCCESS", description="Value of that field when the gateway accepted the SMS"
    )
    sms_gateway_timeout: Seconds = Field(10, description="Seconds to wait for the gateway")
    sms_sender: str = Field("GP BillPay", description="Sender name or number SMS are sent as")

    # --- delivery ---------------------------------------------------------------------------
    communicator_notify_workers: int = Field(
        4,
        ge=1,
        description="Notifications one replica sends at once (one try each: a failure for now "
        "is retried later, scheduled by the scheduler's BBP_NOTIFY_RETRY_SCHEDULE)",
    )
    notify_template_dir: str = Field(
        "",
        description="Folder of templates that replace the built-in ones of the same name "
        "('' = built-in only)",
    )
    notify_csv_max_rows: int = Field(
        100_000, ge=0, description="Rows of a request's results attached as CSV (0 = none)"
    )
    portal_base_url: str = Field(
        "http://localhost:8000",
        description="The portal's address, for links in e-mails (e.g. https://bbp.example.com)",
    )

    @field_validator("sms_gateway_fields")
    @classmethod
    def _fields_are_json(cls, value: str) -> str:
        try:
            parsed: Any = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise ValueError("must be a JSON object of strings")
        return value

    @field_validator("portal_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def sms_fields(self) -> dict[str, str]:
        return dict(json.loads(self.sms_gateway_fields))
