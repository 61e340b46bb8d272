"""Background work shared by every imitated vendor: jobs run after a delay on a few threads
(status changes, callbacks, event batches), and what a webhook answered when the sandbox called it.

Vendors differ in what they POST and how they sign it; they agree on when it runs and on what
counts as delivered, so those two live here.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

Job = Callable[[], None]


@dataclass(frozen=True)
class WebhookResult:
    """What the receiving end answered; `status` is None when it could not be reached."""

    status: int | None
    text: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx answer, the only kind Twilio and SendGrid count as delivered."""
        return self.status is not None and 200 <= self.status < 300


class Dispatcher:
    """Runs jobs after a delay on a few daemon worker threads.

    One timer thread keeps a heap of due times; workers run what is due, so a slow webhook
    delays only its own message. Threads start on first use and are daemons, so a forgotten
    close() never keeps a process alive.
    """

    def __init__(self, *, workers: int = 8, name: str = "sandbox") -> None:
        self._workers = workers
        self._name = name
        self._heap: list[tuple[float, int, Job]] = []
        self._sequence = itertools.count()
        self._ready: queue.Queue[Job | None] = queue.Queue()
        self._condition = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def call_later(self, delay_seconds: float, job: Job) -> None:
        """Run `job` on a worker thread after `delay_seconds`."""
        with self._condition:
            if self._closed:
                return
            self._start_locked()
            due = time.monotonic() + max(0.0, delay_seconds)
            heapq.heappush(self._heap, (due, next(self._sequence), job))
            self._condition.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the threads; jobs not yet due are dropped."""
        with self._condition:
            if self._closed:
                return
            self._closed = True
            self._heap.clear()
            self._condition.notify_all()
        for _ in range(self._workers):
            self._ready.put(None)
        # One deadline for all threads: a worker stuck in a slow webhook must not multiply it.
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start_locked(self) -> None:
        if self._threads:
            return
        timer = threading.Thread(target=self._run_timer, name=f"{self._name}-timer", daemon=True)
        self._threads.append(timer)
        for index in range(self._workers):
            worker = threading.Thread(
                target=self._run_worker, name=f"{self._name}-worker-{index}", daemon=True
            )
            self._threads.append(worker)
        for thread in self._threads:
            thread.start()

    def _run_timer(self) -> None:
        with self._condition:
            while not self._closed:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, job = heapq.heappop(self._heap)
                    self._ready.put(job)
                wait = self._heap[0][0] - now if self._heap else None
                self._condition.wait(wait)

    def _run_worker(self) -> None:
        while True:
            job = self._ready.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                # A broken job must not take the worker (or the server) down with it.
                log.exception("sandbox.job_failed", dispatcher=self._name)
