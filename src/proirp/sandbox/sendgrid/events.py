"""Event Webhook events: which ones a delivered copy goes through, and each in SendGrid's format.

The recipient's address picks the lifecycle (the local part, case-insensitive, e.g.
`client+bounce@example.com`); these magic addresses are the sandbox's, not SendGrid's:

    any other address  processed, delivered
    …+bounce@…         processed, bounce
    …+drop@…           dropped (never processed)
    …+defer@…          processed, deferred, delivered
    …+spam@…           processed, delivered, spamreport
    …+unsub@…          processed, delivered, unsubscribe
    …+open@…           processed, delivered, open, click

Every event carries email, timestamp, event, sg_event_id, sg_message_id and smtp-id; category
when the message had categories; and each custom_arg as a top-level key, which is how SendGrid
hands custom_args back (a custom_arg never overrides one of SendGrid's own keys).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from proirp.sandbox.sendgrid.copies import DeliveredCopy

EVENT_NAMES = frozenset(
    {
        "processed", "dropped", "deferred", "delivered", "bounce",
        "open", "click", "spamreport", "unsubscribe", "group_unsubscribe",
    }
)  # fmt: skip
DEFAULT_LIFECYCLE = ("processed", "delivered")
MAGIC_LIFECYCLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("+bounce", ("processed", "bounce")),
    ("+drop", ("dropped",)),
    ("+defer", ("processed", "deferred", "delivered")),
    ("+spam", ("processed", "delivered", "spamreport")),
    ("+unsub", ("processed", "delivered", "unsubscribe")),
    ("+open", ("processed", "delivered", "open", "click")),
)
# SendGrid posts up to this many events in one request.
MAX_BATCH_EVENTS = 500

RECIPIENT_USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
RECIPIENT_IP = "192.0.2.10"  # TEST-NET-1: never a real recipient's
FALLBACK_CLICK_URL = "https://example.com/"
_LINK_IN_HTML = re.compile(r"""href=["'](https?://[^"']+)["']""", re.IGNORECASE)
_LINK_IN_TEXT = re.compile(r"https?://\S+")


def lifecycle_for(email: str) -> tuple[str, ...]:
    """The events a copy to `email` goes through, in order."""
    local_part = email.rpartition("@")[0].lower()
    for tag, lifecycle in MAGIC_LIFECYCLES:
        if tag in local_part:
            return lifecycle
    return DEFAULT_LIFECYCLE


def new_event_id() -> str:
    """A unique sg_event_id (22 URL-safe base64 characters)."""
    return secrets.token_urlsafe(16)


def build_event(
    copy: DeliveredCopy,
    name: str,
    *,
    timestamp: int,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One event for `copy`, as SendGrid's Event Webhook posts it."""
    event: dict[str, Any] = dict(copy.custom_args)
    event.update(
        {
            "email": copy.email,
            "timestamp": timestamp,
            "event": name,
            "sg_event_id": new_event_id(),
            "sg_message_id": copy.sg_message_id,
            "smtp-id": copy.smtp_id,
        }
    )
    if copy.categories:
        # One category comes as a string, several as an array.
        event["category"] = (
            copy.categories[0] if len(copy.categories) == 1 else list(copy.categories)
        )
    if copy.asm_group_id is not None:
        event["asm_group_id"] = copy.asm_group_id
    event.update(_details(copy, name))
    event.update(extra or {})
    return event


def encode_batch(events: Sequence[Mapping[str, Any]]) -> bytes:
    """SendGrid's bytes on the wire: compact JSON with sorted keys, one event per line (CRLF),
    and a trailing CRLF — the signature covers exactly these bytes."""
    lines = [
        json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for event in events
    ]
    return ("[" + ",\r\n".join(lines) + "]\r\n").encode()


def _details(copy: DeliveredCopy, name: str) -> dict[str, Any]:
    recipient = {"useragent": RECIPIENT_USER_AGENT, "ip": RECIPIENT_IP}
    if name == "processed":
        return {"send_at": copy.send_at or 0}
    if name == "delivered":
        return {"response": "250 OK", "tls": 1}
    if name == "deferred":
        return {"response": "400 try again later", "attempt": "1"}
    if name == "bounce":
        return {
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "status": "5.1.1",
            "type": "bounce",
            "bounce_classification": "Invalid Address",
        }
    if name == "dropped":
        return {"reason": "Bounced Address", "status": "5.0.0"}
    if name == "open":
        return {**recipient, "sg_machine_open": False}
    if name == "click":
        return {**recipient, "url": _first_link(copy), "url_offset": {"index": 0, "type": "html"}}
    if name == "group_unsubscribe":
        return {**recipient, "url": _first_link(copy)}
    return {}  # spamreport, unsubscribe


def _first_link(copy: DeliveredCopy) -> str:
    found = _LINK_IN_HTML.search(copy.html or "") or _LINK_IN_TEXT.search(copy.text or "")
    return found.group(found.lastindex or 0) if found else FALLBACK_CLICK_URL
