"""The ledger on disk: an append-only journal under the data directory (`SANDBOX_DATA_DIR`).

Without a data directory (the default, and what every test uses unless it asks for one) the
sandbox keeps its state in memory only. With one, every billpay processed is written to
`<data dir>/ledger.jsonl` — one JSON object a line, exactly the ledger entry
`GET /__sandbox__/ledger` shows (without `enquiry_status`, which is computed) — before the
answer is sent, and the journal is read back at start. Paid bills, the reference ids already
used, the billpay count per reference id and the enquiry answers are all derived from the
ledger, so a restarted sandbox answers exactly as before it stopped.

Safety:

* one `write()` of a whole line per entry on a file opened with O_APPEND; a write that fails
  (disk full) is cut back off the file and the billpay is answered HTTP 500 *before
  processing* (nothing recorded, nothing paid);
* a line cut short by a crash (the file does not end with a newline) is the only damage a
  crash can do: it is cut off at the next start, with a warning — that billpay was never
  answered, like a Mobiquity that died mid-order;
* any other unreadable line stops the start with its line number (never skipped silently);
* reset replaces the file by an empty one atomically (`os.replace`);
* one sandbox per data directory: the worker holds an exclusive `flock` on `<data dir>/lock`,
  which names the holder's pid and URL (`python -m sandbox reset` asks a running sandbox to
  reset itself through that URL instead of pulling the file from under it).

Writes are not fsync'ed: a killed sandbox loses nothing (the kernel has every line), a power
cut may lose the last lines but never corrupts the ones before.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("sandbox.mobiquity")

LEDGER_FILE = "ledger.jsonl"
LOCK_FILE = "lock"
REQUIRED_KEYS = ("seq", "ts", "outcome", "order_id")
# Values that repeat from entry to entry: shared (interned) when read back, like the keys,
# so 200 000 entries take about 1.6 kB each in memory instead of 3.5 kB.
REPEATED_VALUES = frozenset(
    (
        "utility",
        "biller_code",
        "receiver",
        "sender",
        "outcome",
        "answered",
        "order_status",
        "order_state",
        "error_code",
        "error_detail_code",
        "error_user_msg",
        "amount_basis",
    )
)


class JournalError(RuntimeError):
    """The data directory cannot be used: locked by another sandbox, unreadable or damaged."""


class DataDirInUse(JournalError):
    """Another sandbox process holds the data directory."""

    def __init__(self, data_dir: Path, holder: dict[str, Any]) -> None:
        self.holder = holder
        who = f"pid {holder.get('pid', '?')}"
        if holder.get("url"):
            who += f", {holder['url']}"
        super().__init__(
            f"the sandbox data directory {data_dir} is in use by another sandbox ({who}); "
            "stop it, or give this one another SANDBOX_DATA_DIR"
        )


def read_holder(data_dir: Path) -> dict[str, Any]:
    """What the lock file says about the sandbox holding `data_dir` ({} when unreadable)."""
    try:
        data = json.loads((data_dir / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _try_lock(data_dir: Path) -> IO[str]:
    """Open and exclusively lock `<data dir>/lock` (raises DataDirInUse if held)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held as long as the journal
    except OSError as err:
        raise JournalError(f"cannot use the sandbox data directory {data_dir}: {err}") from err
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(data_dir, read_holder(data_dir)) from None
    return handle


def lock_is_free(data_dir: Path) -> bool:
    """True when no sandbox holds `data_dir` right now (checked by taking the lock briefly)."""
    if not (data_dir / LOCK_FILE).exists():
        return True
    try:
        handle = _try_lock(data_dir)
    except DataDirInUse:
        return False
    handle.close()
    return True


def _replace_with_empty(path: Path) -> None:
    """Atomically make `path` an empty file (a crash leaves the old or the new, never half)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """The ledger file of one data directory, held exclusively while open."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LEDGER_FILE
        self._lock: IO[str] | None = None
        self._fd: int | None = None
        self._size = 0

    # ---- open, load, close ---------------------------------------------------------------

    def open(self, *, holder_url: str | None = None) -> list[dict[str, Any]]:
        """Lock the data directory, read the ledger back (repairing a torn last line) and
        open it for appending. Returns the entries, oldest first."""
        self._lock = _try_lock(self.data_dir)
        try:
            self._lock.seek(0)
            self._lock.truncate()
            self._lock.write(json.dumps({"pid": os.getpid(), "url": holder_url}))
            self._lock.flush()
            entries = self._load()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = os.fstat(self._fd).st_size
        except BaseException:
            self.close()
            raise
        return entries

    def _load(self) -> list[dict[str, Any]]:
        """Read the file line by line (never whole: it may hold 200 000 entries)."""
        entries: list[dict[str, Any]] = []
        good = 0  # bytes of whole lines read so far
        try:
            with open(self.path, "rb") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.endswith(b"\n"):
                        self._cut_torn_tail(good, len(line))
                        break
                    entries.append(self._entry(number, line))
                    good += len(line)
        except FileNotFoundError:
            return []
        except OSError as err:
            raise JournalError(f"cannot read {self.path}: {err}") from err
        return entries

    def _entry(self, number: int, line: bytes) -> dict[str, Any]:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if (
            not isinstance(entry, dict)
            or any(k not in entry for k in REQUIRED_KEYS)
            or entry["seq"] != number
        ):
            raise JournalError(
                f"line {number} of {self.path} is not the ledger entry seq {number}: the "
                "file was edited or damaged. Move it away, or run `python -m sandbox reset` "
                "to start with an empty ledger"
            )
        return {
            sys.intern(k): sys.intern(v) if k in REPEATED_VALUES and isinstance(v, str) else v
            for k, v in entry.items()
        }

    def _cut_torn_tail(self, good: int, torn: int) -> None:
        log.warning(
            "sandbox ledger %s: the last line was cut short by a crash (%d bytes); "
            "dropping it (that billpay was never answered)",
            self.path,
            torn,
        )
        with open(self.path, "r+b") as handle:
            handle.truncate(good)
            os.fsync(handle.fileno())

    def close(self) -> None:
        """Stop appending and release the data directory."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.seek(0)
                self._lock.truncate()
            self._lock.close()
            self._lock = None

    # ---- writing -------------------------------------------------------------------------

    def append(self, entry: dict[str, Any]) -> None:
        """Write one entry as one line; on failure the file is cut back and OSError raised."""
        if self._fd is None:
            raise OSError("the sandbox ledger journal is closed")
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(f"short write to {self.path} ({written} of {len(line)} bytes)")
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += written

    def clear(self) -> None:
        """Forget every entry (atomic: the file is replaced by an empty one)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        _replace_with_empty(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = 0


def clear_data_dir(data_dir: Path) -> int:
    """Empty the ledger of a data directory no sandbox holds; returns the entries forgotten.

    Raises DataDirInUse when a sandbox holds it (reset that one through its control API).
    """
    lock = _try_lock(data_dir)
    try:
        path = data_dir / LEDGER_FILE
        try:
            with open(path, "rb") as handle:
                count = sum(1 for _ in handle)
        except FileNotFoundError:
            return 0
        _replace_with_empty(path)
        return count
    finally:
        lock.close()
