"""Sending one notice exactly once: claim its row, queue its email, link the two, in the
caller's transaction (so a failure leaves neither, and the next run tries again)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.orm import Session, sessionmaker

from proirp.comms.email.staff import send_staff_email
from proirp.comms.models import Purpose
from proirp.config import Settings
from proirp.kit.db import lock_shared_writes, transaction
from proirp.kit.time import utcnow
from proirp.notices.models import NoticeKind
from proirp.notices.repository import claim

log = structlog.get_logger(__name__)
T = TypeVar("T")

# The close of every notice: staff may forward it, so it says what it never holds.
FOOTER = "This email was sent automatically by Pro IRP. It holds no client information."


def send_notice(
    session: Session,
    kind: NoticeKind,
    key: str,
    *,
    to: str,
    subject: str,
    text: str,
    user_id: str,
    **audit_details: object,
) -> bool:
    """Queue the email of the notice (`kind`, `key`) to `to` unless it was sent before; whether
    it was queued now. Audited (EMAIL_QUEUED, or EMAIL_BLOCKED for a suppressed address) with
    `kind` and `audit_details`."""
    lock_shared_writes(session)  # before the notice's row: the order every writer keeps
    notice = claim(session, kind, key, now=utcnow())
    if notice is None:
        return False
    comm = send_staff_email(
        session,
        to=to,
        subject=subject,
        text=f"{text}\n\n{FOOTER}\n",
        purpose=Purpose.STAFF_NOTICE,
        user_id=user_id,
        kind=kind.value,
        notice_id=notice.id,
        **audit_details,
    )
    notice.communication_id = comm.id
    return True


def local_time(moment: datetime, settings: Settings) -> str:
    """`moment` as staff read it: in the practice's zone (UTC if it has none), named."""
    zone = ZoneInfo(settings.practice_timezone or "UTC")
    local = moment.astimezone(zone)
    return f"{local.day} {local:%B %Y, %H:%M} {local.tzname()}"


def send_each(
    factory: sessionmaker[Session],
    kind: NoticeKind,
    subjects: Iterable[T],
    send: Callable[[Session, T], bool],
) -> int:
    """`send(session, subject)` for each subject, each in a transaction of its own, so one that
    fails (logged by its error's type) neither undoes nor holds up the others; how many sent."""
    sent = 0
    for subject in subjects:
        try:
            with transaction(factory) as session:
                sent += send(session, subject)
        except Exception as exc:  # the next run tries this one again
            log.error("notice.failed", kind=kind.value, error=type(exc).__name__)
    if sent:
        log.info("notices.sent", kind=kind.value, count=sent)
    return sent
