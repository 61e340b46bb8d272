"""CPU used by the processes of a benchmark's stack, read from /proc: what a message or a request
costs each of them, and so how many a second this machine's cores could carry at most."""

from __future__ import annotations

import os
from pathlib import Path

from tests.live import LiveStack

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, ended_children: bool = False) -> float:
    """User + system CPU of `pid` so far (and of its children that have ended, if asked)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])
    if ended_children:
        used += int(fields[13]) + int(fields[14])
    return used / TICKS


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def postgres_cpu_seconds() -> float:
    """Every PostgreSQL process on the machine: the server's backends, and through the
    postmaster those that have ended (so run the benchmark on an otherwise idle server)."""
    total = 0.0
    for pid in _postgres_pids():
        try:
            total += cpu_seconds(pid, ended_children=True)
        except OSError:  # a backend that ended meanwhile
            continue
    return total


def stack_cpu(live: LiveStack, names: tuple[str, ...], *, postgres: bool) -> dict[str, float]:
    """CPU seconds so far of the stack's processes `names` (and PostgreSQL's, if asked)."""
    used = {}
    for name in names:
        popen = live.processes[name].popen
        assert popen is not None
        used[name] = cpu_seconds(popen.pid)
    if postgres:
        used["postgres"] = postgres_cpu_seconds()
    return used


def cores() -> int:
    return os.cpu_count() or 1
