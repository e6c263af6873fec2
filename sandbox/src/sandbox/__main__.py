"""`python -m sandbox [service] [options]`: start a stand-in (default: `mobiquity`).

Each service is a subcommand: `mobiquity` (the Mobiquity stand-in) and `sinks` (the SMTP sink
and the SMS-gateway sink in one process, sharing their faults and read-back).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

DEFAULT_SERVICE = "mobiquity"


def _run_mobiquity(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sandbox.mobiquity import create_app
    from sandbox.mobiquity.settings import Settings
    from sandbox.server import serve

    settings = Settings.from_env()
    overrides = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("threads", args.threads))
        if v is not None
    }
    settings = replace(settings, **overrides)
    serve(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        threads=settings.threads,
        keepalive_seconds=settings.keepalive_seconds,
        access_log=settings.access_log,
        log_level=settings.log_level,
        name="bbp-sandbox-mobiquity",
    )
    return 0


def _mobiquity_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "mobiquity",
        help="the Mobiquity stand-in (HTTP; SANDBOX_HOST, SANDBOX_PORT, default 127.0.0.1:8090)",
    )
    parser.add_argument("--host", help="listen address (default SANDBOX_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default SANDBOX_PORT or 8090)")
    parser.add_argument("--threads", type=int, help="gthread threads (default 128)")
    parser.set_defaults(run=_run_mobiquity)


def _run_sinks(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sandbox.sinks import SinkSettings, run

    settings = SinkSettings.from_env()
    overrides = {
        k: v
        for k, v in (
            ("host", args.host),
            ("smtp_port", args.smtp_port),
            ("http_port", args.sms_port),
        )
        if v is not None
    }
    return run(replace(settings, **overrides))


def _sinks_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "sinks",
        help="the SMTP sink and the SMS-gateway sink (SANDBOX_SMTP_PORT 8025, "
        "SANDBOX_SMS_PORT 8091: gateway, read-back and the inbox page)",
    )
    parser.add_argument("--host", help="listen address (default SANDBOX_HOST or 127.0.0.1)")
    parser.add_argument("--smtp-port", type=int, help="SMTP port (default 8025)")
    parser.add_argument("--sms-port", type=int, help="HTTP port (default 8091)")
    parser.set_defaults(run=_run_sinks)


# Add a service: a function that adds its subparser, setting `run` to its entry point.
SERVICES: dict[str, Callable[[argparse._SubParsersAction], None]] = {  # type: ignore[type-arg]
    "mobiquity": _mobiquity_parser,
    "sinks": _sinks_parser,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen stand-in until it is stopped."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help")):
        args_list.insert(0, DEFAULT_SERVICE)
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="service", metavar="service")
    for add in SERVICES.values():
        add(sub)
    args = parser.parse_args(args_list)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
