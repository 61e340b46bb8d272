"""Password hashing (argon2) and opaque bearer tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
TOKEN_PREFIX = "pirp_"  # noqa: S105 (a prefix that marks our tokens, not a secret)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Checked against when the email is unknown, so a miss costs as much time as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    verify_password(_DUMMY_HASH, password)


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(session_token: str) -> str:
    """The CSRF token that goes with a browser session: derivable only from the HttpOnly cookie."""
    return hashlib.sha256(b"csrf:" + session_token.encode()).hexdigest()


def csrf_matches(session_token: str, presented: str) -> bool:
    return hmac.compare_digest(csrf_for(session_token), presented)
