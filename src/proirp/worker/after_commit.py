"""Jobs queued during a transaction are sent only after it commits, and dropped if it rolls back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from proirp.worker import jobs

_KEY = "proirp.jobs_after_commit"


def enqueue_after_commit(
    session: Session, name: str, *args: Any, delay: float | None = None
) -> None:
    """Enqueue the job `name` with `args` once `session` commits (to run `delay` seconds later,
    if given); drop it if it rolls back."""
    jobs.require_known(name)  # a wrong name fails here, in the request, not after the commit
    if not session.in_transaction():
        session.begin()  # tie the job to a transaction, so a rollback drops it
    session.info.setdefault(_KEY, []).append((name, args, delay))


@event.listens_for(Session, "after_commit")
def _send(session: Session) -> None:
    for name, args, delay in session.info.pop(_KEY, []):
        jobs.enqueue(name, *args, delay=delay)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction: SessionTransaction) -> None:
    # Any rollback of the outermost transaction drops the jobs, even one that touched no rows.
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)
