"""SendGrid's Event Webhook events in our terms: each event as a `StatusEvent`, which events
put the address on the suppression list, and which resubscribe lifts what."""

from __future__ import annotations

from dataclasses import dataclass

from proirp.comms.core.events import StatusEvent
from proirp.comms.email.payload import EVENT_ID_PREFIX, SendGridEvent, batch_id
from proirp.comms.models import CommunicationStatus

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


@dataclass(frozen=True)
class Suppression:
    """Why an event puts its address on the list: the event's name, our sentence, and the
    unsubscribe group a `group_unsubscribe` named."""

    cause: str
    reason: str
    group: int | None = None


def is_block(event: SendGridEvent) -> bool:
    """A `bounce` of type `blocked`: the receiving server refused this message (its reputation,
    its content), not the address. SendGrid does not suppress blocked addresses."""
    return event.type == "blocked"


def suppression_for(event: SendGridEvent) -> Suppression | None:
    """The suppression `event` calls for, if any."""
    reason = SENDGRID_SUPPRESSING_EVENTS.get(event.event)
    if reason is None or (event.event == "bounce" and is_block(event)):
        return None
    group = event.asm_group_id if event.event == "group_unsubscribe" else None
    return Suppression(cause=event.event, reason=reason, group=group)


def map_sendgrid_event(value: str) -> str:
    return SENDGRID_EVENT.get(value.lower(), S.UNKNOWN)


def _reason(event: SendGridEvent) -> str | None:
    if event.event == "bounce" and is_block(event):
        return "The recipient's mail server refused the email (a block, not a bad address)."
    if event.event == "bounce":
        return "The email bounced at the recipient's mail server."
    if event.event == "dropped":
        return "SendGrid dropped the email (the address is invalid or suppressed at SendGrid)."
    if event.event == "deferred":
        return "The recipient's mail server deferred the email; SendGrid keeps trying."
    return None


def status_event(event: SendGridEvent) -> StatusEvent:
    """One event of a verified batch as our event."""
    failed = event.event in ("bounce", "dropped")
    return StatusEvent(
        provider="sendgrid",
        status=map_sendgrid_event(event.event),
        event_id=f"{EVENT_ID_PREFIX}{event.sg_event_id}" if event.sg_event_id else None,
        provider_message_id=batch_id(event.sg_message_id) if event.sg_message_id else None,
        reference=event.reference or None,
        address=event.email or "",
        reason=_reason(event),
        # SendGrid's code for a failure (a bounce's SMTP status), never its text.
        error_code=(event.status or event.type) if failed else None,
        audit_details={"event": event.event},
    )
