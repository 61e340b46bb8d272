"""The Message resource: how a create request is read and how a message is rendered."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from proirp.sandbox.twilio.errors import TwilioApiError
from proirp.sandbox.twilio.numbers import (
    MAGIC_FROM_ERRORS,
    MAGIC_TO_ERRORS,
    is_valid_sender,
    normalise_recipient,
)

if TYPE_CHECKING:
    from proirp.sandbox.twilio.media import MediaRecord

API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
MAX_VALIDITY_PERIOD = 36_000
PRICE_PER_SEGMENT = 0.0079

# Every form parameter Twilio's CreateMessage accepts (the contract test holds this to the spec).
CREATE_PARAMETERS = frozenset(
    {
        "To", "StatusCallback", "ApplicationSid", "MaxPrice", "ProvideFeedback", "Attempt",
        "ValidityPeriod", "ForceDelivery", "ContentRetention", "AddressRetention", "SmartEncoded",
        "PersistentAction", "TrafficType", "ShortenUrls", "ScheduleType", "SendAt", "SendAsMms",
        "ContentVariables", "RiskCheck", "From", "FallbackFrom", "MessagingServiceSid", "Body",
        "MediaUrl", "ContentSid",
    }
)  # fmt: skip
# The ones the sandbox acts on; the rest are accepted and listed in the ledger as ignored.
MODELLED_PARAMETERS = frozenset(
    {"To", "From", "Body", "StatusCallback", "MessagingServiceSid", "ValidityPeriod", "MediaUrl"}
)
UPDATE_PARAMETERS = frozenset({"Body", "Status"})

_MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def count_segments(body: str) -> int:
    """SMS segments for `body`: GSM-7 160 (153 when split), otherwise UCS-2 70 (67)."""
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENSION for char in body):
        units = sum(2 if char in _GSM7_EXTENSION else 1 for char in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2  # UCS-2 code units; emoji take two
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format: 'Thu, 24 Aug 2023 05:01:45 +0000'."""
    return format_datetime(moment) if moment is not None else None


def message_uri(account_sid: str, sid: str) -> str:
    """The Twilio-relative URI of one message."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"


@dataclass(frozen=True)
class CreateRequest:
    """A validated CreateMessage request."""

    to: str
    from_: str | None
    body: str
    status_callback: str | None
    messaging_service_sid: str | None
    validity_period: int | None
    num_media: int
    ignored_params: tuple[str, ...]


def parse_create_form(items: list[tuple[str, str]]) -> CreateRequest:
    """Validate CreateMessage's form parameters in Twilio's order of complaints."""
    unknown = sorted({name for name, _ in items} - CREATE_PARAMETERS)
    if unknown:
        # Twilio ignores unknown names; the sandbox refuses them so a misspelt parameter in
        # the product fails a test instead of being silently dropped in production.
        raise TwilioApiError(20001, name=unknown[0])
    values = {name: value for name, value in items}
    to = values.get("To", "").strip()
    from_ = values.get("From", "").strip() or None
    body = values.get("Body", "")
    service = values.get("MessagingServiceSid", "").strip() or None
    media = [value for name, value in items if name == "MediaUrl" and value]

    if not to:
        raise TwilioApiError(21604)
    if from_ is None and service is None:
        raise TwilioApiError(21603)
    if service is not None and not _MESSAGING_SERVICE_SID.match(service):
        raise TwilioApiError(21701, sid=service)
    if not body and not media and not values.get("ContentSid"):
        raise TwilioApiError(21602)
    if len(body) > MAX_BODY_CHARS:
        raise TwilioApiError(21617)
    validity_period = _validity_period(values.get("ValidityPeriod"))
    if from_ is not None:
        if from_ in MAGIC_FROM_ERRORS:
            raise TwilioApiError(MAGIC_FROM_ERRORS[from_], from_=from_)
        if not is_valid_sender(from_):
            raise TwilioApiError(21212, from_=from_)
    if to in MAGIC_TO_ERRORS:
        raise TwilioApiError(MAGIC_TO_ERRORS[to], to=to, from_=from_ or "")
    normalised = normalise_recipient(to)
    if normalised is None:
        raise TwilioApiError(21211, to=to)
    return CreateRequest(
        to=normalised,
        from_=from_,
        body=body,
        status_callback=values.get("StatusCallback") or None,
        messaging_service_sid=service,
        validity_period=validity_period,
        num_media=len(media),
        ignored_params=tuple(sorted({name for name, _ in items} - MODELLED_PARAMETERS)),
    )


def _validity_period(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        seconds = int(raw)
    except ValueError:
        raise TwilioApiError(21624) from None
    if not 1 <= seconds <= MAX_VALIDITY_PERIOD:
        raise TwilioApiError(21624)
    return seconds


@dataclass
class MessageRecord:
    """One message the sandbox holds, outbound or inbound."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    direction: str
    status: str
    num_segments: int
    num_media: int
    messaging_service_sid: str | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None
    error_code: int | None = None
    error_message: str | None = None
    price: str | None = None
    status_callback: str | None = None
    validity_period: int | None = None
    ignored_params: tuple[str, ...] = ()
    # Statuses still to come, in order (the lifecycle consumes them).
    pending_statuses: list[str] = field(default_factory=list)
    callbacks: list[dict[str, object]] = field(default_factory=list)
    # Inbound only: the media a simulated client attached, and the webhook form as first POSTed
    # (a retry sends exactly this again).
    media: list[MediaRecord] = field(default_factory=list)
    webhook_params: dict[str, str] | None = None

    def resource(self) -> dict[str, Any]:
        """The message exactly as Twilio's API renders it."""
        uri = message_uri(self.account_sid, self.sid)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(self.num_media),
            "num_segments": str(self.num_segments),
            "price": self.price,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
            "to": self.to,
            "uri": uri,
        }

    def ledger_entry(self) -> dict[str, Any]:
        """The resource plus what only the sandbox knows (for tests and the UI)."""
        entry = self.resource()
        entry.update(
            status_callback=self.status_callback,
            validity_period=self.validity_period,
            ignored_params=list(self.ignored_params),
            callbacks=[dict(callback) for callback in self.callbacks],
        )
        return entry

    def charge(self) -> None:
        """Set the price Twilio reports once a message has gone out."""
        self.price = f"-{PRICE_PER_SEGMENT * max(1, self.num_segments):.5f}"
