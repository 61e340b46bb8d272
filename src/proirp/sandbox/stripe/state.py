"""StripeSandbox: the secret key the Stripe imitation accepts, its knobs and its counters.

Nothing is stored beyond those: the imitated routes only read (the balance).
"""

from __future__ import annotations

import base64
import binascii

from proirp.sandbox.keyed import KeyedSandbox
from proirp.sandbox.keys import same_key
from proirp.sandbox.stripe.errors import StripeApiError, invalid_key, missing_key, server_fault

LIVE_PREFIXES = ("sk_live_", "rk_live_")


def presented_key(authorization: str | None) -> str | None:
    """The key a request carries, as Stripe takes it: `Bearer <key>`, or basic auth with the key
    as the username (and no password). None when there is none."""
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            username = base64.b64decode(value, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return username or None
    return None


class StripeSandbox(KeyedSandbox):
    """State and behaviour behind the Stripe routes (one instance per sandbox)."""

    @property
    def livemode(self) -> bool:
        """Whether the accepted key is a live one (Stripe tells by its prefix)."""
        return self.config.stripe_secret_key.startswith(LIVE_PREFIXES)

    def authenticate(self, authorization: str | None) -> None:
        """Check the secret key; raise Stripe's 401 (the wrong key masked) otherwise."""
        key = presented_key(authorization)
        if key is None:
            raise missing_key()
        if not same_key(key, self.config.stripe_secret_key):
            raise invalid_key(key)

    def server_fault(self, status: int) -> StripeApiError:
        return server_fault(status)
