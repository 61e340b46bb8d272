"""The calendar providers this process talks to: the real Google and Microsoft, or the sandbox's,
per settings."""

from __future__ import annotations

import threading
from collections.abc import Callable

from proirp.config import Settings
from proirp.integrations.base import ProviderMisconfigured
from proirp.integrations.calendar import CalendarProvider
from proirp.integrations.google.adapter import GoogleCalendar
from proirp.integrations.microsoft.adapter import MicrosoftCalendar
from proirp.kit.errors import ServiceUnavailable, ValidationFailed

PROVIDERS = ("google", "microsoft")
_lock = threading.Lock()
_cache: dict[tuple[object, ...], CalendarProvider] = {}


def check_provider(name: str, field: str = "provider") -> str:
    if name not in PROVIDERS:
        raise ValidationFailed(
            f"unknown calendar provider; choose one of: {', '.join(PROVIDERS)}",
            fields={field: "is not a calendar provider this server supports"},
        )
    return name


def _google(settings: Settings) -> tuple[tuple[object, ...], Callable[[], CalendarProvider]]:
    found = settings.google_connection()
    timeout = settings.send_timeout_seconds

    def make() -> CalendarProvider:
        return GoogleCalendar(
            client_id=found.client_id,
            client_secret=found.client_secret,
            oauth_base=found.oauth_base,
            api_base=found.api_base,
            timeout=timeout,
        )

    return ("google", found, timeout), make


def _microsoft(settings: Settings) -> tuple[tuple[object, ...], Callable[[], CalendarProvider]]:
    found = settings.microsoft_connection()
    timeout = settings.send_timeout_seconds

    def make() -> CalendarProvider:
        return MicrosoftCalendar(
            client_id=found.client_id,
            client_secret=found.client_secret,
            authority=found.authority,
            graph_base=found.graph_base,
            ca_bundle=found.ca_bundle,
            timeout=timeout,
        )

    return ("microsoft", found, timeout), make


def calendar_provider(settings: Settings, name: str) -> CalendarProvider:
    """One adapter per provider and credentials, shared by threads."""
    check_provider(name)
    key, make = _google(settings) if name == "google" else _microsoft(settings)
    with _lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def unreachable_by_settings(exc: ProviderMisconfigured) -> ServiceUnavailable:
    """The 503 for a provider this server's settings keep out of reach: the reason names the
    setting an administrator must fix (never its value)."""
    return ServiceUnavailable(
        f"the calendar provider cannot be reached with this server's settings: {exc.reason}",
        code="calendar_unavailable",
    )


def redirect_uri(settings: Settings, name: str) -> str:
    if name == "microsoft":
        return settings.microsoft_connection().redirect_uri
    return settings.google_connection().redirect_uri


def close_providers() -> None:
    """Close every adapter's connections and forget them (the process is stopping)."""
    with _lock:
        adapters = list(_cache.values())
        _cache.clear()
    for adapter in adapters:
        adapter.close()
