"""The message composer of a client's page: its form read into the API's own `CommCreate`, a
check of what the guard would say before anything is sent, and the send itself, through the very
function POST /comms uses.

The check writes nothing: it runs the checks a send runs, in the same order, with the domain's
own functions (the provider, the template and its PHI variables, the number or address, the
body, then the guard: consent, opt-out or suppression, PHI without a BAA). The send is the
real thing, and says the same again if anything changed in between."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from proirp.auth.models import User
from proirp.clients.models import Client
from proirp.comms.models import Communication, Template
from proirp.comms.outgoing import check_message, queue_message
from proirp.comms.schemas import CommCreate
from proirp.comms.templates import service as templates
from proirp.comms.templates.rendering import phi_variables
from proirp.comms.templates.variables import known_values
from proirp.config import Settings
from proirp.kit.errors import AppError, ValidationFailed
from proirp.kit.origin import RequestOrigin
from proirp.kit.pagination import PageParams
from proirp.web.routing import field_messages

CHANNELS = {"sms": "SMS", "email": "Email"}
PROVIDER = {"sms": "Twilio", "email": "SendGrid"}
VARIABLE_PREFIX = "var."
MAX_VARIABLE = 1000
TEMPLATES_LISTED = 200


@dataclass
class Draft:
    """What the composer holds: shown again, filled in, after a check or a refusal."""

    channel: str = "sms"
    template_id: str | None = None
    subject: str | None = None
    body: str | None = None
    send_at: str | None = None  # as the form gave it: a local date and time
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """What a check or a refused send found: `ok`, or why not (and the fields at fault)."""

    ok: bool
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    blocked: bool = False  # the guard refused it (consent, opt-out, suppression, PHI)


def read_draft(form: FormData, template: Template | None) -> Draft:
    def text(name: str) -> str | None:
        value = form.get(name)
        return value if isinstance(value, str) and value.strip() else None

    variables = {
        str(name).removeprefix(VARIABLE_PREFIX): value.strip()
        for name, value in form.multi_items()
        if str(name).startswith(VARIABLE_PREFIX) and isinstance(value, str) and value.strip()
    }
    return Draft(
        channel=template.channel if template else (text("channel") or ""),
        template_id=template.id if template else None,
        subject=(text("subject") or "").strip() or None,
        body=text("body"),
        send_at=(text("send_at") or "").strip() or None,
        variables=variables,
    )


def _send_at(value: str | None, zone: ZoneInfo) -> str | None:
    """The form's local date and time, in the practice's zone, as ISO 8601 with its offset."""
    if value is None:
        return None
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            "send at is not a date and time", fields={"send_at": "is not a date and time"}
        ) from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.isoformat()


def request_of(draft: Draft, client_id: str, zone: ZoneInfo) -> CommCreate:
    """The API's request body for this draft (its validation is the API's)."""
    body: dict[str, Any] = {"client_id": client_id, "type": draft.channel}
    if draft.template_id:
        body["template_id"] = draft.template_id
        body["variables"] = {k: v[:MAX_VARIABLE] for k, v in draft.variables.items()}
    else:
        body["body"] = draft.body
        if draft.subject is not None:
            body["subject"] = draft.subject
    send_at = _send_at(draft.send_at, zone)
    if send_at is not None:
        body["send_at"] = send_at
    return CommCreate.model_validate(body)


def refusal_of(error: AppError | pydantic.ValidationError) -> Verdict:
    if isinstance(error, pydantic.ValidationError):
        fields = field_messages(list(error.errors()))
        return Verdict(False, "Some fields need another look.", fields)
    return Verdict(False, error.message, dict(error.fields or {}), blocked=False)


def template_block(template: Template, settings: Settings) -> str | None:
    """Why this template cannot go at all on this server, known before anything is typed: its
    PHI variables, on a channel whose provider has not signed a BAA (the rule both channels'
    senders apply before rendering)."""
    phi = phi_variables(template)
    signed = (
        settings.twilio_hipaa_enabled
        if template.channel == "sms"
        else settings.sendgrid_hipaa_enabled
    )
    if not phi or signed:
        return None
    return (
        f"This template cannot be sent: it uses PHI variables ({', '.join(phi)}) and "
        f"{PROVIDER[template.channel]} has no signed BAA, so no PHI may go by "
        f"{CHANNELS[template.channel]}. Choose a template without PHI variables, or write a "
        "generic message such as 'Please call our office.'"
    )


def filled_from_record(template: Template, client: Client, settings: Settings) -> set[str]:
    """The template's variables the product fills in itself (the rest the sender gives)."""
    known = known_values(client, settings)
    return {str(v["name"]) for v in template.variables or [] if str(v["name"]) in known}


def context(
    session: Session,
    settings: Settings,
    client: Client,
    draft: Draft,
    template_id: str | None,
) -> dict[str, Any]:
    """What the composer shows: the templates to start from (those that cannot go here said
    so), the chosen one with its variables and why it cannot go, and the draft."""
    listed, _ = templates.list_templates(
        session, channel=None, page=PageParams(limit=TEMPLATES_LISTED, cursor=None)
    )
    chosen_id = draft.template_id or template_id
    template = templates.get_template(session, chosen_id) if chosen_id else None
    return {
        "templates": listed,
        "blocked_templates": {t.id for t in listed if template_block(t, settings)},
        "template": template,
        "template_block": template_block(template, settings) if template else None,
        "filled": filled_from_record(template, client, settings) if template else set(),
        "phi_names": set(phi_variables(template)) if template else set(),
        "draft": draft,
        "channels": CHANNELS,
    }


def check(session: Session, body: CommCreate, settings: Settings, *, user_id: str) -> Verdict:
    """What the send would say, without sending or writing anything."""
    try:
        block = check_message(session, body, settings, user_id=user_id)
    except AppError as refused:
        return refusal_of(refused)
    if block is not None:
        return Verdict(False, block.message, {block.field: block.message}, blocked=True)
    return Verdict(True, "Nothing stops this message: it can be sent.")


def send(
    session: Session, body: CommCreate, *, user: User, origin: RequestOrigin, settings: Settings
) -> Communication:
    """Queue the message as POST /comms does (MessageBlocked: recorded as blocked, to commit)."""
    return queue_message(session, body, user=user, origin=origin, settings=settings)
