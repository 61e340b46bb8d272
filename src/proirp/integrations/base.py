"""What every provider adapter speaks: our own results and three kinds of failure.

- ProviderTemporaryError: nothing was accepted and retrying is safe (429, 5xx, connect failures).
- ProviderPermanentError: the provider refused for good (invalid number, opted out, bad auth).
- ProviderAmbiguousError: the request left but no answer came back; it may have been accepted.
Messages carry the provider's code and a plain-English reason, never a body or an address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ProviderError(Exception):
    def __init__(self, provider: str, code: str | None, reason: str) -> None:
        super().__init__(f"{provider} error {code}: {reason}" if code else f"{provider}: {reason}")
        self.provider = provider
        self.code = code
        self.reason = reason


class ProviderTemporaryError(ProviderError):
    def __init__(
        self, provider: str, code: str | None, reason: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(provider, code, reason)
        self.retry_after = retry_after


class ProviderPermanentError(ProviderError):
    pass


class ProviderAmbiguousError(ProviderError):
    pass


class ProviderMisconfigured(ProviderError):
    """This server's own settings keep the provider out of reach (a file a setting names is
    missing). `code` is the setting; only an operator can help, so nothing retries."""


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str


@dataclass(frozen=True)
class ProviderMessage:
    """A message as the provider knows it, for reconciliation and status lookups."""

    provider_message_id: str
    to: str
    body: str | None
    status: str
    created_at: datetime | None
    error_code: str | None


@dataclass(frozen=True)
class MediaContent:
    """A media file as the provider serves it (a client's photo or document: never logged)."""

    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class EmailRecipient:
    """One personalization of a batch: one recipient and what is particular to them."""

    to: str
    reference: str  # our communication id, carried back in every event as a custom arg
    subject: str | None = None
    substitutions: dict[str, str] = field(default_factory=dict)
    dynamic_template_data: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EmailBatch:
    """One provider call: shared content, up to 1,000 recipients."""

    from_email: str
    from_name: str | None
    recipients: list[EmailRecipient]
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    template_id: str | None = None
    categories: list[str] = field(default_factory=list)
