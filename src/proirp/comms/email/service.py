"""Sending email: validate, guard (consent, suppression list, BAA), record, hand to the worker.

The Node version's `sendEmail` and `sendTemplateEmail` are here (`sendBulkEmails` starts a
campaign: see `campaigns.service`). As for SMS, nothing here talks to SendGrid: a message becomes
a `queued` row (or a `blocked` one) in the caller's transaction, and its delivery job goes to
the queue only after that commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin
from proirp.clients.models import Client
from proirp.clients.validation import normalise_email
from proirp.comms.core.guard import BlockReason, email_consent_block, email_phi_block
from proirp.comms.core.html import html_problem
from proirp.comms.core.sending import (
    Sender,
    delay_until,
    record_single_send,
    require_client,
    scheduled_details,
    write_message,
)
from proirp.comms.models import Communication, CommunicationStatus, Template
from proirp.comms.templates.rendering import TemplateProblem, phi_variables, render
from proirp.comms.templates.variables import values_for
from proirp.config import Settings
from proirp.kit.db import new_id
from proirp.kit.errors import ValidationFailed
from proirp.worker.after_commit import enqueue_after_commit

S = CommunicationStatus
PROVIDER = "sendgrid"
MAX_SUBJECT = 500
MAX_TEXT = 1_000_000


def email_address(value: str, field: str, label: str = "the address") -> str:
    """`value` normalised by email-validator, or ValidationFailed naming `field`."""
    try:
        return normalise_email(value)
    except ValueError:
        raise ValidationFailed(
            f"{label} is not a valid email address", fields={field: "is not a valid email address"}
        ) from None


def check_email_content(
    subject: str | None, text: str | None, html: str | None, *, needs_subject: bool = True
) -> None:
    """Bad input in a plain email: no subject, no body, HTML that is not well-formed."""
    if needs_subject and not (subject and subject.strip()):
        raise ValidationFailed("an email needs a subject", fields={"subject": "is required"})
    if subject and ("\n" in subject or "\r" in subject):
        raise ValidationFailed(
            "the subject must be one line", fields={"subject": "must not contain line breaks"}
        )
    if not (text and text.strip()) and not (html and html.strip()):
        raise ValidationFailed("the email is empty", fields={"body": "is empty"})
    if html:
        problem = html_problem(html)
        if problem:
            raise ValidationFailed(f"html {problem}", fields={"html": problem})


def email_block(
    session: Session,
    client: Client,
    to: str,
    subject: str | None,
    text: str,
    html: str | None,
    settings: Settings,
    *,
    suppressed: Mapping[str, str] | None = None,
) -> BlockReason | None:
    """The guard for an email to a client as it is queued: consent and the suppression list,
    then the BAA rule. Also what a campaign's preview asks, so that it says what sending will do."""
    return email_consent_block(session, client, to, suppressed=suppressed) or email_phi_block(
        settings.sendgrid_hipaa_enabled, client, subject, text, html
    )


def queue_email_for_client(
    session: Session,
    *,
    client: Client,
    to: str,
    subject: str | None,
    text: str,
    html: str | None,
    sender: Sender,
    settings: Settings,
    template_id: str | None = None,
    substitutions: Mapping[str, Any] | None = None,
    send_at: datetime | None = None,
) -> tuple[Communication, BlockReason | None]:
    """Write one email row, `queued` (its delivery job sent after commit) or `blocked`. The
    caller writes the audit row. (A campaign writes its rows in bulk: `campaigns.email`.)

    `substitutions` (a dynamic template's values) go to SendGrid with it. `send_at` schedules
    it: dispatch claims it, and its job runs, only then.
    """
    comm = Communication(
        id=new_id(),
        client_id=client.id,
        user_id=sender.user_id,
        template_id=template_id,
        channel="email",
        to_address=to,
        subject=subject,
        body=text,
        body_html=html,
        substitutions=json.dumps(dict(substitutions)) if substitutions is not None else None,
        provider=PROVIDER,
        send_at=send_at,
        next_attempt_at=send_at,
    )
    block = email_block(session, client, to, subject, text, html, settings)
    write_message(session, comm, block)
    if block is None:
        enqueue_after_commit(
            session, "comms.deliver_email_batch", [comm.id], delay=delay_until(send_at)
        )
    return comm, block


def _record(
    session: Session, comm: Communication, block: BlockReason | None, sender: Sender
) -> Communication:
    return record_single_send(
        session,
        sender,
        comm,
        block,
        queued_action=AuditAction.EMAIL_QUEUED,
        blocked_action=AuditAction.EMAIL_BLOCKED,
        **scheduled_details(comm.send_at),
    )


def _recipient(client: Client, to: str | None) -> tuple[str, str]:
    """(address, the field to blame) for a message to `to` or, by default, the client."""
    if to:
        return email_address(to, "to"), "to"
    if not client.email:
        raise ValidationFailed(
            "the client has no email address", fields={"client_id": "has no email address"}
        )
    return email_address(client.email, "client_id", "the client's email"), "client_id"


