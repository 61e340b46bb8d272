"""Authorization codes, grants, access and refresh tokens, as the identity platform keeps them.

A grant is what one consent gave one app for one account. Every refresh answers a NEW refresh
token and the one presented keeps working (Microsoft does not revoke on rotation); revoking the
account's grants (the user removed the app) kills every refresh and access token of it at once.
Times are wall-clock seconds (`now`, from the caller), since ID tokens carry them. Not
thread-safe on its own: MicrosoftSandbox calls it under its state lock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from proirp.sandbox.microsoft.accounts import Account
from proirp.sandbox.microsoft.errors import (
    CODE_EXPIRED,
    CODE_INVALID,
    CODE_REDEEMED,
    CONSENT_REQUIRED,
    GRANT_REVOKED,
    MALFORMED,
    REDIRECT_MISMATCH,
    REFRESH_INVALID,
    VERIFIER_MISMATCH,
    VERIFIER_MISSING,
    aadsts,
    invalid_grant,
)
from proirp.sandbox.microsoft.scopes import Scopes
from proirp.sandbox.oauth_common import b64url, hs256_jwt, s256
from proirp.sandbox.oauth_tokens import TokenRecords

CODE_LIFETIME_SECONDS = 600.0
ID_TOKEN_SECONDS = 3600
CODE_PREFIX = "0.AXsandbox-"
REFRESH_PREFIX = "1.AXsandbox-"


def _graph_time(moment: float) -> str:
    stamp = datetime.fromtimestamp(moment, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}0Z"


@dataclass
class AuthorizationCode:
    """What a consent produced, redeemable once within CODE_LIFETIME_SECONDS."""

    client_id: str
    redirect_uri: str
    account: str
    scopes: Scopes
    nonce: str | None
    challenge: str | None
    issued_at: float
    redeemed: bool = False


@dataclass
class Grant:
    """One app's access to one account."""

    id: str
    client_id: str
    account: str
    scopes: Scopes
    issued_at: float
    revoked_at: float | None = None
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)


@dataclass
class AccessToken:
    grant_id: str
    scopes: tuple[str, ...]  # Graph permissions
    expires_at: float


@dataclass(frozen=True)
class Bearer:
    """Who an accepted access token speaks for."""

    account: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class Issued:
    """Tokens minted for one token request (the caller adds the ID token and client_info)."""

    grant: Grant
    scopes: Scopes
    access_token: str
    expires_in: int
    refresh_token: str | None
    nonce: str | None


