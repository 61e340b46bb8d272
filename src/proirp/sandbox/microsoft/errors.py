"""Microsoft's error answers, in the three shapes its endpoints use.

- The token endpoint (identity platform v2.0): `{"error", "error_description": "AADSTSnnnn: …",
  "error_codes": [nnnn], "timestamp", "trace_id", "correlation_id", "error_uri"}`.
- The authorization endpoint: an HTML error page for a request it cannot trust (unknown app, bad
  or unregistered redirect URI); other refusals travel back on the redirect (`error`,
  `error_description`). Sign-out refuses an unregistered post_logout_redirect_uri the same way.
- Microsoft Graph: `{"error": {"code", "message", "innerError": {"date", "request-id",
  "client-request-id"}}}`.

Wording follows Microsoft's live answers; none of them echoes a token, a code or an event's
subject or body.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from fastapi import Response
from fastapi.responses import HTMLResponse

from proirp.sandbox.errors import SandboxError

ERROR_URI = "https://login.microsoftonline.com/error?code={code}"

# Identity platform refusals (AADSTS code, message) the sandbox gives.
CODE_EXPIRED = (
    70008,
    "The provided authorization code or refresh token has expired due to inactivity. Send a new "
    "interactive authorization request for this user and resource.",
)
CODE_REDEEMED = (
    54005,
    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
    "an existing refresh token.",
)
CODE_INVALID = (
    70000,
    "The provided value for the 'code' parameter is not valid.",
)
REDIRECT_MISMATCH = (
    70000,
    "The provided value for the 'redirect_uri' is not valid. The value must exactly match the "
    "redirect URI used to obtain the authorization code.",
)
REFRESH_INVALID = (70000, "The provided value for the 'refresh_token' parameter is not valid.")
VERIFIER_MISSING = (
    50148,
    "The code_verifier does not match the code_challenge supplied in the authorization request "
    "for PKCE.",
)
VERIFIER_MISMATCH = (
    501481,
    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
)
GRANT_REVOKED = (
    50173,
    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
    "user might have changed or reset their password. The grant was issued on '{issued}' and the "
    "TokensValidFrom date (before which tokens are not valid) for this user is '{valid_from}'.",
)
MALFORMED = (9002313, "Invalid request. Request is malformed or invalid.")
CONSENT_REQUIRED = (
    65001,
    "The user or administrator has not consented to use the application with ID '{client_id}' "
    "named 'Pro IRP'. Send an interactive authorization request for this user and resource.",
)
BAD_SECRET = (
    7000215,
    "Invalid client secret provided. Ensure the secret being sent in the request is the client "
    "secret value, not the client secret ID, for a secret added to app '{client_id}'.",
)
NO_SECRET = (
    7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
)
UNKNOWN_APP = (
    700016,
    "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This "
    "can happen if the application has not been installed by the administrator of the tenant or "
    "consented to by any user in the tenant. You may have sent your authentication request to "
    "the wrong tenant.",
)
MISSING_PARAMETER = (900144, "The request body must contain the following parameter: '{name}'.")
UNSUPPORTED_GRANT = (
    70003,
    "The app requested an unsupported grant type '{grant_type}'.",
)
INVALID_SCOPE = (
    70011,
    "The provided request must include a 'scope' input parameter. The provided value for the "
    "input parameter 'scope' is not valid.",
)
TRANSIENT = (90033, "A transient error has occurred. Please try again.")
DECLINED = (65004, "User declined to consent to access the app.")
BAD_CHALLENGE = (501491, "Invalid size of Code_Challenge parameter.")
BAD_CHALLENGE_METHOD = (
    501491,
    "Invalid code_challenge_method: the sandbox accepts only S256.",
)
UNSUPPORTED_RESPONSE_TYPE = (
    700051,
    "The response_type '{response_type}' is not enabled for the application.",
)
BAD_REDIRECT = (90102, "'redirect_uri' value must be a valid absolute URI.")
REDIRECT_NOT_REGISTERED = (
    50011,
    "The redirect URI specified in the request does not match the redirect URIs configured for "
    "the application '{client_id}'. Make sure the redirect URI sent in the request matches one "
    "added to your application in the Azure portal.",
)
LOGOUT_REDIRECT_NOT_REGISTERED = (
    50011,
    "The post_logout_redirect_uri specified in the request does not match the redirect URIs "
    "configured for the application.",
)
INTERACTION_REQUIRED = (
    65001,
    "The user or administrator has not consented to use the application with ID '{client_id}'. "
    "Send an interactive authorization request for this user and resource.",
)


def aadsts(entry: tuple[int, str], **values: str) -> tuple[int, str]:
    """An AADSTS (code, message) with its placeholders filled in."""
    code, message = entry
    return code, message.format(**values) if values else message


def described(code: int, message: str) -> str:
    """`AADSTSnnnn: message` as Microsoft writes error_description on a redirect."""
    return f"AADSTS{code}: {message}"


class IdentityError(SandboxError):
    """A token endpoint refusal in the identity platform's JSON shape."""

    def __init__(
        self,
        status: int,
        error: str,
        entry: tuple[int, str],
        *,
        suberror: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.code, self.message = entry
        self.suberror = suberror
        self.headers = dict(headers or {})
        super().__init__(f"microsoft identity error {status} {error} AADSTS{self.code}")

    def body(self) -> dict[str, object]:
        """The JSON the token endpoint answers with (a trace footer as Microsoft adds one)."""
        now = datetime.now(UTC)
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        answer: dict[str, object] = {
            "error": self.error,
            "error_description": (
                f"{described(self.code, self.message)}\r\nTrace ID: {trace}\r\n"
                f"Correlation ID: {correlation}\r\nTimestamp: {stamp}"
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": ERROR_URI.format(code=self.code),
        }
        if self.suberror is not None:
            answer["suberror"] = self.suberror
        return answer


def invalid_grant(entry: tuple[int, str], *, suberror: str | None = None) -> IdentityError:
    """400 invalid_grant (a code or refresh token the platform will not redeem)."""
    return IdentityError(400, "invalid_grant", entry, suberror=suberror)


def invalid_request(entry: tuple[int, str]) -> IdentityError:
    """400 invalid_request (a parameter missing or wrong)."""
    return IdentityError(400, "invalid_request", entry)


def invalid_client(entry: tuple[int, str]) -> IdentityError:
    """401 invalid_client (unknown app, wrong or missing secret)."""
    return IdentityError(401, "invalid_client", entry)


class AuthorizePageError(SandboxError):
    """The authorization endpoint's HTML error page ("Sign in - Sorry, but we're having trouble
    signing you in. AADSTSnnnn: …")."""

    def __init__(self, entry: tuple[int, str], *, status: int = 400) -> None:
        self.status = status
        self.code, self.message = entry
        self.headers = {}
        super().__init__(f"microsoft authorization error AADSTS{self.code}")

    def body(self) -> dict[str, object]:
        """What the page says, as JSON (for logs and tests)."""
        return {"error_codes": [self.code], "error_description": described(*self.entry)}

    @property
    def entry(self) -> tuple[int, str]:
        return self.code, self.message

    def response(self) -> Response:
        """The page itself."""
        page = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<title>Sign in to your account (sandbox)</title></head><body>"
            "<h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p>"
            f"<p id='error'>{html.escape(described(self.code, self.message))}</p>"
            "</body></html>"
        )
        return HTMLResponse(page, status_code=self.status)


class GraphError(SandboxError):
    """A Microsoft Graph answer in Graph's JSON error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.request_id = str(uuid.uuid4())
        self.client_request_id = self.request_id
        super().__init__(f"microsoft graph error {status} {code}")

    def body(self) -> dict[str, object]:
        """The JSON Graph answers with."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": self.request_id,
                    "client-request-id": self.client_request_id,
                },
            }
        }

    def response(self) -> Response:
        answer = super().response()
        answer.headers["request-id"] = self.request_id
        answer.headers["client-request-id"] = self.client_request_id
        return answer


