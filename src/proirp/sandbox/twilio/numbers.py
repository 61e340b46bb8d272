"""Phone numbers as Twilio judges them: validity, Twilio's magic test numbers, opt-out keywords."""

from __future__ import annotations

import re
from typing import Literal

import phonenumbers

# Twilio's test-credential range: numbers here are always well-formed (some are "magic" below).
TEST_RANGE_PREFIX = "+1500555"

# Twilio's documented magic numbers for test credentials.
MAGIC_TO_ERRORS: dict[str, int] = {
    "+15005550001": 21211,  # invalid number
    "+15005550002": 21612,  # cannot route
    "+15005550003": 21408,  # no international permission
    "+15005550004": 21610,  # blocked (opted out)
    "+15005550009": 21614,  # not a mobile number
}
MAGIC_FROM_ERRORS: dict[str, int] = {
    "+15005550001": 21212,  # invalid number
    "+15005550007": 21606,  # not owned by the account
    "+15005550008": 21611,  # queue full
}
# Sandbox additions (not Twilio's): accepted at create, then fail delivery like a carrier would.
MAGIC_TO_OUTCOMES: dict[str, tuple[Literal["undelivered", "failed"], int]] = {
    "+15005550010": ("undelivered", 30003),
    "+15005550011": ("failed", 30008),
}

# Twilio Advanced Opt-Out's default keywords; the whole message, trimmed, case-insensitive.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})

Keyword = Literal["STOP", "START", "HELP"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")
_ALPHANUMERIC_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def normalise_recipient(number: str) -> str | None:
    """The E.164 form of `number`, or None when Twilio would answer 21211."""
    if number.startswith(TEST_RANGE_PREFIX) and _E164.match(number):
        return number
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_valid_sender(sender: str) -> bool:
    """A From Twilio could accept: E.164 number, short code or alphanumeric sender ID."""
    return bool(_E164.match(sender) or _SHORT_CODE.match(sender) or _ALPHANUMERIC_ID.match(sender))


def country_of(number: str) -> str:
    """ISO country code of a number, as Twilio's FromCountry/ToCountry ("" when unknown)."""
    if number.startswith(TEST_RANGE_PREFIX):
        return "US"
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return ""
    return region or ""


def keyword_of(body: str) -> Keyword | None:
    """The opt-out/opt-in/help keyword a whole inbound message amounts to, if any."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return "STOP"
    if word in OPT_IN_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return None
