"""Expanding a campaign into one message per recipient, in the worker, in chunks.

Each chunk commits on its own; a unique (campaign, client) pair makes a rerun after a crash skip
the recipients already done, so nobody gets the campaign twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.clients.models import Channel, Client
from proirp.clients.repository import opted_out_addresses
from proirp.comms import repository
from proirp.comms.campaign_blocks import blocked_without_address
from proirp.comms.email_fan_out import EMAIL_CHUNK, email_chunk
from proirp.comms.models import Campaign, Communication, CommunicationStatus
from proirp.comms.recipients import NumberProblem, client_region, sms_number
from proirp.comms.service import Sender, check_sms_body, queue_sms_for_client
from proirp.config import Settings
from proirp.kit.db import transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
# Small chunks: each holds the database's write lock while it commits, and sends wait meanwhile.
CHUNK = 100
FIRST_CHUNK = 50


def _selected_ids(session: Session, campaign: Campaign) -> list[str]:
    selection = campaign.selection or {}
    if "client_ids" in selection:
        return [str(i) for i in selection["client_ids"]]
    flt = selection.get("filter", {})
    stmt = select(Client.id).where(Client.deleted_at.is_(None))
    if flt.get("sms_consent") is not None:
        stmt = stmt.where(Client.sms_consent == bool(flt["sms_consent"]))
    if flt.get("email_consent") is not None:
        stmt = stmt.where(Client.email_consent == bool(flt["email_consent"]))
    if flt.get("q"):
        like = f"%{str(flt['q']).lower()}%"
        stmt = stmt.where(Client.last_name.ilike(like) | Client.first_name.ilike(like))
    return list(session.scalars(stmt.order_by(Client.created_at, Client.id)))


def _chunk(
    session: Session, campaign: Campaign, client_ids: Sequence[str], settings: Settings
) -> None:
    sender = Sender(campaign.created_by_user_id)
    clients = {
        c.id: c
        for c in session.scalars(select(Client).where(Client.id.in_(client_ids)))
        if c.deleted_at is None
    }
    body = campaign.body or ""
    segments = check_sms_body(body)
    opted_out = opted_out_addresses(
        session, Channel.SMS, (c.phone for c in clients.values() if c.phone)
    )
    blocked: list[Communication] = []
    for client_id in client_ids:
        client = clients.get(client_id)
        if client is None:  # archived since the campaign was created
            continue
        if not client.phone:
            reason = "The client has no phone number."
            blocked.append(blocked_without_address(session, campaign, client_id, reason))
            continue
        try:
            number = sms_number(
                client.phone, region=client_region(client, settings.default_phone_region)
            )
        except NumberProblem as exc:
            reason = f"The client's phone {exc}."
            blocked.append(blocked_without_address(session, campaign, client_id, reason))
            continue
        comm = queue_sms_for_client(
            session,
            client=client,
            to=number,
            body=body,
            segments=segments,
            sender=sender,
            settings=settings,
            campaign_id=campaign.id,
            template_id=campaign.template_id,
            opted_out=opted_out,
        )
        if comm.status == CommunicationStatus.BLOCKED:
            blocked.append(comm)
    # Audited last, so the chain's lock is held only for the end of this chunk's transaction.
    # Queued messages are covered by CAMPAIGN_CREATED now and SMS_SENT when they go.
    for comm in blocked:
        record_audit(
            session,
            actor=campaign.created_by_user_id,
            action=AuditAction.SMS_BLOCKED,
            client_id=comm.client_id,
            details={"communication_id": comm.id, "campaign_id": campaign.id},
        )


def fan_out(factory: sessionmaker[Session], settings: Settings, campaign_id: str) -> None:
    with transaction(factory) as session:
        campaign = repository.get_campaign(session, campaign_id)
        if campaign is None or campaign.fanned_out_at is not None:
            return
        campaign.status = "fanning_out"
        channel = campaign.channel
        wanted = _selected_ids(session, campaign)
        campaign.total = len(wanted)
        done = repository.campaign_client_ids_done(session, campaign_id)
    todo = [client_id for client_id in wanted if client_id not in done]
    if channel == "email":
        first, size = EMAIL_CHUNK, EMAIL_CHUNK  # one chunk, one SendGrid call
    else:
        first, size = FIRST_CHUNK, CHUNK
    bounds = [0, *range(min(first, len(todo)), len(todo), size), len(todo)]
    for start, end in pairwise(bounds):
        if start == end:
            continue
        try:
            with transaction(factory) as session:
                campaign = repository.get_campaign(session, campaign_id)
                assert campaign is not None
                campaign.updated_at = utcnow()  # still working: the sweeper leaves it alone
                chunk = email_chunk if channel == "email" else _chunk
                chunk(session, campaign, todo[start:end], settings)
        except IntegrityError:
            # Another run of this fan-out got to these recipients first; it will finish the job.
            log.info("campaign.fan_out_overlap", campaign_id=campaign_id)
            return
    with transaction(factory) as session:
        campaign = repository.get_campaign(session, campaign_id)
        assert campaign is not None
        campaign.status = "sending"
        campaign.fanned_out_at = utcnow()
    log.info("campaign.fanned_out", campaign_id=campaign_id, recipients=len(wanted))
