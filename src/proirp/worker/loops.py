"""Loops: work a worker does continuously beside its queue, each in a thread of its own.

A domain registers `fn(ctx) -> int` (how much it found to do) under a name; every queue consumer
(`proirp worker`, and the one inside `proirp serve`) runs each registered loop: again at once
while it finds work, with a pause growing from MIN_PAUSE to MAX_PAUSE while it finds none. A
loop is for work that must start within a second whatever the queue holds (a job would wait
behind every job queued before it, thousands during a campaign). Loops in several processes run
at the same time: each must be safe beside the others (a database lock, rows taken once).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from proirp.worker.jobs import JobContext, installed_context

log = structlog.get_logger(__name__)

MIN_PAUSE = 0.05
MAX_PAUSE = 0.5
GROWTH = 1.5
PAUSE_AFTER_ERROR = 1.0

LoopFn = Callable[[JobContext], int]
_loops: dict[str, LoopFn] = {}


def loop(name: str) -> Callable[[LoopFn], LoopFn]:
    """Register `fn(ctx) -> int` as the loop `name`; `fn` is returned unchanged."""

    def register(fn: LoopFn) -> LoopFn:
        if name in _loops:
            raise ValueError(f"a loop is already registered as {name!r}")
        _loops[name] = fn
        return fn

    return register


@dataclass
class Loops:
    """The running loops' threads; `stop()` ends them after their current round."""

    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout)


def start_loops() -> Loops:
    """Start every registered loop in a daemon thread of this process."""
    loops = Loops()
    ctx = installed_context()
    for name, fn in sorted(_loops.items()):
        thread = threading.Thread(
            target=_run, args=(name, fn, ctx, loops.stopping), name=f"loop:{name}", daemon=True
        )
        thread.start()
        loops.threads.append(thread)
    return loops


def _run(name: str, fn: LoopFn, ctx: JobContext, stopping: threading.Event) -> None:
    pause = MIN_PAUSE
    while not stopping.is_set():
        try:
            found = fn(ctx)
        except Exception as exc:  # the loop goes on; the type only, never the text
            log.error("loop.failed", loop=name, error_type=type(exc).__name__)
            stopping.wait(PAUSE_AFTER_ERROR)
            continue
        pause = MIN_PAUSE if found else min(pause * GROWTH, MAX_PAUSE)
        if not found:
            stopping.wait(pause)
