"""Checks for client contact details: phone numbers (E.164), emails, birth dates (time zones:
`config.time_zones`, shared with the settings and calendar events)."""

from __future__ import annotations

from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email


def normalise_phone(value: str, *, region: str) -> str:
    """The number in E.164, or ValueError saying what is wrong (never echoing the number)."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError("not a valid email address") from exc


def check_date_of_birth(value: date, *, today: date) -> date:
    if value > today:
        raise ValueError("is in the future")
    if value.year < 1900:
        raise ValueError("is before 1900")
    return value
