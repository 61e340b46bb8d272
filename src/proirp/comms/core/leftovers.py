"""What the sweeper finds (comms/tasks.py): rows a lost job or a stopped worker left behind,
campaigns whose fan-out stopped, SMS whose final status never came; and email taken back when
its worker stopped before calling SendGrid."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from proirp.comms.models import Campaign, CampaignStatus, Communication, CommunicationStatus

S = CommunicationStatus


def overdue_queued(
    session: Session, *, due_before: datetime, limit: int, after: str | None = None
) -> Sequence[str]:
    """Queued rows whose job should have run by now (a lost job, or a crash before enqueue), in
    order of id: `after` the last id of the batch before."""
    stmt = (
        select(Communication.id)
        .where(
            Communication.status == S.QUEUED,
            Communication.updated_at < due_before,
            or_(
                Communication.next_attempt_at.is_(None),
                Communication.next_attempt_at < due_before,
            ),
        )
        .order_by(Communication.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(Communication.id > after)
    return session.scalars(stmt).all()


def awaiting_final_status(
    session: Session,
    *,
    now: datetime,
    quiet_since: datetime,
    sent_since: datetime,
    lease_until: datetime,
    limit: int,
) -> Sequence[str]:
    """SMS still `sent` with no word since `quiet_since` (their delivery callback may have been
    lost), sent after `sent_since`, whose next status check (`next_attempt_at`) is due, the
    longest waiting first. Each is leased until `lease_until` (its next check moved there), so a
    sweep before its job has asked Twilio does not queue it again. The caller holds the audit
    chain's lock (taken before message rows)."""
    due = (
        select(Communication.id)
        .where(
            Communication.status == S.SENT,
            Communication.channel == "sms",
            Communication.provider_message_id.is_not(None),
            Communication.sent_at >= sent_since,
            or_(
                (Communication.next_attempt_at.is_(None))
                & (Communication.updated_at < quiet_since),
                Communication.next_attempt_at <= now,
            ),
        )
        .order_by(func.coalesce(Communication.next_attempt_at, Communication.updated_at))
        .limit(limit)
        .with_for_update()
    )
    ids = session.scalars(due).all()
    if ids:
        session.execute(
            update(Communication)
            .where(Communication.id.in_(ids))
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        )
    return ids


def stale_sending(
    session: Session, *, claimed_before: datetime, limit: int, after: str | None = None
) -> Sequence[str]:
    """Rows claimed long ago and never finished: a crashed worker or an unanswered request; in
    order of id, `after` the last id of the batch before."""
    stmt = (
        select(Communication.id)
        .where(Communication.status == S.SENDING, Communication.claimed_at < claimed_before)
        .order_by(Communication.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(Communication.id > after)
    return session.scalars(stmt).all()


def unfinished_campaigns(session: Session, *, idle_since: datetime, limit: int) -> Sequence[str]:
    """Campaigns whose fan-out stopped part-way (a crash), or never began once due (a lost job),
    and have not moved since `idle_since`; never a cancelled one, nor one scheduled for later."""
    stmt = (
        select(Campaign.id)
        .where(
            Campaign.fanned_out_at.is_(None),
            Campaign.updated_at < idle_since,
            Campaign.status != CampaignStatus.CANCELLED,
            or_(Campaign.send_at.is_(None), Campaign.send_at < idle_since),
        )
        .limit(limit)
    )
    return session.scalars(stmt).all()


def release_unstarted_email(
    session: Session, comm_ids: Sequence[str], *, claimed_before: datetime, now: datetime
) -> dict[str, str | None]:
    """Email among `comm_ids` claimed before `claimed_before` and still `sending` whose call
    never began (its worker stopped first): back to `queued`, the attempt given back; id →
    campaign id. One conditional UPDATE: of this and a worker starting the call, only one wins."""
    if not comm_ids:
        return {}
    stmt = (
        update(Communication)
        .where(
            Communication.id.in_(list(comm_ids)),
            Communication.channel == "email",
            Communication.status == S.SENDING,
            Communication.call_started_at.is_(None),
            Communication.claimed_at < claimed_before,
        )
        .values(
            status=S.QUEUED,
            claimed_at=None,
            updated_at=now,
            attempts=case((Communication.attempts > 0, Communication.attempts - 1), else_=0),
        )
        .returning(Communication.id, Communication.campaign_id)
        .execution_options(synchronize_session=False)
    )
    return {row.id: row.campaign_id for row in session.execute(stmt)}