class TokenStore(TokenRecords[AuthorizationCode, Grant, AccessToken]):
    """Codes, grants and tokens for every account."""

    code_prefix = CODE_PREFIX
    code_bytes = 48

    def __init__(self) -> None:
        super().__init__()
        self._refresh: dict[str, tuple[str, float]] = {}  # refresh token -> (grant, issued at)

    def redeem(
        self,
        value: str,
        *,
        client_id: str,
        redirect_uri: str | None,
        verifier: str | None,
        now: float,
        access_seconds: int,
    ) -> Issued:
        """Tokens for an authorization code, checked in the identity platform's order."""
        code = self._codes.get(value)
        if code is None or code.client_id != client_id:
            raise invalid_grant(CODE_INVALID if value.startswith("0.") else MALFORMED)
        if code.redeemed:
            raise invalid_grant(CODE_REDEEMED)
        if now - code.issued_at >= CODE_LIFETIME_SECONDS:
            raise invalid_grant(CODE_EXPIRED)
        if redirect_uri != code.redirect_uri:
            raise invalid_grant(REDIRECT_MISMATCH)
        if code.challenge is not None:
            if not verifier:
                raise invalid_grant(VERIFIER_MISSING)
            if not hmac.compare_digest(s256(verifier).encode(), code.challenge.encode()):
                raise invalid_grant(VERIFIER_MISMATCH)
        code.redeemed = True
        grant = Grant(
            id=secrets.token_hex(8),
            client_id=client_id,
            account=code.account,
            scopes=code.scopes,
            issued_at=now,
        )
        self._grants[grant.id] = grant
        return self._mint(
            grant, code.scopes, now=now, access_seconds=access_seconds, nonce=code.nonce
        )

    def refresh(
        self,
        value: str,
        *,
        client_id: str,
        requested: Scopes | None,
        now: float,
        access_seconds: int,
        max_age: int | None,
    ) -> Issued:
        """New tokens (a new refresh token included) for a refresh token."""
        found = self._refresh.get(value)
        if found is None:
            raise invalid_grant(MALFORMED)
        grant_id, issued_at = found
        grant = self._grants[grant_id]
        if grant.client_id != client_id:
            raise invalid_grant(REFRESH_INVALID)
        if grant.revoked_at is not None:
            raise invalid_grant(
                aadsts(
                    GRANT_REVOKED,
                    issued=_graph_time(grant.issued_at),
                    valid_from=_graph_time(grant.revoked_at),
                )
            )
        if max_age is not None and now - issued_at >= max_age:
            raise invalid_grant(CODE_EXPIRED)
        scopes = grant.scopes
        if requested is not None and requested.graph:
            consented = {name.lower() for name in grant.scopes.graph}
            if any(name.lower() not in consented for name in requested.graph):
                raise invalid_grant(
                    aadsts(CONSENT_REQUIRED, client_id=client_id), suberror="consent_required"
                )
            scopes = Scopes(graph=requested.graph, oidc=requested.oidc or grant.scopes.oidc)
        return self._mint(grant, scopes, now=now, access_seconds=access_seconds, nonce=None)

    def _mint(
        self, grant: Grant, scopes: Scopes, *, now: float, access_seconds: int, nonce: str | None
    ) -> Issued:
        token = "EwB" + secrets.token_urlsafe(96)
        self._access[token] = AccessToken(grant.id, scopes.graph, now + access_seconds)
        grant.access_tokens.add(token)
        refresh = None
        if grant.scopes.offline:
            refresh = REFRESH_PREFIX + secrets.token_urlsafe(96)
            self._refresh[refresh] = (grant.id, now)
            grant.refresh_tokens.add(refresh)
        return Issued(grant, scopes, token, access_seconds, refresh, nonce)

    def bearer(self, token: str, *, now: float) -> Bearer | str:
        """Who an access token speaks for, or why it is refused (unknown, revoked, expired)."""
        access = self._access.get(token)
        if access is None:
            return "unknown"
        grant = self._grants[access.grant_id]
        if grant.revoked_at is not None:
            return "revoked"
        if now >= access.expires_at:
            return "expired"
        return Bearer(account=grant.account, scopes=frozenset(access.scopes))

    def live_grant(self, client_id: str, account: str, scopes: Scopes) -> bool:
        """Whether the account already consented to these permissions for this app
        (what prompt=none needs to skip the page)."""
        wanted = {name.lower() for name in scopes.graph}
        for grant in self._grants.values():
            if (
                grant.client_id == client_id
                and grant.account == account
                and grant.revoked_at is None
                and wanted <= {name.lower() for name in grant.scopes.graph}
            ):
                return True
        return False

    def revoke_account(self, account: str, *, now: float) -> int:
        """Revoke every live grant of an account (the user removed the app); how many."""
        live = [g for g in self._grants.values() if g.account == account and g.revoked_at is None]
        for grant in live:
            grant.revoked_at = now
        return len(live)

    def summary(self, account: str) -> dict[str, Any]:
        """An account's grants with token counts (never the tokens)."""
        grants = [g for g in self._grants.values() if g.account == account]
        return {
            "grants": [
                {
                    "id": g.id,
                    "client_id": g.client_id,
                    "scopes": list(g.scopes.graph + g.scopes.oidc),
                    "revoked": g.revoked_at is not None,
                    "access_tokens": len(g.access_tokens),
                    "refresh_tokens": len(g.refresh_tokens),
                }
                for g in grants
            ],
            "live_grants": sum(1 for g in grants if g.revoked_at is None),
        }


def token_response(
    issued: Issued,
    account: Account,
    *,
    issuer_base: str,
    client_secret: str,
    now: float,
    client_info: bool,
) -> dict[str, Any]:
    """The token endpoint's JSON for minted tokens."""
    answer: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": issued.scopes.granted(),
        "expires_in": issued.expires_in,
        "ext_expires_in": issued.expires_in,
        "access_token": issued.access_token,
    }
    if issued.refresh_token is not None:
        answer["refresh_token"] = issued.refresh_token
    if "openid" in issued.scopes.oidc:
        answer["id_token"] = id_token(
            issued,
            account,
            issuer=f"{issuer_base}/{account.tenant_id}/v2.0",
            client_secret=client_secret,
            now=now,
        )
    if client_info:
        answer["client_info"] = client_info_of(account)
    return answer


def client_info_of(account: Account) -> str:
    """`client_info`: base64url JSON naming the account's object and tenant IDs (what msal
    keys its cache and X-AnchorMailbox on)."""
    info = {"uid": account.oid, "utid": account.tenant_id}
    return b64url(json.dumps(info, separators=(",", ":")).encode())


def pairwise_subject(account: Account, client_id: str) -> str:
    """The `sub` Microsoft gives an account for one app (pairwise: differs between apps)."""
    return b64url(hashlib.sha256(f"{account.oid}:{client_id}".encode()).digest())


def id_token(
    issued: Issued, account: Account, *, issuer: str, client_secret: str, now: float
) -> str:
    """A v2.0 ID token, signed HS256 with the client secret (msal does not check signatures;
    Microsoft signs RS256 with keys from jwks_uri)."""
    client_id = issued.grant.client_id
    claims: dict[str, Any] = {
        "aud": client_id,
        "iss": issuer,
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + ID_TOKEN_SECONDS,
        "name": account.display_name,
        "oid": account.oid,
        "preferred_username": account.upn,
        "sub": pairwise_subject(account, client_id),
        "tid": account.tenant_id,
        "uti": b64url(uuid.uuid4().bytes),
        "ver": "2.0",
    }
    if issued.nonce is not None:
        claims["nonce"] = issued.nonce
    if "email" in issued.scopes.oidc:
        claims["email"] = account.upn
    return hs256_jwt({"typ": "JWT", "alg": "HS256", "kid": "sandbox"}, claims, client_secret)
