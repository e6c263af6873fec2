"""CPU time of the pipeline's processes, read from Linux's /proc (benchmarks only).

CPU seconds per item do not depend on what else the machine is doing, unlike rates: they
are how the benchmarks compare runs on a shared machine.
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def with_children(pid: int) -> list[int]:
    """The process and its descendants (the sandbox serves from a child process)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def pids_of(name: str) -> list[int]:
    """Processes whose command line starts with ``name`` (MariaDB, RabbitMQ's VM)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            if command.endswith(name):
                found.append(int(entry.name))
    return found


class Probe:
    """CPU seconds of named groups of processes, read at the start and at the end of a run.

    ``groups`` maps a component's name to its process ids. A process that ends before the
    second reading loses the CPU it spent (benchmarks read before stopping anything).
    """

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.started = self.read()

    def read(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}

    def spent(self) -> dict[str, float]:
        """CPU seconds of each group since the probe was made."""
        now = self.read()
        return {name: now[name] - self.started[name] for name in self.groups}


def shared_servers() -> dict[str, list[int]]:
    """MariaDB and RabbitMQ: shared by everything on the machine (other engineers' tests
    too), so their CPU over a run is an upper bound of what the run cost them."""
    return {
        "mariadb": pids_of("mariadbd") + pids_of("mysqld"),
        "rabbitmq": pids_of("beam.smp"),
    }


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]
