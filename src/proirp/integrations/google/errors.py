"""Google's answers in our terms: what to retry, what means "sign in again", what means resync.

Reasons are built from Google's status and its error *reason* codes, never from messages that
could quote a calendar's content.
"""

from __future__ import annotations

import json

from proirp.integrations.base import ProviderError, ProviderPermanentError, ProviderTemporaryError
from proirp.integrations.calendar import (
    AccessTokenRefused,
    EventChangedAtProvider,
    EventNotAtProvider,
    GrantRevoked,
    SyncTokenExpired,
)

PROVIDER = "google"
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})


def _reasons(body: bytes | str | None) -> list[str]:
    try:
        parsed = json.loads(body or b"")
    except (ValueError, TypeError):
        return []
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return []
    return [str(e.get("reason")) for e in error.get("errors", []) if isinstance(e, dict)]


def api_error(
    status: int, body: bytes | str | None, retry_after: float | None = None
) -> ProviderError:
    """A Calendar API error as one of ours."""
    reasons = _reasons(body)
    if status == 410 or "fullSyncRequired" in reasons:
        return SyncTokenExpired(
            PROVIDER, "410", "Google needs a full sync (the sync token is too old)"
        )
    if status == 429 or (status == 403 and RATE_REASONS.intersection(reasons)):
        return ProviderTemporaryError(
            PROVIDER,
            str(status),
            "Google's rate limit was reached; retrying later",
            retry_after=retry_after,
        )
    if status >= 500:
        return ProviderTemporaryError(
            PROVIDER, str(status), f"Google answered HTTP {status}; retrying later"
        )
    if status == 401:
        return AccessTokenRefused(PROVIDER, "401", "Google refused the access token")
    code = reasons[0] if reasons else str(status)
    return ProviderPermanentError(PROVIDER, code, f"Google refused the request ({code})")


def event_error(
    status: int, body: bytes | str | None, retry_after: float | None = None
) -> ProviderError:
    """An error of events.patch or events.delete on one event: 412 (our If-Match etag is stale)
    and 404/410 (no such event, or one already deleted) are the event's; the rest as api_error."""
    if status == 412:
        return EventChangedAtProvider(
            PROVIDER, "412", "the event changed at Google since it was read"
        )
    if status in (404, 410):
        return EventNotAtProvider(PROVIDER, str(status), "Google has no such event (any more)")
    return api_error(status, body, retry_after)


def token_error(status: int, error: str | None) -> ProviderError:
    """An OAuth token endpoint error as one of ours."""
    if error == "invalid_grant":
        return GrantRevoked(
            PROVIDER, "invalid_grant", "Google refused the grant: sign in to Google again"
        )
    if status == 429 or status >= 500:
        return ProviderTemporaryError(
            PROVIDER, str(status), "Google's sign-in service is unavailable"
        )
    return ProviderPermanentError(
        PROVIDER, error or str(status), f"Google refused the sign-in ({error or status})"
    )
