"""Numbers that can take an SMS: E.164, a kind of number that receives texts, the client's
country for numbers typed without a country code."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

from proirp.clients.models import Client
from proirp.clients.validation import normalise_phone

SMS_CAPABLE_TYPES = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.UNKNOWN,
    }
)


class NumberProblem(ValueError):
    """The number cannot take an SMS; the message says why without repeating the number."""


def sms_number(value: str, *, region: str) -> str:
    """`value` as E.164 if it is a valid number that can receive SMS, else NumberProblem."""
    try:
        e164 = normalise_phone(value, region=region)
    except ValueError as exc:
        raise NumberProblem(f"is {exc}") from exc
    if phonenumbers.number_type(phonenumbers.parse(e164, None)) not in SMS_CAPABLE_TYPES:
        raise NumberProblem("is a landline or another kind of number that cannot receive SMS")
    return e164


def client_region(client: Client, default_region: str) -> str:
    """The client's own country (from their number) for reading numbers typed without +code."""
    if client.phone:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(client.phone, None))
        except phonenumbers.NumberParseException:
            region = None
        if region:
            return region
    return default_region
