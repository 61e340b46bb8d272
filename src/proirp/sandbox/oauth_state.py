"""What both OAuth 2.0 imitations' states (Google, Microsoft) do alike: one registered client,
control requests let in with its credentials, the consent page's answer counted and turned into a
code, access tokens expired on demand, and an injectable wall clock.

What a consent creates besides the code (Google's calendar, Microsoft's directory account and
mailbox) is the vendor's `_consented_locked`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from proirp.sandbox.control import Refuse
from proirp.sandbox.knobs import K, KnobbedState
from proirp.sandbox.oauth_common import basic_matches
from proirp.sandbox.oauth_tokens import TokenRecords


class Consented(Protocol):
    """What every vendor's authorization code has."""

    @property
    def account(self) -> str: ...


C = TypeVar("C", bound=Consented)


class OAuthState(KnobbedState[K], Generic[K, C]):
    """A vendor imitation that is the OAuth 2.0 server of one client; subclasses set `_tokens`
    (their TokenStore) and keep their records under `_lock`."""

    _tokens: TokenRecords[C, Any, Any]

    def __init__(
        self,
        stat_names: Sequence[str],
        *,
        client: tuple[str, str],
        vendor: str,
        refuse: Refuse,
        clock: Callable[[], float],
    ) -> None:
        self._client_id, self._client_secret = client
        self._vendor = vendor
        self._refuse = refuse
        self._clock = clock
        super().__init__(stat_names)

    def now(self) -> float:
        """The sandbox's wall clock (seconds since the epoch; injectable for tests)."""
        return self._clock()

    def knows_client(self, client_id: str) -> bool:
        """Whether this is the client (app registration) the sandbox was configured with."""
        return hmac.compare_digest(client_id.encode(), self._client_id.encode())

    def authenticate(self, authorization: str | None) -> None:
        """Let a control request in with HTTP basic (client ID and secret); 401 otherwise."""
        user, password = self._client_id, self._client_secret
        if not basic_matches(authorization, user=user, password=password):
            raise self._refuse(
                401, f"Use HTTP basic with the sandbox's {self._vendor} client ID and secret."
            )

    def _consented_locked(self, account: str) -> None:
        """Called with the lock held when the user allowed access for this account."""

    def consent(self, code: C | None) -> str | None:
        """Record the user's answer on the consent page; the code for Allow, None for Deny."""
        with self._lock:
            if code is None:
                self._stats["consent_denied"] += 1
                return None
            self._stats["consent_allowed"] += 1
            self._consented_locked(code.account)
            return self._tokens.issue_code(code)

    def expire_access_tokens(self) -> int:
        """Make every access token issued so far answer 401 (the product must refresh)."""
        with self._lock:
            return self._tokens.expire_access_tokens(now=self._clock())

    def close(self) -> None:
        """Nothing runs in the background; here for symmetry with the other vendors."""
