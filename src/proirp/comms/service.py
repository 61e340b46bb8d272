"""Sending SMS: validate, guard (consent, opt-out, BAA), record, and hand to the worker.

Nothing here talks to a provider: a message becomes a `queued` row (or a `blocked` one) in the
caller's transaction, and the delivery job is sent to the queue only after that commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.models import Client
from proirp.clients.repository import get_client
from proirp.comms import repository
from proirp.comms.models import Campaign, Communication, CommunicationStatus, Template
from proirp.comms.phi import ClientIdentity, find_phi
from proirp.comms.recipients import NumberProblem, client_region, sms_block_reason, sms_number
from proirp.comms.segments import MAX_BODY_CHARACTERS, segment_count
from proirp.comms.status import add_event
from proirp.comms.templates import TemplateProblem, phi_variables, render
from proirp.comms.variables import values_for
from proirp.config import Settings
from proirp.kit.db import in_batches, new_id
from proirp.kit.errors import AppError, NotFound, ValidationFailed
from proirp.worker.after_commit import enqueue_after_commit

S = CommunicationStatus


@dataclass(frozen=True)
class Sender:
    """Who is sending, and from where (for the audit trail)."""

    user_id: str
    origin: RequestOrigin = field(default_factory=RequestOrigin)


class MessageBlocked(AppError):
    """The message was recorded as `blocked`; the caller commits that and shows this 422."""

    status_code = 422
    code = "message_blocked"

    def __init__(self, communication: Communication, message: str, field: str) -> None:
        super().__init__(message, fields={field: message})
        self.communication = communication


def audit_message(
    session: Session, sender: Sender, action: AuditAction, comm: Communication, **details: Any
) -> None:
    record_audit(
        session,
        actor=sender.user_id,
        action=action,
        client_id=comm.client_id,
        ip=sender.origin.ip,
        user_agent=sender.origin.user_agent,
        details={"communication_id": comm.id, **details},
    )


def check_sms_body(body: str) -> int:
    """The body's segment count, or ValidationFailed naming the problem."""
    if not body or not body.strip():
        raise ValidationFailed("body is empty", fields={"body": "is empty"})
    segments = segment_count(body)
    if len(body) > MAX_BODY_CHARACTERS:
        problem = (
            f"is {len(body)} characters ({segments} segments); "
            f"the limit is {MAX_BODY_CHARACTERS} characters"
        )
        raise ValidationFailed(f"body {problem}", fields={"body": problem})
    return segments


def require_client(session: Session, client_id: str) -> Client:
    client = get_client(session, client_id)
    if client is None:
        raise ValidationFailed("no client with that id", fields={"client_id": "no such client"})
    return client


def _phi_block(settings: Settings, client: Client, body: str) -> str | None:
    if settings.twilio_hipaa_enabled:
        return None
    found = find_phi(
        body,
        client=ClientIdentity(client.first_name, client.last_name, client.date_of_birth),
    )
    if not found:
        return None
    return (
        "Without a signed BAA with Twilio, SMS may not carry PHI; remove "
        + ", ".join(found)
        + ". A generic message such as 'Please call our office.' is fine."
    )


def render_sms_template(
    session: Session,
    template_id: str,
    client: Client,
    variables: Mapping[str, Any],
    settings: Settings,
) -> str:
    """The body from a template, refusing PHI variables on a channel without a BAA first."""
    template = session.get(Template, template_id)
    if template is None or template.archived_at is not None:
        raise ValidationFailed(
            "no template with that id", fields={"template_id": "no such template"}
        )
    if template.channel != "sms":
        raise ValidationFailed(
            "that template is for email", fields={"template_id": "is not an SMS template"}
        )
    phi = phi_variables(template)
    if phi and not settings.twilio_hipaa_enabled:
        raise ValidationFailed(
            "the template uses PHI variables and Twilio has no signed BAA",
            fields={"template_id": "uses PHI variables: " + ", ".join(phi)},
        )
    declared = [str(v["name"]) for v in template.variables or []]
    try:
        return render(template, values_for(declared, client, settings, variables)).body
    except TemplateProblem as exc:
        raise ValidationFailed(f"{exc.field} {exc}", fields={exc.field: str(exc)}) from None


def queue_sms_for_client(
    session: Session,
    *,
    client: Client,
    to: str,
    body: str,
    segments: int,
    sender: Sender,
    settings: Settings,
    campaign_id: str | None = None,
    template_id: str | None = None,
    opted_out: set[str] | None = None,
) -> Communication:
    """Write one SMS row, `queued` (its delivery job sent after commit) or `blocked`.

    The caller writes the audit row: a single send audits each message at once, a campaign
    audits its blocks at the end of a chunk so that the audit chain's lock is held briefly.
    """
    comm = Communication(
        id=new_id(),  # known now, so a campaign can write a whole chunk in one flush
        client_id=client.id,
        user_id=sender.user_id,
        campaign_id=campaign_id,
        template_id=template_id,
        channel="sms",
        to_address=to,
        body=body,
        segments=segments,
        provider="twilio",
        status=S.QUEUED,
    )
    session.add(comm)
    reason = sms_block_reason(session, client, to, opted_out=opted_out) or _phi_block(
        settings, client, body
    )
    if reason:
        comm.status = S.BLOCKED
        comm.status_reason = reason
        add_event(session, comm, S.BLOCKED, source="api", reason=reason)
        return comm
    add_event(session, comm, S.QUEUED, source="api")
    from proirp.comms.tasks import deliver_sms  # tasks import this module: import when used

    enqueue_after_commit(session, deliver_sms, comm.id)
    return comm


