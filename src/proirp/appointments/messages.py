"""A reminder's message, written through comms' own path (consent, opt-out, suppression and the
BAA guard all apply): the practice's PHI-free wording without a BAA for the channel, the rule's
template (with the appointment's time and clinician) with one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from proirp.appointments.practice import PracticeSettings, Rule
from proirp.audit.actions import AuditAction
from proirp.auth.models import User
from proirp.calendars.models import ClientCalendarEvent
from proirp.clients.models import Client
from proirp.comms.core.sending import Sender, record_single_send
from proirp.comms.email.service import email_address, queue_email_for_client, use_email_template
from proirp.comms.models import Communication, Template
from proirp.comms.sms.recipients import NumberProblem, client_region, sms_number
from proirp.comms.sms.service import check_sms_body, queue_sms_for_client, render_sms_template
from proirp.comms.templates.rendering import declared_variables
from proirp.config import Settings
from proirp.kit.errors import ValidationFailed


@dataclass(frozen=True)
class ReminderSend:
    """Everything one reminder's message is made from."""

    appointment: ClientCalendarEvent
    client: Client
    rule: Rule
    practice: PracticeSettings
    zone: ZoneInfo
    when: str  # today, tomorrow, soon


def start_local(start: datetime, zone: ZoneInfo) -> str:
    """'Tuesday, March 10 at 9:30 AM' in the client's zone."""
    local = start.astimezone(zone)
    hour = local.hour % 12 or 12
    return f"{local:%A, %B} {local.day} at {hour}:{local:%M %p}"


def _appointment_values(session: Session, send: ReminderSend, template_id: str) -> dict[str, Any]:
    """The appointment's values the template declares (only those: others are refused)."""
    template = session.get(Template, template_id)
    declared = declared_variables(template) if template is not None else {}
    clinician = session.get(User, send.appointment.user_id)
    start = send.appointment.start_at
    values = {
        "appointment.start_local": start_local(start, send.zone) if start else None,
        "appointment.clinician": clinician.email if clinician else None,
    }
    return {name: value for name, value in values.items() if name in declared and value}


def _sms(session: Session, send: ReminderSend, sender: Sender, settings: Settings) -> Communication:
    client = send.client
    if not client.phone:
        raise ValidationFailed("the client has no phone number", fields={"client_id": "no phone"})
    try:
        number = sms_number(
            client.phone, region=client_region(client, settings.default_phone_region)
        )
    except NumberProblem as exc:
        raise ValidationFailed(
            f"the client's phone {exc}", fields={"client_id": str(exc)}
        ) from None
    template_id = send.rule.template_id if settings.twilio_hipaa_enabled else None
    if template_id:
        values = _appointment_values(session, send, template_id)
        body = render_sms_template(session, template_id, client, values, settings)
    else:
        body = send.practice.sms_wording.replace("{when}", send.when)
    segments = check_sms_body(body)
    comm, block = queue_sms_for_client(
        session,
        client=client,
        to=number,
        body=body,
        segments=segments,
        sender=sender,
        settings=settings,
        template_id=template_id,
    )
    return record_single_send(
        session,
        sender,
        comm,
        block,
        queued_action=AuditAction.SMS_QUEUED,
        blocked_action=AuditAction.SMS_BLOCKED,
        segments=segments,
    )


def _email(
    session: Session, send: ReminderSend, sender: Sender, settings: Settings
) -> Communication:
    client = send.client
    if not client.email:
        raise ValidationFailed("the client has no email address", fields={"client_id": "no email"})
    address = email_address(client.email, "client_id", "the client's email")
    template_id = send.rule.template_id if settings.sendgrid_hipaa_enabled else None
    subject: str | None = send.practice.email_subject
    text = send.practice.email_wording.replace("{when}", send.when)
    html: str | None = None
    substitutions = None
    if template_id:
        values = _appointment_values(session, send, template_id)
        use, subject, text, html = use_email_template(
            session, template_id, client, values, settings
        )
        substitutions = use.values if use.template.sendgrid_template_id else None
    comm, block = queue_email_for_client(
        session,
        client=client,
        to=address,
        subject=subject,
        text=text,
        html=html,
        sender=sender,
        settings=settings,
        template_id=template_id,
        substitutions=substitutions,
    )
    return record_single_send(
        session,
        sender,
        comm,
        block,
        queued_action=AuditAction.EMAIL_QUEUED,
        blocked_action=AuditAction.EMAIL_BLOCKED,
    )


def queue_reminder(session: Session, send: ReminderSend, settings: Settings) -> Communication:
    """Write the reminder's message `queued` (its delivery job sent after commit).

    Raises MessageBlocked (the row was written `blocked` and audited) when the guard refuses it,
    ValidationFailed (nothing written) when it cannot be made: no number, a bad template.
    """
    sender = Sender(send.appointment.user_id, system=True)
    if send.rule.channel == "sms":
        return _sms(session, send, sender, settings)
    return _email(session, send, sender, settings)
