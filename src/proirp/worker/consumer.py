"""Queue consumers: `proirp worker`, and the one running in threads inside `proirp serve`."""

from __future__ import annotations

from typing import Any

import structlog

from proirp.worker.queue import huey

log = structlog.get_logger(__name__)

# An idle worker polls the queue with a growing pause; Huey's default grows it to 10 s, which
# leaves a campaign waiting for sleeping workers. One second keeps polling cheap and starts fast.
POLL_OPTIONS = {"initial_delay": 0.05, "backoff": 1.15, "max_delay": 1.0}


def build_consumer(workers: int) -> Any:
    return huey.create_consumer(
        workers=workers, worker_type="thread", periodic=True, **POLL_OPTIONS
    )


def start_embedded_consumer(workers: int = 2) -> Any:
    """Start consumer threads in this process (no signal handlers, does not block)."""
    from proirp.comms.tasks import sweep

    sweep()  # pick up what a crashed process left behind before taking new work
    consumer = build_consumer(workers)
    consumer.start()
    log.info("worker.embedded_started", workers=workers)
    return consumer
