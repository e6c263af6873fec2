"""The browser as Mobiquity's ``deviceInfo`` describes it.

Mobiquity wants a device id, a browser, a model, an OS and the client's IP with every login
and password reset (scope §1.2). They come from the real browser: the User-Agent (parsed by
``ua-parser``, the maintained port of the browserscope rules), the client IP (what ProxyFix
restored from X-Forwarded-For), and a random device id kept in a long-lived cookie so that
Mobiquity sees the same id for the same browser. Every value is cut to Mobiquity's maximum
length.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from flask import Request, Response, g, request
from ua_parser import parse

from mobiquity_client import DeviceInfo

DEVICE_COOKIE = "bbp_device"
DEVICE_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
_DEVICE_ID = re.compile(r"^[0-9a-f]{32}$")
#: Longer User-Agents are cut before parsing (no real browser sends more).
_UA_MAX = 512

APP_NAME = "BBP Portal"
try:
    APP_VERSION = version("bbp-portal")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    APP_VERSION = "0"


@dataclass(frozen=True)
class Browser:
    """What a User-Agent says, in the words Mobiquity's deviceInfo uses."""

    browser: str
    model: str
    os: str


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


@lru_cache(maxsize=1024)
def describe_user_agent(user_agent: str) -> Browser:
    """Browser, model and OS of a User-Agent, each within Mobiquity's length limits.

    ``"Chrome 120"``, ``"Desktop - Windows 10"``, ``"Windows 10"`` for a desktop Chrome;
    ``"Mobile Safari 17"``, ``"Apple iPhone"``, ``"iOS 17"`` for an iPhone. Unknown parts are
    empty strings (Mobiquity accepts empty optional fields).
    """
    result = parse(user_agent[:_UA_MAX]) if user_agent else None
    agent = result.user_agent if result else None
    system = result.os if result else None
    device = result.device if result else None
    browser = _join(agent.family, agent.major) if agent and agent.family != "Other" else ""
    os_name = _join(system.family, system.major) if system and system.family != "Other" else ""
    if device and device.family not in ("Other", "Spider"):
        model = _join(device.brand, device.model) or device.family
    else:
        model = f"Desktop - {os_name}" if os_name else "Desktop"
    return Browser(browser=browser[:50], model=model[:150], os=os_name[:20])


def client_ip(req: Request | None = None) -> str:
    """The client's IP (ProxyFix has put the forwarded one in ``remote_addr``)."""
    req = req or request
    return (req.remote_addr or "")[:50]


def device_id(req: Request | None = None) -> str:
    """This browser's device id: from its cookie, or a new one (set on the response)."""
    cached = g.get("bbp_device_id")
    if cached:
        return str(cached)
    req = req or request
    value = req.cookies.get(DEVICE_COOKIE, "")
    if not _DEVICE_ID.match(value):
        value = secrets.token_hex(16)
        g.bbp_new_device_id = value
    g.bbp_device_id = value
    return value


def device_info(req: Request | None = None) -> DeviceInfo:
    """Mobiquity's deviceInfo for the browser making this request."""
    req = req or request
    seen = describe_user_agent(req.headers.get("User-Agent", ""))
    return DeviceInfo(
        device_id=device_id(req),
        is_public_device=False,
        app_name=APP_NAME[:40],
        app_version=APP_VERSION[:20],
        browser=seen.browser,
        model=seen.model,
        os=seen.os,
        provider_ip_address=client_ip(req),
    )


def remember_device(response: Response, secure: bool) -> Response:
    """``after_request``: give a browser without a (valid) device cookie its new id."""
    new = g.get("bbp_new_device_id")
    if new:
        response.set_cookie(
            DEVICE_COOKIE,
            new,
            max_age=DEVICE_COOKIE_MAX_AGE,
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
    return response