def check_email(
    session: Session,
    client: Client,
    *,
    subject: str | None,
    text: str | None,
    html: str | None,
    template_id: str | None,
    variables: Mapping[str, Any],
    settings: Settings,
) -> BlockReason | None:
    """What `send_email` (or `send_template_email`, given a template) to the client would do,
    writing nothing: ValidationFailed for what it would refuse, the guard's reason if it would
    be recorded blocked, else None."""
    address, _field = _recipient(client, None)
    if template_id:
        use, subject, text, html = use_email_template(
            session, template_id, client, variables, settings
        )
        if not use.template.sendgrid_template_id:
            check_email_content(subject, text, html)
    else:
        check_email_content(subject, text, html)
    return email_block(session, client, address, subject, text or "", html, settings)


def send_email(
    session: Session,
    *,
    to: str | None,
    subject: str | None,
    text: str | None,
    html: str | None,
    client_id: str,
    user_id: str,
    settings: Settings,
    origin: RequestOrigin | None = None,
    template_id: str | None = None,
    send_at: datetime | None = None,
) -> Communication:
    """Queue one email to a client (the Node version's sendEmail), now or for `send_at`. `to`
    defaults to the client's address.

    Bad input raises ValidationFailed and writes nothing. A message the guard refuses is written
    as `blocked` (with an audit row) and MessageBlocked is raised for the caller to commit and show.
    """
    client = require_client(session, client_id)
    address, _field = _recipient(client, to)
    check_email_content(subject, text, html)
    sender = Sender(user_id, origin or RequestOrigin())
    comm, block = queue_email_for_client(
        session,
        client=client,
        to=address,
        subject=subject,
        text=text or "",
        html=html,
        sender=sender,
        settings=settings,
        template_id=template_id,
        send_at=send_at,
    )
    return _record(session, comm, block, sender)


@dataclass(frozen=True)
class EmailTemplateUse:
    """A template checked for use on email: its row and every variable's value."""

    template: Template
    values: dict[str, Any]


def email_template(session: Session, template_id: str) -> Template:
    """Our template by id, or by the SendGrid dynamic template id it wraps (`d-…`)."""
    field = {"template_id": "no such template"}
    if template_id.startswith("d-"):
        stmt = select(Template).where(
            Template.sendgrid_template_id == template_id, Template.archived_at.is_(None)
        )
        template = session.scalars(stmt).first()
    else:
        template = session.get(Template, template_id)
    if template is None or template.archived_at is not None:
        raise ValidationFailed("no template with that id", fields=field)
    if template.channel != "email":
        raise ValidationFailed(
            "that template is for SMS", fields={"template_id": "is not an email template"}
        )
    return template


def check_template_phi(template: Template, settings: Settings) -> None:
    """Refuse, before anything renders, a template that would put PHI in email without a BAA."""
    phi = phi_variables(template)
    if phi and not settings.sendgrid_hipaa_enabled:
        raise ValidationFailed(
            "the template uses PHI variables and SendGrid has no signed BAA",
            fields={"template_id": "uses PHI variables: " + ", ".join(phi)},
        )


def use_email_template(
    session: Session,
    template_id: str,
    client: Client,
    variables: Mapping[str, Any],
    settings: Settings,
) -> tuple[EmailTemplateUse, str | None, str, str | None]:
    """Check and render an email template for `client`: (use, subject, text, html)."""
    template = email_template(session, template_id)
    check_template_phi(template, settings)
    declared = [str(v["name"]) for v in template.variables or []]
    try:
        values = values_for(declared, client, settings, variables)
        rendered = render(template, values)
        html = render_part(template, template.html, values) if template.html else None
    except TemplateProblem as exc:
        raise ValidationFailed(f"{exc.field} {exc}", fields={exc.field: str(exc)}) from None
    text = rendered.body
    if not text and template.sendgrid_template_id:
        text = f"(SendGrid dynamic template {template.sendgrid_template_id})"
    return EmailTemplateUse(template, values), rendered.subject, text, html


def render_part(template: Template, source: str, values: Mapping[str, Any]) -> str:
    """Render another part of `template` (its HTML) with the same variables and checks."""
    part = Template(
        name=template.name,
        channel=template.channel,
        subject=None,
        body=source,
        variables=template.variables,
    )
    # The values are text: escaped, so a name like "O'Brien & Co" cannot break the markup.
    escaped = {k: escape(v) if isinstance(v, str) else v for k, v in values.items()}
    return render(part, escaped, part="html").body


def send_template_email(
    session: Session,
    *,
    to: str | None,
    template_id: str,
    dynamic_data: Mapping[str, Any],
    client_id: str,
    user_id: str,
    settings: Settings,
    origin: RequestOrigin | None = None,
    send_at: datetime | None = None,
) -> Communication:
    """The Node version's sendTemplateEmail: one email from a template (ours, or our wrapper of a
    SendGrid dynamic template `d-…`), with `dynamic_data` filling its variables; now or for
    `send_at`."""
    client = require_client(session, client_id)
    address, _field = _recipient(client, to)
    use, subject, text, html = use_email_template(
        session, template_id, client, dynamic_data, settings
    )
    if not use.template.sendgrid_template_id:
        check_email_content(subject, text, html)
    sender = Sender(user_id, origin or RequestOrigin())
    comm, block = queue_email_for_client(
        session,
        client=client,
        to=address,
        subject=subject,
        text=text,
        html=html,
        sender=sender,
        settings=settings,
        template_id=use.template.id,
        # A dynamic template renders at SendGrid, from these values.
        substitutions=use.values if use.template.sendgrid_template_id else None,
        send_at=send_at,
    )
    return _record(session, comm, block, sender)
