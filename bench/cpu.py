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


def _postgres_pids(postmaster: int | None = None) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() not in {"postgres", "postmaster"}:
                    continue
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if postmaster is None or int(entry.name) == postmaster or parent == postmaster:
                pids.append(int(entry.name))
    return pids


def postgres_cpu_seconds(*, postmaster: int | None = None) -> float:
    """Every PostgreSQL process on the machine, or only the server whose postmaster is
    `postmaster`: the server's backends, and through the postmaster those that have ended (so,
    without `postmaster`, run the benchmark on an otherwise idle machine)."""
    total = 0.0
    for pid in _postgres_pids(postmaster):
        try:
            total += cpu_seconds(pid, ended_children=pid == postmaster or postmaster is None)
        except OSError:  # a backend that ended meanwhile
            continue
    return total


def stack_cpu(
    live: LiveStack, names: tuple[str, ...], *, postgres: bool, postmaster: int | None = None
) -> dict[str, float]:
    """CPU seconds so far of the stack's processes `names` (and PostgreSQL's, if asked: only
    the server whose postmaster is `postmaster`, if given)."""
    used = {}
    for name in names:
        popen = live.processes[name].popen
        assert popen is not None
        used[name] = cpu_seconds(popen.pid)
    if postgres:
        used["postgres"] = postgres_cpu_seconds(postmaster=postmaster)
    return used


def cores() -> int:
    return os.cpu_count() or 1
