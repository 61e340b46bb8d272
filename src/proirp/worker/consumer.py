"""Queue consumers: `proirp worker`, and the one running in threads inside `proirp serve`."""

from __future__ import annotations

import logging
import signal
from typing import Any

import structlog
from huey.api import PeriodicTask

from proirp.worker.jobs import run_job
from proirp.worker.loops import Loops, start_loops
from proirp.worker.queue import huey

log = structlog.get_logger(__name__)

# An idle worker polls the queue with a growing pause; Huey's default grows it to 10 s, which
# leaves a campaign waiting for sleeping workers. One second keeps polling cheap and starts fast.
_SERVER_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_OPTIONS = {"initial_delay": 0.05, "backoff": 1.15, "max_delay": 1.0}


class QuietHousekeeping(logging.Filter):
    """Huey's lines about periodic jobs (queued, started, finished: the sweeper's every minute)
    and its list of every job at start are DEBUG, not INFO; its lines about real work (a message
    sent, a calendar synced) stay INFO, and periodic jobs log what they found to do themselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        housekeeping = any(isinstance(arg, PeriodicTask) for arg in args) or str(
            record.msg
        ).startswith("The following commands are available")
        if record.levelno != logging.INFO or not housekeeping:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_housekeeping() -> None:
    """Install QuietHousekeeping on the loggers Huey writes those lines with."""
    for name in ("huey", "huey.consumer", "huey.consumer.Scheduler"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietHousekeeping) for f in logger.filters):
            logger.addFilter(QuietHousekeeping())


def build_consumer(workers: int) -> Any:
    quiet_housekeeping()
    return huey.create_consumer(
        workers=workers, worker_type="thread", periodic=True, **POLL_OPTIONS
    )


def run_consumer(workers: int) -> None:
    """`proirp worker`: the queue's consumer and the loops (worker/loops.py), until a signal."""
    loops = start_loops()
    try:
        build_consumer(workers).run()
    finally:
        loops.stop()


class EmbeddedConsumer:
    """The queue's consumer threads and the loops inside `proirp serve`."""

    def __init__(self, consumer: Any, loops: Loops) -> None:
        self.consumer = consumer
        self.loops = loops

    def stop(self, graceful: bool = True) -> None:
        self.loops.stop()
        self.consumer.stop(graceful=graceful)


def start_embedded_consumer(workers: int = 2) -> EmbeddedConsumer:
    """Start consumer threads in this process; the web server keeps its own signal handling."""
    run_job("comms.sweep")  # pick up what a crashed process left behind before taking new work
    consumer = build_consumer(workers)
    # Huey's start() takes over SIGTERM/SIGINT/SIGHUP, which would leave uvicorn deaf to them.
    saved = {signum: signal.getsignal(signum) for signum in _SERVER_SIGNALS}
    consumer.start()
    for signum, handler in saved.items():
        signal.signal(signum, handler)
    loops = start_loops()
    log.info("worker.embedded_started", workers=workers)
    return EmbeddedConsumer(consumer, loops)
