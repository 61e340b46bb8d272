"""Twilio error codes: which are worth retrying, and what each means in plain English."""

from __future__ import annotations

RETRYABLE_CODES = frozenset({20429, 20500, 20503})

REASONS: dict[int, str] = {
    20003: "Twilio refused our credentials; check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
    20404: "Twilio has no such message.",
    20429: "Twilio asked us to slow down (too many requests).",
    21211: "The phone number is not a valid number.",
    21408: "The account is not allowed to send SMS to this country.",
    21602: "The message has no text.",
    21603: "The sending number is missing.",
    21604: "The recipient's number is missing.",
    21606: "The sending number cannot send SMS.",
    21610: "The recipient replied STOP to this number and has opted out of messages.",
    21612: "Twilio cannot route a message to this number.",
    21614: "The number cannot receive SMS (it is not a mobile number).",
    21617: "The message is too long (over 1,600 characters).",
    30003: "The phone is unreachable or switched off.",
    30004: "The recipient's carrier blocked the message.",
    30005: "The number is unknown or no longer in service.",
    30006: "The number is a landline or its carrier cannot receive SMS.",
    30007: "The carrier filtered the message as spam.",
    30008: "The carrier reported an unknown delivery error.",
}


def reason_for(code: int | None, *, status: int | None = None) -> str:
    if code is not None and code in REASONS:
        return REASONS[code]
    if status is not None and status >= 500:
        return "Twilio had a problem on its side."
    return f"Twilio refused the message (error {code})." if code else "Twilio refused the message."
