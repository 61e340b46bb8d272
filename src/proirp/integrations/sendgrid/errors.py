"""SendGrid's answers in plain English, and which of them are safe to retry.

SendGrid's own error messages sometimes quote an address, so a reason is built from the status
and the field SendGrid names, never from its message text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

REASONS: dict[int, str] = {
    400: "SendGrid refused the message as invalid",
    401: "SendGrid refused the API key (SENDGRID_API_KEY is wrong, expired or revoked)",
    403: "SendGrid refused: the API key lacks Mail Send permission or the sender is not verified",
    404: "SendGrid could not find what the message refers to",
    413: "SendGrid refused the message as too large (30 MB limit, attachments included)",
    429: "SendGrid's rate limit was reached; retrying later",
    500: "SendGrid had an internal error; retrying later",
    502: "SendGrid was unavailable (bad gateway); retrying later",
    503: "SendGrid was unavailable; retrying later",
    504: "SendGrid timed out upstream; retrying later",
}


def is_retryable(status: int) -> bool:
    """429 and 5xx: nothing was accepted, and SendGrid says to try again."""
    return status == 429 or status >= 500


def reason_for(status: int, body: bytes | str | None) -> str:
    """A plain-English reason, naming the fields SendGrid objected to (never their values)."""
    reason = REASONS.get(status) or (
        f"SendGrid answered HTTP {status}; retrying later"
        if is_retryable(status)
        else f"SendGrid refused the message (HTTP {status})"
    )
    fields = sorted({str(f) for f in _error_fields(body) if f})
    if fields:
        reason += " (" + ", ".join(fields[:5]) + ")"
    return reason


def _error_fields(body: bytes | str | None) -> list[Any]:
    try:
        parsed = json.loads(body or b"")
    except (ValueError, TypeError):
        return []
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if not isinstance(errors, list):
        return []
    return [error.get("field") for error in errors if isinstance(error, dict)]


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """When SendGrid says the rate-limit window resets (`X-RateLimit-Reset`, epoch seconds)."""
    if not headers:
        return None
    by_name = {name.lower(): value for name, value in headers.items()}  # names ignore case
    for name in ("retry-after", "x-ratelimit-reset"):
        value = by_name.get(name)
        if value is None:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if name == "retry-after":
            return max(0.0, number)
        return max(0.0, number - (now if now is not None else time.time()))
    return None
