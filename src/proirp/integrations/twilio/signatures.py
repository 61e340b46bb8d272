"""Checking Twilio's X-Twilio-Signature on our webhooks, against the URL the public sees."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def public_url(public_base_url: str, path: str, query: str) -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL, not the Host we see behind a proxy."""
    url = public_base_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


def signature_is_valid(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
