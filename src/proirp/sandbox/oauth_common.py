"""What the imitated OAuth 2.0 servers (Google, Microsoft) do alike: read HTTP basic credentials,
check a PKCE S256 verifier, sign an ID token HS256 with the client secret, and send a browser
only to a registered redirect URI.

What each vendor does differently (which claims, which errors, how a client ID is unquoted) stays
with the vendor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Collection
from typing import Any


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs and PKCE use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636)."""
    return b64url(hashlib.sha256(verifier.encode()).digest())


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """The (user, password) of an `Authorization: Basic` header, as sent (not unquoted); None
    for another scheme or an undecodable value."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


def basic_matches(authorization: str | None, *, user: str, password: str) -> bool:
    """Whether the header is HTTP basic with exactly these credentials (compared in constant
    time, both parts every time)."""
    found = basic_credentials(authorization)
    given_user, given_password = found or ("", "")
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return found is not None and user_ok and password_ok


def hs256_jwt(header: dict[str, str], claims: dict[str, Any], secret: str) -> str:
    """A compact JWT of these header and claims, signed HS256 with `secret` (RFC 7518 allows it
    for confidential clients; nobody here verifies the vendors' RS256)."""
    head = b64url(json.dumps(header).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{head}.{payload}".encode(), hashlib.sha256)
    return f"{head}.{payload}.{b64url(signature.digest())}"


def registered_redirect(redirect_uri: str, registered: Collection[str]) -> bool:
    """Whether `redirect_uri` is one of the client's registered redirect URIs, character for
    character (scheme, host, port, path and query), as both vendors compare them. Anything else
    would make the sign-in page an open redirect, handing codes to whoever asked."""
    return redirect_uri in registered
