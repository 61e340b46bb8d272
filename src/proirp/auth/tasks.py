"""Forgetting login counts whose window has ended, in the worker."""

from __future__ import annotations

import structlog
from huey import crontab

from proirp.auth import mfa_repository, repository
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from proirp.worker.jobs import JobContext, periodic_job

log = structlog.get_logger(__name__)


@periodic_job(crontab(minute="41"), name="auth.forget_login_counts")
def forget_ended_login_counts(ctx: JobContext) -> None:
    """An ended window counts nothing; its row only takes room (guesses at many addresses or
    accounts leave many)."""
    with transaction(ctx.session_factory) as session:
        forgotten = repository.forget_ended_counts(session, now=utcnow())
        # Sign-ins that waited for a code and were never finished.
        challenges = mfa_repository.forget_ended_challenges(session, now=utcnow())
    log.info("auth.login_counts_forgotten", rows=forgotten, challenges=challenges)
