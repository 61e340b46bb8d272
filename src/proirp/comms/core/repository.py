"""Queries for communications, their events and campaigns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.orm import Session, defer
from sqlalchemy.sql.elements import ColumnElement

from proirp.clients.identity import address_hash, search_key
from proirp.comms.models import (
    Campaign,
    CampaignStatus,
    Communication,
    CommunicationEvent,
    CommunicationStatus,
    Direction,
    address_hashes,
)
from proirp.kit.db import insert_rows
from proirp.kit.pagination import Cursor

S = CommunicationStatus
# A campaign whose fan-out has not begun: it may still be cancelled.
CAMPAIGN_NOT_STARTED = (CampaignStatus.SCHEDULED, CampaignStatus.QUEUED)
# Every provider a message can go through: naming them lets a look-up by the provider's id use
# the (provider, provider_message_id) index.
PROVIDERS = ("twilio", "sendgrid")


def get(session: Session, comm_id: str) -> Communication | None:
    return session.get(Communication, comm_id)


def newest_inbound_id(
    session: Session, *, visible: ColumnElement[bool] | None = None
) -> str | None:
    """The id of the newest message a client sent (a page watching for new ones compares it);
    `visible`: of the clients the caller may see (clients.access)."""
    stmt = select(Communication.id).where(Communication.direction == Direction.INBOUND)
    if visible is not None:
        stmt = stmt.where(visible)
    stmt = stmt.order_by(Communication.created_at.desc(), Communication.id.desc()).limit(1)
    return session.scalar(stmt)


def by_provider_id(session: Session, provider: str, message_id: str) -> Communication | None:
    stmt = select(Communication).where(
        Communication.provider == provider, Communication.provider_message_id == message_id
    )
    return session.scalar(stmt)


def by_provider_ids(session: Session, provider: str, ids: Iterable[str]) -> list[Communication]:
    """The messages `provider` knows by any of `ids` (a batch of callbacks' lookup)."""
    wanted = set(ids)
    if not wanted:
        return []
    stmt = select(Communication).where(
        Communication.provider == provider, Communication.provider_message_id.in_(wanted)
    )
    return list(session.scalars(stmt))


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
    visible: ColumnElement[bool] | None = None,
) -> Sequence[Communication]:
    """`visible`: the messages of the clients the caller may see (clients.access)."""
    stmt = select(Communication)
    if visible is not None:
        stmt = stmt.where(visible)
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
        stmt = stmt.where(cursor.before(Communication.created_at, Communication.id))
    stmt = stmt.order_by(Communication.created_at.desc(), Communication.id.desc())
    return session.scalars(stmt.limit(limit + 1)).all()


def queued_sms_to(session: Session, address: str) -> Sequence[Communication]:
    stmt = select(Communication).where(
        Communication.channel == "sms",
        Communication.to_hash == address_hash(session, "sms", address),
        Communication.status == S.QUEUED,
    )
    return session.scalars(stmt).all()


def get_campaign(session: Session, campaign_id: str, *, lock: bool = False) -> Campaign | None:
    """The campaign; `lock` holds its row until commit (a fan-out starting, a cancel)."""
    return session.get(Campaign, campaign_id, with_for_update=lock or None, populate_existing=lock)


def list_campaigns(
    session: Session, *, limit: int, cursor: Cursor | None, created_by: str | None = None
) -> Sequence[Campaign]:
    """Campaigns newest first, one more than `limit` (so the caller knows there is a next page);
    `created_by`: only that user's."""
    stmt = select(Campaign)
    if created_by is not None:
        stmt = stmt.where(Campaign.created_by_user_id == created_by)
    if cursor is not None:
        stmt = stmt.where(cursor.before(Campaign.created_at, Campaign.id))
    stmt = stmt.order_by(Campaign.created_at.desc(), Campaign.id.desc())
    return session.scalars(stmt.limit(limit + 1)).all()


def cancel_unstarted_campaign(session: Session, campaign_id: str, *, now: datetime) -> bool:
    """Mark a campaign `cancelled` if its fan-out has not begun; whether it was."""
    stmt = (
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.fanned_out_at.is_(None),
            Campaign.status.in_(CAMPAIGN_NOT_STARTED),
        )
        .values(status=CampaignStatus.CANCELLED, updated_at=now)
        .returning(Campaign.id)
        .execution_options(synchronize_session=False)
    )
    return session.scalar(stmt) is not None


