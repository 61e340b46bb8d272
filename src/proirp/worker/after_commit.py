"""Jobs queued during a transaction are sent only after it commits, and dropped if it rolls back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "proirp.jobs_after_commit"


def enqueue_after_commit(session: Session, task: Any, *args: Any, **kwargs: Any) -> None:
    """Call `task(*args, **kwargs)` (a Huey task, which enqueues it) once `session` commits."""
    session.info.setdefault(_KEY, []).append((task, args, kwargs))


@event.listens_for(Session, "after_commit")
def _send(session: Session) -> None:
    for task, args, kwargs in session.info.pop(_KEY, []):
        task(*args, **kwargs)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
