"""The portal's settings (see the README's settings table)."""

from __future__ import annotations

from pydantic import Field

from bbp_common.settings import (
    AmqpSettings,
    DatabaseSettings,
    LoggingSettings,
    OutboxSettings,
    Seconds,
)


class PortalSettings(DatabaseSettings, AmqpSettings, LoggingSettings, OutboxSettings):
    portal_metrics_port: int = Field(
        9100,
        ge=0,
        le=65535,
        description="Port of the portal's /metrics (not exposed by the ingress)",
    )
    upload_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest bulk-upload file accepted (bytes)"
    )
    upload_max_rows: int = Field(
        50_000, ge=1, description="Most data rows one bulk upload may have"
    )
    upload_ttl: Seconds = Field(
        3600, description="How long a validated upload waits for its import before it expires"
    )
