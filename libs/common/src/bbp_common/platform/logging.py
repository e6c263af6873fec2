"""JSON structured logging, one line per event, with a correlation id.

The correlation id is a context variable: the portal sets it per HTTP request, it travels
in every message's envelope, and consumers bind it while they work, so one id follows a
request from the portal through RabbitMQ to the communicator. Standard-library loggers
(pika, gunicorn, ``mobiquity_client``) are rendered by the same processors, so the one
secret masker sees every line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import structlog

from bbp_common.platform.masking import mask

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    return _correlation_id.get()


@contextlib.contextmanager
def correlation(correlation_id: str | None = None, **bound: Any) -> Iterator[str]:
    """Bind a correlation id (a new one if none) and extra fields for the enclosed work."""
    cid = correlation_id or new_correlation_id()
    token = _correlation_id.set(cid)
    with structlog.contextvars.bound_contextvars(correlation_id=cid, **bound):
        try:
            yield cid
        finally:
            _correlation_id.reset(token)


def _mask_processor(_logger: Any, _name: str, event_dict: Any) -> Any:
    return mask(event_dict)


def _exception_masker(_logger: Any, _name: str, event_dict: Any) -> Any:
    if "exception" in event_dict and isinstance(event_dict["exception"], str):
        event_dict["exception"] = mask(event_dict["exception"])
    return event_dict


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is now, not the one it was created with: a daemon
    thread logging after the stream it first saw was swapped (as test runners and some
    process managers do) must not fail with "I/O operation on closed file"."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library through one JSON renderer with masking."""

    def add_service(_l: Any, _n: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    shared: list[Any] = [
        add_service,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.CallsiteParameterAdder(
            {structlog.processors.CallsiteParameter.PROCESS}
        ),
        _mask_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _exception_masker,
            renderer,
        ],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("pika").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
