"""Sending SMS: validate, guard (consent, opt-out, BAA), record, and hand to the worker.

Nothing here talks to a provider: a message becomes a `queued` row (or a `blocked` one) in the
caller's transaction, and the delivery job is sent to the queue only after that commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin
from proirp.clients.models import Client
from proirp.comms.core import repository
from proirp.comms.core.guard import BlockReason, sms_consent_block, sms_phi_block
from proirp.comms.core.sending import (
    Sender,
    delay_until,
    record_single_send,
    require_client,
    scheduled_details,
    write_message,
)
from proirp.comms.models import Communication, Template
from proirp.comms.sms.recipients import NumberProblem, client_region, sms_number
from proirp.comms.sms.segments import MAX_BODY_CHARACTERS, segment_count
from proirp.comms.templates.rendering import TemplateProblem, phi_variables, render
from proirp.comms.templates.variables import values_for
from proirp.config import Settings
from proirp.kit.db import new_id
from proirp.kit.errors import NotFound, ValidationFailed
from proirp.worker.after_commit import enqueue_after_commit


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


def sms_block(
    session: Session,
    client: Client,
    to: str,
    body: str,
    settings: Settings,
    *,
    opted_out: set[str] | None = None,
) -> BlockReason | None:
    """The guard for an SMS to a client as it is queued: consent and the opt-out list, then the
    BAA rule. Also what a campaign's preview asks, so that it says what sending will do."""
    return sms_consent_block(session, client, to, opted_out=opted_out) or sms_phi_block(
        settings.twilio_hipaa_enabled, client, body
    )


def queue_sms_for_client(
    session: Session,
    *,
    client: Client,
    to: str,
    body: str,
    segments: int,
    sender: Sender,
    settings: Settings,
    template_id: str | None = None,
    send_at: datetime | None = None,
) -> tuple[Communication, BlockReason | None]:
    """Write one SMS row, `queued` (its delivery job sent after commit, to run at `send_at` if
    it is scheduled) or `blocked`.

    The caller writes the audit row. (A campaign writes its rows in bulk: `campaigns.sms`.)
    """
    comm = Communication(
        id=new_id(),
        client_id=client.id,
        user_id=sender.user_id,
        template_id=template_id,
        channel="sms",
        to_address=to,
        body=body,
        segments=segments,
        provider="twilio",
        send_at=send_at,
        next_attempt_at=send_at,  # dispatch claims it only once it is due
    )
    block = sms_block(session, client, to, body, settings)
    write_message(session, comm, block)
    if block is None:
        enqueue_after_commit(session, "comms.deliver_sms", comm.id, delay=delay_until(send_at))
    return comm, block


def sms_recipient(client: Client, to: str | None, settings: Settings) -> str:
    """The number a message to `to` or, by default, to the client goes to (E.164)."""
    field = "to" if to else "client_id"
    raw = to or client.phone
    if not raw:
        raise ValidationFailed(
            "the client has no phone number", fields={"client_id": "has no phone"}
        )
    try:
        return sms_number(raw, region=client_region(client, settings.default_phone_region))
    except NumberProblem as exc:
        label = "the number" if to else "the client's phone"
        raise ValidationFailed(f"{label} {exc}", fields={field: str(exc)}) from None


def check_sms(
    session: Session, client: Client, body: str, settings: Settings
) -> BlockReason | None:
    """What `send_sms` to the client's phone would do, writing nothing: ValidationFailed for
    what it would refuse, the guard's reason if it would be recorded blocked, else None."""
    number = sms_recipient(client, None, settings)
    check_sms_body(body)
    return sms_block(session, client, number, body, settings)


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
    send_at: datetime | None = None,
) -> Communication:
    """Queue one SMS to a client (the Node version's sendSMS), now or for `send_at`. `to`
    defaults to the client's phone.

    Bad input raises ValidationFailed and writes nothing. A message the guard refuses is written
    as `blocked` (with an audit row) and MessageBlocked is raised for the caller to commit and show.
    """
    client = require_client(session, client_id)
    number = sms_recipient(client, to, settings)
    segments = check_sms_body(body)
    sender = Sender(user_id, origin or RequestOrigin())
    comm, block = queue_sms_for_client(
        session,
        client=client,
        to=number,
        body=body,
        segments=segments,
        sender=sender,
        settings=settings,
        template_id=template_id,
        send_at=send_at,
    )
    return record_single_send(
        session,
        sender,
        comm,
        block,
        queued_action=AuditAction.SMS_QUEUED,
        blocked_action=AuditAction.SMS_BLOCKED,
        segments=segments,
        **scheduled_details(send_at),
    )


def get_sms_status(session: Session, sid: str) -> Communication:
    """The communication Twilio knows as `sid` (the Node version's getSMSStatus)."""
    comm = repository.by_provider_id(session, "twilio", sid)
    if comm is None:
        raise NotFound("no message with that provider id", code="communication_not_found")
    return comm
