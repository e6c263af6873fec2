"""`python -m sandbox [service] [options]`: start a stand-in (default: `mobiquity`).

Each service is a subcommand: `mobiquity` (the Mobiquity stand-in) and `sinks` (the SMTP sink
and the SMS-gateway sink in one process, sharing their faults and read-back). `reset` empties
the ledger the Mobiquity stand-in keeps in its data directory (`SANDBOX_DATA_DIR`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

S = TypeVar("S", bound="DataclassInstance")

DEFAULT_SERVICE = "mobiquity"


def _say(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _overridden(settings: S, **options: Any) -> S:
    """The settings from the environment, with the command line's options that were given."""
    return replace(settings, **{k: v for k, v in options.items() if v is not None})


def _run_mobiquity(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sandbox.mobiquity import create_app
    from sandbox.mobiquity.journal import DataDirInUse, lock_is_free, read_holder
    from sandbox.mobiquity.settings import Settings
    from sandbox.server import serve

    settings = _overridden(
        Settings.from_env(),
        host=args.host,
        port=args.port,
        threads=args.threads,
        data_dir=args.data_dir,
    )
    if settings.data_dir:
        data_dir = Path(settings.data_dir)
        if not lock_is_free(data_dir):
            _say(f"python -m sandbox: {DataDirInUse(data_dir, read_holder(data_dir))}", err=True)
            return 1
    serve(
        lambda: create_app(settings),
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
    parser.add_argument(
        "--data-dir",
        help="keep the ledger in this directory across restarts (default SANDBOX_DATA_DIR; "
        "none: in memory only)",
    )
    parser.set_defaults(run=_run_mobiquity)


def _run_reset(args: argparse.Namespace) -> int:
    import json
    import os
    import urllib.error
    import urllib.request
    from pathlib import Path

    from sandbox.mobiquity.journal import DataDirInUse, JournalError, clear_data_dir

    raw = args.data_dir if args.data_dir is not None else os.environ.get("SANDBOX_DATA_DIR", "")
    if not raw.strip():
        _say(
            "python -m sandbox reset: no data directory (set SANDBOX_DATA_DIR or pass "
            "--data-dir); a sandbox without one forgets everything when it stops",
            err=True,
        )
        return 2
    data_dir = Path(raw.strip())
    try:
        forgotten = clear_data_dir(data_dir)
    except DataDirInUse as busy:
        url = busy.holder.get("url")
        if not url:
            _say(f"python -m sandbox reset: {busy}", err=True)
            return 1
        # A running sandbox holds it: ask it to reset (its memory and its file together).
        # Issued tokens stay valid, so the services of a running demo carry on.
        request = urllib.request.Request(  # noqa: S310 - the URL the sandbox wrote itself
            f"{url}/__sandbox__/reset?keep_tokens=1", data=b"", method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                json.loads(resp.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as err:
            _say(
                f"python -m sandbox reset: the sandbox at {url} holds {data_dir} but did not "
                f"answer the reset ({err}); stop it and run this again",
                err=True,
            )
            return 1
        _say(f"reset the running sandbox at {url}: its ledger ({data_dir}) is empty")
        return 0
    except JournalError as err:
        _say(f"python -m sandbox reset: {err}", err=True)
        return 1
    _say(f"emptied the sandbox ledger in {data_dir} ({forgotten} billpay entries forgotten)")
    return 0


def _reset_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "reset",
        help="empty the ledger kept in the data directory (SANDBOX_DATA_DIR); a running "
        "sandbox that holds it is asked to reset itself",
    )
    parser.add_argument("--data-dir", help="the data directory (default SANDBOX_DATA_DIR)")
    parser.set_defaults(run=_run_reset)


def _run_sinks(args: argparse.Namespace) -> int:
    from sandbox.sinks import SinkSettings, run

    settings = SinkSettings.from_env()
    return run(
        _overridden(settings, host=args.host, smtp_port=args.smtp_port, http_port=args.sms_port)
    )


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
    "reset": _reset_parser,
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
