"""Typed settings read from the environment, in one place.

Each concern (database, broker, logging, …) is a mixin; each service composes the ones it
needs into its own settings class and loads it once in ``bootstrap()``. A missing or
malformed variable stops the service at start-up with a message naming the variable
(``load_settings``). Every field carries a one-line description: it is also the settings
table of the README (``scripts/settings_table.py``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

ENV_PREFIX = "BBP_"

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    """``"90"``, ``"90s"``, ``"1.5m"``, ``"250ms"``, ``"6h"`` → seconds (float)."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h, 250ms)")
    number, unit = match.groups()
    return float(number) * _UNITS[unit or "s"]


def parse_durations(value: Any) -> tuple[float, ...]:
    """``"1m,5m,15m"`` → ``(60.0, 300.0, 900.0)``; an empty string is an empty schedule."""
    if isinstance(value, list | tuple):
        return tuple(parse_duration(v) for v in value)
    text = str(value).strip()
    return tuple(parse_duration(part) for part in text.split(",")) if text else ()


Seconds = Annotated[float, BeforeValidator(parse_duration)]
Schedule = Annotated[tuple[float, ...], NoDecode, BeforeValidator(parse_durations)]


class SettingsError(Exception):
    """The environment does not describe a runnable service; the message names each variable."""


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, validate_default=True
    )


class DatabaseSettings(_Base):
    database_url: SecretStr = Field(
        description="SQLAlchemy URL of the MySQL database, e.g. mysql+pymysql://user:pw@host:3306/bbp"
    )
    db_pool_size: int = Field(5, ge=1, description="Connections kept open per process")
    db_max_overflow: int = Field(10, ge=0, description="Extra connections allowed at peaks")
    db_pool_recycle: Seconds = Field(
        1800, description="Reopen pooled connections older than this (below MySQL wait_timeout)"
    )
    db_pool_timeout: Seconds = Field(
        10, description="How long to wait for a free pooled connection"
    )


class AmqpSettings(_Base):
    amqp_url: SecretStr = Field(
        description="RabbitMQ URL, e.g. amqp://user:pw@host:5672/vhost (vhost URL-encoded)"
    )
    amqp_prefetch: int = Field(32, ge=1, description="Unacked messages a consumer may hold")
    amqp_heartbeat: Seconds = Field(30, description="AMQP heartbeat interval")
    amqp_confirm_timeout: Seconds = Field(
        15, description="How long a publisher waits for the broker to confirm a batch"
    )
    amqp_delivery_limit: int = Field(
        5, ge=1, description="Deliveries before a poison message is dead-lettered (quorum queues)"
    )


class LoggingSettings(_Base):
    log_level: Annotated[str, BeforeValidator(lambda v: str(v).strip().upper())] = Field(
        "INFO",
        pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
        description="Root log level: DEBUG, INFO, WARNING, ERROR",
    )
    log_format: str = Field(
        "json", pattern="^(json|console)$", description="json (production) or console (humans)"
    )


class HealthSettings(_Base):
    health_host: str = Field("0.0.0.0", description="Address of the worker's health/metrics server")  # noqa: S104
    health_port: int = Field(
        8081,
        ge=0,
        le=65535,
        description="Port of /healthz, /readyz and /metrics (0 = any free port)",
    )


class OutboxSettings(_Base):
    outbox_batch_size: int = Field(200, ge=1, description="Outbox rows a relay claims at once")
    outbox_poll_interval: Seconds = Field(
        1, description="How often a relay looks for outbox rows left unsent"
    )
    outbox_max_attempts: int = Field(
        20, ge=1, description="Publish attempts before an outbox row is marked failed for a person"
    )


T = TypeVar("T", bound=BaseSettings)


def load_settings(cls: type[T], **overrides: Any) -> T:
    """Load ``cls`` from the environment, or raise ``SettingsError`` naming every bad variable."""
    try:
        return cls(**overrides)
    except SourceError as exc:
        # pydantic-settings could not even read a value (e.g. a malformed complex value).
        raise SettingsError(f"{cls.__name__}: {ENV_PREFIX}… {exc}") from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {ENV_PREFIX}{field.upper()}: {err['msg']}")
        raise SettingsError(
            f"{cls.__name__}: the environment is missing or has malformed settings:\n"
            + "\n".join(lines)
        ) from None


def describe(cls: type[BaseSettings]) -> list[tuple[str, str, str]]:
    """(variable, default, description) of every field, for the README's settings table."""
    rows = []
    for name, info in cls.model_fields.items():
        default = "(required)" if info.is_required() else repr(info.default)
        rows.append((f"{ENV_PREFIX}{name.upper()}", default, info.description or ""))
    return rows
