"""Twilio's message statuses in our terms, and a status callback as a `StatusEvent`.

A callback's fields are checked against where they are kept: a message SID or status that holds
a NUL or does not fit refuses the callback (a cut SID could name another message); an ErrorCode
that is not a code is left out and the status applied without it.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints

from proirp.comms.core.events import StatusEvent
from proirp.comms.models import CommunicationStatus
from proirp.integrations.twilio.errors import reason_for
from proirp.kit.input import RequestBody

S = CommunicationStatus

# Twilio's message statuses mapped to ours; anything new maps to "unknown" rather than failing.
TWILIO_STATUS: dict[str, str] = {
    "accepted": S.SENDING,
    "scheduled": S.SENDING,
    "queued": S.SENDING,
    "sending": S.SENDING,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "canceled": S.FAILED,
}


def map_twilio_status(value: str) -> str:
    return TWILIO_STATUS.get(value.lower(), S.UNKNOWN)


EVENT_ID_PREFIX = "twilio:"
# Our event id for a callback, twilio:<SID>:<status>, fits where event ids are kept (128), and
# the SID where message ids are (tests/comms/test_webhook_fields.py holds them so).
MAX_SID = 64  # Twilio's SIDs have 34 characters
MAX_STATUS = 32
# Twilio's error codes are numbers (30003); the column holds 32 characters.
ERROR_CODE = re.compile(r"[0-9]{1,10}")


def _error_code_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and ERROR_CODE.fullmatch(value) else None


Status = Annotated[str, StringConstraints(max_length=MAX_STATUS)]


class StatusCallback(RequestBody):
    """The fields of a status callback the product reads (Twilio's other fields are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message_sid: Annotated[str, StringConstraints(max_length=MAX_SID)] = Field(
        default="", alias="MessageSid"
    )
    message_status: Status | None = Field(default=None, alias="MessageStatus")
    sms_status: Status | None = Field(default=None, alias="SmsStatus")
    error_code: Annotated[str | None, BeforeValidator(_error_code_or_none)] = Field(
        default=None, alias="ErrorCode"
    )


def callback_event(callback: StatusCallback, reference: str | None) -> StatusEvent | None:
    """A verified status callback as our event; None when it names no message."""
    sid = callback.message_sid
    if not sid:
        return None
    twilio_status = callback.message_status or callback.sms_status or ""
    code = callback.error_code
    return StatusEvent(
        provider="twilio",
        status=map_twilio_status(twilio_status),
        event_id=f"{EVENT_ID_PREFIX}{sid}:{twilio_status}",
        provider_message_id=sid,
        message_id_is_unique=True,
        reference=reference,
        reason=reason_for(int(code)) if code else None,
        error_code=code,
        audit_details={"error_code": code},
    )
