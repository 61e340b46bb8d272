"""Google's OAuth 2.0 endpoints: discovery, the authorization (consent) page, token, revoke.

Mounted at `<root>/google/oauth`, which the product uses where Google has
`https://accounts.google.com` (authorization) and `https://oauth2.googleapis.com` (token,
revoke); the discovery document names every endpoint as an absolute URL built from the request,
so it is right wherever the sandbox is mounted.
"""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.google.consent import (
    DEFAULT_ACCOUNT,
    AuthorizationRequest,
    consent_page,
    parse_authorization,
    redirect_to,
)
from proirp.sandbox.google.errors import AuthorizationPageError, OAuthError
from proirp.sandbox.google.state import GoogleSandbox
from proirp.sandbox.google.tokens import AuthorizationCode
from proirp.sandbox.oauth_common import basic_credentials

DISCOVERY_PATH = "/.well-known/openid-configuration"
AUTHORIZE_PATH = "/o/oauth2/v2/auth"
TOKEN_PATH = "/token"  # noqa: S105 (a path, not a secret)
REVOKE_PATH = "/revoke"
USERINFO_PATH = "/oauth2/v3/userinfo"  # under the API base, as at Google
NO_STORE = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}


def oauth_base(request: Request, route_path: str) -> str:
    """This router's absolute base URL, from the request's URL (works however it is mounted)."""
    url = str(request.url.replace(query="", fragment=""))
    return url[: -len(route_path)] if url.endswith(route_path) else url.rstrip("/")


def api_base_for(oauth: str) -> str:
    """The API base beside an OAuth base (`…/google/oauth` → `…/google/api`)."""
    return oauth[: -len("/oauth")] + "/api" if oauth.endswith("/oauth") else oauth


def _basic_client(authorization: str | None) -> tuple[str | None, str | None]:
    found = basic_credentials(authorization)
    if found is None:
        return None, None
    # RFC 6749 2.3.1: both parts are form-urlencoded before joining (this imitation has always
    # kept a "+" as it is; Microsoft's reads it as a space).
    return unquote(found[0]), unquote(found[1])


def oauth_router(sandbox: GoogleSandbox) -> APIRouter:
    """Discovery, authorization, token and revoke routes."""
    router = APIRouter(route_class=SandboxRoute, tags=["google"])

    def checked_authorization(params: dict[str, str]) -> AuthorizationRequest:
        return parse_authorization(
            params,
            knows_client=sandbox.knows_client(params.get("client_id", "")),
            redirect_uris=sandbox.config.google_redirect_uris,
        )

    @router.get(DISCOVERY_PATH)
    async def discovery(request: Request) -> Response:
        base = oauth_base(request, DISCOVERY_PATH)
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": base + AUTHORIZE_PATH,
                "token_endpoint": base + TOKEN_PATH,
                "userinfo_endpoint": api_base_for(base) + USERINFO_PATH,
                "revocation_endpoint": base + REVOKE_PATH,
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["HS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "sub"],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
            }
        )

    @router.get(AUTHORIZE_PATH)
    async def authorize(request: Request) -> Response:
        checked = checked_authorization(dict(request.query_params))
        action = str(request.url.replace(query="", fragment=""))
        return HTMLResponse(consent_page(checked, action=action))

    @router.post(AUTHORIZE_PATH)
    async def decide(request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        checked = checked_authorization(form)
        decision = form.get("decision")
        if decision not in ("allow", "deny"):
            raise AuthorizationPageError("invalid_request", "Choose Allow or Deny.")
        state = {"state": checked.state} if checked.state is not None else {}
        if decision == "deny":
            sandbox.consent(None)
            location = redirect_to(checked.redirect_uri, {"error": "access_denied", **state})
            return RedirectResponse(location, status_code=302)
        account = (form.get("account") or checked.login_hint or DEFAULT_ACCOUNT).strip().lower()
        if "@" not in account or " " in account:
            raise AuthorizationPageError("invalid_request", "Enter a Google account's email.")
        code = sandbox.consent(
            AuthorizationCode(
                client_id=checked.client_id,
                redirect_uri=checked.redirect_uri,
                scopes=checked.granted_scopes(),
                account=account,
                offline=checked.offline,
                force_consent=checked.force_consent,
                challenge=checked.challenge,
                challenge_method=checked.challenge_method,
                issued_at=sandbox.now(),
            )
        )
        assert code is not None
        answer = {"code": code, **state, "scope": " ".join(checked.granted_scopes())}
        return RedirectResponse(redirect_to(checked.redirect_uri, answer), status_code=302)

    @router.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        await sandbox.pause()
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        basic_id, basic_secret = _basic_client(request.headers.get("authorization"))
        try:
            client_id = sandbox.check_client(
                form.get("client_id") or basic_id, form.get("client_secret") or basic_secret
            )
        except OAuthError:
            sandbox.count("token_rejected")
            raise
        failure = sandbox.take_failure()
        if failure is not None:
            raise OAuthError(failure, "internal_failure", "Backend Error")
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            if not form.get("code"):
                sandbox.count("token_rejected")
                raise OAuthError(400, "invalid_request", "Missing required parameter: code")
            answer = sandbox.exchange(
                form["code"],
                client_id=client_id,
                redirect_uri=form.get("redirect_uri"),
                verifier=form.get("code_verifier"),
                issuer=oauth_base(request, TOKEN_PATH),
            )
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                sandbox.count("token_rejected")
                raise OAuthError(
                    400, "invalid_request", "Missing required parameter: refresh_token"
                )
            answer = sandbox.refresh(form["refresh_token"], client_id=client_id)
        else:
            sandbox.count("token_rejected")
            raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        hold = sandbox.take_timeout()
        if hold is not None:
            # The tokens exist; only the answer is late (the client never sees them).
            await asyncio.sleep(hold)
        return JSONResponse(answer, headers=NO_STORE)

    @router.api_route(REVOKE_PATH, methods=["GET", "POST"])
    async def revoke(request: Request) -> Response:
        await sandbox.pause()
        token = request.query_params.get("token")
        if token is None and request.method == "POST":
            value = (await request.form()).get("token")
            token = value if isinstance(value, str) else None
        if not token:
            raise OAuthError(400, "invalid_request", "Missing required parameter: token")
        if not sandbox.revoke(token):
            raise OAuthError(400, "invalid_token", "Token expired or revoked")
        return Response(status_code=200, media_type="application/json")

    return router
