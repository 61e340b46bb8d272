"""Expanding a campaign into one message per recipient, in the worker, in chunks.

One driver for every channel: each chunk commits on its own, with its messages and the audit
rows of those that were blocked; a unique (campaign, client) pair makes a rerun after a crash
skip the recipients already done, so nobody gets the campaign twice. A channel plugs in how one
recipient's message is written (`chunk.ChunkWriter`): `campaigns.sms` and `campaigns.email`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.service import AuditEntry, record_audits
from proirp.clients.access import care_team_client_ids
from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client
from proirp.clients.repository import ids_named
from proirp.comms.campaigns.blocks import not_sent
from proirp.comms.campaigns.chunk import ChunkWriter, MessageRow, NotSent
from proirp.comms.campaigns.email import EmailChunk
from proirp.comms.campaigns.sms import SmsChunk
from proirp.comms.core import repository
from proirp.comms.core.status import record_events
from proirp.comms.models import Campaign, CampaignStatus, CommunicationStatus
from proirp.config import Settings
from proirp.kit.db import in_batches, transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)


CHANNELS: dict[str, type[ChunkWriter]] = {"sms": SmsChunk, "email": EmailChunk}


def recipient_ids(session: Session, selection: Mapping[str, Any]) -> list[str]:
    """The ids of the clients a selection names: its ids, or who matches its filter now; of a
    clinician's campaign (`care_team_of`), only those on their care team now."""
    team = selection.get("care_team_of")
    if "client_ids" in selection:
        ids = [str(i) for i in selection["client_ids"]]
        if team is None:
            return ids
        mine: set[str] = set()
        for chunk in in_batches(ids):
            mine.update(
                session.scalars(
                    care_team_client_ids(str(team)).where(CareTeamMember.client_id.in_(chunk))
                )
            )
        return [i for i in ids if i in mine]
    flt = selection.get("filter", {})
    stmt = select(Client.id).where(Client.deleted_at.is_(None))
    if team is not None:
        stmt = stmt.where(Client.id.in_(care_team_client_ids(str(team))))
    if flt.get("sms_consent") is not None:
        stmt = stmt.where(Client.sms_consent == bool(flt["sms_consent"]))
    if flt.get("email_consent") is not None:
        stmt = stmt.where(Client.email_consent == bool(flt["email_consent"]))
    ids = list(session.scalars(stmt.order_by(Client.created_at, Client.id)))
    if str(flt.get("q") or "").strip():
        named = ids_named(session, str(flt["q"]).strip(), ids)
        ids = [i for i in ids if i in named]
    return ids


# A client named by id whose record was archived after the campaign was created: counted in its
# total, so given a row that says why nothing went.
ARCHIVED = NotSent("The client's record was archived after the campaign was created.")


def write_chunk(
    session: Session,
    campaign: Campaign,
    client_ids: Sequence[str],
    settings: Settings,
    channel: type[ChunkWriter],
) -> None:
    """One message per client of this chunk, each with its first event, and an audit row for
    each blocked or failed one: a statement each for the rows, the events and the audit rows,
    however large the chunk. Queued messages are covered by CAMPAIGN_CREATED now and by their
    SENT row when they go."""
    clients = {
        c.id: c
        for c in session.scalars(select(Client).where(Client.id.in_(client_ids)))
        if c.deleted_at is None
    }
    writer = channel(session, campaign, list(clients.values()), settings)
    rows: list[MessageRow] = []
    for client_id in client_ids:
        client = clients.get(client_id)
        written = writer.write(client) if client is not None else ARCHIVED
        rows.append(
            not_sent(campaign, client_id, written) if isinstance(written, NotSent) else written
        )
    repository.add_messages(session, rows)
    record_events(
        session, [(row["id"], row["status"], row["status_reason"]) for row in rows], source="worker"
    )
    left_out = {
        CommunicationStatus.FAILED: channel.failed_action,
        CommunicationStatus.BLOCKED: channel.blocked_action,
    }
    record_audits(
        session,
        [
            AuditEntry(
                actor=campaign.created_by_user_id,
                action=left_out[row["status"]],
                client_id=row["client_id"],
                details={"communication_id": row["id"], "campaign_id": campaign.id},
            )
            for row in rows
            if row["status"] in left_out
        ],
    )
    writer.finish([row["id"] for row in rows if row["status"] == CommunicationStatus.QUEUED])


def _chunk_bounds(channel: type[ChunkWriter], count: int) -> list[tuple[int, int]]:
    first, size = channel.first_chunk, channel.chunk_size
    bounds = [0, *range(min(first, count), count, size), count]
    return [(start, end) for start, end in pairwise(bounds) if start != end]


def fan_out(factory: sessionmaker[Session], settings: Settings, campaign_id: str) -> None:
    with transaction(factory) as session:
        # Locked, so that a cancel either comes first (and this does nothing) or finds it begun.
        campaign = repository.get_campaign(session, campaign_id, lock=True)
        if campaign is None or campaign.fanned_out_at is not None:
            return
        if campaign.status == CampaignStatus.CANCELLED:
            log.info("campaign.cancelled_skipped", campaign_id=campaign_id)
            return
        if campaign.send_at is not None and campaign.send_at > utcnow():
            return  # early (a job run before its time): its own job, or the sweeper, comes later
        campaign.status = CampaignStatus.FANNING_OUT
        channel = CHANNELS[campaign.channel]
        wanted = recipient_ids(session, campaign.selection or {})
        campaign.total = len(wanted)
        done = repository.campaign_client_ids_done(session, campaign_id)
    todo = [client_id for client_id in wanted if client_id not in done]
    for start, end in _chunk_bounds(channel, len(todo)):
        try:
            with transaction(factory) as session:
                campaign = repository.get_campaign(session, campaign_id)
                assert campaign is not None
                campaign.updated_at = utcnow()  # still working: the sweeper leaves it alone
                write_chunk(session, campaign, todo[start:end], settings, channel)
        except IntegrityError:
            # Another run of this fan-out got to these recipients first; it will finish the job.
            log.info("campaign.fan_out_overlap", campaign_id=campaign_id)
            return
    with transaction(factory) as session:
        campaign = repository.get_campaign(session, campaign_id)
        assert campaign is not None
        campaign.status = CampaignStatus.SENDING
        campaign.fanned_out_at = utcnow()
    log.info("campaign.fanned_out", campaign_id=campaign_id, recipients=len(wanted))
