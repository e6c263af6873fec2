"""What the pipeline benchmarks share: the sides of a run (this checkout, other checkouts given
with ``--tree``, the Celery peer), starting one run of a checkout (``_side.py`` with that
checkout's Python), and the figures printed for each run and across runs.

Figures of one run:

* **items/s** — from the database's own timestamps (see each benchmark);
* **limit** — ``min(max in flight ÷ latency, cap)`` and the ratio items/s ÷ limit;
* **busiest second** — the most calls in any one-second window (sliding, half-open:
  ``bbp_scheduler.pacing.max_in_any_window``), from our dispatch records and from the
  sandbox's own call times; at a cap T neither may exceed T (the sandbox's by a small jitter
  allowance, see ``test_fetch_resilience.py``);
* **unused slot time** — the gaps between consecutive dispatch records beyond the pace's
  interval (a stalled planner, a full in-flight window, a slow tick), and how many gaps
  were over 50 ms;
* **CPU ms per item** — scheduler, communicators (together), MariaDB, RabbitMQ, the sandbox
  (reported, excluded from the total), the total, and our processes only (scheduler +
  communicators). MariaDB and RabbitMQ serve the whole machine (other engineers' tests
  too): their share is what they spent during the run, an upper bound of ours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from bbp_scheduler.pacing import max_in_any_window

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

#: The columns of the CPU table, in order; the sandbox is not part of the total.
PARTS = ("scheduler", "communicators", "mariadb", "rabbitmq")
PEER_NOTE = (
    "The Celery peer does less than our pipeline, knowingly: no pacing (only rate_limit caps "
    "a second), no publisher confirms, one hop (no result back to a scheduler), the message "
    "acknowledged when the task starts, a classic queue, no retries, one row per account and "
    "no bills rows. Its 'communicators' and 'ours only' columns are the Celery worker."
)


@dataclass(frozen=True)
class Side:
    """Who runs: a checkout of our pipeline (``tree``), or the Celery peer (``mode``)."""

    label: str
    tree: Path | None = None
    python: str = sys.executable
    mode: str | None = None

    @property
    def peer(self) -> bool:
        return self.mode is not None


def checkout(tree: str | Path) -> Side:
    """A checkout with its own ``.venv`` (this one runs with the running Python)."""
    path = Path(tree).resolve()
    if path == ROOT:
        python = sys.executable
    else:
        python = str(path / ".venv" / "bin" / "python")
        if not Path(python).exists():
            raise SystemExit(f"{path} has no .venv (run make setup there)")
        if not (path / "tests" / "support" / "pipeline.py").exists():
            raise SystemExit(f"{path} has no tests/support/pipeline.py: not a checkout of ours")
    git = ["git", "-C", str(path)]
    sha = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return Side(f"{path.name}@{sha or '?'}{'+' if dirty else ''}", path, python)


def sandbox_spec(sandbox: Any) -> dict[str, Any]:
    return {
        "base_url": sandbox.base_url,
        "port": sandbox.port,
        "pid": sandbox.process.pid,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "payer_msisdn": sandbox.payer_msisdn,
        "payer_mpin": sandbox.payer_mpin,
    }


def run_checkout(side: Side, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One run of ``side``'s pipeline: ``_side.py`` with the checkout's Python, in it."""
    assert side.tree is not None
    with tempfile.TemporaryDirectory(prefix="bench-side-") as scratch:
        spec_path, out_path = Path(scratch, "spec.json"), Path(scratch, "out.json")
        spec_path.write_text(json.dumps({**spec, "tree": str(side.tree)}))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        done = subprocess.run(
            [side.python, str(BENCH / "_side.py"), str(spec_path), str(out_path)],
            cwd=side.tree,
            env=env,
            timeout=timeout,
            check=False,
        )
        if done.returncode or not out_path.exists():
            raise RuntimeError(f"{side.label}: the run failed (exit {done.returncode})")
        found: dict[str, Any] = json.loads(out_path.read_text())
        return found


def busiest(epochs: Iterable[float]) -> int:
    """The most of ``epochs`` in any one-second window."""
    return max_in_any_window([datetime.fromtimestamp(t, UTC) for t in epochs])


