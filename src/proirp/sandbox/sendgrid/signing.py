"""Signed Event Webhook requests, exactly as SendGrid signs them.

SendGrid signs `timestamp + raw body` with ECDSA P-256 / SHA-256 and sends the base64 DER
signature and the timestamp in two headers. `sign_payload` is public so product tests can forge or
replay events the way SendGrid would send them.
"""

from __future__ import annotations

import base64
import functools
import time

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from proirp.sandbox.dispatch import WebhookResult

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
USER_AGENT = "SendGrid Event API"
WEBHOOK_TIMEOUT_SECONDS = 5.0


@functools.lru_cache(maxsize=8)
def _private_key(private_key_b64: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_der_private_key(base64.b64decode(private_key_b64), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the Event Webhook signing key must be an EC (P-256) key")
    return key


def sign_payload(payload: bytes, timestamp: str, private_key_b64: str) -> str:
    """The X-Twilio-Email-Event-Webhook-Signature value for `payload` sent at `timestamp`.

    `private_key_b64` is a PKCS8 DER key in base64 (the sandbox's is
    proirp.sandbox.config.SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY).
    """
    key = _private_key(private_key_b64)
    signature = key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def signed_headers(
    payload: bytes, private_key_b64: str, *, timestamp: str | None = None
) -> dict[str, str]:
    """The headers of one Event Webhook request carrying `payload`."""
    timestamp = timestamp or str(int(time.time()))
    return {
        "Content-Type": "application/json;charset=utf-8",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign_payload(payload, timestamp, private_key_b64),
    }


def post_signed_events(url: str, payload: bytes, *, private_key_b64: str) -> WebhookResult:
    """POST an encoded event batch to `url`, signed now.

    Never raises for transport problems: a webhook that cannot be reached is a result.
    """
    try:
        response = requests.post(
            url,
            data=payload,
            headers=signed_headers(payload, private_key_b64),
            timeout=WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        return WebhookResult(status=None, text="", error=type(error).__name__)
    return WebhookResult(status=response.status_code, text=response.text)
