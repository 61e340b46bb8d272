"""SendGrid's Event Webhook events in our terms: each event as a `StatusEvent`, which events
put the address on the suppression list, and which resubscribe lifts what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proirp.comms.core.events import StatusEvent
from proirp.comms.models import CommunicationStatus
from proirp.integrations.sendgrid.adapter import REFERENCE_ARG

S = CommunicationStatus

# `processed` is SendGrid taking the message into its queue; `deferred` is a retry at the
# receiving server. Opens, clicks, spam reports and unsubscribes all mean the message arrived.
# Anything new maps to "unknown", which is recorded in the history but never moves a message back.
SENDGRID_EVENT: dict[str, str] = {
    "processed": S.SENT,
    "deferred": S.SENT,
    "delivered": S.DELIVERED,
    "open": S.DELIVERED,
    "click": S.DELIVERED,
    "spamreport": S.DELIVERED,
    "unsubscribe": S.DELIVERED,
    "group_unsubscribe": S.DELIVERED,
    "group_resubscribe": S.DELIVERED,
    "bounce": S.UNDELIVERED,
    "blocked": S.UNDELIVERED,
    "dropped": S.FAILED,
}
# Events after which the address must not be mailed again (the email suppression list). A
# `bounce` whose `type` is `blocked` is not among them: see `suppression_for`.
SENDGRID_SUPPRESSING_EVENTS: dict[str, str] = {
    "bounce": "The address bounced.",
    "dropped": "SendGrid dropped mail to the address (invalid, bounced or unsubscribed before).",
    "spamreport": "The recipient reported our email as spam.",
    "unsubscribe": "The recipient unsubscribed.",
    "group_unsubscribe": "The recipient unsubscribed.",
}
# SendGrid's unsubscribe group ids are positive 32-bit integers.
_MAX_GROUP = 2**31 - 1


@dataclass(frozen=True)
class Suppression:
    """Why an event puts its address on the list: the event's name, our sentence, and the
    unsubscribe group a `group_unsubscribe` named."""

    cause: str
    reason: str
    group: int | None = None


def unsubscribe_group(event: dict[str, Any]) -> int | None:
    """The event's `asm_group_id` when it is a group id, else None."""
    value = event.get("asm_group_id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_GROUP:
        return value
    return None


def is_block(event: dict[str, Any]) -> bool:
    """A `bounce` of type `blocked`: the receiving server refused this message (its reputation,
    its content), not the address. SendGrid does not suppress blocked addresses."""
    return event.get("type") == "blocked"


def suppression_for(event: dict[str, Any]) -> Suppression | None:
    """The suppression `event` calls for, if any."""
    name = str(event.get("event", "")).lower()
    reason = SENDGRID_SUPPRESSING_EVENTS.get(name)
    if reason is None or (name == "bounce" and is_block(event)):
        return None
    group = unsubscribe_group(event) if name == "group_unsubscribe" else None
    return Suppression(cause=name, reason=reason, group=group)


def map_sendgrid_event(value: str) -> str:
    return SENDGRID_EVENT.get(value.lower(), S.UNKNOWN)


def _event_error(event: dict[str, Any]) -> str | None:
    """SendGrid's reason code for a failure (e.g. a bounce's SMTP status), never its text."""
    for key in ("status", "type"):
        value = event.get(key)
        if isinstance(value, str) and value:
            return value[:32]
    return None


def _reason(name: str, event: dict[str, Any]) -> str | None:
    if name == "bounce" and is_block(event):
        return "The recipient's mail server refused the email (a block, not a bad address)."
    if name == "bounce":
        return "The email bounced at the recipient's mail server."
    if name == "dropped":
        return "SendGrid dropped the email (the address is invalid or suppressed at SendGrid)."
    if name == "deferred":
        return "The recipient's mail server deferred the email; SendGrid keeps trying."
    return None


def status_event(event: dict[str, Any]) -> StatusEvent:
    """One event of a verified batch as our event."""
    name = str(event.get("event", "")).lower()
    event_id = str(event.get("sg_event_id") or "")
    reference = event.get(REFERENCE_ARG)
    message_id = event.get("sg_message_id")
    return StatusEvent(
        provider="sendgrid",
        status=map_sendgrid_event(name),
        event_id=f"sendgrid:{event_id}" if event_id else None,
        # SendGrid's id is the batch's, followed by a per-recipient part after the first dot.
        provider_message_id=str(message_id).split(".", 1)[0][:128] if message_id else None,
        reference=reference if isinstance(reference, str) and reference else None,
        address=str(event.get("email") or ""),
        reason=_reason(name, event),
        error_code=_event_error(event) if name in ("bounce", "dropped") else None,
        audit_details={"event": name[:32]},
    )
