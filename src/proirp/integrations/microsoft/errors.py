"""Microsoft's answers in our terms: what to retry, what means "sign in again", what means resync.

Reasons are built from HTTP statuses, OAuth error names, AADSTS numbers and Graph error codes,
never from messages (an error description can quote an account name).
"""

from __future__ import annotations

import json
from typing import Any

from proirp.integrations.base import ProviderError, ProviderPermanentError, ProviderTemporaryError
from proirp.integrations.calendar import (
    AccessTokenRefused,
    EventChangedAtProvider,
    EventNotAtProvider,
    GrantRevoked,
    SyncTokenExpired,
)

PROVIDER = "microsoft"
# OAuth errors after which only the user can help: the grant was revoked, expired, or needs them
# to sign in again (multi-factor, new consent, password change).
SIGN_IN_AGAIN = frozenset({"invalid_grant", "interaction_required", "consent_required"})
TEMPORARY_OAUTH = frozenset({"temporarily_unavailable", "server_error"})


def aadsts(result: dict[str, Any]) -> str | None:
    """The first AADSTS number of a token endpoint's error, as Microsoft writes it."""
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes:
        return f"AADSTS{codes[0]}"
    return None


def token_error(result: dict[str, Any]) -> ProviderError:
    """A token endpoint error (msal hands it back as a dict) as one of ours."""
    error = str(result.get("error") or "unknown_error")
    code = aadsts(result) or error
    if error in SIGN_IN_AGAIN:
        return GrantRevoked(
            PROVIDER, code, f"Microsoft refused the grant ({error}, {code}): sign in again"
        )
    if error in TEMPORARY_OAUTH:
        return ProviderTemporaryError(
            PROVIDER, code, f"Microsoft's sign-in service is unavailable ({code})"
        )
    return ProviderPermanentError(PROVIDER, code, f"Microsoft refused the sign-in ({code})")


def graph_code(body: bytes | str | None) -> str | None:
    """Graph's error code (`{"error": {"code": ...}}`), if the body has one."""
    try:
        parsed = json.loads(body or b"")
    except (ValueError, TypeError):
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else None


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from Graph; the caller's own backoff applies


def api_error(
    status: int, body: bytes | str | None, retry_after: float | None = None
) -> ProviderError:
    """A Graph error as one of ours."""
    code = graph_code(body)
    if status == 410:
        return SyncTokenExpired(
            PROVIDER, code or "410", "Microsoft needs a full sync (the delta link is too old)"
        )
    if status == 429:
        return ProviderTemporaryError(
            PROVIDER,
            code or "429",
            "Microsoft is throttling this mailbox; retrying later",
            retry_after=retry_after,
        )
    if status >= 500:
        return ProviderTemporaryError(
            PROVIDER,
            code or str(status),
            f"Microsoft Graph answered HTTP {status}; retrying later",
            retry_after=retry_after,
        )
    if status == 401:
        return AccessTokenRefused(PROVIDER, code or "401", "Microsoft refused the access token")
    code = code or str(status)
    return ProviderPermanentError(PROVIDER, code, f"Microsoft Graph refused the request ({code})")


def event_error(
    status: int, body: bytes | str | None, retry_after: float | None = None
) -> ProviderError:
    """An error of PATCH or DELETE on one event: 412 (our If-Match etag is stale) and 404/410
    (no such event, or one already deleted) are the event's; the rest as api_error."""
    code = graph_code(body)
    if status == 412:
        return EventChangedAtProvider(
            PROVIDER, code or "412", "the event changed in Outlook since it was read"
        )
    if status in (404, 410):
        return EventNotAtProvider(
            PROVIDER, code or str(status), "Outlook has no such event (any more)"
        )
    return api_error(status, body, retry_after)
