"""The records both OAuth 2.0 imitations (Google, Microsoft) keep alike: authorization codes,
grants and access tokens by their strings, and what a test does to them all at once.

How a code is redeemed, what a grant holds, how refresh tokens rotate and how revocation works
differ between the vendors and stay in each vendor's TokenStore. Not thread-safe on its own: the
vendor's state calls it under its lock.
"""

from __future__ import annotations

import secrets
from typing import ClassVar, Generic, Protocol, TypeVar


class Granted(Protocol):
    """What every vendor's grant has."""

    @property
    def account(self) -> str: ...


class Expiring(Protocol):
    """What every vendor's access token record has."""

    expires_at: float


C = TypeVar("C")
G = TypeVar("G", bound=Granted)
A = TypeVar("A", bound=Expiring)


class TokenRecords(Generic[C, G, A]):
    """Codes (C), grants (G) and access tokens (A) for every account; a subclass names how its
    code strings look (`code_prefix`, then `code_bytes` random bytes, base64url)."""

    code_prefix: ClassVar[str]
    code_bytes: ClassVar[int]

    def __init__(self) -> None:
        self._codes: dict[str, C] = {}
        self._grants: dict[str, G] = {}
        self._access: dict[str, A] = {}

    def issue_code(self, code: C) -> str:
        """Store a consent's code; returns the code string the redirect carries."""
        value = self.code_prefix + secrets.token_urlsafe(self.code_bytes)
        self._codes[value] = code
        return value

    def expire_access_tokens(self, *, now: float) -> int:
        """Let every live access token expire now (refresh tokens stay good); how many."""
        live = [access for access in self._access.values() if access.expires_at > now]
        for access in live:
            access.expires_at = now
        return len(live)

    def accounts(self) -> set[str]:
        """Accounts that ever granted access."""
        return {grant.account for grant in self._grants.values()}
