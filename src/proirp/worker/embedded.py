"""A Huey consumer running in threads inside `proirp serve`, so `make run` is one process."""

from __future__ import annotations

from typing import Any

import structlog

from proirp.worker.queue import huey

log = structlog.get_logger(__name__)


def start_embedded_consumer(workers: int = 2) -> Any:
    from proirp.comms.tasks import sweep

    sweep()  # pick up what a crashed process left behind before taking new work
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True)
    consumer.start()  # start(), unlike run(), installs no signal handlers and does not block
    log.info("worker.embedded_started", workers=workers)
    return consumer
