"""What the product asks of an SMS provider and of an email provider.

The vendor packages implement these (`twilio.adapter.TwilioSmsSender`,
`sendgrid.adapter.SendGridEmailSender`); dispatch knows only the Protocols, so a test can hand it
a sender that times out, refuses, or answers late.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from proirp.integrations.base import EmailBatch, MediaContent, ProviderMessage, SendResult


class SmsSender(Protocol):
    """Sends one SMS, finds messages again for reconciliation, and fetches inbound media."""

    @property
    def from_number(self) -> str: ...

    def send(self, to: str, body: str, *, status_callback: str | None) -> SendResult:
        """Hand one message to the provider; raises a ProviderError subclass on failure."""
        ...

    def fetch(self, provider_message_id: str) -> ProviderMessage:
        """The message the provider knows by this id."""
        ...

    def find_sent(self, to: str, *, since: datetime) -> list[ProviderMessage]:
        """Messages sent to `to` since `since` (for a send whose answer was lost)."""
        ...

    def fetch_media(self, media_url: str) -> MediaContent:
        """One media file of an inbound message, by the URL its webhook gave; raises
        ProviderPermanentError for a URL that is not the provider's own."""
        ...


class EmailSender(Protocol):
    """Sends one batch: shared content, up to 1,000 recipients, in one provider call."""

    def send(self, batch: EmailBatch) -> list[SendResult]:
        """Hand the batch to the provider; raises a ProviderError subclass on failure."""
        ...
