"""A send made once, however often it is asked for.

`POST /comms` and `POST /comms/bulk` take an `Idempotency-Key` header, and the staff UI's
composer and new-campaign form carry a hidden key of their own: a request asked again with a key
its sender used before (a retry after a lost answer, a double click) is given the first answer
again, and nothing more is sent. The key is held, in the request's own transaction, before
anything is written: a second request with it waits for the first to commit (PostgreSQL's unique
key; SQLite's single writer), then finds its answer. A first request that was refused wrote
nothing, so its key is free again. Keys are the sender's own (another user's same key is another
request), and are forgotten after a day.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import Header
from huey import crontab
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from proirp.comms.models import RequestKey
from proirp.kit.db import transaction
from proirp.kit.errors import Conflict, ValidationFailed
from proirp.kit.time import utcnow
from proirp.worker.jobs import JobContext, periodic_job

log = structlog.get_logger(__name__)
HEADER = "Idempotency-Key"
KEPT_FOR = timedelta(days=1)
KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        pattern=KEY_PATTERN,
        description=(
            "A key of the caller's own for this send (1 to 100 letters, digits, `_.:-`; a UUID "
            "is a good one). Asked again with the same key within a day, the first answer is "
            "given again and nothing more is sent; a different request with a key used before "
            "is refused (422)."
        ),
    ),
]


@dataclass(frozen=True)
class Answer:
    """The first answer given to a key: its status and JSON body."""

    status_code: int
    body: dict[str, Any]


def fingerprint(route: str, body: Any) -> str:
    """Which request a key was first used for: its route and a digest of its body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return f"{route} {hashlib.sha256(canonical.encode()).hexdigest()}"


def hold(session: Session, user_id: str, key: str, request: str) -> Answer | None:
    """Hold `key` for this request (None: go on, and `keep` its answer), or the answer the
    request it was first used for was given. The same key for a different request is a 422."""
    try:
        with session.begin_nested():
            row = RequestKey(user_id=user_id, key=key, fingerprint=request, created_at=utcnow())
            session.add(row)
    except IntegrityError:  # used before (a request with it may just have committed)
        pass
    else:
        return None
    earlier = session.get(RequestKey, (user_id, key), populate_existing=True)
    if earlier is None:  # the first request with it rolled back meanwhile: try again
        return hold(session, user_id, key, request)
    if earlier.fingerprint != request:
        raise ValidationFailed(
            f"invalid request: {HEADER}: was used for a different request",
            fields={HEADER: "was used for a different request"},
        )
    if earlier.status_code is None or earlier.answer is None:
        raise Conflict(
            "A request with this Idempotency-Key is still being answered.", code="key_in_use"
        )
    log.info("comms.request_repeated", status_code=earlier.status_code)
    return Answer(earlier.status_code, json.loads(earlier.answer))


def keep(session: Session, user_id: str, key: str, answer: Answer) -> None:
    """Keep the answer given to the request that holds `key`, to give again."""
    row = session.get(RequestKey, (user_id, key))
    assert row is not None, "hold() the key first"
    row.status_code = answer.status_code
    row.answer = json.dumps(answer.body, default=str)


@periodic_job(crontab(minute="23"), name="comms.forget_request_keys")
def forget_request_keys(ctx: JobContext) -> int:
    """Keys older than a day are forgotten (a retry comes within minutes)."""
    with transaction(ctx.session_factory) as session:
        cutoff = utcnow() - KEPT_FOR
        result = session.execute(delete(RequestKey).where(RequestKey.created_at < cutoff))
        forgotten = int(getattr(result, "rowcount", 0) or 0)
    log.info("comms.request_keys_forgotten", rows=forgotten)
    return forgotten
