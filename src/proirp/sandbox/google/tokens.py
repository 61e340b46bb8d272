"""Authorization codes, grants, access and refresh tokens, as Google's OAuth 2.0 server keeps them.

Times are wall-clock seconds (`now`, from the caller), since ID tokens carry them.

A grant is what one consent gave one client for one account; its refresh token (if it has one)
and every access token minted from it die together when it is revoked. Not thread-safe on its
own: GoogleSandbox calls it under its state lock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from proirp.sandbox.google.errors import REVOKED_MESSAGE, OAuthError
from proirp.sandbox.oauth_common import hs256_jwt, s256
from proirp.sandbox.oauth_tokens import TokenRecords

CODE_LIFETIME_SECONDS = 600.0
# RFC 7636: 43-128 characters from the unreserved set.
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
EMAIL_SCOPES = frozenset({"email", "https://www.googleapis.com/auth/userinfo.email"})


def subject_of(account: str) -> str:
    """A stable numeric `sub` for an account, shaped like Google's 21-digit IDs."""
    digest = hashlib.sha256(account.lower().encode()).digest()
    return "1" + str(int.from_bytes(digest[:9], "big")).zfill(20)[:20]


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """Whether the token request's code_verifier answers the authorization's code_challenge."""
    expected = s256(verifier) if method == "S256" else verifier
    return hmac.compare_digest(expected.encode(), challenge.encode())


@dataclass
class AuthorizationCode:
    """What a consent produced, redeemable once within CODE_LIFETIME_SECONDS."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    account: str
    offline: bool
    force_consent: bool
    challenge: str | None
    challenge_method: str
    issued_at: float
    grant_id: str | None = None  # set once redeemed


@dataclass
class Grant:
    """One client's access to one account."""

    id: str
    client_id: str
    account: str
    scopes: tuple[str, ...]
    refresh_token: str | None
    revoked: bool = False
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class AccessToken:
    """A bearer token for the Calendar API and userinfo."""

    grant_id: str
    expires_at: float


@dataclass(frozen=True)
class Bearer:
    """Who an accepted access token speaks for."""

    account: str
    scopes: tuple[str, ...]


