"""Starting a campaign: one message to many clients, recorded now and fanned out by the worker.

A campaign is checked up front (the body, the template, PHI that would be PHI for anybody) so
that a mistake is a 422 now rather than thousands of blocked rows later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.access import sees_every_client
from proirp.clients.models import Client
from proirp.comms.core import repository
from proirp.comms.core.cancelling import NotCancellable
from proirp.comms.core.guard import email_phi_block
from proirp.comms.core.sending import delay_until, scheduled_details
from proirp.comms.email.content import template_content
from proirp.comms.email.service import check_email_content, check_template_phi, email_template
from proirp.comms.models import Campaign, CampaignStatus
from proirp.comms.sms.service import check_sms_body
from proirp.comms.templates.rendering import TemplateProblem
from proirp.comms.templates.variables import KNOWN_NAMES, check_practice_values
from proirp.config import Settings
from proirp.kit.db import in_batches
from proirp.kit.errors import NotFound, ValidationFailed
from proirp.kit.pagination import Cursor
from proirp.kit.time import utcnow
from proirp.worker.after_commit import enqueue_after_commit


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
    send_at: datetime | None = None,
) -> Campaign:
    """Record a campaign; the worker expands it into one message per recipient, at once or at
    `send_at` (the guard runs for each recipient then)."""
    if channel == "sms":
        check_sms_body(body)
    if "client_ids" in selection:
        require_clients(session, selection["client_ids"])
    campaign = Campaign(
        name=name,
        channel=channel,
        created_by_user_id=user_id,
        template_id=template_id,
        body=body,
        selection=selection,
        total=len(selection.get("client_ids", [])),
        status=CampaignStatus.SCHEDULED if send_at else CampaignStatus.QUEUED,
        send_at=send_at,
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
        details={
            "campaign_id": campaign.id,
            "channel": channel,
            "selection": _describe(selection),
            **scheduled_details(send_at),
        },
    )
    enqueue_after_commit(session, "comms.fan_out_campaign", campaign.id, delay=delay_until(send_at))
    return campaign


def campaign_for(session: Session, campaign_id: str, *, user_id: str) -> Campaign:
    """The campaign, if `user_id` may follow it: admins and front desk every one, a clinician
    their own (minimum necessary); NotFound otherwise."""
    campaign = repository.get_campaign(session, campaign_id)
    if campaign is None or not (
        sees_every_client(session, user_id) or campaign.created_by_user_id == user_id
    ):
        raise NotFound("no campaign with that id", code="campaign_not_found")
    return campaign


def campaigns_for(
    session: Session, *, user_id: str, limit: int, cursor: Cursor | None
) -> Sequence[Campaign]:
    """The campaigns `user_id` may follow (as `campaign_for`), newest first, one more than
    `limit`."""
    mine = None if sees_every_client(session, user_id) else user_id
    return repository.list_campaigns(session, limit=limit, cursor=cursor, created_by=mine)


def cancel_campaign(
    session: Session, campaign_id: str, *, user_id: str, origin: RequestOrigin
) -> Campaign:
    """Cancel a campaign whose fan-out has not begun: when its job runs, it does nothing.

    NotFound, or NotCancellable once it is fanning out or has fanned out (its messages are then
    each the recipient's own, and each still queued can be cancelled by itself)."""
    campaign_for(session, campaign_id, user_id=user_id)
    cancelled = repository.cancel_unstarted_campaign(session, campaign_id, now=utcnow())
    campaign = repository.get_campaign(session, campaign_id, lock=True)
    assert campaign is not None
    if not cancelled:
        shown = "fanned out" if campaign.fanned_out_at else campaign.status
        raise NotCancellable(
            f"the campaign is {shown}: only a campaign that has not started can be cancelled"
        )
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.CAMPAIGN_CANCELLED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"campaign_id": campaign.id, "scheduled": campaign.send_at is not None},
    )
    return campaign


