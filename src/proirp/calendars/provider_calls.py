"""One call to a user's calendar provider on behalf of a request, its failures as our errors.

The request's transaction is ended before the call (no lock is held while the provider answers,
and a token refresh runs in its own transaction); the caller then writes what the provider
answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from proirp.calendars.limits import in_flight
from proirp.calendars.providers import calendar_provider, unreachable_by_settings
from proirp.calendars.tokens import with_access_token
from proirp.config import Settings
from proirp.integrations.base import ProviderError, ProviderMisconfigured, ProviderTemporaryError
from proirp.integrations.calendar import (
    CalendarProvider,
    EventChangedAtProvider,
    EventNotAtProvider,
)
from proirp.kit.errors import Conflict, ServiceUnavailable, ValidationFailed

T = TypeVar("T")
_NAMES = {"google": "Google Calendar", "microsoft": "Outlook"}


def call_provider(
    factory: sessionmaker[Session],
    settings: Settings,
    provider_name: str,
    integration_id: str,
    call: Callable[[CalendarProvider, str], T],
) -> T:
    """`call(provider, access_token)`, within the account's requests in flight. EventNotAtProvider
    is the caller's to handle (the event went); every other failure becomes our error."""
    provider = calendar_provider(settings, provider_name)

    def with_token(token: str) -> T:
        with in_flight(settings, provider, integration_id):
            return call(provider, token)

    try:
        return with_access_token(factory, settings, integration_id, with_token)
    except EventNotAtProvider:
        raise
    except EventChangedAtProvider:
        raise Conflict(
            f"the event was changed in {_NAMES.get(provider_name, provider_name)} since it was "
            "last synced; nothing was changed. Sync the calendar and try again.",
            code="event_changed",
        ) from None
    except ProviderMisconfigured as exc:
        raise unreachable_by_settings(exc) from None
    except ProviderTemporaryError as exc:
        raise ServiceUnavailable(
            f"the calendar is unavailable; try again shortly ({exc.reason})",
            code="calendar_unavailable",
        ) from None
    except ProviderError as exc:
        raise ValidationFailed(
            f"the calendar refused the change: {exc.reason}", fields={"provider": exc.reason}
        ) from None
