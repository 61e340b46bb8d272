"""Sending email: validate, guard (consent, suppression list, BAA), record, hand to the worker.

The seed's functions are here: `send_email`, `send_template_email` and `send_bulk_emails`. As for
SMS, nothing here talks to SendGrid: a message becomes a `queued` row (or a `blocked` one) in the
caller's transaction, and its delivery job goes to the queue only after that commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin
from proirp.clients.models import Channel, Client, OptOut
from proirp.clients.validation import normalise_email
from proirp.comms.html import html_problem
from proirp.comms.models import Campaign, Communication, CommunicationStatus, Template
from proirp.comms.phi import ClientIdentity, find_phi
from proirp.comms.service import (
    MessageBlocked,
    Sender,
    audit_message,
    require_client,
    start_campaign,
)
from proirp.comms.status import add_event
from proirp.comms.templates import TemplateProblem, phi_variables, render
from proirp.comms.variables import KNOWN_NAMES, check_practice_values, values_for
from proirp.config import Settings
from proirp.kit.db import new_id
from proirp.kit.errors import ValidationFailed
from proirp.worker.after_commit import enqueue_after_commit

S = CommunicationStatus
PROVIDER = "sendgrid"
MAX_SUBJECT = 500
MAX_TEXT = 1_000_000


def suppression_key(address: str) -> str:
    """How an address is kept on the suppression list (case does not matter in practice)."""
    return address.strip().lower()


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


def suppressed_addresses(session: Session, addresses: Sequence[str]) -> dict[str, str]:
    """Which addresses are on the email suppression list, with the reason they are there."""
    keys = {suppression_key(a) for a in addresses if a}
    if not keys:
        return {}
    stmt = select(OptOut.address, OptOut.reason).where(
        OptOut.channel == Channel.EMAIL, OptOut.address.in_(keys), OptOut.revoked_at.is_(None)
    )
    return {address: reason for address, reason in session.execute(stmt)}


def email_block_reason(
    session: Session, client: Client, to: str, *, suppressed: Mapping[str, str] | None = None
) -> str | None:
    if not client.email_consent:
        return "The client has not consented to email."
    if suppressed is None:
        suppressed = suppressed_addresses(session, [to])
    why = suppressed.get(suppression_key(to))
    if why is not None:
        return f"The address is on the email suppression list: {why}"
    return None


def email_phi_block(
    settings: Settings, client: Client | None, subject: str | None, *parts: str | None
) -> str | None:
    """Why this email may not go to SendGrid without a BAA, naming what to remove and where."""
    if settings.sendgrid_hipaa_enabled:
        return None
    identity = (
        ClientIdentity(client.first_name, client.last_name, client.date_of_birth)
        if client is not None
        else None
    )
    problems = []
    for where, text in (("subject", subject or ""), ("body", "\n".join(p for p in parts if p))):
        found = find_phi(text, client=identity)
        if found:
            problems.append(", ".join(found) + f" from the {where}")
    if not problems:
        return None
    return (
        "Without a signed BAA with SendGrid, email may not carry PHI; remove "
        + "; and ".join(problems)
        + ". A generic message such as 'Please call our office.' is fine."
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
    campaign_id: str | None = None,
    template_id: str | None = None,
    substitutions: Mapping[str, Any] | None = None,
    suppressed: Mapping[str, str] | None = None,
    enqueue: bool = True,
) -> Communication:
    """Write one email row, `queued` (its delivery job sent after commit unless `enqueue` is
    False: a campaign sends its rows in batches) or `blocked`. The caller writes the audit row.

    `substitutions` (a campaign's per-recipient values) means the row shares its campaign's
    content and goes out in the campaign's batches.
    """
    comm = Communication(
        id=new_id(),
        client_id=client.id,
        user_id=sender.user_id,
        campaign_id=campaign_id,
        template_id=template_id,
        channel="email",
        to_address=to,
        subject=subject,
        body=text,
        body_html=html,
        substitutions=json.dumps(dict(substitutions)) if substitutions is not None else None,
        provider=PROVIDER,
        status=S.QUEUED,
    )
    session.add(comm)
    reason = email_block_reason(session, client, to, suppressed=suppressed) or email_phi_block(
        settings, client, subject, text, html
    )
    if reason:
        comm.status = S.BLOCKED
        comm.status_reason = reason
        add_event(session, comm, S.BLOCKED, source="api", reason=reason)
        return comm
    add_event(session, comm, S.QUEUED, source="api")
    if enqueue:
        from proirp.comms.tasks import deliver_email_batch  # tasks import this module

        enqueue_after_commit(session, deliver_email_batch, [comm.id])
    return comm


def _blamed_field(reason: str) -> str:
    """The request field a block reason is about."""
    if "BAA" not in reason:
        return "client_id"
    return "subject" if "from the subject" in reason else "body"


def _recipient(client: Client, to: str | None) -> tuple[str, str]:
    """(address, the field to blame) for a message to `to` or, by default, the client."""
    if to:
        return email_address(to, "to"), "to"
    if not client.email:
        raise ValidationFailed(
            "the client has no email address", fields={"client_id": "has no email address"}
        )
    return email_address(client.email, "client_id", "the client's email"), "client_id"


def _record(session: Session, comm: Communication, sender: Sender) -> Communication:
    session.flush()
    if comm.status == S.BLOCKED:
        audit_message(session, sender, AuditAction.EMAIL_BLOCKED, comm)
        reason = comm.status_reason or "blocked"
        raise MessageBlocked(comm, reason, _blamed_field(reason))
    audit_message(session, sender, AuditAction.EMAIL_QUEUED, comm)
    return comm


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
) -> Communication:
    """Queue one email to a client (the seed's sendEmail). `to` defaults to the client's address.

    Bad input raises ValidationFailed and writes nothing. A message the guard refuses is written
    as `blocked` (with an audit row) and MessageBlocked is raised for the caller to commit and show.
    """
    client = require_client(session, client_id)
    address, _field = _recipient(client, to)
    check_email_content(subject, text, html)
    sender = Sender(user_id, origin or RequestOrigin())
    comm = queue_email_for_client(
        session,
        client=client,
        to=address,
        subject=subject,
        text=text or "",
        html=html,
        sender=sender,
        settings=settings,
        template_id=template_id,
    )
    return _record(session, comm, sender)


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
    return render(part, escaped).body


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
) -> Communication:
    """The seed's sendTemplateEmail: one email from a template (ours, or our wrapper of a
    SendGrid dynamic template `d-…`), with `dynamic_data` filling its variables."""
    client = require_client(session, client_id)
    address, _field = _recipient(client, to)
    use, subject, text, html = use_email_template(
        session, template_id, client, dynamic_data, settings
    )
    if not use.template.sendgrid_template_id:
        check_email_content(subject, text, html)
    sender = Sender(user_id, origin or RequestOrigin())
    comm = queue_email_for_client(
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
    )
    return _record(session, comm, sender)


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
) -> Campaign:
    """Record an email campaign (free text, or a template); the worker fans it out in batches."""
    if template_id:
        template = email_template(session, template_id)
        check_template_phi(template, settings)
        unknown = sorted(
            str(v["name"]) for v in template.variables or [] if v["name"] not in KNOWN_NAMES
        )
        if unknown:
            raise ValidationFailed(
                "a campaign's template can use only client and practice details",
                fields={
                    "template_id": "needs values a campaign cannot give: " + ", ".join(unknown)
                },
            )
        try:
            check_practice_values((str(v["name"]) for v in template.variables or []), settings)
        except TemplateProblem as exc:
            raise ValidationFailed(f"{exc.field} {exc}", fields={exc.field: str(exc)}) from None
        template_id = template.id
    else:
        check_email_content(subject, text, html)
        # What is PHI for anybody (a diagnosis, a date) is refused now, not per recipient later.
        problem = email_phi_block(settings, None, subject, text, html)
        if problem:
            raise ValidationFailed(problem, fields={_blamed_field(problem): problem})
    campaign = start_campaign(
        session,
        channel="email",
        selection=selection,
        body=text or "",
        user_id=user_id,
        origin=origin,
        name=name,
        template_id=template_id,
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
    """The seed's sendBulkEmails: one email to many clients, as a campaign sent in batches of
    up to 1,000 recipients per SendGrid call."""
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
