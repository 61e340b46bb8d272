"""Bearer API keys as SendGrid's v3 API takes them (`Authorization: Bearer SG.…`)."""

from __future__ import annotations

import hmac

from proirp.sandbox.sendgrid.errors import unauthorized


def check_bearer(authorization: str | None, *, api_key: str) -> None:
    """Raise SendGrid's 401 unless the header carries exactly this API key."""
    scheme, _, token = (authorization or "").partition(" ")
    # Compare in constant time, whatever the scheme, so timing reveals nothing about the key.
    key_ok = hmac.compare_digest(token.strip().encode(), api_key.encode())
    if scheme.lower() != "bearer" or not key_ok:
        raise unauthorized()