def require_clients(session: Session, client_ids: Sequence[str]) -> None:
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
    team = {"care_team_of": selection["care_team_of"]} if "care_team_of" in selection else {}
    if "client_ids" in selection:
        return {"client_ids": len(selection["client_ids"]), **team}
    flt = dict(selection.get("filter", {}))
    if flt.get("q"):
        flt["q"] = True
    return {"filter": flt, **team}


def send_bulk_sms(
    session: Session,
    *,
    client_ids: Sequence[str],
    body: str,
    user_id: str,
    origin: RequestOrigin | None = None,
) -> Campaign:
    """The Node version's sendBulkSMS: one body to many clients, as a campaign."""
    return start_campaign(
        session,
        channel="sms",
        selection={"client_ids": list(dict.fromkeys(client_ids))},
        body=body,
        user_id=user_id,
        origin=origin,
    )


def _check_campaign_template(session: Session, template_id: str, settings: Settings) -> str:
    """A template a campaign can fill for every recipient: only client and practice details."""
    template = email_template(session, template_id)
    check_template_phi(template, settings)
    names = [str(v["name"]) for v in template.variables or []]
    unknown = sorted(name for name in names if name not in KNOWN_NAMES)
    if unknown:
        raise ValidationFailed(
            "a campaign's template can use only client and practice details",
            fields={"template_id": "needs values a campaign cannot give: " + ", ".join(unknown)},
        )
    try:
        check_practice_values(names, settings)
        template_content(template)  # what every recipient's email is made from renders
    except TemplateProblem as exc:
        raise ValidationFailed(f"{exc.field} {exc}", fields={exc.field: str(exc)}) from None
    return template.id


def check_email_campaign(
    session: Session,
    *,
    subject: str | None,
    text: str | None,
    html: str | None,
    template_id: str | None,
    settings: Settings,
) -> str | None:
    """What an email campaign is checked for before it is recorded (ValidationFailed): its
    template, or its content and what in it is PHI for anybody. The template's id, if any."""
    if template_id:
        return _check_campaign_template(session, template_id, settings)
    check_email_content(subject, text, html)
    # What is PHI for anybody (a diagnosis, a date) is refused now, not per recipient later.
    block = email_phi_block(settings.sendgrid_hipaa_enabled, None, subject, text, html)
    if block is not None:
        raise ValidationFailed(block.message, fields={block.field: block.message})
    return None


def start_email_campaign(
    session: Session,
    *,
    selection: dict[str, Any],
    subject: str | None,
    text: str | None,
    html: str | None,
    user_id: str,
    settings: Settings,
    origin: RequestOrigin | None = None,
    name: str | None = None,
    template_id: str | None = None,
    send_at: datetime | None = None,
) -> Campaign:
    """Record an email campaign (free text, or a template); the worker fans it out in batches,
    at once or at `send_at`."""
    template_id = check_email_campaign(
        session, subject=subject, text=text, html=html, template_id=template_id, settings=settings
    )
    campaign = start_campaign(
        session,
        channel="email",
        selection=selection,
        body=text or "",
        user_id=user_id,
        origin=origin,
        name=name,
        template_id=template_id,
        send_at=send_at,
    )
    campaign.subject = subject
    campaign.html = html
    return campaign


def send_bulk_emails(
    session: Session,
    *,
    client_ids: Sequence[str],
    subject: str | None,
    text: str | None,
    html: str | None = None,
    user_id: str,
    settings: Settings,
    origin: RequestOrigin | None = None,
    template_id: str | None = None,
) -> Campaign:
    """The Node version's sendBulkEmails: one email to many clients, as a campaign sent in
    batches of up to 1,000 recipients per SendGrid call."""
    return start_email_campaign(
        session,
        selection={"client_ids": list(dict.fromkeys(client_ids))},
        subject=subject,
        text=text,
        html=html,
        user_id=user_id,
        settings=settings,
        origin=origin,
        template_id=template_id,
    )
