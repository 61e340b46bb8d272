"""The authorization endpoint's request, checked as Google checks it, and its consent page.

Google shows an error page (never a redirect) for a bad client or a redirect URI not registered
for it, since it cannot trust where a redirect would go; the user's Deny is the one refusal that
goes back to the app.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from proirp.sandbox.google.errors import AuthorizationPageError
from proirp.sandbox.oauth_common import registered_redirect

APP_NAME = "Pro IRP"
DEFAULT_ACCOUNT = "clinician@sandbox.example.com"
# Short scope names Google widens in what it grants (and reports back in the token response).
SCOPE_ALIASES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}
# The request's parameters that the consent form carries back.
CARRIED = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "access_type",
    "prompt",
    "login_hint",
    "include_granted_scopes",
)


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked authorization request."""

    params: dict[str, str]
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    challenge: str | None
    challenge_method: str
    offline: bool
    force_consent: bool
    login_hint: str | None

    def granted_scopes(self) -> tuple[str, ...]:
        """The scopes as Google grants them (`email` becomes the userinfo.email URL)."""
        granted: list[str] = []
        for scope in self.scopes:
            full = SCOPE_ALIASES.get(scope, scope)
            if full not in granted:
                granted.append(full)
        return tuple(granted)


def _missing(name: str) -> AuthorizationPageError:
    return AuthorizationPageError("invalid_request", f"Missing required parameter: {name}")


def parse_authorization(
    params: Mapping[str, str], *, knows_client: bool, redirect_uris: Collection[str]
) -> AuthorizationRequest:
    """Check an authorization request in Google's order; raise its error page otherwise.
    `redirect_uris` are those registered for the client."""
    client_id = params.get("client_id")
    if not client_id:
        raise _missing("client_id")
    if not knows_client:
        raise AuthorizationPageError("invalid_client", "The OAuth client was not found.")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise _missing("redirect_uri")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise AuthorizationPageError(
            "redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 "
            "policy. Register the redirect URI in the Google Cloud Console.",
        )
    if not registered_redirect(redirect_uri, redirect_uris):
        raise AuthorizationPageError(
            "redirect_uri_mismatch",
            "The redirect URI in the request does not match the ones authorized for the OAuth "
            "client. Register it under the client's Authorized redirect URIs.",
        )
    response_type = params.get("response_type")
    if not response_type:
        raise AuthorizationPageError(
            "invalid_request", "Required parameter is missing: response_type"
        )
    if response_type != "code":
        raise AuthorizationPageError(
            "unsupported_response_type", f"Invalid response_type: {response_type}"
        )
    scopes = tuple((params.get("scope") or "").split())
    if not scopes:
        raise _missing("scope")
    access_type = params.get("access_type", "online")
    if access_type not in ("online", "offline"):
        raise AuthorizationPageError("invalid_request", f"Invalid access_type: {access_type}")
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or "plain"
    if method not in ("plain", "S256"):
        raise AuthorizationPageError("invalid_request", "Invalid code_challenge_method value.")
    if challenge is None and params.get("code_challenge_method"):
        raise _missing("code_challenge")
    prompts = (params.get("prompt") or "").split()
    return AuthorizationRequest(
        params={name: params[name] for name in CARRIED if name in params},
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=params.get("state"),
        challenge=challenge,
        challenge_method=method,
        offline=access_type == "offline",
        force_consent="consent" in prompts,
        login_hint=params.get("login_hint") or None,
    )


def redirect_to(redirect_uri: str, answer: Mapping[str, str]) -> str:
    """The redirect URI with the answer's parameters added to its query."""
    parts = urlsplit(redirect_uri)
    extra = urlencode(answer)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def consent_page(request: AuthorizationRequest, *, action: str) -> str:
    """The page that asks the user to Allow or Deny; the form posts back to `action`."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in request.params.items()
    )
    scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in request.scopes)
    account = html.escape(request.login_hint or DEFAULT_ACCOUNT)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Sign in - Google Accounts (sandbox)</title></head><body>"
        f"<h1>{html.escape(APP_NAME)} wants to access your Google Calendar</h1>"
        "<p>This is the provider sandbox imitating Google's consent screen.</p>"
        f"<p>{html.escape(APP_NAME)} is asking for:</p><ul>{scopes}</ul>"
        f'<form method="post" action="{html.escape(action)}">{hidden}'
        '<label for="account">Google account</label> '
        f'<input id="account" name="account" type="email" value="{account}" required> '
        '<button type="submit" name="decision" value="allow">Allow</button> '
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form></body></html>"
    )
