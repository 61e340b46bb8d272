"""The values the product fills into templates for a client (`client.first_name`, …)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from proirp.clients.models import Client
from proirp.comms.templates.rendering import KNOWN_VARIABLES, TemplateProblem
from proirp.config import Settings

# What an appointment reminder fills in (PHI: a time and a clinician); nothing else can.
APPOINTMENT_NAMES = frozenset(name for name in KNOWN_VARIABLES if name.startswith("appointment."))
# What the product can fill in for any client; a campaign's template may use only these.
KNOWN_NAMES = frozenset(
    name for name in KNOWN_VARIABLES if name != "unsubscribe_url" and name not in APPOINTMENT_NAMES
)
PRACTICE_SETTINGS = {"practice.name": "PRACTICE_NAME", "practice.phone": "PRACTICE_PHONE"}


def practice_values(settings: Settings) -> dict[str, str | None]:
    return {"practice.name": settings.practice_name, "practice.phone": settings.practice_phone}


def known_values(client: Client, settings: Settings) -> dict[str, str | None]:
    """What the product knows; None where the record or the settings have no value."""
    return {
        "client.first_name": client.first_name,
        "client.last_name": client.last_name,
        "client.date_of_birth": client.date_of_birth.isoformat() if client.date_of_birth else None,
        "client.email": client.email,
        "client.phone": client.phone,
        **practice_values(settings),
    }


def _missing(name: str) -> TemplateProblem:
    if name in PRACTICE_SETTINGS:
        return TemplateProblem(f"variables.{name}", f"has no value: set {PRACTICE_SETTINGS[name]}")
    return TemplateProblem(f"variables.{name}", "has no value in the client's record")


def check_practice_values(declared: Iterable[str], settings: Settings) -> None:
    """Refuse a template whose practice details are not configured (TemplateProblem)."""
    values = practice_values(settings)
    for name in declared:
        if name in values and not values[name]:
            raise _missing(name)


def values_for(
    declared: Iterable[str], client: Client, settings: Settings, given: Mapping[str, Any]
) -> dict[str, Any]:
    """Each declared variable's value: what the caller gave, else what the product knows.

    A known variable without a value is a TemplateProblem naming it: a template never renders
    with an empty hole where a phone number should be.
    """
    known = known_values(client, settings)
    values: dict[str, Any] = {}
    for name in declared:
        if name in known and name not in given:
            if not known[name]:
                raise _missing(name)
            values[name] = known[name]
    values.update(given)
    return values
