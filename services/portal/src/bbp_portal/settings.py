"""The portal's settings (see the README's settings table)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr

from bbp_common.core.notifications import PaymentSmsSettings
from bbp_common.platform.mobiquity import MobiquitySettings
from bbp_common.platform.settings import (
    AmqpSettings,
    DatabaseSettings,
    LoggingSettings,
    OutboxSettings,
    Seconds,
)


def _threshold(value: Any) -> Any:
    """``""``, ``off`` or ``none`` switch maker-checker off; anything else is an amount."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off", "none")):
        return None
    return value


Threshold = Annotated[Decimal | None, BeforeValidator(_threshold)]


class PortalSettings(
    DatabaseSettings,
    AmqpSettings,
    LoggingSettings,
    OutboxSettings,
    MobiquitySettings,
    PaymentSmsSettings,
):
    portal_metrics_port: int = Field(
        9100,
        ge=0,
        le=65535,
        description="Port of the portal's /metrics (not exposed by the ingress)",
    )

    # --- publishing right after commit (the scheduler's relay publishes what this misses) ---
    portal_publish_confirm_timeout: Seconds = Field(
        2, gt=0, description="Longest a page waits for RabbitMQ to confirm a request's message"
    )
    portal_publisher_connect_wait: Seconds = Field(
        1,
        ge=0,
        description="On a worker's first publish, how long to wait for its RabbitMQ connection",
    )

    # --- secrets ------------------------------------------------------------------------
    portal_secret_key: SecretStr = Field(
        description="Flask's signing key (CSRF tokens, flashes); long and random, a Secret",
    )
    session_encryption_key: SecretStr = Field(
        description=(
            "Fernet key(s) that encrypt Mobiquity tokens inside the session store; "
            "comma-separated, the first encrypts, all decrypt (rotation). A Secret"
        ),
    )

    # --- Redis: sessions and rate limits ----------------------------------------------------
    redis_url: SecretStr = Field(
        description="Redis URL shared by every portal worker and replica (sessions, rate limits)",
    )
    redis_key_prefix: str = Field(
        "bbp:portal:",
        description="Prefix of every Redis key the portal writes (lets deployments share a Redis)",
    )

    # --- sessions ---------------------------------------------------------------------------
    session_idle_timeout: Seconds = Field(
        900, gt=0, description="A session ends after this long without a request (default 15m)"
    )
    session_absolute_lifetime: Seconds = Field(
        43200, gt=0, description="A session ends this long after sign-in, busy or not (12h)"
    )
    session_cookie_secure: bool = Field(
        True,
        description="Send the session and device cookies over HTTPS only (off only for http://localhost)",
    )
    signin_step_timeout: Seconds = Field(
        300, gt=0, description="How long an OTP or forgot-password step stays open"
    )
    signin_failure_min_duration: Seconds = Field(
        1.0,
        ge=0,
        description=(
            "Every failed sign-in answers after at least this long (and no sooner than a "
            "Mobiquity refusal): timing does not tell which login ids exist"
        ),
    )

    # --- rate limits (Flask-Limiter notation, ';' separates several) ---------------------------
    rate_limit_per_ip: str = Field(
        "20/minute;200/hour",
        description="Sign-in, OTP and forgot-password submissions allowed per client IP, per step",
    )
    rate_limit_per_login_id: str = Field(
        "5/minute;30/hour",
        description="Sign-in, OTP and forgot-password submissions allowed per login id, per step",
    )
    # A machine client polling a request's progress every 2 s uses 30 a minute; a script that
    # creates requests calls a few times a minute. 120/minute leaves room for both and stops a
    # runaway loop within a minute; 3000/hour bounds a steady one.
    api_token_rate_limit: str = Field(
        "120/minute;3000/hour",
        description="Calls to /api/v1 allowed per API token, all operations together (a browser "
        "session is not counted)",
    )

    # --- network ----------------------------------------------------------------------------
    trusted_proxy_count: int = Field(
        0,
        ge=0,
        le=5,
        description=(
            "Proxies in front of the portal that set X-Forwarded-For/-Proto/-Host (1 behind the "
            "ingress; 0 trusts none)"
        ),
    )

    # --- bulk upload of bill accounts -------------------------------------------------------
    upload_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest bulk-upload file accepted (bytes)"
    )
    upload_max_rows: int = Field(
        50_000, ge=1, description="Most data rows one bulk upload may have"
    )
    upload_ttl: Seconds = Field(
        3600, description="How long a validated upload waits for its import before it expires"
    )

    # --- reconciliation with Mobiquity's transaction report (issue 18) ----------------------
    report_max_bytes: int = Field(
        100 * 1024 * 1024,
        ge=1024,
        description="Largest transaction report accepted for a reconciliation (bytes)",
    )
    report_max_rows: int = Field(
        500_000, ge=1, description="Most lines one transaction report may have"
    )

    # --- paying bills (issue 8) -----------------------------------------------------------
    pay_max_bill_age: Seconds = Field(
        86400,
        gt=0,
        description="Bills fetched longer ago than this cannot be paid (or approved) until "
        "fetched again: a stale bill may have been paid elsewhere (default 24h)",
    )
    # Maker-checker (issue 17): on by default. 100 000 BDT is a few dozen ordinary utility
    # bills (a bill is typically a few hundred to a few thousand taka): routine batches go
    # straight, a bulk run needs a second person. 200 000 BDT a maker a day: splitting a bulk
    # run into requests under the per-request limit still needs one.
    approval_threshold: Threshold = Field(
        Decimal("100000"),
        ge=0,
        description="Maker-checker per request: a payment request whose total (BDT) is above "
        "this waits for another admin's approval ('off' = no per-request limit)",
    )
    approval_daily_threshold: Threshold = Field(
        Decimal("200000"),
        ge=0,
        description="Maker-checker per maker and day (Asia/Dhaka): the payment request that "
        "takes its maker's requests of the day above this (BDT), and every later one that "
        "day, waits for another admin's approval; payments never sent (cancelled, rejected, "
        "unsent) do not count ('off' = no daily limit)",
    )
    # Bulk resolution (issue 18): resolving many uncleared payments at once says where a lot
    # of money went on one person's reading of a report. The same 100 000 BDT as a payment
    # request's maker-checker: a handful of bills goes straight, a bulk run needs two people.
    bulk_resolve_second_approval_above: Threshold = Field(
        Decimal("100000"),
        ge=0,
        description="A bulk resolution of uncleared payments whose total (BDT) is above this "
        "waits for a second superadmin's approval before any payment changes ('off' = never)",
    )
    step_up: bool = Field(
        True,
        description="Step-up: before a payment request is confirmed or approved, the person "
        "types their password again (and the OTP, when Mobiquity asks for one); an API "
        "request without one waits for a person's confirmation in the portal",
    )
    step_up_ttl: Seconds = Field(
        300,
        gt=0,
        le=3600,
        description="How long a step-up stays valid, for the one action it was made for",
    )
    payer_label: str = Field(
        "",
        max_length=80,
        description="How the paying wallet is named on the confirmation page, e.g. "
        "'GP wallet 017XXXXX123' (digits beyond the last three are masked; never the MPIN)",
    )
    pay_max_bills: int = Field(20_000, ge=1, description="Most bills one payment request may hold")
