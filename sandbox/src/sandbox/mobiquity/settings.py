"""Start-up settings (environment, `SANDBOX_` prefix) and the runtime config tests can PATCH."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

DEMO_CLIENT_ID = "CoreWeb"
DEMO_CLIENT_SECRET = "sandbox-secret"
DEMO_PAYER_MSISDN = "01755555555"  # the scope document's billpay example sender
DEMO_PAYER_MPIN = "13579"


class ConfigError(ValueError):
    """A PATCH /__sandbox__/config or SANDBOX_* value the sandbox cannot use."""


@dataclass(frozen=True)
class RuntimeConfig:
    """Behaviour switches; `GET/PATCH /__sandbox__/config`, restored by reset."""

    token_ttl_seconds: int = 299
    """`expires_in` of new tokens; a token is refused (401) once it has expired."""
    status_in_body_only: bool = False
    """Open point 0: fetch 422/403, billpay 400 and enquiry 404 answer HTTP 200, code in body."""
    require_bearer: bool = True
    """fetch, billpay and enquiry need a valid system token (decision 3)."""
    auth_require_bearer: bool = True
    """login, login-confirm and the self-set-auth calls need a valid system token (decision 8)."""
    change_credential_requires_user_token: bool = True
    """change-credential needs the user's own access token (decision 8)."""
    fulfilment_delay_seconds: float = 0.0
    """An accepted order is PENDING on enquiry for this long, then SUCCEEDED."""
    base_latency_ms: int = 0
    """Added to every Mobiquity call (not to control calls)."""
    otp_ttl_seconds: int = 300
    """An OTP older than this is refused."""
    slow_seconds: float = 30.0
    """How long magic ids 9906/9909 and `slow` faults without `seconds` sleep."""

    def patched(self, patch: Mapping[str, Any]) -> RuntimeConfig:
        """A copy with `patch` applied; unknown keys and wrong types raise ConfigError."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in patch.items():
            if key not in known:
                raise ConfigError(f"unknown config key {key!r}; known: {sorted(known)}")
            changes[key] = _coerce(key, known[key].type, value)
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The config as `GET /__sandbox__/config` shows it."""
        return asdict(self)


def _coerce(key: str, type_name: object, value: Any) -> Any:
    type_name = str(type_name)
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{key} must be a boolean")
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number")
    try:
        number: int | float = int(value) if type_name == "int" else float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number") from None
    if number < 0 or (key in ("token_ttl_seconds", "otp_ttl_seconds") and number == 0):
        raise ConfigError(f"{key} must be positive")
    return number


@dataclass(frozen=True)
class Settings:
    """What the sandbox is started with; `from_env` reads the SANDBOX_* variables."""

    host: str = "127.0.0.1"
    port: int = 8090
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    payer_msisdn: str = DEMO_PAYER_MSISDN
    payer_mpin: str = DEMO_PAYER_MPIN
    threads: int = 128
    keepalive_seconds: int = 75
    access_log: bool = False
    log_level: str = "info"
    data_dir: str = ""
    """Where the ledger is kept across restarts (`journal.py`); "" keeps it in memory only."""
    config: RuntimeConfig = field(default_factory=RuntimeConfig)

    @property
    def control_url(self) -> str:
        """Where this sandbox answers, as a client on this machine reaches it."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from SANDBOX_* variables; every runtime config key is SANDBOX_<KEY>."""
        env = os.environ if environ is None else environ
        config_patch = {
            f.name: env[f"SANDBOX_{f.name.upper()}"]
            for f in fields(RuntimeConfig)
            if f"SANDBOX_{f.name.upper()}" in env
        }
        return cls(
            host=env.get("SANDBOX_HOST", cls.host),
            port=int(env.get("SANDBOX_PORT", cls.port)),
            client_id=env.get("SANDBOX_CLIENT_ID", DEMO_CLIENT_ID),
            client_secret=env.get("SANDBOX_CLIENT_SECRET", DEMO_CLIENT_SECRET),
            payer_msisdn=env.get("SANDBOX_PAYER_MSISDN", DEMO_PAYER_MSISDN),
            payer_mpin=env.get("SANDBOX_PAYER_MPIN", DEMO_PAYER_MPIN),
            threads=int(env.get("SANDBOX_THREADS", cls.threads)),
            keepalive_seconds=int(env.get("SANDBOX_KEEPALIVE_SECONDS", cls.keepalive_seconds)),
            access_log=_coerce("SANDBOX_ACCESS_LOG", "bool", env.get("SANDBOX_ACCESS_LOG", "0")),
            log_level=env.get("SANDBOX_LOG_LEVEL", cls.log_level),
            data_dir=env.get("SANDBOX_DATA_DIR", "").strip(),
            config=RuntimeConfig().patched(config_patch),
        )
