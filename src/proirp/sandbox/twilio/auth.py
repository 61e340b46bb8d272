"""HTTP basic authentication as Twilio's API does it (account SID and auth token)."""

from __future__ import annotations

import base64
import binascii
import hmac

from proirp.sandbox.twilio.errors import authentication_error


def check_basic_auth(
    authorization: str | None,
    *,
    account_sid: str,
    auth_token: str,
    path_account_sid: str | None = None,
) -> None:
    """Raise Twilio's 401 (code 20003) unless the header carries exactly these credentials.

    The AccountSid in the URL must be the authenticated account's, as for a Twilio account
    without subaccounts.
    """
    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise authentication_error() from None
    username, _, password = decoded.partition(":")
    # Compare both parts every time, in constant time, so timing reveals nothing.
    sid_ok = hmac.compare_digest(username.encode(), account_sid.encode())
    token_ok = hmac.compare_digest(password.encode(), auth_token.encode())
    if scheme.lower() != "basic" or not (sid_ok and token_ok):
        raise authentication_error()
    if path_account_sid is not None and path_account_sid != account_sid:
        raise authentication_error()
