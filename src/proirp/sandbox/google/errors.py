"""Google's error answers, in the three shapes its endpoints use.

- The OAuth endpoints (token, revoke, userinfo): `{"error": "invalid_grant",
  "error_description": "…"}`.
- The Calendar API: `{"error": {"code", "message", "errors": [{"domain", "reason", "message"}],
  "status"?}}`; `status` only where Google sends one (401, 403 scopes, 5xx).
- The authorization endpoint: an HTML error page (Google never redirects for a bad client or
  redirect URI, since it cannot trust where it would send the user).

Wording follows Google's live answers; none of them echoes a token, code or address.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from fastapi import Response
from fastapi.responses import HTMLResponse

from proirp.sandbox.errors import SandboxError

UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
MISSING_CREDENTIALS_MESSAGE = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
FULL_SYNC_MESSAGE = "Sync token is no longer valid, a full sync is required."
REVOKED_MESSAGE = "Token has been expired or revoked."
# Where an error names a request header rather than a parameter (`locationType: header`).
HEADER_LOCATIONS = frozenset({"Authorization", "If-Match"})


class OAuthError(SandboxError):
    """An answer of the token, revoke or userinfo endpoint: `{"error", "error_description"}`."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})
        super().__init__(f"google oauth error {status} {error}")

    def body(self) -> dict[str, object]:
        """The JSON Google answers with (no description key when Google sends none)."""
        if self.description is None:
            return {"error": self.error}
        return {"error": self.error, "error_description": self.description}


class GoogleApiError(SandboxError):
    """A Calendar API answer in Google's JSON error shape."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        status_name: str | None = None,
        location: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.status_name = status_name
        self.location = location
        self.headers = dict(headers or {})
        super().__init__(f"google api error {status} {reason}")

    def body(self) -> dict[str, object]:
        """The JSON the Calendar API answers with."""
        detail: dict[str, object] = {
            "domain": self.domain,
            "reason": self.reason,
            "message": self.message,
        }
        if self.location is not None:
            detail["location"] = self.location
            header = self.location in HEADER_LOCATIONS
            detail["locationType"] = "header" if header else "parameter"
        error: dict[str, object] = {
            "errors": [detail],
            "code": self.status,
            "message": self.message,
        }
        if self.status_name is not None:
            error["status"] = self.status_name
        return {"error": error}


class AuthorizationPageError(SandboxError):
    """The authorization endpoint's HTML error page ("Error 400: invalid_request")."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        self.status = status
        self.error = error
        self.description = description
        self.headers = {}
        super().__init__(f"google authorization error {error}")

    def body(self) -> dict[str, object]:
        """What the page says, as JSON (for logs and tests)."""
        return {"error": self.error, "error_description": self.description}

    def response(self) -> Response:
        """The page itself."""
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Error "
            f"{self.status}: {html.escape(self.error)}</title></head><body>"
            "<h1>Access blocked: authorization error</h1>"
            f"<p>Error {self.status}: <code>{html.escape(self.error)}</code></p>"
            f"<p>{html.escape(self.description)}</p></body></html>"
        )
        return HTMLResponse(page, status_code=self.status)


def unauthenticated(*, missing: bool) -> GoogleApiError:
    """401 for a missing, unknown, expired or revoked access token."""
    if missing:
        return GoogleApiError(
            401,
            "required",
            MISSING_CREDENTIALS_MESSAGE,
            status_name="UNAUTHENTICATED",
            location="Authorization",
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )
    return GoogleApiError(
        401,
        "authError",
        UNAUTHENTICATED_MESSAGE,
        status_name="UNAUTHENTICATED",
        location="Authorization",
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        },
    )


def insufficient_scopes() -> GoogleApiError:
    """403 when the token's scopes do not cover the call."""
    return GoogleApiError(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
        status_name="PERMISSION_DENIED",
    )


def not_found() -> GoogleApiError:
    """404 for an unknown calendar or event."""
    return GoogleApiError(404, "notFound", "Not Found")


def precondition_failed() -> GoogleApiError:
    """412 for an `If-Match` etag that is no longer the event's."""
    return GoogleApiError(412, "conditionNotMet", "Precondition Failed", location="If-Match")


def invalid(message: str = "Invalid Value", *, location: str | None = None) -> GoogleApiError:
    """400 for a value Google refuses."""
    return GoogleApiError(400, "invalid", message, location=location)


def required(message: str) -> GoogleApiError:
    """400 for a value Google needs and did not get."""
    return GoogleApiError(400, "required", message)


def full_sync_required() -> GoogleApiError:
    """410 for a sync token that is too old or was invalidated."""
    return GoogleApiError(410, "fullSyncRequired", FULL_SYNC_MESSAGE)


def rate_limited(status: int, reason: str) -> GoogleApiError:
    """403 userRateLimitExceeded / rateLimitExceeded, or 429 rateLimitExceeded."""
    if status == 429:
        return GoogleApiError(
            429,
            "rateLimitExceeded",
            "Rate Limit Exceeded",
            domain="usageLimits",
            status_name="RESOURCE_EXHAUSTED",
        )
    return GoogleApiError(403, reason, "Rate Limit Exceeded", domain="usageLimits")


def server_fault(status: int) -> GoogleApiError:
    """An injected 5xx (fail_next knob)."""
    if status == 500:
        return GoogleApiError(500, "backendError", "Backend Error", status_name="INTERNAL")
    return GoogleApiError(
        503,
        "backendError",
        "The service is currently unavailable.",
        status_name="UNAVAILABLE",
    )


def control_error(status: int, message: str) -> GoogleApiError:
    """A refusal from a /_sandbox control route, in the Calendar API's shape."""
    reason = {401: "authError", 404: "notFound", 409: "conflict"}.get(status, "invalid")
    return GoogleApiError(status, reason, message)
