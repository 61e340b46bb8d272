"""Verifying SendGrid's signed Event Webhook with the SDK's own verifier.

SendGrid signs `timestamp + raw body` with ECDSA P-256; the verification key is the base64 text
from Mail Settings. A timestamp outside the replay window is refused even with a good signature.
"""

from __future__ import annotations

import binascii
import time

from cryptography.exceptions import UnsupportedAlgorithm
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE
TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP
REPLAY_WINDOW_SECONDS = 300


def signature_problem(
    public_key: str,
    payload: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: float | None = None,
) -> str | None:
    """Why these events must be refused, or None when they are genuine and fresh."""
    if not public_key:
        return "no verification key is configured (SENDGRID_WEBHOOK_PUBLIC_KEY)"
    if not signature or not timestamp:
        return "the signature headers are missing"
    try:
        sent_at = int(timestamp)
    except ValueError:
        return "the timestamp is not a number"
    current = time.time() if now is None else now
    if abs(current - sent_at) > REPLAY_WINDOW_SECONDS:
        return "the timestamp is more than 5 minutes away (a replay, or a clock problem)"
    try:
        text = payload.decode("utf-8")
        verifier = EventWebhook()
        key = verifier.convert_public_key_to_ecdsa(public_key)
        valid = verifier.verify_signature(text, signature, timestamp, key)
    except (UnicodeDecodeError, ValueError, binascii.Error, UnsupportedAlgorithm):
        return "the signature or the key is malformed"
    return None if valid else "the signature does not match"
