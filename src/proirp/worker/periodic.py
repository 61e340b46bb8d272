"""Periodic jobs. Each domain adds its own with @periodic_job; the consumer runs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from huey import crontab

from proirp.audit.verify import verify_chain
from proirp.kit.db import transaction
from proirp.worker.queue import huey

log = structlog.get_logger(__name__)

PERIODIC_JOBS: dict[str, Callable[..., Any]] = {}


def periodic_job(
    schedule: Callable[..., bool], *, name: str
) -> Callable[[Callable[[], None]], Any]:
    """Register `fn` to run on `schedule` (a huey.crontab) in the worker, one at a time."""

    def register(fn: Callable[[], None]) -> Any:
        locked = huey.lock_task(f"periodic:{name}")(fn)
        task = huey.periodic_task(schedule, name=name)(locked)
        PERIODIC_JOBS[name] = task
        return task

    return register


@periodic_job(crontab(minute="17", hour="3"), name="audit.verify_chain")
def verify_audit_chain_nightly() -> None:
    """A broken chain is an incident: log it loudly so monitoring can page someone."""
    from proirp import runtime

    with transaction(runtime.current().session_factory) as session:
        report = verify_chain(session)
    if report.ok:
        log.info("audit.chain_intact", rows_checked=report.rows_checked)
    else:
        log.error("audit.chain_broken", first_bad_id=report.first_bad_id, problem=report.problem)