def send_sms(
    session: Session,
    *,
    to: str | None,
    body: str,
    client_id: str,
    user_id: str,
    settings: Settings,
    origin: RequestOrigin | None = None,
    template_id: str | None = None,
) -> Communication:
    """Queue one SMS to a client (the seed's sendSMS). `to` defaults to the client's phone.

    Bad input raises ValidationFailed and writes nothing. A message the guard refuses is written
    as `blocked` (with an audit row) and MessageBlocked is raised for the caller to commit and show.
    """
    client = require_client(session, client_id)
    field = "to" if to else "client_id"
    raw = to or client.phone
    if not raw:
        raise ValidationFailed(
            "the client has no phone number", fields={"client_id": "has no phone"}
        )
    try:
        number = sms_number(raw, region=client_region(client, settings.default_phone_region))
    except NumberProblem as exc:
        label = "the number" if to else "the client's phone"
        raise ValidationFailed(f"{label} {exc}", fields={field: str(exc)}) from None
    segments = check_sms_body(body)
    sender = Sender(user_id, origin or RequestOrigin())
    comm = queue_sms_for_client(
        session,
        client=client,
        to=number,
        body=body,
        segments=segments,
        sender=sender,
        settings=settings,
        template_id=template_id,
    )
    session.flush()
    if comm.status == S.BLOCKED:
        audit_message(session, sender, AuditAction.SMS_BLOCKED, comm)
    else:
        audit_message(session, sender, AuditAction.SMS_QUEUED, comm, segments=segments)
    if comm.status == S.BLOCKED:
        field = "body" if comm.status_reason and "BAA" in comm.status_reason else "client_id"
        raise MessageBlocked(comm, comm.status_reason or "blocked", field)
    return comm


def start_campaign(
    session: Session,
    *,
    channel: str,
    selection: dict[str, Any],
    body: str,
    user_id: str,
    origin: RequestOrigin | None = None,
    name: str | None = None,
    template_id: str | None = None,
) -> Campaign:
    """Record a campaign; the worker expands it into one message per recipient."""
    if channel == "sms":
        check_sms_body(body)
    if "client_ids" in selection:
        _require_clients(session, selection["client_ids"])
    campaign = Campaign(
        name=name,
        channel=channel,
        created_by_user_id=user_id,
        template_id=template_id,
        body=body,
        selection=selection,
        total=len(selection.get("client_ids", [])),
        status="queued",
    )
    session.add(campaign)
    session.flush()
    origin = origin or RequestOrigin()
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.CAMPAIGN_CREATED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"campaign_id": campaign.id, "channel": channel, "selection": _describe(selection)},
    )
    from proirp.comms.tasks import fan_out_campaign

    enqueue_after_commit(session, fan_out_campaign, campaign.id)
    return campaign


def _require_clients(session: Session, client_ids: Sequence[str]) -> None:
    found: set[str] = set()
    for chunk in in_batches(client_ids):
        stmt = select(Client.id).where(Client.id.in_(chunk), Client.deleted_at.is_(None))
        found.update(session.scalars(stmt))
    unknown = [client_id for client_id in client_ids if client_id not in found]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise ValidationFailed(
            f"{len(unknown)} client id{'s are' if len(unknown) > 1 else ' is'} unknown",
            fields={"client_ids": f"{len(unknown)} unknown: {shown}"},
        )


def _describe(selection: Mapping[str, Any]) -> dict[str, Any]:
    """The selection without search text (it can be a name)."""
    if "client_ids" in selection:
        return {"client_ids": len(selection["client_ids"])}
    flt = dict(selection.get("filter", {}))
    if flt.get("q"):
        flt["q"] = True
    return {"filter": flt}


def send_bulk_sms(
    session: Session,
    *,
    client_ids: Sequence[str],
    body: str,
    user_id: str,
    origin: RequestOrigin | None = None,
) -> Campaign:
    """The seed's sendBulkSMS: one body to many clients, as a campaign the worker fans out."""
    return start_campaign(
        session,
        channel="sms",
        selection={"client_ids": list(dict.fromkeys(client_ids))},
        body=body,
        user_id=user_id,
        origin=origin,
    )


def get_sms_status(session: Session, sid: str) -> Communication:
    """The communication Twilio knows as `sid` (the seed's getSMSStatus)."""
    comm = repository.by_provider_id(session, "twilio", sid)
    if comm is None:
        raise NotFound("no message with that provider id", code="communication_not_found")
    return comm