def cancel_queued(session: Session, comm_id: str, *, now: datetime, reason: str) -> bool:
    """Move the message `queued → cancelled` unless a worker claimed it first; whether it did.

    One conditional UPDATE, like the claim: of a cancel and a claim at once, only one wins."""
    stmt = (
        update(Communication)
        .where(Communication.id == comm_id, Communication.status == S.QUEUED)
        .values(status=S.CANCELLED, status_reason=reason, updated_at=now)
        .returning(Communication.id)
        .execution_options(synchronize_session=False)
    )
    return session.scalar(stmt) is not None


def campaign_counts(session: Session, campaign_id: str) -> dict[str, int]:
    return campaigns_counts(session, [campaign_id]).get(campaign_id, {})


def campaigns_counts(session: Session, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Campaign id → its messages counted by status, for a page of campaigns in one query."""
    if not campaign_ids:
        return {}
    stmt = (
        select(Communication.campaign_id, Communication.status, func.count())
        .where(Communication.campaign_id.in_(list(campaign_ids)))
        .group_by(Communication.campaign_id, Communication.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for campaign_id, status, count in session.execute(stmt).all():
        if campaign_id is not None:
            counts.setdefault(campaign_id, {})[status] = count
    return counts


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
            call_started_at=None,  # this claim's call has not begun (a retry's earlier one had)
            updated_at=now,
            attempts=Communication.attempts + 1,
        )
        .returning(Communication.id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(stmt))


def start_call(
    session: Session, comm_ids: Sequence[str], *, claimed_at: datetime, now: datetime
) -> list[str]:
    """Record that the provider call for these rows begins now; the ids still under the claim
    made at `claimed_at` (the sweeper may have taken others back while the call waited)."""
    stmt = (
        update(Communication)
        .where(
            Communication.id.in_(list(comm_ids)),
            Communication.status == S.SENDING,
            Communication.claimed_at == claimed_at,
            Communication.call_started_at.is_(None),
        )
        .values(call_started_at=now)
        .returning(Communication.id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(stmt))


def add_messages(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert messages given as rows of every column's value but the addresses' hashes (a
    campaign's chunk) at once; the hashes are added here, as the ORM's listener adds them."""
    key = search_key(session)
    hashed = [
        {**row, **address_hashes(key, row["channel"], row["to_address"], row.get("from_address"))}
        for row in rows
    ]
    insert_rows(session, cast(Table, Communication.__table__), hashed)


def get_many(
    session: Session, comm_ids: Sequence[str], *, content: bool = True
) -> list[Communication]:
    """The rows, in the order of `comm_ids`; without `content`, their text (subject, body,
    HTML) is read, and decrypted, only if it is used."""
    stmt = select(Communication).where(Communication.id.in_(comm_ids))
    if not content:
        stmt = stmt.options(
            defer(Communication.subject), defer(Communication.body), defer(Communication.body_html)
        )
    rows = {c.id: c for c in session.scalars(stmt)}
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
        Communication.to_hash == address_hash(session, "email", key),
        Communication.status == S.QUEUED,
    )
    return session.scalars(stmt).all()


def counts_by_channel_and_status(session: Session) -> dict[tuple[str, str], int]:
    """How many messages there are of each (channel, status): one GROUP BY, for /metrics."""
    stmt = select(Communication.channel, Communication.status, func.count()).group_by(
        Communication.channel, Communication.status
    )
    return {(channel, status): int(n) for channel, status, n in session.execute(stmt)}


def oldest_due_queued(session: Session, *, now: datetime) -> datetime | None:
    """Since when the longest-waiting `queued` message has been due (dispatch's rule: its
    next_attempt_at has passed, or it has none), or None. Both halves use the (status,
    next_attempt_at) index; the second reads only the rows queued to go at once."""
    scheduled = session.scalar(
        select(func.min(Communication.next_attempt_at)).where(
            Communication.status == S.QUEUED, Communication.next_attempt_at <= now
        )
    )
    at_once = session.scalar(
        select(func.min(Communication.created_at)).where(
            Communication.status == S.QUEUED, Communication.next_attempt_at.is_(None)
        )
    )
    found = [moment for moment in (scheduled, at_once) if moment is not None]
    return min(found) if found else None
