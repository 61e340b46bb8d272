"""Delivered copies: one per recipient per personalization, as SendGrid tracks them.

Each copy has its own `sg_message_id` (the request's X-Message-Id plus a suffix, as SendGrid's
are), its own subject and bodies after substitutions or template rendering, and its own events.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proirp.sandbox.sendgrid.mail import Address, MailSend, Personalization
from proirp.sandbox.sendgrid.templates import DynamicTemplate, RenderedContent, render_template


def new_message_id() -> str:
    """An X-Message-Id like SendGrid's: 22 URL-safe base64 characters."""
    return secrets.token_urlsafe(16)


@dataclass
class DeliveredCopy:
    """One copy of an accepted message, addressed to one recipient."""

    x_message_id: str
    sg_message_id: str
    email: str
    name: str | None
    kind: str  # "to", "cc" or "bcc"
    personalization: int
    from_: Address
    reply_to: Address | None
    subject: str | None
    text: str | None
    html: str | None
    headers: dict[str, str]
    custom_args: dict[str, str]
    categories: tuple[str, ...]
    template_id: str | None
    send_at: int | None
    asm_group_id: int | None
    ignored_fields: tuple[str, ...]
    accepted_at: datetime
    # Events still to come, in order (the event lifecycle consumes them).
    pending_events: list[str] = field(default_factory=list)
    # Events posted so far: name, sg_event_id, attempts, the app's HTTP status.
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def smtp_id(self) -> str:
        """The Message-ID header SendGrid's MTA gives the email (events carry it as smtp-id)."""
        return f"<{self.x_message_id}@ismtpd0001p1sandbox.sendgrid.net>"

    def ledger_entry(self) -> dict[str, Any]:
        """Everything the sandbox knows about this copy, for tests and the UI."""
        return {
            "x_message_id": self.x_message_id,
            "sg_message_id": self.sg_message_id,
            "to": self.email,
            "name": self.name,
            "kind": self.kind,
            "personalization": self.personalization,
            "from": self.from_.as_json(),
            "reply_to": self.reply_to.as_json() if self.reply_to else None,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "headers": dict(self.headers),
            "custom_args": dict(self.custom_args),
            "categories": list(self.categories),
            "template_id": self.template_id,
            "send_at": self.send_at,
            "asm_group_id": self.asm_group_id,
            "ignored_fields": list(self.ignored_fields),
            "accepted_at": self.accepted_at.isoformat(),
            "events": [dict(event) for event in self.events],
        }


def expand_copies(
    mail: MailSend,
    *,
    x_message_id: str,
    template: DynamicTemplate | None,
    accepted_at: datetime,
) -> list[DeliveredCopy]:
    """The copies SendGrid makes of an accepted request, in personalization and recipient order."""
    copies: list[DeliveredCopy] = []
    for number, personalization in enumerate(mail.personalizations):
        content = _content_for(mail, personalization, template)
        for kind, _, address in personalization.recipients():
            copies.append(
                DeliveredCopy(
                    x_message_id=x_message_id,
                    sg_message_id=f"{x_message_id}.filterdrecv-{len(copies)}",
                    email=address.email,
                    name=address.name,
                    kind=kind,
                    personalization=number,
                    from_=personalization.from_ or mail.from_,
                    reply_to=mail.reply_to,
                    subject=content.subject,
                    text=content.text,
                    html=content.html,
                    headers={**mail.headers, **personalization.headers},
                    custom_args={**mail.custom_args, **personalization.custom_args},
                    categories=mail.categories,
                    template_id=mail.template_id,
                    send_at=personalization.send_at or mail.send_at,
                    asm_group_id=mail.asm_group_id,
                    ignored_fields=mail.ignored_fields,
                    accepted_at=accepted_at,
                )
            )
    return copies


def substitute(text: str | None, substitutions: Mapping[str, str]) -> str | None:
    """SendGrid's legacy substitutions: each key replaced by its value, as plain text."""
    if text is None:
        return None
    for key, value in substitutions.items():
        text = text.replace(key, value)
    return text


def _content_for(
    mail: MailSend, personalization: Personalization, template: DynamicTemplate | None
) -> RenderedContent:
    subject = personalization.subject or mail.subject
    if template is not None:
        # A dynamic template's subject and bodies replace the request's own.
        rendered = render_template(template, personalization.dynamic_template_data)
        return RenderedContent(rendered.subject or subject, rendered.text, rendered.html)
    substitutions = personalization.substitutions
    return RenderedContent(
        subject=substitute(subject, substitutions),
        text=substitute(mail.text, substitutions),
        html=substitute(mail.html, substitutions),
    )
