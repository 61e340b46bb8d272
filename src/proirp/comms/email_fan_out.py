"""Expanding an email campaign: one row per recipient, and one batch job per chunk.

A chunk is as large as a SendGrid call (1,000 personalizations), so a 10,000-recipient campaign
is ten chunks, ten jobs and ten calls. Rows that cannot share the campaign's content (see
email_content) go out in calls of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.clients.models import Client
from proirp.comms.campaign_blocks import blocked_without_address
from proirp.comms.email_content import apply, shared_content, substitutions_for
from proirp.comms.email_service import (
    email_address,
    queue_email_for_client,
    render_part,
    suppressed_addresses,
)
from proirp.comms.models import Campaign, Communication, CommunicationStatus, Template
from proirp.comms.service import Sender
from proirp.comms.templates import TemplateProblem, render
from proirp.comms.variables import values_for
from proirp.config import Settings
from proirp.kit.errors import ValidationFailed
from proirp.worker.after_commit import enqueue_after_commit

S = CommunicationStatus
EMAIL_CHUNK = 1000


def email_chunk(
    session: Session, campaign: Campaign, client_ids: Sequence[str], settings: Settings
) -> None:
    """Write this chunk's rows and send its queued ones as one batch after commit."""
    sender = Sender(campaign.created_by_user_id)
    template = session.get(Template, campaign.template_id) if campaign.template_id else None
    shared = shared_content(campaign, template)
    clients = {
        c.id: c
        for c in session.scalars(select(Client).where(Client.id.in_(client_ids)))
        if c.deleted_at is None
    }
    suppressed = suppressed_addresses(session, [c.email or "" for c in clients.values()])
    queued: list[str] = []
    blocked: list[Communication] = []
    for client_id in client_ids:
        client = clients.get(client_id)
        if client is None:  # archived since the campaign was created
            continue
        if not client.email:
            blocked.append(
                blocked_without_address(session, campaign, client_id, "The client has no email.")
            )
            continue
        try:
            to = email_address(client.email, "email")
        except ValidationFailed:
            reason = "The client's email address is not valid."
            blocked.append(blocked_without_address(session, campaign, client_id, reason))
            continue
        subject, text, html = shared.subject, shared.text or "", shared.html
        subs: dict[str, object] | None = {}
        if template is not None:
            declared = [str(v["name"]) for v in template.variables or []]
            try:
                values = values_for(declared, client, settings, {})
            except TemplateProblem as exc:
                name = exc.field.removeprefix("variables.")
                reason = f"The template needs {name}, which the client's record does not have."
                blocked.append(blocked_without_address(session, campaign, client_id, reason))
                continue
            rendered = render(template, values)
            subject, text = rendered.subject, rendered.body
            html = render_part(template, template.html, values) if template.html else None
            if shared.dynamic_template_id:
                subs = values
            else:
                flat = substitutions_for(values)
                same = (apply(shared.subject, flat), apply(shared.text, flat) or "") == (
                    subject,
                    text,
                ) and apply(shared.html, flat) == html
                subs = dict(flat) if same else None  # None: its own content, its own call
        comm = queue_email_for_client(
            session,
            client=client,
            to=to,
            subject=subject,
            text=text,
            html=html,
            sender=sender,
            settings=settings,
            campaign_id=campaign.id,
            template_id=campaign.template_id,
            substitutions=subs,
            suppressed=suppressed,
            enqueue=False,
        )
        if comm.status == S.BLOCKED:
            blocked.append(comm)
        else:
            queued.append(comm.id)
    for comm in blocked:
        record_audit(
            session,
            actor=campaign.created_by_user_id,
            action=AuditAction.EMAIL_BLOCKED,
            client_id=comm.client_id,
            details={"communication_id": comm.id, "campaign_id": campaign.id},
        )
    if queued:
        from proirp.comms.tasks import deliver_email_batch  # tasks import this module

        enqueue_after_commit(session, deliver_email_batch, queued)
