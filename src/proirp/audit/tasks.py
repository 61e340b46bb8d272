"""The nightly audit chain check, in the worker."""

from __future__ import annotations

import structlog
from huey import crontab

from proirp.audit.verify import verify_chain
from proirp.kit.db import transaction
from proirp.worker.jobs import JobContext, periodic_job

log = structlog.get_logger(__name__)


@periodic_job(crontab(minute="17", hour="3"), name="audit.verify_chain")
def verify_audit_chain_nightly(ctx: JobContext) -> None:
    """A broken chain is an incident: log it loudly so monitoring can page someone."""
    with transaction(ctx.session_factory) as session:
        report = verify_chain(session)
    if report.ok:
        log.info("audit.chain_intact", rows_checked=report.rows_checked)
    else:
        log.error("audit.chain_broken", first_bad_id=report.first_bad_id, problem=report.problem)
