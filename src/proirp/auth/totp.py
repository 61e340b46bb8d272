"""TOTP (RFC 6238) as every authenticator app speaks it: 6 digits, 30-second steps, SHA-1
(pyotp); the otpauth:// address and its QR code (segno, drawn as SVG in the page)."""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
# A code from the step before or after this one is accepted too: phones' clocks drift, and a
# code typed in the last seconds of its step arrives in the next.
DRIFT_STEPS = 1
TOTP_CODE = re.compile(rf"^\d{{{DIGITS}}}$")


def new_secret() -> str:
    """A new secret: 160 random bits in base32, as RFC 4226 recommends."""
    return pyotp.random_base32(32)


def step_at(moment: datetime) -> int:
    """The 30-second step `moment` falls in (its counter in RFC 6238)."""
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, *, now: datetime, after: int | None) -> int | None:
    """The step whose code `code` is, within the drift allowed around `now`, and later than
    `after` (the last step accepted: a code is never accepted twice); None if there is none."""
    if not TOTP_CODE.match(code):
        return None
    current = step_at(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared, in constant time, whatever matched before it.
        if hmac.compare_digest(code_at(secret, step), code) and (after is None or step > after):
            found = step
    return found


def otpauth_uri(secret: str, *, account: str, issuer: str) -> str:
    """The address an authenticator app reads from the QR code (Key Uri Format)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline SVG element (no script, no inline style)."""
    svg: str = segno.make(uri, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", title="QR code of the authenticator app's set-up key"
    )
    return svg
