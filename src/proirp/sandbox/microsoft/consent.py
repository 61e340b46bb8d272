"""The authorization endpoint's request, checked as the identity platform checks it, its consent
page, and the answers that travel back to the app.

A request the platform cannot trust (no or unknown client, a redirect URI not registered for the
app: AADSTS50011) gets an error page; every other refusal, and the user's Allow or Deny, goes
back to the redirect URI (`response_mode` query, fragment or form_post). The URI is remembered
with the code, which must be redeemed with the same.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import Response
from fastapi.responses import HTMLResponse, RedirectResponse

from proirp.sandbox.errors import SandboxError
from proirp.sandbox.microsoft.accounts import DEFAULT_ACCOUNT
from proirp.sandbox.microsoft.errors import (
    BAD_CHALLENGE,
    BAD_CHALLENGE_METHOD,
    BAD_REDIRECT,
    INVALID_SCOPE,
    MISSING_PARAMETER,
    REDIRECT_NOT_REGISTERED,
    UNKNOWN_APP,
    UNSUPPORTED_RESPONSE_TYPE,
    AuthorizePageError,
    IdentityError,
    aadsts,
    described,
)
from proirp.sandbox.microsoft.scopes import Scopes, parse_scopes
from proirp.sandbox.oauth_common import registered_redirect

APP_NAME = "Pro IRP"
RESPONSE_MODES = ("query", "fragment", "form_post")
PROMPTS = ("login", "none", "consent", "select_account", "create")
# The request's parameters that the consent form carries back.
CARRIED = (
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "login_hint",
    "domain_hint",
    "client_info",
)


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked authorization request."""

    params: dict[str, str]
    client_id: str
    redirect_uri: str
    response_mode: str
    scopes: Scopes
    state: str | None
    nonce: str | None
    challenge: str | None
    prompt: str | None
    login_hint: str | None
    client_info: bool


class RedirectError(SandboxError):
    """A refusal sent back to the app on its redirect URI."""

    def __init__(self, request: AuthorizationBase, error: str, entry: tuple[int, str]) -> None:
        self.status = 302
        self.headers = {}
        self.base = request
        self.error = error
        self.description = described(*entry)
        super().__init__(f"microsoft authorization redirect {error}")

    def body(self) -> dict[str, object]:
        return {"error": self.error, "error_description": self.description}

    def response(self) -> Response:
        answer = {"error": self.error, "error_description": self.description}
        return answer_app(self.base.redirect_uri, self.base.response_mode, answer, self.base.state)


@dataclass(frozen=True)
class AuthorizationBase:
    """Where refusals go once the client and redirect URI are trusted."""

    redirect_uri: str
    response_mode: str
    state: str | None


def parse_authorization(
    params: Mapping[str, str], *, knows_client: bool, redirect_uris: Collection[str], tenant: str
) -> AuthorizationRequest:
    """Check an authorization request in the identity platform's order; raise its error page or
    a redirect with the error. `redirect_uris` are those registered for the app."""
    client_id = params.get("client_id")
    if not client_id:
        raise AuthorizePageError(aadsts(MISSING_PARAMETER, name="client_id"))
    if not knows_client:
        raise AuthorizePageError(aadsts(UNKNOWN_APP, client_id=client_id, tenant=tenant))
    redirect_uri = params.get("redirect_uri") or ""
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise AuthorizePageError(BAD_REDIRECT)
    if not registered_redirect(redirect_uri, redirect_uris):
        raise AuthorizePageError(aadsts(REDIRECT_NOT_REGISTERED, client_id=client_id))
    # An unknown response_mode falls back to query, as for the code flow's default.
    mode = params.get("response_mode") or "query"
    base = AuthorizationBase(
        redirect_uri, mode if mode in RESPONSE_MODES else "query", params.get("state")
    )
    response_type = params.get("response_type")
    if not response_type:
        raise RedirectError(
            base, "invalid_request", aadsts(MISSING_PARAMETER, name="response_type")
        )
    if response_type != "code":
        raise RedirectError(
            base,
            "unsupported_response_type",
            aadsts(UNSUPPORTED_RESPONSE_TYPE, response_type=response_type),
        )
    if not (params.get("scope") or "").strip():
        raise RedirectError(base, "invalid_request", aadsts(MISSING_PARAMETER, name="scope"))
    try:
        scopes = parse_scopes(params.get("scope"))
    except IdentityError:
        raise RedirectError(base, "invalid_scope", INVALID_SCOPE) from None
    challenge = params.get("code_challenge") or None
    if challenge is not None:
        if params.get("code_challenge_method") != "S256":
            raise RedirectError(base, "invalid_request", BAD_CHALLENGE_METHOD)
        if len(challenge) != 43:
            raise RedirectError(base, "invalid_request", BAD_CHALLENGE)
    prompt = params.get("prompt") or None
    if prompt not in PROMPTS:
        prompt = None  # unknown prompts are ignored: the page is shown
    return AuthorizationRequest(
        params={name: params[name] for name in CARRIED if name in params},
        client_id=client_id,
        redirect_uri=redirect_uri,
        response_mode=base.response_mode,
        scopes=scopes,
        state=base.state,
        nonce=params.get("nonce") or None,
        challenge=challenge,
        prompt=prompt,
        login_hint=(params.get("login_hint") or "").strip().lower() or None,
        client_info=params.get("client_info") == "1",
    )


def answer_app(
    redirect_uri: str, mode: str, answer: Mapping[str, str], state: str | None
) -> Response:
    """Send the answer (code or error, plus state) back to the app in the requested mode."""
    values = {**answer, **({"state": state} if state is not None else {})}
    if mode == "form_post":
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in values.items()
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Working...</title></head>"
            "<body onload='document.forms[0].submit()'>"
            f'<form method="post" action="{html.escape(redirect_uri)}">{fields}'
            "<noscript><button type='submit'>Continue</button></noscript></form></body></html>"
        )
        return HTMLResponse(page)
    parts = urlsplit(redirect_uri)
    encoded = urlencode(values)
    if mode == "fragment":
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, encoded))
    else:
        query = f"{parts.query}&{encoded}" if parts.query else encoded
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return RedirectResponse(location, status_code=302)


def consent_page(request: AuthorizationRequest, *, action: str) -> str:
    """The page that asks the user to Allow or Deny; the form posts back to `action`."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in request.params.items()
    )
    wanted = request.scopes.graph + request.scopes.oidc
    scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in wanted)
    account = html.escape(request.login_hint or DEFAULT_ACCOUNT)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Permissions requested - Microsoft (sandbox)</title></head><body>"
        f"<h1>{html.escape(APP_NAME)} wants to access your Microsoft account</h1>"
        "<p>This is the provider sandbox imitating Microsoft's sign-in and consent screen.</p>"
        f"<p>{html.escape(APP_NAME)} needs your permission to:</p><ul>{scopes}</ul>"
        f'<form method="post" action="{html.escape(action)}">{hidden}'
        '<label for="account">Work or school account</label> '
        f'<input id="account" name="account" type="email" value="{account}" required> '
        '<button type="submit" name="decision" value="allow">Allow</button> '
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form></body></html>"
    )