class TokenStore(TokenRecords[AuthorizationCode, Grant, AccessToken]):
    """Codes, grants and tokens for every account."""

    code_prefix = "4/0sandbox-"
    code_bytes = 32

    def __init__(self) -> None:
        super().__init__()
        self._refresh: dict[str, str] = {}  # refresh token -> grant id

    def redeem(
        self,
        value: str,
        *,
        client_id: str,
        redirect_uri: str | None,
        verifier: str | None,
        now: float,
        access_seconds: int,
        client_secret: str,
        issuer: str,
    ) -> dict[str, Any]:
        """The token response for an authorization code, checked as Google checks it.

        A second redemption fails and, as at Google, revokes what the first one issued.
        """
        code = self._codes.get(value)
        if code is None:
            malformed = not value.startswith("4/")
            raise OAuthError(
                400, "invalid_grant", "Malformed auth code." if malformed else "Bad Request"
            )
        if code.grant_id is not None:
            self._revoke_grant(code.grant_id)
            raise OAuthError(400, "invalid_grant", "Bad Request")
        if now - code.issued_at >= CODE_LIFETIME_SECONDS or code.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        if redirect_uri != code.redirect_uri:
            raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        if code.challenge is not None:
            if not verifier:
                raise OAuthError(400, "invalid_grant", "Missing code verifier.")
            if not VERIFIER.fullmatch(verifier) or not pkce_matches(
                verifier, code.challenge, code.challenge_method
            ):
                raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
        # Google sends a refresh token on the first offline consent, and again when forced.
        first = not any(
            grant.client_id == client_id
            and grant.account == code.account
            and grant.refresh_token is not None
            and not grant.revoked
            for grant in self._grants.values()
        )
        refresh = None
        if code.offline and (first or code.force_consent):
            refresh = "1//0sandbox-" + secrets.token_urlsafe(48)
        grant = Grant(
            id=secrets.token_hex(8),
            client_id=client_id,
            account=code.account,
            scopes=code.scopes,
            refresh_token=refresh,
        )
        self._grants[grant.id] = grant
        if refresh is not None:
            self._refresh[refresh] = grant.id
        code.grant_id = grant.id
        answer = self._mint(grant, now=now, access_seconds=access_seconds)
        if refresh is not None:
            answer["refresh_token"] = refresh
        if "openid" in code.scopes:
            answer["id_token"] = _id_token(
                grant, issuer=issuer, client_secret=client_secret, now=now
            )
        return answer

    def refresh(
        self, value: str, *, client_id: str, now: float, access_seconds: int
    ) -> dict[str, Any]:
        """A new access token for a refresh token (Google sends no new refresh token)."""
        grant_id = self._refresh.get(value)
        grant = self._grants.get(grant_id) if grant_id else None
        if grant is None or grant.revoked:
            raise OAuthError(400, "invalid_grant", REVOKED_MESSAGE)
        if grant.client_id != client_id:
            raise OAuthError(401, "unauthorized_client", "Unauthorized")
        return self._mint(grant, now=now, access_seconds=access_seconds)

    def _mint(self, grant: Grant, *, now: float, access_seconds: int) -> dict[str, Any]:
        token = "ya29.sandbox-" + secrets.token_urlsafe(48)
        self._access[token] = AccessToken(grant_id=grant.id, expires_at=now + access_seconds)
        grant.access_tokens.add(token)
        return {
            "access_token": token,
            "expires_in": access_seconds,
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
        }

    def bearer(self, token: str, *, now: float) -> Bearer | None:
        """Who an access token speaks for; None when unknown, expired or revoked."""
        access = self._access.get(token)
        if access is None:
            return None
        grant = self._grants[access.grant_id]
        if grant.revoked or now >= access.expires_at:
            return None
        return Bearer(account=grant.account, scopes=grant.scopes)

    def revoke(self, token: str) -> bool:
        """Revoke the grant behind a refresh or access token; False when the token is unknown."""
        grant_id = self._refresh.get(token)
        if grant_id is None and token in self._access:
            grant_id = self._access[token].grant_id
        if grant_id is None or self._grants[grant_id].revoked:
            return False
        self._revoke_grant(grant_id)
        return True

    def revoke_account(self, account: str) -> int:
        """Revoke every live grant of an account (the user removed the app); how many."""
        live = [g.id for g in self._grants.values() if g.account == account and not g.revoked]
        for grant_id in live:
            self._revoke_grant(grant_id)
        return len(live)

    def _revoke_grant(self, grant_id: str) -> None:
        grant = self._grants[grant_id]
        grant.revoked = True
        for token in grant.access_tokens:
            self._access.pop(token, None)
        grant.access_tokens.clear()

    def summary(self, account: str) -> dict[str, Any]:
        """An account's grants with token counts (never the tokens)."""
        grants = [g for g in self._grants.values() if g.account == account]
        return {
            "grants": [
                {
                    "id": g.id,
                    "client_id": g.client_id,
                    "scopes": list(g.scopes),
                    "offline": g.refresh_token is not None,
                    "revoked": g.revoked,
                    "access_tokens": len(g.access_tokens),
                }
                for g in grants
            ],
            "live_grants": sum(1 for g in grants if not g.revoked),
        }


def _id_token(grant: Grant, *, issuer: str, client_secret: str, now: float) -> str:
    """An OpenID Connect ID token, signed HS256 with the client secret (RFC 7518 allows it for
    confidential clients; Google signs RS256, which nobody here verifies)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "azp": grant.client_id,
        "aud": grant.client_id,
        "sub": subject_of(grant.account),
        "iat": int(now),
        "exp": int(now) + 3600,
    }
    if EMAIL_SCOPES.intersection(grant.scopes):
        claims.update(email=grant.account, email_verified=True)
    return hs256_jwt({"alg": "HS256", "typ": "JWT"}, claims, client_secret)
