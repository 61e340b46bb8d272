"""Queries for communications, their events and campaigns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from proirp.comms.models import Campaign, Communication, CommunicationEvent, CommunicationStatus
from proirp.kit.pagination import Cursor

S = CommunicationStatus
# Every provider a message can go through: naming them lets a look-up by the provider's id use
# the (provider, provider_message_id) index.
PROVIDERS = ("twilio", "sendgrid")


def get(session: Session, comm_id: str) -> Communication | None:
    return session.get(Communication, comm_id)


def by_provider_id(session: Session, provider: str, message_id: str) -> Communication | None:
    stmt = select(Communication).where(
        Communication.provider == provider, Communication.provider_message_id == message_id
    )
    return session.scalar(stmt)


def provider_ids_in_use(session: Session, provider: str, ids: Iterable[str]) -> set[str]:
    wanted = set(ids)
    if not wanted:
        return set()
    stmt = select(Communication.provider_message_id).where(
        Communication.provider == provider, Communication.provider_message_id.in_(wanted)
    )
    return {value for value in session.scalars(stmt) if value}


def events(session: Session, comm_id: str) -> Sequence[CommunicationEvent]:
    stmt = (
        select(CommunicationEvent)
        .where(CommunicationEvent.communication_id == comm_id)
        .order_by(CommunicationEvent.created_at, CommunicationEvent.id)
    )
    return session.scalars(stmt).all()


def list_communications(
    session: Session,
    *,
    client_id: str | None,
    campaign_id: str | None,
    status: str | None,
    limit: int,
    cursor: Cursor | None,
    provider_message_id: str | None = None,
) -> Sequence[Communication]:
    stmt = select(Communication)
    if provider_message_id:
        stmt = stmt.where(
            Communication.provider.in_(PROVIDERS),
            Communication.provider_message_id == provider_message_id,
        )
    if client_id:
        stmt = stmt.where(Communication.client_id == client_id)
    if campaign_id:
        stmt = stmt.where(Communication.campaign_id == campaign_id)
    if status:
        stmt = stmt.where(Communication.status == status)
    if cursor is not None:
        stmt = stmt.where(
            or_(
                Communication.created_at < cursor.created_at,
                and_(Communication.created_at == cursor.created_at, Communication.id < cursor.id),
            )
        )
    stmt = stmt.order_by(Communication.created_at.desc(), Communication.id.desc())
    return session.scalars(stmt.limit(limit + 1)).all()


def overdue_queued(session: Session, *, due_before: datetime, limit: int) -> Sequence[str]:
    """Queued rows whose job should have run by now (a lost job, or a crash before enqueue)."""
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
        .limit(limit)
    )
    return session.scalars(stmt).all()


def stale_sending(session: Session, *, claimed_before: datetime, limit: int) -> Sequence[str]:
    """Rows claimed long ago and never finished: a crashed worker or an unanswered request."""
    stmt = (
        select(Communication.id)
        .where(Communication.status == S.SENDING, Communication.claimed_at < claimed_before)
        .limit(limit)
    )
    return session.scalars(stmt).all()


def queued_sms_to(session: Session, address: str) -> Sequence[Communication]:
    stmt = select(Communication).where(
        Communication.channel == "sms",
        Communication.to_address == address,
        Communication.status == S.QUEUED,
    )
    return session.scalars(stmt).all()


def unfinished_campaigns(session: Session, *, idle_since: datetime, limit: int) -> Sequence[str]:
    """Campaigns whose fan-out stopped part-way (a crash) and has not moved since `idle_since`."""
    stmt = (
        select(Campaign.id)
        .where(Campaign.fanned_out_at.is_(None), Campaign.updated_at < idle_since)
        .limit(limit)
    )
    return session.scalars(stmt).all()


def get_campaign(session: Session, campaign_id: str) -> Campaign | None:
    return session.get(Campaign, campaign_id)


def campaign_counts(session: Session, campaign_id: str) -> dict[str, int]:
    stmt = (
        select(Communication.status, func.count())
        .where(Communication.campaign_id == campaign_id)
        .group_by(Communication.status)
    )
    return {status: count for status, count in session.execute(stmt).all()}


def campaign_client_ids_done(session: Session, campaign_id: str) -> set[str]:
    stmt = select(Communication.client_id).where(Communication.campaign_id == campaign_id)
    return {value for value in session.scalars(stmt) if value}


def claim_many(session: Session, comm_ids: Sequence[str], *, now: datetime) -> list[str]:
    """Move each due `queued` row among `comm_ids` to `sending`; the ids this worker won."""
    if not comm_ids:
        return []
    stmt = (
        update(Communication)
        .where(
            Communication.id.in_(list(comm_ids)),
            Communication.status == S.QUEUED,
            or_(Communication.next_attempt_at.is_(None), Communication.next_attempt_at <= now),
        )
        .values(
            status=S.SENDING,
            claimed_at=now,
            updated_at=now,
            attempts=Communication.attempts + 1,
        )
        .returning(Communication.id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(stmt))


def get_many(session: Session, comm_ids: Sequence[str]) -> list[Communication]:
    """The rows, in the order of `comm_ids`."""
    rows = {
        c.id: c
        for c in session.scalars(select(Communication).where(Communication.id.in_(comm_ids)))
    }
    return [rows[i] for i in comm_ids if i in rows]


def channels_of(session: Session, comm_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """id → (channel, campaign id), for the sweeper to route each row to its job."""
    if not comm_ids:
        return {}
    stmt = select(Communication.id, Communication.channel, Communication.campaign_id).where(
        Communication.id.in_(list(comm_ids))
    )
    return {row.id: (row.channel, row.campaign_id) for row in session.execute(stmt)}


def queued_email_to(session: Session, key: str) -> Sequence[Communication]:
    """Queued email to an address (compared without case), to block after a suppression."""
    stmt = select(Communication).where(
        Communication.channel == "email",
        func.lower(Communication.to_address) == key,
        Communication.status == S.QUEUED,
    )
    return session.scalars(stmt).all()