GRAPH_CLIENT_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's own app ID
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    f'authorize", client_id="{GRAPH_CLIENT_ID}"'
)


def unauthenticated(message: str) -> GraphError:
    """401 for a missing, unknown, expired or revoked access token."""
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def access_denied() -> GraphError:
    """403 when the token's scopes do not cover a calendar call."""
    return GraphError(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


def not_found() -> GraphError:
    """404 for an event the mailbox does not hold."""
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def irresolvable_conflict() -> GraphError:
    """412 for an `If-Match` etag that is no longer the event's (it changed since it was read)."""
    return GraphError(
        412,
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key passed in "
        "the request does not match the current change key for the item.",
    )


def malformed_id() -> GraphError:
    """400 for an ID that is not one of Outlook's."""
    return GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def bad_request(message: str, code: str = "ErrorInvalidRequest") -> GraphError:
    """400 for a request Graph refuses."""
    return GraphError(400, code, message)


def unreadable_body() -> GraphError:
    """400 for a body that is not a JSON object."""
    return GraphError(
        400,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header is set and "
        "payload is of valid JSON format.",
    )


def undeserializable() -> GraphError:
    """400 for a property of the wrong type or format (Graph's terse wording)."""
    return GraphError(400, "UnableToDeserializePostBody", "were unable to deserialize ")


def sync_state_not_found(message: str) -> GraphError:
    """410 Gone for a delta or skip token that is stale, expired or not one of ours."""
    return GraphError(410, "SyncStateNotFound", message)


def throttled(message: str, retry_after: int) -> GraphError:
    """429 with Retry-After (seconds), as Outlook's throttling answers."""
    return GraphError(
        429, "ApplicationThrottled", message, headers={"Retry-After": str(retry_after)}
    )


FAULTS = {
    500: ("InternalServerError", "An internal server error occurred. Please retry later."),
    502: ("BadGateway", "The service is temporarily unavailable (bad gateway)."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "The service did not answer in time. Please retry later."),
}


def server_fault(status: int, retry_after: int) -> GraphError:
    """An injected 5xx (fail_next knob), with Retry-After as Graph sends on 503."""
    code, message = FAULTS[status]
    return GraphError(status, code, message, headers={"Retry-After": str(retry_after)})


def control_error(status: int, message: str) -> GraphError:
    """A refusal from a /_sandbox control route, in Graph's shape."""
    code = {401: "InvalidAuthenticationToken", 404: "ErrorItemNotFound", 409: "Conflict"}.get(
        status, "BadRequest"
    )
    return GraphError(status, code, message)
