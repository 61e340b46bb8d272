"""The rules a setting's value must follow, one plain function each, called by the Settings
validators. A refusal is a ValueError whose text names what is wrong, never the value."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import SecretStr

from proirp.config.time_zones import check_time_zone

if TYPE_CHECKING:
    from proirp.config import Settings

# The number messages cite as an example: valid, and fictional (555-0100 to 555-0199).
PHONE_EXAMPLE = "+12025550143"
# Values that .env.example and provider docs show as examples; never real credentials.
PLACEHOLDER = re.compile(
    r"(x{4,}|your[_-]|changeme|change[_-]?this|placeholder|example|^AC\.{3}|<.*>)", re.IGNORECASE
)
# An audit chain key shorter than this is refused: `proirp audit generate-key` makes 43.
AUDIT_CHAIN_KEY_MIN_LENGTH = 32
# The product's own address and every provider's: plain http is for the sandbox and development.
HTTPS_IN_PRODUCTION = (
    "public_base_url",
    "twilio_api_base",
    "sendgrid_api_base",
    "google_oauth_base",
    "google_api_base",
    "microsoft_authority",
    "microsoft_graph_base",
    "openai_api_base",
    "stripe_api_base",
    "aws_endpoint_url_s3",
)


def comma_list(value: object) -> object:
    """ "a, b,," → ["a", "b"]; anything but a string is left to the field's own type."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def chain_keys(value: list[SecretStr]) -> list[SecretStr]:
    secrets = [key.get_secret_value() for key in value]
    if any(len(secret) < AUDIT_CHAIN_KEY_MIN_LENGTH for secret in secrets):
        raise ValueError(
            f"each key must be at least {AUDIT_CHAIN_KEY_MIN_LENGTH} characters "
            "(`proirp audit generate-key` makes one)"
        )
    if len(set(secrets)) != len(secrets):
        raise ValueError("lists the same key twice")
    return value


def absolute_urls(value: object) -> object:
    value = comma_list(value)
    for uri in value if isinstance(value, list) else []:
        parts = urlsplit(str(uri))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ValueError("each must be an absolute http:// or https:// URL")
    return value


def origins(value: object) -> object:
    """Exact origins (scheme://host[:port], nothing after): credentials are allowed from each, so
    `*` and patterns are refused."""
    value = comma_list(value)
    for origin in value if isinstance(value, list) else []:
        parts = urlsplit(str(origin))
        exact = parts.scheme in ("http", "https") and parts.hostname and "*" not in str(origin)
        if not exact or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("each must be an exact origin such as https://portal.example.com")
    return [str(origin).rstrip("/") for origin in value] if isinstance(value, list) else value


def trusted_proxies(value: object) -> object:
    """Addresses and networks in the form uvicorn matches (a network by its base address), or
    ["*"]; anything else is refused rather than left to never match."""
    items = comma_list(value)
    if not isinstance(items, list):
        return items
    if "*" in items:
        return ["*"]
    proxies = []
    for item in items:
        try:
            text = str(item)
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                "must be IP addresses or networks separated by commas "
                "(e.g. 10.0.0.5,10.1.0.0/16), or *"
            ) from None
        proxies.append(str(network.network_address) if "/" not in text else str(network))
    return proxies


def e164(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"must be a phone number in E.164 form, e.g. {PHONE_EXAMPLE}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"must be a valid phone number in E.164 form, e.g. {PHONE_EXAMPLE}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_address(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError("must be a valid email address") from exc


def time_zone(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    try:
        return check_time_zone(value)
    except ValueError:
        raise ValueError("must be an IANA time zone, e.g. America/New_York") from None


def database_url(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if not value.startswith(("sqlite:", "postgresql")):
        raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
    if value.startswith("postgres://") or value.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    return value


def production(settings: Settings) -> None:
    """What production asks beyond development: real secrets, keys of its own, https."""
    for name, secret in settings.secrets():
        if PLACEHOLDER.search(secret):
            raise ValueError(f"{name.upper()} still holds a placeholder value")
    if not settings.proirp_encryption_keys:
        raise ValueError("PROIRP_ENCRYPTION_KEYS must be set in production")
    if not settings.audit_chain_keys:
        raise ValueError("AUDIT_CHAIN_KEYS must be set in production")
    for name in HTTPS_IN_PRODUCTION:
        # Signatures, links, keys, tokens and codes would cross the network in the clear.
        if str(getattr(settings, name) or "https:").startswith("http://"):
            raise ValueError(f"{name.upper()} must be https:// in production")
    if settings.queue_backend == "postgres" and not settings.is_postgres:
        raise ValueError("QUEUE_BACKEND=postgres needs DATABASE_URL on PostgreSQL")
