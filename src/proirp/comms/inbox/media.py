"""An inbound MMS's media: fetched from Twilio by the worker through the Twilio SDK (never by
the browser), kept encrypted, and served to staff from here.

The provider call happens outside any transaction: the rows to fetch are read, the calls made,
and what came back is written in a second short transaction. A temporary failure is tried again
later (up to MAX_ATTEMPTS); a permanent one is recorded in plain words.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.comms.inbox.models import MessageMedia
from proirp.integrations.base import ProviderPermanentError, ProviderTemporaryError
from proirp.integrations.messaging import SmsSender
from proirp.kit.db import transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 30.0
# Longer than the longest wait between two tries (30 s doubling, five times: 16 minutes).
STALLED_AFTER = timedelta(minutes=20)


@dataclass(frozen=True)
class FetchOutcome:
    fetched: int = 0
    failed: int = 0
    retry_in: float | None = None  # seconds, when some should be tried again


def fetch_media(
    factory: sessionmaker[Session], sender: SmsSender, communication_id: str
) -> FetchOutcome:
    """Fetch and store every media file of one message not yet fetched."""
    with transaction(factory) as session:
        wanted = [
            (media.id, media.url, media.attempts)
            for media in session.scalars(
                select(MessageMedia).where(
                    MessageMedia.communication_id == communication_id,
                    MessageMedia.fetched_at.is_(None),
                    MessageMedia.failed_reason.is_(None),
                )
            )
        ]
    fetched = failed = 0
    retry_in: float | None = None
    for media_id, url, attempts in wanted:
        outcome: tuple[str, bytes] | str | float
        try:
            got = sender.fetch_media(url)
            outcome = (got.content_type, got.content)
        except ProviderPermanentError as exc:
            outcome = exc.reason[:300]
        except ProviderTemporaryError as exc:
            if attempts + 1 >= MAX_ATTEMPTS:
                outcome = f"Twilio kept failing ({exc.reason})"[:300]
            else:
                outcome = max(exc.retry_after or 0.0, FIRST_RETRY_SECONDS * 2**attempts)
        with transaction(factory) as session:
            media = session.get(MessageMedia, media_id)
            if media is None or media.fetched_at is not None:
                continue
            media.attempts += 1
            if isinstance(outcome, tuple):
                media.content_type = outcome[0][:100] or media.content_type
                media.size = len(outcome[1])
                media.content = base64.b64encode(outcome[1]).decode()
                media.fetched_at = utcnow()
                fetched += 1
            elif isinstance(outcome, str):
                media.failed_reason = outcome
                failed += 1
                log.warning("inbox.media_failed", media_id=media_id)
            else:
                retry_in = outcome if retry_in is None else min(retry_in, outcome)
    return FetchOutcome(fetched, failed, retry_in)


def stalled(session: Session, *, now: datetime, limit: int = 100) -> list[str]:
    """Messages whose media is neither fetched nor failed long after it should have been (a
    lost job, a worker that died mid-fetch): their fetch job is queued again."""
    stmt = (
        select(MessageMedia.communication_id)
        .where(
            MessageMedia.fetched_at.is_(None),
            MessageMedia.failed_reason.is_(None),
            MessageMedia.updated_at < now - STALLED_AFTER,
        )
        .distinct()
        .limit(limit)
    )
    return list(session.scalars(stmt))


def content_of(media: MessageMedia) -> bytes:
    return base64.b64decode(media.content or "")
