"""The calendar providers this process talks to: the real Google, or the sandbox's, per settings."""

from __future__ import annotations

import threading

from proirp.calendars.provider import CalendarProvider
from proirp.config import Settings
from proirp.integrations.google.adapter import GoogleCalendar
from proirp.kit.errors import ValidationFailed

PROVIDERS = ("google",)
_lock = threading.Lock()
_cache: dict[tuple[str, ...], CalendarProvider] = {}


def check_provider(name: str, field: str = "provider") -> str:
    if name not in PROVIDERS:
        raise ValidationFailed(
            f"unknown calendar provider; choose one of: {', '.join(PROVIDERS)}",
            fields={field: "is not a calendar provider this server supports"},
        )
    return name


def calendar_provider(settings: Settings, name: str) -> CalendarProvider:
    """One adapter per provider and credentials, shared by threads."""
    check_provider(name)
    client_id, secret, oauth_base, api_base, _redirect = settings.google_connection()
    key = (name, client_id, secret, oauth_base, api_base, str(settings.send_timeout_seconds))
    with _lock:
        if key not in _cache:
            _cache[key] = GoogleCalendar(
                client_id=client_id,
                client_secret=secret,
                oauth_base=oauth_base,
                api_base=api_base,
                timeout=settings.send_timeout_seconds,
            )
        return _cache[key]


def redirect_uri(settings: Settings, name: str) -> str:
    return settings.google_connection()[4]
