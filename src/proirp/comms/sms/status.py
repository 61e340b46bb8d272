"""Twilio's message statuses in our terms, and a status callback as a `StatusEvent`."""

from __future__ import annotations

from collections.abc import Mapping

from proirp.comms.core.events import StatusEvent
from proirp.comms.models import CommunicationStatus
from proirp.integrations.twilio.errors import reason_for

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


def callback_event(params: Mapping[str, str], reference: str | None) -> StatusEvent | None:
    """A verified status callback as our event; None when it names no message."""
    sid = params.get("MessageSid", "")
    if not sid:
        return None
    twilio_status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    code = params.get("ErrorCode") or None
    status = map_twilio_status(twilio_status)
    return StatusEvent(
        provider="twilio",
        status=status,
        event_id=f"twilio:{sid}:{twilio_status}",
        provider_message_id=sid,
        message_id_is_unique=True,
        reference=reference,
        reason=reason_for(int(code)) if code and code.isdigit() else None,
        error_code=code,
        audit_details={"error_code": code},
    )
