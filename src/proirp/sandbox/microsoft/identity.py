"""The Microsoft identity platform v2.0 endpoints: OpenID discovery, authorize (the consent page),
token, keys and logout.

Mounted at `<root>/microsoft/login`, the sandbox's `https://login.microsoftonline.com`, so msal's
authority is `<https root>/microsoft/login/<tenant>` (any tenant: common, organizations, a GUID,
a domain). Every URL in the discovery document is built from the request, so it is right
wherever the sandbox is mounted; msal needs the token endpoint on https with a path segment. The
authorization endpoint can instead point at a plain-HTTP base (`microsoft_consent_base`) so a
browser never meets the self-signed certificate.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.microsoft.accounts import DEFAULT_ACCOUNT, TENANT_ID
from proirp.sandbox.microsoft.consent import (
    AuthorizationBase,
    AuthorizationRequest,
    RedirectError,
    answer_app,
    consent_page,
    parse_authorization,
)
from proirp.sandbox.microsoft.errors import (
    CONSENT_REQUIRED,
    DECLINED,
    LOGOUT_REDIRECT_NOT_REGISTERED,
    MISSING_PARAMETER,
    TRANSIENT,
    UNSUPPORTED_GRANT,
    AuthorizePageError,
    IdentityError,
    aadsts,
    described,
    invalid_request,
)
from proirp.sandbox.microsoft.query import base_of
from proirp.sandbox.microsoft.scopes import parse_scopes
from proirp.sandbox.microsoft.state import MicrosoftSandbox
from proirp.sandbox.microsoft.tokens import AuthorizationCode
from proirp.sandbox.oauth_common import basic_credentials, registered_redirect

DISCOVERY_PATH = "/{tenant}/v2.0/.well-known/openid-configuration"
AUTHORIZE_PATH = "/{tenant}/oauth2/v2.0/authorize"
TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"  # noqa: S105 (a path, not a secret)
KEYS_PATH = "/{tenant}/discovery/v2.0/keys"
LOGOUT_PATH = "/{tenant}/oauth2/v2.0/logout"
SEGMENTS = 4  # every path above has four segments below the login base
NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
NO_SUCH_ACCOUNT = (50034, "The user account does not exist in the directory.")


def issuer_tenant(tenant: str) -> str:
    """What the discovery document's issuer names: a placeholder for the multi-tenant
    authorities (as Microsoft's does), the GUID itself, else the sandbox directory."""
    if tenant.lower() in ("common", "organizations", "consumers"):
        return "{tenantid}"
    return tenant if GUID.fullmatch(tenant) else TENANT_ID


def _basic_client(authorization: str | None) -> tuple[str | None, str | None]:
    found = basic_credentials(authorization)
    if found is None:
        return None, None
    # RFC 6749 2.3.1: both parts are form-urlencoded before joining (a "+" is a space).
    return unquote(found[0].replace("+", " ")), unquote(found[1].replace("+", " "))


def login_base(request: Request) -> str:
    """The absolute `…/microsoft/login` base this request came through."""
    return base_of(request, SEGMENTS)


def identity_router(sandbox: MicrosoftSandbox) -> APIRouter:
    """Discovery, authorize, token, keys and logout routes."""
    router = APIRouter(route_class=SandboxRoute, tags=["microsoft"])

    def checked_authorization(params: dict[str, str], tenant: str) -> AuthorizationRequest:
        return parse_authorization(
            params,
            knows_client=sandbox.knows_client(params.get("client_id", "")),
            redirect_uris=sandbox.config.microsoft_redirect_uris,
            tenant=tenant,
        )

    def authorize_url(request: Request, tenant: str) -> str:
        consent_base = sandbox.config.microsoft_consent_base
        if consent_base:
            return f"{consent_base.rstrip('/')}/microsoft/login/{tenant}/oauth2/v2.0/authorize"
        return f"{login_base(request)}/{tenant}/oauth2/v2.0/authorize"

    @router.get(DISCOVERY_PATH)
    async def discovery(tenant: str, request: Request) -> Response:
        await sandbox.pause()
        base = login_base(request)
        graph_root = base.removesuffix("/login") + "/graph"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["HS256"],
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{issuer_tenant(tenant)}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{graph_root}/oidc/userinfo",
                "authorization_endpoint": authorize_url(request, tenant),
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "oid",
                    "ver",
                    "email",
                ],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "tenant_region_scope": None,
                "cloud_instance_name": "microsoftonline.com",
                "msgraph_host": "graph.microsoft.com",
            }
        )

    def code_for(checked: AuthorizationRequest, account: str) -> Response:
        code = sandbox.consent(
            AuthorizationCode(
                client_id=checked.client_id,
                redirect_uri=checked.redirect_uri,
                account=account,
                scopes=checked.scopes,
                nonce=checked.nonce,
                challenge=checked.challenge,
                issued_at=sandbox.now(),
            )
        )
        assert code is not None
        answer = {"code": code}
        if checked.client_info:
            answer["client_info"] = sandbox.client_info(account)
        answer["session_state"] = str(uuid.uuid4())
        return answer_app(checked.redirect_uri, checked.response_mode, answer, checked.state)

    @router.get(AUTHORIZE_PATH)
    async def authorize(tenant: str, request: Request) -> Response:
        checked = checked_authorization(dict(request.query_params), tenant)
        if checked.prompt == "none":
            account = checked.login_hint or DEFAULT_ACCOUNT
            if not sandbox.already_consented(checked.client_id, account, checked.scopes):
                base = AuthorizationBase(checked.redirect_uri, checked.response_mode, checked.state)
                entry = aadsts(CONSENT_REQUIRED, client_id=checked.client_id)
                raise RedirectError(base, "consent_required", entry)
            return code_for(checked, account)
        action = str(request.url.replace(query="", fragment=""))
        return HTMLResponse(consent_page(checked, action=action))

    @router.post(AUTHORIZE_PATH)
    async def decide(tenant: str, request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        checked = checked_authorization(form, tenant)
        decision = form.get("decision")
        if decision not in ("allow", "deny"):
            raise AuthorizePageError(aadsts(MISSING_PARAMETER, name="decision"))
        if decision == "deny":
            sandbox.consent(None)
            answer = {"error": "access_denied", "error_description": described(*DECLINED)}
            return answer_app(checked.redirect_uri, checked.response_mode, answer, checked.state)
        account = (form.get("account") or checked.login_hint or DEFAULT_ACCOUNT).strip().lower()
        local, at, domain = account.partition("@")
        if not (local and at and "." in domain) or any(c.isspace() for c in account):
            raise AuthorizePageError(NO_SUCH_ACCOUNT)
        return code_for(checked, account)

    @router.post(TOKEN_PATH)
    async def token(tenant: str, request: Request) -> Response:
        await sandbox.pause()
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        grant_type = form.get("grant_type", "")
        sandbox.count_token_request(grant_type)
        basic_id, basic_secret = _basic_client(request.headers.get("authorization"))
        try:
            client_id = sandbox.check_client(
                form.get("client_id") or basic_id,
                form.get("client_secret") or basic_secret,
                tenant=tenant,
            )
            if sandbox.take_token_failure():
                return IdentityError(503, "temporarily_unavailable", TRANSIENT).response()
            issuer_base, client_info = login_base(request), form.get("client_info") == "1"
            if grant_type == "authorization_code":
                if not form.get("code"):
                    raise invalid_request(aadsts(MISSING_PARAMETER, name="code"))
                answer = sandbox.exchange(
                    form["code"],
                    client_id=client_id,
                    redirect_uri=form.get("redirect_uri"),
                    verifier=form.get("code_verifier"),
                    issuer_base=issuer_base,
                    client_info=client_info,
                )
            elif grant_type == "refresh_token":
                if not form.get("refresh_token"):
                    raise invalid_request(aadsts(MISSING_PARAMETER, name="refresh_token"))
                answer = sandbox.refresh(
                    form["refresh_token"],
                    client_id=client_id,
                    scopes=parse_scopes(form["scope"]) if form.get("scope") else None,
                    issuer_base=issuer_base,
                    client_info=client_info,
                )
            elif not grant_type:
                raise invalid_request(aadsts(MISSING_PARAMETER, name="grant_type"))
            else:
                raise IdentityError(
                    400,
                    "unsupported_grant_type",
                    aadsts(UNSUPPORTED_GRANT, grant_type=grant_type[:64]),
                )
        except IdentityError:
            sandbox.count("token_rejected")
            raise
        hold = sandbox.take_timeout()
        if hold is not None:
            # The tokens exist; only the answer is late (the client never sees them).
            await asyncio.sleep(hold)
        return JSONResponse(answer, headers=NO_STORE)

    @router.get(KEYS_PATH)
    async def keys(tenant: str) -> Response:
        # ID tokens are HS256 with the client secret; there is no public key to publish.
        return JSONResponse({"keys": []})

    @router.get(LOGOUT_PATH)
    async def logout(tenant: str, request: Request) -> Response:
        target = request.query_params.get("post_logout_redirect_uri")
        if target and not registered_redirect(target, sandbox.config.microsoft_redirect_uris):
            raise AuthorizePageError(LOGOUT_REDIRECT_NOT_REGISTERED)
        if target:
            return RedirectResponse(target, status_code=302)
        return HTMLResponse("<!doctype html><title>Signed out</title><p>You signed out.</p>")

    return router
