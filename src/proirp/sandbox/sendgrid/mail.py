"""A mail/send request as the sandbox holds it once read: envelopes (personalizations), sender,
content and the fields the ledger reports, plus the request schema's field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Every property of the published request schema (the contract test holds these to the spec).
REQUEST_FIELDS = frozenset(
    {
        "personalizations", "from", "reply_to", "reply_to_list", "subject", "content",
        "attachments", "template_id", "headers", "categories", "custom_args", "send_at",
        "batch_id", "asm", "ip_pool_name", "mail_settings", "tracking_settings",
    }
)  # fmt: skip
PERSONALIZATION_FIELDS = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "headers", "substitutions",
        "dynamic_template_data", "custom_args", "send_at",
    }
)  # fmt: skip
# The ones the sandbox acts on; the rest are accepted and listed in the ledger as ignored.
MODELLED_FIELDS = frozenset(
    {
        "personalizations", "from", "reply_to", "subject", "content", "template_id",
        "headers", "categories", "custom_args", "send_at", "asm",
    }
)  # fmt: skip
RECIPIENT_KINDS = ("to", "cc", "bcc")


@dataclass(frozen=True)
class Address:
    """An email object: address and optional display name."""

    email: str
    name: str | None = None

    def as_json(self) -> dict[str, str]:
        """The object as SendGrid's API writes it."""
        return {"email": self.email} | ({"name": self.name} if self.name else {})


@dataclass(frozen=True)
class Personalization:
    """One envelope: its recipients and what it overrides or adds."""

    to: tuple[Address, ...]
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    from_: Address | None = None
    subject: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    substitutions: dict[str, str] = field(default_factory=dict)
    dynamic_template_data: dict[str, Any] = field(default_factory=dict)
    custom_args: dict[str, str] = field(default_factory=dict)
    send_at: int | None = None

    def recipients(self) -> list[tuple[str, int, Address]]:
        """(kind, index within kind, address) for to, then cc, then bcc."""
        return [
            (kind, index, address)
            for kind in RECIPIENT_KINDS
            for index, address in enumerate(getattr(self, kind))
        ]


@dataclass(frozen=True)
class MailSend:
    """A validated mail/send request."""

    personalizations: tuple[Personalization, ...]
    from_: Address
    reply_to: Address | None
    subject: str | None
    text: str | None
    html: str | None
    template_id: str | None
    headers: dict[str, str]
    custom_args: dict[str, str]
    categories: tuple[str, ...]
    send_at: int | None
    asm_group_id: int | None
    ignored_fields: tuple[str, ...]