def unused_slots(epochs: Sequence[float], cap: float) -> tuple[float, int]:
    """Slot time left unused between consecutive dispatches (seconds), and the gaps > 50 ms."""
    interval = 1 / cap if cap else 0.0
    gaps = [b - a - interval for a, b in pairwise(sorted(epochs))]
    return sum(g for g in gaps if g > interval), sum(1 for g in gaps if g > 0.05)


@dataclass
class Run:
    """The figures of one run of one side."""

    round: int
    cap: float
    side: Side
    items: int
    limit: float
    rate: float
    busiest_own: int | None
    busiest_sandbox: int
    unused: float | None
    gaps: int | None
    cpu_ms: dict[str, float]
    load: tuple[float, float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.rate / self.limit

    @property
    def total(self) -> float:
        return sum(self.cpu_ms.get(p, 0.0) for p in PARTS)

    @property
    def own(self) -> float:
        return self.cpu_ms.get("scheduler", 0.0) + self.cpu_ms.get("communicators", 0.0)


def make_run(
    round_: int,
    cap: float,
    side: Side,
    found: dict[str, Any],
    sandbox_calls: Sequence[float],
    items: int,
    limit: float,
    **extra: Any,
) -> Run:
    dispatches = found["dispatches"]
    items = found.get("items", items)  # a peer run cut short at its time budget: fewer
    unused, gaps = unused_slots(dispatches, cap) if dispatches else (None, None)
    return Run(
        round=round_,
        cap=cap,
        side=side,
        items=items,
        limit=limit,
        rate=items / (found["end"] - found["start"]),
        busiest_own=busiest(dispatches) if dispatches else None,
        busiest_sandbox=busiest(sandbox_calls),
        unused=unused,
        gaps=gaps,
        cpu_ms={k: 1000 * v / items for k, v in found["cpu"].items()},
        load=(found["load"][0], found["load"][1]),
        extra={k: v for k, v in found.items() if k in ("states", "threads", "partial")} | extra,
    )


def cap_text(cap: float) -> str:
    return f"{cap:g}/s" if cap else "none"


def progress(run: Run) -> None:
    """One line as soon as a run ends."""
    own = "" if run.busiest_own is None else f"{run.busiest_own} own, "
    print(
        f"round {run.round}, cap {cap_text(run.cap)}, {run.side.label}: {run.rate:.1f} items/s "
        f"({run.ratio:.3f} of {run.limit:g}); busiest second {own}{run.busiest_sandbox} at "
        f"the sandbox; CPU {run.total:.1f} ms/item (ours only {run.own:.1f}); load "
        f"{run.load[0]:.1f} → {run.load[1]:.1f}"
        + (f" — cut short at its time budget, {run.items} items done" if _partial(run) else ""),
        flush=True,
    )


def _partial(run: Run) -> bool:
    return bool(run.extra.get("partial"))


def _flag(busiest: int | None, cap: float, allowance: float = 1.0) -> str:
    if busiest is None:
        return "-"
    return f"{busiest}" + ("!" if cap and busiest > cap * allowance else "")


def print_runs(runs: Sequence[Run], extra_column: tuple[str, str] | None = None) -> None:
    """The table of runs and the CPU table, in the order they ran."""
    width = max(len(r.side.label) for r in runs)
    head = f"{'rnd':>3s} {'cap':>6s} {'side':<{width}s}"
    extra_head = f" {extra_column[0]:>10s}" if extra_column else ""
    print(
        f"\n{head} {'items/s':>8s} {'limit':>6s} {'ratio':>6s} {'busiest 1 s own/sandbox':>24s}"
        f" {'unused s':>9s} {'gaps>50ms':>9s} {'load start→end':>15s}{extra_head}"
    )
    for r in runs:
        unused = "-" if r.unused is None else f"{r.unused:.2f}"
        gaps = "-" if r.gaps is None else str(r.gaps)
        busy = f"{_flag(r.busiest_own, r.cap)}/{_flag(r.busiest_sandbox, r.cap, 1.15)}"
        extra = f" {r.extra.get(extra_column[1], '-')!s:>10s}" if extra_column else ""
        print(
            f"{r.round:3d} {cap_text(r.cap):>6s} {r.side.label:<{width}s} "
            f"{r.rate:7.1f}{'~' if _partial(r) else ' '}"
            f"{r.limit:6g} {r.ratio:6.3f} {busy:>24s} {unused:>9s} {gaps:>9s} "
            f"{r.load[0]:7.1f} → {r.load[1]:<5.1f}{extra}"
        )
    print(
        "('!': above the cap — our records above T, the sandbox's above T + 15 % jitter; "
        "'-': no dispatch records, the peer has none; '~': a peer run cut short at its time "
        "budget, its figures over the items done by then)"
    )
    print(
        "\nCPU ms per item (MariaDB* and RabbitMQ* are shared processes: what they spent "
        "during the run, other sessions' work included; the sandbox is excluded from the total):"
    )
    print(
        f"{head} {'scheduler':>9s} {'communic.':>9s} {'MariaDB*':>9s} {'RabbitMQ*':>9s} "
        f"{'total':>7s} {'ours only':>9s} {'sandbox':>8s}"
    )
    for r in runs:
        sched = "-" if r.side.peer else f"{r.cpu_ms['scheduler']:.2f}"
        print(
            f"{r.round:3d} {cap_text(r.cap):>6s} {r.side.label:<{width}s} {sched:>9s} "
            f"{r.cpu_ms['communicators']:9.2f} {r.cpu_ms['mariadb']:9.2f} "
            f"{r.cpu_ms['rabbitmq']:9.2f} {r.total:7.2f} {r.own:9.2f} "
            f"{r.cpu_ms['sandbox']:8.2f}"
        )


def _spread(values: Sequence[float], digits: int = 1) -> str:
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def groups(runs: Sequence[Run]) -> dict[tuple[float, str], list[Run]]:
    found: dict[tuple[float, str], list[Run]] = {}
    for r in runs:
        found.setdefault((r.cap, r.side.label), []).append(r)
    return found


def print_summary(runs: Sequence[Run]) -> None:
    """Median (min–max) over the rounds of each cap and side."""
    print("\nOver the rounds, median (min–max):")
    width = max(len(r.side.label) for r in runs)
    print(
        f"{'cap':>6s} {'side':<{width}s} {'items/s':>20s} {'ratio':>20s} "
        f"{'CPU ms/item total':>20s} {'ours only':>20s}"
    )
    for (cap, label), rs in groups(runs).items():
        print(
            f"{cap_text(cap):>6s} {label:<{width}s} {_spread([r.rate for r in rs]):>20s} "
            f"{_spread([r.ratio for r in rs], 3):>20s} "
            f"{_spread([r.total for r in rs], 2):>20s} {_spread([r.own for r in rs], 2):>20s}"
        )


def print_ratios(runs: Sequence[Run]) -> None:
    """Each checkout ÷ each peer, and each other checkout ÷ the first, round by round."""
    rounds = sorted({r.round for r in runs})
    caps = list(dict.fromkeys(r.cap for r in runs))
    lines = []
    for cap in caps:
        for n in rounds:
            here = [r for r in runs if r.cap == cap and r.round == n]
            ours = [r for r in here if not r.side.peer]
            peers = [r for r in here if r.side.peer]
            lines += [
                f"{cap_text(cap):>6s} {n:3d}  {a.side.label} ÷ {b.side.label}: items/s "
                f"{a.rate / b.rate:.2f}×, CPU per item total {a.total / b.total:.2f}×, "
                f"ours only {a.own / b.own:.2f}×"
                for a in ours
                for b in [*peers, *ours[:1]]
                if a is not b
            ]
    if lines:
        print("\nRatios within a round (same cap, same load as near as interleaving gets):")
        print("\n".join(lines))


def print_goals(runs: Sequence[Run], cpu_goal: float, kind: str) -> None:
    """Issue 16's goals, per checkout (medians over the rounds)."""
    checkouts = list(dict.fromkeys(r.side.label for r in runs if not r.side.peer))
    print("\nIssue 16's goals (medians over the rounds):")
    for label in checkouts:
        mine = [r for r in runs if r.side.label == label]
        total = statistics.median(r.total for r in mine)
        verdict = "met" if total <= cpu_goal else f"missed by {total / cpu_goal:.1f}×"
        print(f"  {label}: CPU per {kind} {total:.2f} ms vs ≤ {cpu_goal:g} ms: {verdict}")
        for cap in dict.fromkeys(r.cap for r in mine):
            at = [r for r in mine if r.cap == cap]
            peers = [r for r in runs if r.side.peer and r.cap == cap]
            rate = statistics.median(r.rate for r in at)
            if cap:
                ratio = statistics.median(r.ratio for r in at)
                worst = max((r.busiest_own or 0) for r in at)
                text = (
                    f"    cap {cap:g}/s: ratio {ratio:.3f} vs ≥ 0.97; busiest second of our "
                    f"records {worst} ({'never above T' if worst <= cap else 'ABOVE T'})"
                )
                for peer in dict.fromkeys(r.side.label for r in peers):
                    theirs = statistics.median(r.ratio for r in peers if r.side.label == peer)
                    text += f"; {peer} {theirs:.3f}"
                print(text)
            else:
                text = f"    no cap: {rate:.1f} items/s"
                for peer in dict.fromkeys(r.side.label for r in peers):
                    theirs = statistics.median(r.rate for r in peers if r.side.label == peer)
                    text += f"; ÷ {peer} {rate / theirs:.2f}× (goal ≥ 1.5×)"
                print(text)


# ------------------------------------------------------------------ a pipeline benchmark's frame

PACED = ("fetch", "billpay", "enquiry")


def pipeline_options(parser: argparse.ArgumentParser) -> None:
    """The options every pipeline benchmark takes: the sandbox's latency, the communicators,
    the interleaved rounds and the other checkouts (``--tree``)."""
    parser.add_argument("--latency-ms", type=int, default=50, help="the sandbox's fixed latency")
    parser.add_argument("--communicators", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of every side")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="PATH",
        help="also run the pipeline of this checkout (its own .venv); repeatable",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="BBP_NAME=VALUE",
        help="a setting for every service of our pipeline (e.g. BBP_DISPATCH_LEAD=0.25); "
        "repeatable",
    )


def settings_from(args: argparse.Namespace) -> dict[str, str]:
    """The ``--set`` settings, as a service environment."""
    found = dict(item.split("=", 1) for item in args.set)
    bad = [name for name in found if not name.startswith("BBP_")]
    if bad:
        raise SystemExit(f"--set takes BBP_ settings only: {', '.join(bad)}")
    return found


def servers_with_vhosts() -> Any:
    """The local servers (``tests.conftest.Servers``), with ``rabbitmqctl``: every run has a
    vhost of its own."""
    from tests.conftest import Servers

    servers = Servers()
    servers.rabbitmqctl = servers.rabbitmqctl or shutil.which("rabbitmqctl") or ""
    if not servers.rabbitmqctl:
        raise SystemExit("needs rabbitmqctl (a vhost of the benchmark's own)")
    return servers


def print_start(
    what: str,
    caps: Sequence[float],
    args: argparse.Namespace,
    sides: Sequence[Side],
    more: str = "",
) -> float:
    """The run's first lines: ``what`` (the items, the latency, the in-flight window), the caps,
    rounds, communicators and ``more``, the checkouts and the machine; returns the load average
    now."""
    load = os.getloadavg()[0]
    print(
        f"{what}, caps {', '.join(f'{c:g}/s' if c else 'none' for c in caps)}, "
        f"{args.rounds} round(s), {args.communicators} communicators{more}\n"
        f"checkouts: {', '.join(f'{s.label} ({s.tree})' for s in sides)}\n"
        f"machine: {os.cpu_count()} cores, shared with other sessions' work; 1-minute load "
        f"average {load:.1f} at the start",
        flush=True,
    )
    return load


def print_end(what: str, load: float) -> None:
    """The line before the tables: ``what`` was run, and the load average at both ends."""
    print(
        f"\n{what}; 1-minute load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} shared cores"
    )


def paced_calls(sandbox: Any) -> list[float]:
    """When the sandbox received each paced call (fetch, billpay, enquiry)."""
    return [c["ts"] for c in sandbox.calls() if c["endpoint"] in PACED]
